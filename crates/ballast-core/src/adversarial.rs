//! Adversarial training steps: PGD-AT (Madry et al.; Rice et al.'s settings), FGSM-RS (Wong et
//! al.'s fast adversarial training, the one-step case), TRADES (Zhang et al.) and the
//! regularisers of the robust-overfitting study (ℓ1, mixup). SSDS lives in `ssds.rs`.

use crate::attack::{AttackConfig, Objective, attack, pgd_from, project};
use crate::batch::Batch;
use crate::loss::cross_entropy;
use crate::models::{Classifier, Mode};
use crate::perturbation::{PerturbationSet, latent_attack};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

/// How BatchNorm behaves while the training attack runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttackBatchNorm {
    /// Batch statistics, running statistics updated by every attack forward (Rice et al.'s
    /// `model.train()` attack).
    #[default]
    Train,
    /// Batch statistics, running statistics untouched.
    Probe,
    /// Running statistics (the later TRADES code; Pang et al.'s "eval-mode BN").
    Eval,
}

impl AttackBatchNorm {
    pub fn mode(self) -> Mode {
        match self {
            AttackBatchNorm::Train => Mode::Train,
            AttackBatchNorm::Probe => Mode::Probe,
            AttackBatchNorm::Eval => Mode::Eval,
        }
    }
}

/// Mixup of a batch with a permutation of itself: x = lam·x + (1 − lam)·x[perm].
#[derive(Clone, Debug)]
pub struct Mixup {
    /// [B] the partner of each example.
    pub perm: Tensor<1, Int>,
    pub lam: f64,
}

impl Mixup {
    /// The mixed batch and the mixed objective (labels y and y[perm]).
    pub fn apply(&self, batch: &Batch) -> (Tensor<2>, Objective) {
        let perm = self.perm.clone().to_device(&batch.x.device());
        let x =
            batch.x.clone() * self.lam + batch.x.clone().select(0, perm.clone()) * (1.0 - self.lam);
        let objective = Objective::Mixup {
            a: batch.y.clone().inner(),
            b: batch.y.clone().select(0, perm).inner(),
            lam: self.lam,
        };
        (x, objective)
    }
}

/// Penalties added to the training objective.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Regularizers {
    /// λ·Σ|θ| over the weights (Rice et al.'s `--l1`: every parameter but biases and
    /// BatchNorm's scale and shift, [`l1_norm`]).
    pub l1: f64,
}

/// Σ|θ| over the float parameters Rice et al.'s ℓ1 penalty covers, tracked: every one except
/// biases and the parameters of BatchNorm layers (their code skips names containing `bn` or
/// `bias`).
pub fn l1_norm<M: Module>(model: &M) -> Option<Tensor<1>> {
    #[derive(Default)]
    struct SumAbs {
        sum: Option<Tensor<1>>,
        /// (field name, container type) of the modules entered.
        path: Vec<(String, String)>,
    }
    impl SumAbs {
        fn covered(&self) -> bool {
            let in_batch_norm = self.path.iter().any(|(_, kind)| kind.contains("BatchNorm"));
            let bias = self.path.last().is_some_and(|(name, _)| name == "bias");
            !in_batch_norm && !bias
        }
    }
    impl ModuleVisitor for SumAbs {
        fn enter_module(&mut self, name: &str, container_type: &str) {
            self.path
                .push((name.to_string(), container_type.to_string()));
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if !self.covered() {
                return;
            }
            let part = param.val().abs().sum(); // [1]
            self.sum = Some(match self.sum.take() {
                Some(acc) => acc + part,
                None => part,
            });
        }
    }
    let mut v = SumAbs::default();
    model.visit(&mut v);
    v.sum
}

/// What one adversarial step reports.
pub struct AdversarialStep {
    pub model: Classifier,
    /// [B] the per-example training loss (detached, inner device).
    pub losses: Tensor<1>,
    /// [1] training examples classified correctly at their adversarial point (on the
    /// device, like everything a step returns).
    pub robust_correct: Tensor<1, Int>,
}

/// The model an attack should see: a plain copy (only the input is tracked) unless
/// BatchNorm's running statistics must be updated by the attack, which needs the model itself.
pub fn attack_view(model: &Classifier, bn: AttackBatchNorm) -> Classifier {
    if bn == AttackBatchNorm::Train && model.has_batch_norm() {
        model.clone()
    } else {
        model.valid()
    }
}

