//! Per-example weights for a training batch: Learning to Reweight (Ren et al. 2018) and its
//! baselines. Weights sum to 1 and multiply the per-example losses of the real step.

use crate::batch::Batch;
use crate::hypergrad::{
    DerivativeScheme, Direction, DirectionalConfig, logit_directional_derivatives,
    loss_directional_derivatives,
};
use crate::jvp::{Dual, Tangents};
use crate::loss::LossConfig;
use crate::models::{Classifier, Mode};
use crate::step::{step_on_losses, weighted_step};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use burn::tensor::Distribution;

/// L2RW normalisation: w̃ = max(s, 0), w = w̃ / Σ w̃, and all zeros when Σ w̃ = 0 (the
/// reference adds 1 to a zero sum). s: [n] scores -> [n] weights.
pub fn clip_and_normalise(scores: Tensor<1>) -> Tensor<1> {
    let clipped = scores.clamp_min(0.0);
    let sum = clipped.clone().sum(); // [1]
    let zero = sum.clone().equal_elem(0.0).float();
    clipped / (sum + zero)
}

/// Random-weight baseline of the L2RW paper: max(N(0, 1), 0), normalised.
pub fn random_weights(n: usize, device: &Device) -> Tensor<1> {
    clip_and_normalise(crate::host_rng::float(
        [n],
        Distribution::Normal(0.0, 1.0),
        device,
    ))
}

/// Class-ratio baseline: each example weighted by the inverse frequency of its class in
/// the training set, normalised over the batch. `class_freq`: [K] fractions.
pub fn class_ratio_weights(labels: Tensor<1, Int>, class_freq: &[f32]) -> Tensor<1> {
    let device = labels.device();
    let inv: Vec<f32> = class_freq
        .iter()
        .map(|f| if *f > 0.0 { 1.0 / f } else { 0.0 })
        .collect();
    let k = inv.len();
    let table = Tensor::<1>::from_data(TensorData::new(inv, [k]), &device);
    clip_and_normalise(table.select(0, labels))
}

/// Learning-to-reweight weights for a training batch: d_i = ⟨∇θ ℓ_i(θ), ∇θ L_val(θ)⟩,
/// clipped and normalised. The validation loss is the mean cross-entropy on `val`
/// (batch statistics, as the reference meta-model). Returns ([n] weights, [n] d_i).
pub fn l2rw_weights(
    model: &Classifier,
    batch: &Batch,
    val: &Batch,
    loss: &LossConfig,
    cfg: DirectionalConfig,
) -> (Tensor<1>, Tensor<1>) {
    let val_loss = LossConfig::Ce {}
        .per_example(model.forward(val.x.clone(), Mode::Probe), val.y.clone())
        .mean();
    let dir = Direction::gradient_of(val_loss, model);
    let plain = model.valid();
    let device = plain.devices()[0].clone();
    let plain_batch = batch.clone().to_device(&device);
    let d = loss_directional_derivatives(&plain, &plain_batch, loss, &dir, cfg, Mode::Probe)
        .derivatives;
    (clip_and_normalise(d.clone()), d)
}

