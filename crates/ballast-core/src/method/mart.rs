//! `mart`: Misclassification-Aware adveRsarial Training (Wang et al., ICLR 2020). The batch is
//! attacked by PGD on the cross-entropy from x + 0.001·N(0, I) (the reference's start), then
//! one step on the mean over the batch of
//!
//! ```text
//! ℓ_i = BCE(p(x′_i), y_i) + β · KL(p(x_i) ‖ p(x′_i)) · (1 − p_y(x_i))
//! BCE(p′, y) = −log p′_y − log(1 − max_{k≠y} p′_k)          (the boosted cross-entropy)
//! ```
//!
//! with p = softmax of the logits in train mode. Gradients flow through every term, the
//! weight 1 − p_y(x) included, as in the reference. Its numerical guards are kept:
//! log(1.0001 − p′ + 1e-12) in the BCE and 1.0000001 − p_y in the weight (the KL uses
//! log-softmax instead of log(p + 1e-12)). The reference attacks in eval mode: set
//! `adversarial.attack_bn = "eval"` for models with BatchNorm. β is `[mart] beta`.

use super::{
    AdversarialConfig, Family, MethodConfig, MethodDef, MethodInfo, MethodOptions, MethodSetup,
    MethodStep, StepContext, StepOutput, Trains, Uses,
};
use crate::adversarial::{Regularizers, attack_view, descend};
use crate::attack::{Objective, pgd_from, project};
use crate::batch::Batch;
use crate::error::CoreError;
use crate::models::{Classifier, Mode};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{log_softmax, softmax};
use serde::{Deserialize, Serialize};

/// `[mart]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MartOptions {
    /// Weight of the misclassification-aware KL term (the paper uses 6 on CIFAR-10).
    pub beta: f64,
}

impl Default for MartOptions {
    fn default() -> Self {
        Self { beta: 6.0 }
    }
}

impl MethodOptions for MartOptions {
    fn validate(&self) -> Result<(), CoreError> {
        if !(self.beta >= 0.0 && self.beta.is_finite()) {
            return Err(CoreError::config(format!(
                "beta must be >= 0, got {}",
                self.beta
            )));
        }
        Ok(())
    }
}

/// MART's per-example loss from clean and adversarial logits ([B, K] each) and labels [B]:
/// BCE(p(x′), y) + β · KL(p(x) ‖ p(x′)) · (1 − p_y(x)) -> [B].
pub fn mart_losses(
    clean_logits: Tensor<2>,
    adv_logits: Tensor<2>,
    labels: Tensor<1, Int>,
    beta: f64,
) -> Tensor<1> {
    let k = clean_logits.dims()[1];
    let one_hot = labels.clone().one_hot::<2>(k).float(); // [B, K]
    let log_p_adv = log_softmax(adv_logits.clone(), 1); // [B, K]
    let p_adv = softmax(adv_logits, 1);
    // −log p′_y, and the most likely wrong class under p′ (a constant index, as argsort is).
    let ce_adv = (log_p_adv.clone() * one_hot.clone())
        .sum_dim(1)
        .squeeze_dim::<1>(1)
        .neg(); // [B]
    let wrong = (p_adv.clone().detach() - one_hot.clone() * 2.0).argmax(1); // [B, 1]
    let p_wrong = p_adv.gather(1, wrong).squeeze_dim::<1>(1); // [B]
    let boost = (p_wrong.neg() + (1.0001 + 1e-12)).log().neg(); // −log(1 − p′_wrong)
    let log_p = log_softmax(clean_logits, 1);
    let kl = (log_p.clone().exp() * (log_p.clone() - log_p_adv))
        .sum_dim(1)
        .squeeze_dim::<1>(1); // KL(p ‖ p′) [B]
    let p_y = (log_p.exp() * one_hot).sum_dim(1).squeeze_dim::<1>(1); // [B]
    ce_adv + boost + kl * (p_y.neg() + 1.000_000_1) * beta
}

pub struct Mart {
    adv: AdversarialConfig,
    beta: f64,
}