/// One optimiser step on the mean of `losses` [B] (+ penalties); reports the detached losses
/// and how many examples `adv_logits` [B, K] classify correctly.
pub fn descend(
    model: Classifier,
    optim: &mut ModuleOptimizer,
    losses: Tensor<1>,
    adv_logits: &Tensor<2>,
    labels: &Tensor<1, Int>,
    regs: &Regularizers,
    lr: f64,
) -> AdversarialStep {
    let robust_correct =
        crate::step::correct_count(adv_logits.clone().detach().inner(), labels.clone().inner());
    let detached = losses.clone().detach().inner();
    let mut objective = losses.mean();
    if regs.l1 > 0.0 {
        if let Some(l1) = l1_norm(&model) {
            objective = objective + l1 * regs.l1;
        }
    }
    let grads = GradientsParams::from_grads(objective.backward(), &model);
    AdversarialStep {
        model: optim.step(lr, model, grads),
        losses: detached,
        robust_correct,
    }
}

/// PGD adversarial training (and FGSM-RS with a one-step random-start `attack`): attack the
/// batch with the model in `bn` mode, then one step on the mean cross-entropy at the
/// adversarial points in train mode. With `mixup`, attack and loss use the mixed batch.
pub fn pgd_at_step(
    model: Classifier,
    optim: &mut ModuleOptimizer,
    batch: &Batch,
    attack_cfg: &AttackConfig,
    bn: AttackBatchNorm,
    regs: &Regularizers,
    mixup: Option<&Mixup>,
    lr: f64,
) -> AdversarialStep {
    let (x, objective) = match mixup {
        Some(m) => m.apply(batch),
        None => (
            batch.x.clone(),
            Objective::CrossEntropy(batch.y.clone().inner()),
        ),
    };
    let view = attack_view(&model, bn);
    let x_adv = attack(&view, x.inner(), &objective, attack_cfg, bn.mode()); // [B, D]
    let logits = model.forward(x_adv.autodiff(), Mode::Train); // [B, K]
    let losses = objective.per_example(logits.clone()); // [B]
    descend(model, optim, losses, &logits, &batch.y, regs, lr)
}

/// Latent adversarial training (Wong & Kolter 2021): the latent attack of `cvae` (a plain
/// module, frozen) with the model in `bn` mode, then one step on the mean over the batch of
/// max(CE(f(x), y), CE(f(x_adv), y)) in train mode.
#[allow(clippy::too_many_arguments)]
pub fn latent_at_step(
    model: Classifier,
    optim: &mut ModuleOptimizer,
    batch: &Batch,
    cvae: &PerturbationSet,
    attack_cfg: &AttackConfig,
    bn: AttackBatchNorm,
    regs: &Regularizers,
    lr: f64,
) -> AdversarialStep {
    let objective = Objective::CrossEntropy(batch.y.clone().inner());
    let view = attack_view(&model, bn);
    let x_adv = latent_attack(
        &view,
        cvae,
        batch.x.clone().inner(),
        &objective,
        attack_cfg,
        bn.mode(),
    )
    .x_adv; // [B, D]
    let clean = cross_entropy(model.forward(batch.x.clone(), Mode::Train), batch.y.clone()); // [B]
    let adv_logits = model.forward(x_adv.autodiff(), Mode::Train); // [B, K]
    let adv = cross_entropy(adv_logits.clone(), batch.y.clone()); // [B]
    let worse = adv.clone().greater(clean.clone());
    let losses = clean.mask_where(worse, adv); // [B] per-example max
    descend(model, optim, losses, &adv_logits, &batch.y, regs, lr)
}