/// One L2RW step: weights from the validation batch, then the weighted optimiser step.
/// Returns the model, the per-example losses and the weights.
///
/// With the exact (JVP) scheme the training batch goes through the network once: the
/// tracked training forward carries the tangents along ∇L_val, the weights come from them,
/// and the same graph takes the weighted backward (one forward fewer than the reference).
pub fn l2rw_step(
    model: Classifier,
    optim: &mut ModuleOptimizer,
    batch: &Batch,
    val: &Batch,
    loss: &LossConfig,
    cfg: DirectionalConfig,
    lr: f64,
) -> (Classifier, Tensor<1>, Tensor<1>) {
    if cfg.scheme != DerivativeScheme::Jvp {
        let (weights, _) = l2rw_weights(&model, batch, val, loss, cfg);
        let (model, losses) = weighted_step(model, optim, batch, loss, Some(weights.clone()), lr);
        return (model, losses, weights);
    }
    let val_loss = LossConfig::Ce {}
        .per_example(model.forward(val.x.clone(), Mode::Probe), val.y.clone())
        .mean();
    let dir = Direction::gradient_of(val_loss, &model);
    let out = model.forward_dual(
        Dual::constant(batch.x.clone()),
        Mode::Train,
        Some(Tangents { dir: dir.grads() }),
    );
    let d = logit_directional_derivatives(loss, &out.logits, batch.y.clone()).derivatives;
    let weights = clip_and_normalise(d);
    let losses = loss.per_example(out.logits.p, batch.y.clone()); // [n], tracked
    let model = step_on_losses(model, optim, losses.clone(), Some(weights.clone()), lr);
    (model, losses.detach().inner(), weights)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{InputSpec, ModelConfig};
    use crate::params::grad_dot;
    use burn::optim::GradientsParams;

    fn values(t: Tensor<1>) -> Vec<f32> {
        t.try_into_vec_as::<f32>().unwrap()
    }

    #[test]
    fn normalisation_clips_and_handles_the_all_zero_case() {
        let d = Device::flex();
        let w = values(clip_and_normalise(Tensor::from_floats(
            [2.0, -1.0, 6.0, 0.0],
            &d,
        )));
        assert_eq!(w, vec![0.25, 0.0, 0.75, 0.0]);
        let w = values(clip_and_normalise(Tensor::from_floats([-2.0, -1.0], &d)));
        assert_eq!(w, vec![0.0, 0.0]);
        let w = values(random_weights(1000, &d));
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert!(w.iter().all(|v| *v >= 0.0));
    }

    #[test]
    fn class_ratio_upweights_the_minority() {
        let d = Device::flex();
        let labels = Tensor::<1, Int>::from_ints([0, 1, 1, 1], &d);
        let w = values(class_ratio_weights(labels, &[0.25, 0.75]));
        assert!(
            (w[0] - 0.5).abs() < 1e-6 && (w[1] - 0.5 / 3.0).abs() < 1e-6,
            "{w:?}"
        );
    }

    /// The L2RW weights equal those from exact per-example gradients (one backward each).
    #[test]
    fn l2rw_weights_match_exact_per_example_gradients() {
        let ad = Device::flex().autodiff();
        ad.seed(11);
        crate::host_rng::seed(11);
        let input = InputSpec {
            shape: vec![1, 10, 10],
            num_classes: 3,
            mean: vec![0.5],
            std: vec![0.3],
        };
        let mut cfg = ModelConfig::of(crate::models::Arch::Lenet);
        cfg.width = 0.5;
        let model = cfg.init(&input, &ad);
        let batch = Batch::random(10, &input, &ad);
        let val = Batch::random(6, &input, &ad);
        let loss = LossConfig::Ce {};
        let (w, _) = l2rw_weights(&model, &batch, &val, &loss, DirectionalConfig::default());

        let val_loss = loss
            .per_example(model.forward(val.x.clone(), Mode::Probe), val.y.clone())
            .mean();
        let g_val = GradientsParams::from_grads(val_loss.backward(), &model);
        let exact: Vec<f64> = (0..10)
            .map(|i| {
                let l =
                    loss.per_example(model.forward(batch.x.clone(), Mode::Probe), batch.y.clone());
                let g = GradientsParams::from_grads(l.slice(i..i + 1).sum().backward(), &model);
                grad_dot(&model.valid(), &g, &g_val).max(0.0)
            })
            .collect();
        let total: f64 = exact.iter().sum();
        let w = values(w);
        for (a, b) in w.iter().zip(&exact) {
            let b = if total > 0.0 { b / total } else { 0.0 };
            assert!((*a as f64 - b).abs() < 1e-5, "{w:?} vs {exact:?}");
        }
    }

    /// The one-pass step (tangents on the tracked training forward, BatchNorm in train mode)
    /// uses the same weights as the separate primitive, and the same update.
    #[test]
    fn fused_l2rw_step_matches_the_separate_primitive() {
        let ad = Device::flex().autodiff();
        ad.seed(12);
        crate::host_rng::seed(12);
        let input = InputSpec {
            shape: vec![3, 8, 8],
            num_classes: 3,
            mean: vec![0.5; 3],
            std: vec![0.25; 3],
        };
        let mut cfg = ModelConfig::of(crate::models::Arch::ResnetCifar);
        cfg.depth = 8;
        cfg.width = 0.25;
        let model = cfg.init(&input, &ad);
        let batch = Batch::random(10, &input, &ad);
        let val = Batch::random(6, &input, &ad);
        let loss = LossConfig::Ce {};
        let (expected, _) = l2rw_weights(&model, &batch, &val, &loss, DirectionalConfig::default());
        let mut optim = crate::step::OptimizerConfig::default().init();
        let (_, _, fused) = l2rw_step(
            model,
            &mut optim,
            &batch,
            &val,
            &loss,
            DirectionalConfig::default(),
            0.1,
        );
        let (a, b) = (values(expected), values(fused));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }
}