impl MethodDef for Mart {
    const INFO: MethodInfo = MethodInfo {
        name: "mart",
        label: "MART",
        family: Family::Adversarial,
        summary: "MART (Wang et al. 2020): boosted cross-entropy on PGD examples plus a KL \
                  term weighted by 1 − p_y on the clean input, so misclassified examples \
                  count more.",
        trains: Trains::Classifier,
        uses: Uses {
            attack: true,
            images: true,
            ..Uses::NOTHING
        },
    };
    type Options = MartOptions;

    fn new(cfg: &MethodConfig, _setup: &MethodSetup) -> Result<Self, CoreError> {
        let options: MartOptions = cfg.options_for(Self::INFO.name)?;
        Ok(Self {
            adv: cfg.adversarial.clone(),
            beta: options.beta,
        })
    }
}

impl MethodStep for Mart {
    fn step(
        &mut self,
        model: Classifier,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<StepOutput, CoreError> {
        let adv = &self.adv;
        let attack = adv.ramped(super::pgd_attack(adv), ctx.step, ctx.steps_per_epoch);
        let x = batch.x.clone().inner();
        let view = attack_view(&model, adv.attack_bn);
        let objective = Objective::CrossEntropy(batch.y.clone().inner());
        let start = x.clone()
            + crate::host_rng::float(x.dims(), Distribution::Normal(0.0, 0.001), &x.device());
        let start = project(&x, start, attack.norm, attack.eps);
        let x_adv = pgd_from(&view, &x, start, &objective, &attack, adv.attack_bn.mode());
        let clean_logits = model.forward(batch.x.clone(), Mode::Train); // [B, K]
        let adv_logits = model.forward(x_adv.autodiff(), Mode::Train); // [B, K]
        let losses = mart_losses(clean_logits, adv_logits.clone(), batch.y.clone(), self.beta);
        let out = descend(
            model,
            optim,
            losses,
            &adv_logits,
            &batch.y,
            &Regularizers { l1: adv.l1 },
            ctx.lr,
        );
        Ok(out.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loss of two examples against the formula evaluated by hand in f64.
    #[test]
    fn loss_matches_a_hand_computation() {
        let device = Device::flex();
        let clean = [[2.0f64, 0.5, -1.0], [0.2, 0.1, 1.5]];
        let adv = [[0.3f64, 1.2, -0.4], [1.0, -0.5, 0.8]];
        let labels = [0usize, 2];
        let beta = 6.0;
        let softmax = |z: &[f64; 3]| {
            let m = z.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.into_iter().map(|v| v / s).collect::<Vec<f64>>()
        };
        let want: Vec<f64> = (0..2)
            .map(|i| {
                let (p, q, y) = (softmax(&clean[i]), softmax(&adv[i]), labels[i]);
                let wrong = (0..3)
                    .filter(|&k| k != y)
                    .max_by(|&a, &b| q[a].total_cmp(&q[b]))
                    .unwrap();
                let bce = -q[y].ln() - (1.0001 - q[wrong] + 1e-12).ln();
                let kl: f64 = (0..3).map(|k| p[k] * (p[k].ln() - q[k].ln())).sum();
                bce + beta * kl * (1.0000001 - p[y])
            })
            .collect();
        let t = |rows: &[[f64; 3]; 2]| {
            let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
            Tensor::<2>::from_data(TensorData::new(flat, [2, 3]), &device)
        };
        let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i32, 2], [2]), &device);
        let got: Vec<f32> = mart_losses(t(&clean), t(&adv), y, beta)
            .into_data()
            .try_to_vec()
            .unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (*g as f64 - w).abs() < 1e-5 * w.abs().max(1.0),
                "{got:?} vs {want:?}"
            );
        }
    }

    /// With β = 0 and a correct, confident adversarial prediction the loss is the
    /// cross-entropy plus the boost −log(1.0001 − p′_wrong); the KL term vanishes when the
    /// clean and adversarial predictions agree.
    #[test]
    fn kl_term_vanishes_when_predictions_agree() {
        let device = Device::flex();
        let z = Tensor::<2>::from_floats([[3.0, -1.0, 0.0]], &device);
        let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i32], [1]), &device);
        let a: f32 = mart_losses(z.clone(), z.clone(), y.clone(), 0.0).into_scalar();
        let b: f32 = mart_losses(z.clone(), z, y, 50.0).into_scalar();
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}