/// TRADES (Zhang et al. 2019): x′ maximises KL(f(x) ‖ f(x′)) by PGD from x + 0.001·N(0, I);
/// loss = CE(f(x), y) + β·KL(f(x) ‖ f(x′)) per example, averaged.
pub fn trades_step(
    model: Classifier,
    optim: &mut ModuleOptimizer,
    batch: &Batch,
    attack_cfg: &AttackConfig,
    bn: AttackBatchNorm,
    beta: f64,
    regs: &Regularizers,
    lr: f64,
) -> AdversarialStep {
    let x = batch.x.clone().inner();
    let view = attack_view(&model, bn);
    let clean_for_attack = view.forward(x.clone(), bn.mode()).detach().inner();
    let objective = Objective::trades(clean_for_attack);
    // The TRADES start: a tiny Gaussian step, then PGD on the KL.
    let start =
        x.clone() + crate::host_rng::float(x.dims(), Distribution::Normal(0.0, 0.001), &x.device());
    let start = project(&x, start, attack_cfg.norm, attack_cfg.eps);
    let x_adv = pgd_from(&view, &x, start, &objective, attack_cfg, bn.mode()); // [B, D]
    let clean_logits = model.forward(batch.x.clone(), Mode::Train); // [B, K]
    let adv_logits = model.forward(x_adv.autodiff(), Mode::Train); // [B, K]
    let natural = cross_entropy(clean_logits.clone(), batch.y.clone()); // [B]
    let log_p = log_softmax(clean_logits, 1);
    let kl = (log_p.clone().exp() * (log_p - log_softmax(adv_logits.clone(), 1)))
        .sum_dim(1)
        .squeeze_dim::<1>(1); // [B]
    let losses = natural + kl * beta;
    descend(model, optim, losses, &adv_logits, &batch.y, regs, lr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::{AttackKind, Norm};
    use crate::loss::LossConfig;
    use crate::models::{InputSpec, ModelConfig};
    use crate::ssds::{SsdsConfig, SsdsGlobals, ssds_step};
    use crate::step::{OptimizerConfig, OptimizerKind, correct, erm_step};

    /// 12 features in [0, 1]. The class is the argmax of the first three, kept only where the
    /// top two differ by at least 0.18 (robust features: an ε = 0.08 attack cannot flip them);
    /// features 3-5 are 0.5 ± 0.06 by class (perfectly predictive but flipped by the same
    /// attack); the rest is noise. ERM leans on the weak features, adversarial training must not.
    fn toy(n: usize, device: &Device) -> (InputSpec, Batch) {
        let input = InputSpec {
            shape: vec![12],
            num_classes: 3,
            mean: vec![0.5],
            std: vec![0.3],
        };
        let raw = Tensor::<2>::random([8 * n, 12], Distribution::Uniform(0.0, 1.0), device);
        let raw: Vec<f32> = raw.into_data().try_to_vec().unwrap();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for row in raw.chunks_exact(12) {
            let mut top: Vec<(f32, usize)> = (0..3).map(|k| (row[k], k)).collect();
            top.sort_by(|a, b| b.0.total_cmp(&a.0));
            if top[0].0 - top[1].0 < 0.18 || y.len() == n {
                continue;
            }
            let class = top[0].1;
            let mut r = row.to_vec();
            for k in 0..3 {
                r[3 + k] = 0.5 + if k == class { 0.06 } else { -0.06 };
            }
            x.extend(r);
            y.push(class as u32);
        }
        assert_eq!(y.len(), n, "not enough separated points");
        (input, Batch::from_host(&x, &y, device))
    }

    fn robust_accuracy(model: &Classifier, test: &Batch, eps: f64) -> f64 {
        let plain = model.valid();
        let (x, y) = (test.x.clone().inner(), test.y.clone().inner());
        let cfg = AttackConfig::pgd(Norm::Linf, eps, 10, 1);
        let adv = attack(
            &plain,
            x,
            &Objective::CrossEntropy(y.clone()),
            &cfg,
            Mode::Eval,
        );
        correct(plain.forward(adv, Mode::Eval), y) as f64 / test.len() as f64
    }

    fn adam() -> ModuleOptimizer {
        OptimizerConfig {
            kind: OptimizerKind::Adam,
            lr: 3e-3,
            ..Default::default()
        }
        .init()
    }

    #[test]
    fn adversarial_training_raises_robust_accuracy_over_erm() {
        let ad = Device::flex().autodiff();
        ad.seed(50);
        crate::host_rng::seed(50);
        let (input, train) = toy(512, &ad);
        let (_, test) = toy(512, &ad);
        let eps = 0.08;
        let steps = 250;
        let train_with = |which: &str| -> f64 {
            ad.seed(51);
            crate::host_rng::seed(51);
            let mut model = ModelConfig::mlp(&[64]).init(&input, &ad);
            let mut optim = adam();
            let pgd = AttackConfig::pgd(Norm::Linf, eps, 5, 1);
            let fgsm = AttackConfig {
                kind: AttackKind::Fgsm,
                step_size: Some(1.25 * eps),
                random_start: true,
                ..AttackConfig::pgd(Norm::Linf, eps, 1, 1)
            };
            let regs = Regularizers::default();
            let bn = AttackBatchNorm::Train;
            for _ in 0..steps {
                model = match which {
                    "erm" => erm_step(model, &mut optim, &train, &LossConfig::Ce {}, 3e-3).0,
                    "pgd-at" => {
                        pgd_at_step(model, &mut optim, &train, &pgd, bn, &regs, None, 3e-3).model
                    }
                    "fgsm-rs" => {
                        pgd_at_step(model, &mut optim, &train, &fgsm, bn, &regs, None, 3e-3).model
                    }
                    "trades" => {
                        trades_step(model, &mut optim, &train, &pgd, bn, 6.0, &regs, 3e-3).model
                    }
                    _ => unreachable!(),
                };
            }
            robust_accuracy(&model, &test, eps)
        };
        let erm = train_with("erm");
        for method in ["pgd-at", "trades", "fgsm-rs"] {
            let robust = train_with(method);
            assert!(
                robust > erm + 0.08,
                "{method}: robust accuracy {robust:.3} vs erm {erm:.3}"
            );
        }
    }

    #[test]
    fn ssds_keeps_perturbations_in_budget_and_duals_non_negative() {
        let ad = Device::flex().autodiff();
        ad.seed(60);
        crate::host_rng::seed(60);
        let (input, batch) = toy(64, &ad);
        let mut model = ModelConfig::mlp(&[32]).init(&input, &ad);
        let mut optim = adam();
        let cfg = SsdsConfig::default();
        let eps = 0.1;
        let device = ad.clone().inner();
        let mut delta = Tensor::<2>::zeros([64, 12], &device);
        let mut v = Tensor::<1>::ones([64], &device);
        let mut globals = SsdsGlobals::new(&cfg);
        for _ in 0..30 {
            let out = ssds_step(
                model,
                &mut optim,
                &batch,
                delta,
                v,
                &mut globals,
                &cfg,
                eps,
                50.0,
                3e-3,
            );
            (model, delta, v) = (out.model, out.delta, out.v);
            assert!(globals.lambda >= 0.0);
        }
        let size = delta.clone().abs().max().into_scalar::<f32>();
        assert!(size > 0.0 && size <= eps as f32 + 1e-6, "{size}");
        assert!(v.min().into_scalar::<f32>() >= 0.0);
    }

    #[test]
    fn l1_norm_sums_the_weights_but_no_bias_or_batch_norm_parameter() {
        let device = Device::flex();
        let input = InputSpec {
            shape: vec![3, 8, 8],
            num_classes: 2,
            mean: vec![0.0; 3],
            std: vec![1.0; 3],
        };
        let mut cfg = ModelConfig::of(crate::models::Arch::ResnetCifar);
        cfg.depth = 8;
        cfg.width = 0.25;
        let model = cfg.init(&input, &device);
        let l1 = l1_norm(&model).unwrap().into_scalar::<f32>();
        // The oracle: every float parameter by name, kept unless a bias or inside a BatchNorm.
        #[derive(Default)]
        struct Abs {
            kept: f32,
            skipped: usize,
            path: Vec<(String, String)>,
        }
        impl ModuleVisitor for Abs {
            fn enter_module(&mut self, name: &str, kind: &str) {
                self.path.push((name.into(), kind.into()));
            }
            fn exit_module(&mut self, _: &str, _: &str) {
                self.path.pop();
            }
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                let names: Vec<&str> = self.path.iter().map(|(n, _)| n.as_str()).collect();
                let kinds: Vec<&str> = self.path.iter().map(|(_, k)| k.as_str()).collect();
                let skip =
                    names.last() == Some(&"bias") || kinds.iter().any(|k| k.ends_with("BatchNorm"));
                if skip {
                    self.skipped += 1;
                    return;
                }
                let v: Vec<f32> = p.val().into_data().try_to_vec().unwrap();
                self.kept += v.iter().map(|x| x.abs()).sum::<f32>();
            }
        }
        let mut oracle = Abs::default();
        model.visit(&mut oracle);
        assert!(
            oracle.skipped >= 4,
            "BatchNorm and bias parameters exist: {}",
            oracle.skipped
        );
        assert!(
            (l1 - oracle.kept).abs() < 1e-3 * oracle.kept,
            "{l1} vs {}",
            oracle.kept
        );
        // Biases and BatchNorm's gamma/beta change nothing.
        let mut all = 0.0f32;
        struct All<'a>(&'a mut f32);
        impl ModuleVisitor for All<'_> {
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                let v: Vec<f32> = p.val().into_data().try_to_vec().unwrap();
                *self.0 += v.iter().map(|x| x.abs()).sum::<f32>();
            }
        }
        model.visit(&mut All(&mut all));
        assert!(
            all > l1 + 1.0,
            "BatchNorm's gamma (ones) counts in the full sum: {all} vs {l1}"
        );
    }
}
