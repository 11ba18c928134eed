//! `glc`: Gold Loss Correction (Hendrycks, Mazeika, Wilson & Gimpel, NeurIPS 2018). A small
//! trusted set with clean labels (the run's clean validation split) and a classifier p̂(ỹ | x)
//! already trained with ERM on the noisy labels (`[glc] estimator`, another run on the same
//! data) give the corruption matrix
//!
//! ```text
//! Ĉ_ij = (1 / |T_i|) Σ_{x ∈ T_i} p̂(ỹ = j | x)      T_i: trusted examples of true class i
//! ```
//!
//! (a class without trusted examples gets a uniform row). A new classifier then trains on the
//! noisy examples with the corrected loss −log (Ĉᵀ p(· | x))_ỹ = −log Σ_i p_i(x) Ĉ_iỹ and on
//! the trusted examples with the cross-entropy, each step taking trusted examples in their
//! share of the data (⌈B · |T| / |U|⌉ of a batch of B noisy ones), as a shuffle of the union
//! of both sets would.

use super::{
    Family, MethodConfig, MethodDef, MethodInfo, MethodOptions, MethodSetup, MethodStep,
    StepContext, StepOutput, Trains, Uses,
};
use crate::batch::Batch;
use crate::error::CoreError;
use crate::loss::cross_entropy;
use crate::models::{Classifier, Mode};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[glc]`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlcOptions {
    /// Run directory of an `erm` run on the same (noisy) data: the estimator p̂(ỹ | x).
    pub estimator: Option<PathBuf>,
}

impl MethodOptions for GlcOptions {}

/// Ĉ [K, K] (plain device) from the estimator's softmax on the trusted examples.
pub fn estimate_corruption(
    estimator: &Classifier,
    trusted: &Batch,
    num_classes: usize,
) -> Tensor<2> {
    let device = trusted.x.device();
    let probs = softmax(estimator.forward(trusted.x.clone(), Mode::Eval), 1); // [T, K]
    let one_hot = trusted.y.clone().one_hot::<2>(num_classes).float(); // [T, K]
    let sums = one_hot.clone().transpose().matmul(probs); // [K, K]: Σ over class-i examples
    let counts = one_hot.sum_dim(0).transpose(); // [K, 1]
    let uniform = Tensor::<2>::full(
        [num_classes, num_classes],
        1.0 / num_classes as f32,
        &device,
    );
    let empty = counts
        .clone()
        .equal_elem(0.0)
        .expand([num_classes, num_classes]);
    (sums / counts.clamp_min(1.0)).mask_where(empty, uniform)
}

/// The corrected loss of noisy examples: −log Σ_i p_i(x) Ĉ_iỹ for logits [B, K], observed
/// labels [B] and Ĉ [K, K] -> [B].
pub fn corrected_losses(
    logits: Tensor<2>,
    noisy_labels: Tensor<1, Int>,
    c: Tensor<2>,
) -> Tensor<1> {
    let q = softmax(logits, 1).matmul(c); // [B, K]: p(ỹ = j | x) under Ĉ
    q.gather(1, noisy_labels.unsqueeze_dim(1))
        .squeeze_dim::<1>(1)
        .clamp_min(1e-12)
        .log()
        .neg()
}

pub struct Glc {
    /// Ĉ [K, K] on the autodiff device (a constant).
    c: Tensor<2>,
    /// |T| / |U|: trusted examples per noisy one.
    share: f64,
}

impl MethodDef for Glc {
    const INFO: MethodInfo = MethodInfo {
        name: "glc",
        label: "GLC",
        family: Family::NoisyLabels,
        summary: "Gold Loss Correction (Hendrycks et al. 2018): estimate the label-corruption \
                  matrix from the trusted clean split with an ERM model of the noisy labels, \
                  then train with the corrected loss.",
        trains: Trains::Classifier,
        uses: Uses {
            validation: true,
            ..Uses::NOTHING
        },
    };
    type Options = GlcOptions;

    fn new(cfg: &MethodConfig, setup: &MethodSetup) -> Result<Self, CoreError> {
        let options: GlcOptions = cfg.options_for(Self::INFO.name)?;
        let trusted = setup.validation.ok_or(CoreError::Missing {
            method: Self::INFO.name,
            what: "a trusted clean split (data.val_size > 0)",
        })?;
        let estimator = setup.runs.classifier(options.estimator.as_deref())?;
        let plain = trusted.clone().to_device(&setup.device.clone().inner());
        let c = estimate_corruption(&estimator, &plain, setup.input.num_classes);
        Ok(Self {
            c: c.to_device(setup.device),
            share: trusted.len() as f64 / setup.train_len.max(1) as f64,
        })
    }
}

impl MethodStep for Glc {
    fn step(
        &mut self,
        model: Classifier,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<StepOutput, CoreError> {
        let trusted = ctx.validation_batch(Self::INFO.name)?;
        let m = ((self.share * batch.len() as f64).ceil() as usize).clamp(1, trusted.len());
        let noisy = corrected_losses(
            model.forward(batch.x.clone(), Mode::Train),
            batch.y.clone(),
            self.c.clone(),
        ); // [B]
        let clean = cross_entropy(
            model.forward(trusted.x.slice(0..m), Mode::Train),
            trusted.y.slice(0..m),
        ); // [m]
        let objective = (noisy.clone().sum() + clean.sum()) / (batch.len() + m) as f64;
        let grads = GradientsParams::from_grads(objective.backward(), &model);
        Ok(StepOutput::plain(
            optim.step(ctx.lr, model, grads),
            noisy.detach().inner(),
        ))
    }

    fn report(&self) -> Option<serde_json::Value> {
        let k = self.c.dims()[0];
        let values: Vec<f32> = self.c.clone().inner().into_data().try_to_vec().ok()?;
        Some(serde_json::json!({
            "corruption_matrix": values.chunks(k).collect::<Vec<_>>(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::LossConfig;
    use crate::models::{InputSpec, ModelConfig};
    use crate::step::{OptimizerConfig, OptimizerKind, erm_step};
    use ballast_data::SeededRng;

    /// 2-D points in three far-apart clusters (the cluster is the true class), on the host.
    fn clusters(n: usize, rng: &mut SeededRng) -> (Vec<f32>, Vec<u32>) {
        let centres = [[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]];
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in 0..n {
            let c = i % 3;
            x.push((centres[c][0] + 0.5 * rng.normal()) as f32);
            x.push((centres[c][1] + 0.5 * rng.normal()) as f32);
            y.push(c as u32);
        }
        (x, y)
    }

    /// Labels drawn from row `y` of `c`.
    fn corrupt(labels: &[u32], c: &[[f64; 3]; 3], rng: &mut SeededRng) -> Vec<u32> {
        labels
            .iter()
            .map(|&y| {
                let u = rng.uniform();
                let row = c[y as usize];
                if u < row[0] {
                    0
                } else if u < row[0] + row[1] {
                    1
                } else {
                    2
                }
            })
            .collect()
    }

    /// An ERM model of noisy labels drawn from a known C, and Ĉ from clean trusted points:
    /// every entry within 0.05 of C.
    #[test]
    fn estimated_matrix_recovers_the_true_noise_matrix() {
        let truth = [[0.6, 0.4, 0.0], [0.0, 0.7, 0.3], [0.25, 0.0, 0.75]];
        let device = Device::flex().autodiff();
        device.seed(5);
        crate::host_rng::seed(5);
        let mut rng = SeededRng::new(17, 0);
        let (x, y) = clusters(3000, &mut rng);
        let noisy = corrupt(&y, &truth, &mut rng);
        let input = InputSpec {
            shape: vec![2],
            num_classes: 3,
            mean: vec![1.3, 1.3],
            std: vec![2.0, 2.0],
        };
        let train = Batch::from_host(&x, &noisy, &device);
        let mut model = ModelConfig::mlp(&[16]).init(&input, &device);
        let mut optim = OptimizerConfig {
            kind: OptimizerKind::Adam,
            lr: 0.02,
            ..Default::default()
        }
        .init();
        for _ in 0..300 {
            model = erm_step(model, &mut optim, &train, &LossConfig::Ce {}, 0.02).0;
        }
        let (tx, ty) = clusters(600, &mut rng);
        let trusted = Batch::from_host(&tx, &ty, &device.clone().inner());
        let c: Vec<f32> = estimate_corruption(&model.valid(), &trusted, 3)
            .into_data()
            .try_to_vec()
            .unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let (got, want) = (c[3 * i + j] as f64, truth[i][j]);
                assert!(
                    (got - want).abs() < 0.05,
                    "C[{i}][{j}] = {got:.3}, true {want} (estimate {c:?})"
                );
            }
        }
    }

    /// A class with no trusted example gets a uniform row.
    #[test]
    fn a_class_without_trusted_examples_gets_a_uniform_row() {
        let device = Device::flex();
        let input = InputSpec {
            shape: vec![2],
            num_classes: 3,
            mean: vec![0.0],
            std: vec![1.0],
        };
        device.seed(1);
        crate::host_rng::seed(1);
        let model = ModelConfig::mlp(&[4]).init(&input, &device);
        let trusted = Batch::from_host(&[0.1, 0.2, 0.3, 0.4], &[0, 2], &device);
        let c: Vec<f32> = estimate_corruption(&model, &trusted, 3)
            .into_data()
            .try_to_vec()
            .unwrap();
        for j in 0..3 {
            assert!((c[3 + j] - 1.0 / 3.0).abs() < 1e-6, "{c:?}");
        }
        for i in [0, 2] {
            let row: f32 = c[3 * i..3 * i + 3].iter().sum();
            assert!((row - 1.0).abs() < 1e-5, "{c:?}");
        }
    }

    /// −log Σ_i p_i Ĉ_iỹ against a hand computation; Ĉ = I gives the cross-entropy.
    #[test]
    fn corrected_loss_matches_a_hand_computation() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_floats([[1.0, 0.0, -1.0]], &device);
        let y = Tensor::<1, Int>::from_data(TensorData::new(vec![1i32], [1]), &device);
        let c =
            Tensor::<2>::from_floats([[0.7, 0.3, 0.0], [0.1, 0.8, 0.1], [0.0, 0.5, 0.5]], &device);
        let e = [1f64.exp(), 1.0, (-1f64).exp()];
        let s: f64 = e.iter().sum();
        let p: Vec<f64> = e.iter().map(|v| v / s).collect();
        let want = -(p[0] * 0.3 + p[1] * 0.8 + p[2] * 0.5).ln();
        let got: f32 = corrected_losses(logits.clone(), y.clone(), c).into_scalar();
        assert!((got as f64 - want).abs() < 1e-6, "{got} vs {want}");
        let eye =
            Tensor::<2>::from_floats([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], &device);
        let ce: f32 = cross_entropy(logits.clone(), y.clone()).into_scalar();
        let got: f32 = corrected_losses(logits, y, eye).into_scalar();
        assert!((got - ce).abs() < 1e-6, "{got} vs {ce}");
    }
}
