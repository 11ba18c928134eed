//! Learned example weighting (Meta-Weight-Net, Shu et al. 2019; the deep-interaction
//! teacher, Fan et al. 2021): a small network maps each example's state s_i to a weight
//! w_i ∈ (0, 1), and is trained by the meta-gradient of the clean validation loss after one
//! virtual step of the student. With first-order autodiff only (Burn has no
//! second-order autodiff):
//!   θ̂ = θ − (α/n) Σ_i w_i ∇ℓ_i(θ),   g = ∇L_val(θ̂),   d_i = ⟨∇ℓ_i(θ), g⟩,
//!   ∂L_val(θ̂)/∂φ = Σ_i c_i ∂w_i/∂φ  with  c_i = −(α/n) d_i,
//! so the weighting network gets one ordinary backward of Σ_i c_i w_i(φ).

use crate::batch::Batch;
use crate::hypergrad::{
    DerivativeScheme, Direction, DirectionalConfig, logit_directional_derivatives,
    loss_directional_derivatives,
};
use crate::jvp::{Dual, Tangents};
use crate::loss::LossConfig;
use crate::models::{Classifier, Mode, ModelOutput};
use crate::params::AddScaled;
use crate::step::{step_on_losses, weighted_step};
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

/// s_i -> w_i: Linear -> ReLU -> Linear -> sigmoid (MW-Net: 1 -> 100 -> 1), optionally after a
/// learned per-input scale s ⊙ a.
#[derive(Module, Debug)]
pub struct WeightNet {
    /// [S] learned scale of each state input, when the method asks for one.
    scale: Option<Param<Tensor<1>>>,
    hidden: Linear,
    out: Linear,
}

impl WeightNet {
    pub fn new(state_dim: usize, hidden: usize, device: &Device) -> Self {
        Self {
            scale: None,
            hidden: LinearConfig::new(state_dim, hidden).init(device),
            out: LinearConfig::new(hidden, 1).init(device),
        }
    }

    /// Adds a learned scale of each input [S], starting at 1.
    pub fn with_input_scale(mut self, state_dim: usize, device: &Device) -> Self {
        self.scale = Some(Param::from_tensor(Tensor::ones([state_dim], device)));
        self
    }

    /// Sets the learned input scale's value [S] (same parameter, so its optimiser state and
    /// checkpoint name stay); a no-op without one.
    pub fn set_input_scale(mut self, value: Tensor<1>) -> Self {
        self.scale = self.scale.map(|p| {
            p.map(|old| {
                let v = value.detach().to_device(&old.device());
                if old.is_require_grad() {
                    v.autodiff().require_grad()
                } else {
                    v
                }
            })
        });
        self
    }

    /// states [n, S] -> weights [n] in (0, 1).
    pub fn forward(&self, states: Tensor<2>) -> Tensor<1> {
        let states = match &self.scale {
            Some(scale) => states * scale.val().unsqueeze_dim::<2>(0),
            None => states,
        };
        let h = relu(self.hidden.forward(states));
        sigmoid(self.out.forward(h)).squeeze_dim::<1>(1)
    }
}

/// The starting scale of each state input [S] from a probe batch of states [n, S]: 1/std of the
/// input over the batch (1 where it is constant), so that every input starts at unit spread.
pub fn unit_spread_scale(states: Tensor<2>) -> Tensor<1> {
    let mean = states.clone().mean_dim(0);
    let std = (states - mean)
        .powi_scalar(2)
        .mean_dim(0)
        .sqrt()
        .squeeze_dim::<1>(0); // [S]
    let constant = std.clone().lower_elem(1e-6);
    std.clamp_min(1e-6).recip().mask_fill(constant, 1.0)
}

/// How the real step of a learned-weighting method (MW-Net, the teacher) weighs its losses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RealStepWeights {
    /// (1/n) Σ wᵢ ℓᵢ with the network's outputs wᵢ, the objective of the virtual step too:
    /// the meta-gradient plans the step that is taken (the stable MW-Net reference code).
    #[default]
    Mean,
    /// Σ wᵢ ℓᵢ / Σ wᵢ: the outputs clipped at 0 and normalised to sum 1 in the real step only
    /// (L2RW's normalisation; a step n/Σw times the one the virtual step planned).
    Normalised,
}

/// What one meta step produced.
pub struct MetaStepOutput {
    pub model: Classifier,
    pub net: WeightNet,
    /// [n] per-example losses at θ (before the step).
    pub losses: Tensor<1>,
    /// [n] the real step's per-example factors of Σᵢ factorᵢ ℓᵢ (after the meta update): the
    /// network's outputs / n, or the outputs normalised to sum to 1. n · factor = 1 is the
    /// weight ERM gives every example.
    pub weights: Tensor<1>,
}

/// The meta-gradient coefficients c_i = −(α/n)·⟨∇ℓ_i(θ), ∇L_val(θ̂)⟩ for weights `w` (plain,
/// [n]) on `batch`; `model` is the autodiff student at θ. Returns c [n] (plain).
pub fn meta_coefficients(
    model: &Classifier,
    batch: &Batch,
    val: &Batch,
    loss: &LossConfig,
    w: Tensor<1>,
    virtual_lr: f64,
    cfg: DirectionalConfig,
) -> Tensor<1> {
    let n = batch.len() as f64;
    let losses = loss.per_example(model.forward(batch.x.clone(), Mode::Probe), batch.y.clone());
    let g = look_ahead_validation_gradient(model, losses, w, val, virtual_lr);
    let plain = model.valid();
    let device = plain.devices()[0].clone();
    let plain_batch = batch.clone().to_device(&device);
    let d =
        loss_directional_derivatives(&plain, &plain_batch, loss, &g, cfg, Mode::Probe).derivatives;
    d * (-virtual_lr / n)
}

/// g = ∇L_val(θ̂) at the look-ahead θ̂ = θ − α ∇θ (1/n) Σ_i w_i ℓ_i(θ), the weights `w` [n]
/// held constant; `losses` [n] are tracked at θ by `model` (the autodiff student; their
/// graph is consumed).
fn look_ahead_validation_gradient(
    model: &Classifier,
    losses: Tensor<1>,
    w: Tensor<1>,
    val: &Batch,
    virtual_lr: f64,
) -> Direction {
    let n = losses.dims()[0] as f64;
    let step_grads =
        GradientsParams::from_grads((losses * w.detach()).sum().div_scalar(n).backward(), model);
    // An autodiff copy of the look-ahead (same parameter ids).
    let look_ahead = model
        .valid()
        .map(&mut AddScaled {
            dir: &step_grads,
            scale: -virtual_lr,
        })
        .train();
    let val_loss = LossConfig::Ce {}
        .per_example(
            look_ahead.forward(val.x.clone(), Mode::Probe),
            val.y.clone(),
        )
        .mean();
    Direction::gradient_of(val_loss, &look_ahead)
}

/// One learned-weighting step: meta-update the weighting network with the validation
/// meta-gradient of the virtual step θ - α ∇θ (1/n) Σ wᵢ ℓᵢ, then the real weighted step of the
/// student with the updated weights, on (1/n) Σ wᵢ ℓᵢ or, with [`RealStepWeights::Normalised`],
/// on the weights normalised to sum to 1. `states(output, losses)` builds the [n, S] network
/// inputs from the student's forward at θ (plain tensors). The returned weights are the
/// per-example factors of the real step's objective Σᵢ factorᵢ ℓᵢ (wᵢ / n, or the normalised
/// wᵢ), the scale every reweighting method reports.
///
/// With the exact (JVP) scheme the training batch goes through the network twice: one
/// tracked forward at θ gives the network's inputs and the virtual step, and one tracked dual
/// forward carries the tangents along g, gives the coefficients and takes the real step's
/// backward (the reference runs four forwards at θ).
#[allow(clippy::too_many_arguments)]
pub fn learned_weight_step(
    model: Classifier,
    optim: &mut ModuleOptimizer,
    net: WeightNet,
    net_optim: &mut ModuleOptimizer,
    batch: &Batch,
    val: &Batch,
    loss: &LossConfig,
    states: impl Fn(&ModelOutput, &Tensor<1>) -> Tensor<2>,
    lr: f64,
    meta_lr: f64,
    cfg: DirectionalConfig,
    real_step: RealStepWeights,
) -> MetaStepOutput {
    let n = batch.len() as f64;
    let device = model.devices()[0].clone().inner();
    let out = model.forward_output(batch.x.clone(), Mode::Probe); // tracked at θ
    let plain_out = ModelOutput {
        features: out.features.detach().inner(),
        logits: out.logits.clone().detach().inner(),
    };
    let losses = loss.per_example(out.logits, batch.y.clone()); // [n], tracked
    let plain_losses = losses.clone().detach().inner();
    let s = states(&plain_out, &plain_losses).detach(); // [n, S], constant input to the network
    let w = net.forward(s.clone()); // [n], tracked w.r.t. φ
    let g = look_ahead_validation_gradient(&model, losses, w.clone().inner(), val, lr);
    // d_i = ⟨∇ℓ_i(θ), g⟩ [n], and the real step's logits when they come with them.
    let (d, step_logits) = if cfg.scheme == DerivativeScheme::Jvp {
        let dual = model.forward_dual(
            Dual::constant(batch.x.clone()),
            Mode::Train,
            Some(Tangents { dir: g.grads() }),
        );
        let d = logit_directional_derivatives(loss, &dual.logits, batch.y.clone()).derivatives;
        (d, Some(dual.logits.p))
    } else {
        let plain_batch = batch.clone().to_device(&device);
        let d =
            loss_directional_derivatives(&model.valid(), &plain_batch, loss, &g, cfg, Mode::Probe)
                .derivatives;
        (d, None)
    };
    let c = d * (-lr / n); // the meta-gradient coefficients
    let surrogate = (w * c.detach()).sum();
    let net_grads = GradientsParams::from_grads(surrogate.backward(), &net);
    let net = net_optim.step(meta_lr, net, net_grads);
    let outputs = net.valid().forward(s.inner()).to_device(&device); // [n]
    // The real step's per-example factors of Σ_i (factor_i · ℓ_i), and the weights reported.
    let (factors, w) = match real_step {
        RealStepWeights::Mean => {
            let factors = outputs.div_scalar(n);
            (factors.clone(), factors)
        }
        RealStepWeights::Normalised => {
            let w = crate::reweight::clip_and_normalise(outputs);
            (w.clone(), w)
        }
    };
    let model = match step_logits {
        Some(logits) => {
            let losses = loss.per_example(logits, batch.y.clone()); // [n], tracked
            step_on_losses(model, optim, losses, Some(factors), lr)
        }
        None => weighted_step(model, optim, batch, loss, Some(factors), lr).0,
    };
    MetaStepOutput {
        model,
        net,
        losses: plain_losses,
        weights: w,
    }
}

/// Per-example inputs of the deep-interaction teacher (Fan et al. 2021). `Features`
/// (penultimate-layer activations) is the internal state; the rest are the "surface"
/// signals earlier teachers used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StateFeature {
    /// Penultimate-layer features, standardised per example (zero mean, unit variance over the
    /// features of each example: their magnitude is dropped — a choice of ours).
    Features,
    /// Penultimate-layer features as they are (their magnitude kept; the network's first
    /// layer scales each one).
    RawFeatures,
    /// Softmax output.
    Probs,
    /// Per-example training loss.
    Loss,
    /// One-hot label.
    Label,
    /// p_y minus the largest other probability.
    Margin,
    /// Training progress step / total.
    Progress,
}

impl StateFeature {
    /// Internal states plus surface signals (the method of Fan et al.).
    pub const INTERNAL: [StateFeature; 5] = [
        StateFeature::Features,
        StateFeature::Probs,
        StateFeature::Loss,
        StateFeature::Label,
        StateFeature::Progress,
    ];
    /// Surface signals only (the ablation).
    pub const SURFACE: [StateFeature; 5] = [
        StateFeature::Probs,
        StateFeature::Loss,
        StateFeature::Label,
        StateFeature::Margin,
        StateFeature::Progress,
    ];
}

/// The teacher's input [n, S] from the student's plain forward at θ: the selected features
/// concatenated in `features` order. `progress` ∈ [0, 1].
pub fn teacher_state(
    out: &ModelOutput,
    losses: &Tensor<1>,
    labels: &Tensor<1, Int>,
    progress: f64,
    features: &[StateFeature],
) -> Tensor<2> {
    let [n, k] = out.logits.dims();
    let device = out.logits.device();
    let probs = burn::tensor::activation::softmax(out.logits.clone(), 1); // [n, K]
    let one_hot = labels.clone().one_hot::<2>(k).float(); // [n, K]
    let parts: Vec<Tensor<2>> = features
        .iter()
        .map(|f| match f {
            StateFeature::Features => {
                let h = out.features.clone(); // [n, F]
                let mean = h.clone().mean_dim(1);
                let std = (h.clone() - mean.clone())
                    .powi_scalar(2)
                    .mean_dim(1)
                    .add_scalar(1e-5)
                    .sqrt();
                (h - mean) / std
            }
            StateFeature::RawFeatures => out.features.clone(),
            StateFeature::Probs => probs.clone(),
            StateFeature::Loss => losses.clone().unsqueeze_dim(1),
            StateFeature::Label => one_hot.clone(),
            StateFeature::Margin => {
                let p_y = (probs.clone() * one_hot.clone()).sum_dim(1); // [n, 1]
                let others = (probs.clone() - one_hot.clone() * 2.0).max_dim(1); // max over k ≠ y
                p_y - others
            }
            StateFeature::Progress => Tensor::full([n, 1], progress as f32, &device),
        })
        .collect();
    Tensor::cat(parts, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{InputSpec, ModelConfig};

    #[test]
    fn unit_spread_scale_is_the_inverse_spread_of_each_input() {
        let device = Device::flex();
        // Columns: spread 1 (values ±1), spread 10 (±10), constant.
        let s = Tensor::<2>::from_floats([[1.0, 10.0, 3.0], [-1.0, -10.0, 3.0]], &device);
        let scale: Vec<f32> = unit_spread_scale(s).into_data().try_to_vec().unwrap();
        assert_eq!(scale, vec![1.0, 0.1, 1.0]);
    }

    #[test]
    fn raw_features_keep_the_magnitude_that_standardised_ones_drop() {
        let device = Device::flex();
        let features = Tensor::<2>::from_floats([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]], &device);
        let out = ModelOutput {
            features: features.clone(),
            logits: Tensor::zeros([2, 2], &device),
        };
        let losses = Tensor::<1>::zeros([2], &device);
        let labels = Tensor::<1, Int>::from_ints([0, 1], &device);
        let state = |f| teacher_state(&out, &losses, &labels, 0.0, &[f]);
        let raw: Vec<f32> = state(StateFeature::RawFeatures)
            .into_data()
            .try_to_vec()
            .unwrap();
        assert_eq!(raw, vec![1.0, 2.0, 3.0, 10.0, 20.0, 30.0]);
        let std: Vec<f32> = state(StateFeature::Features)
            .into_data()
            .try_to_vec()
            .unwrap();
        // Both rows standardise to the same values: the 10x magnitude is gone.
        for i in 0..3 {
            assert!((std[i] - std[i + 3]).abs() < 1e-4, "{std:?}");
        }
    }

    /// L_val(θ̂(φ)) computed directly: θ̂ = θ − (α/n) ∇θ Σ w_i(φ) ℓ_i(θ).
    fn val_after_virtual_step(
        model: &Classifier,
        net: &WeightNet,
        batch: &Batch,
        val: &Batch,
        s: &Tensor<2>,
        alpha: f64,
    ) -> f64 {
        let n = batch.len() as f64;
        let w = net.valid().forward(s.clone().inner());
        let losses = LossConfig::Ce {}
            .per_example(model.forward(batch.x.clone(), Mode::Probe), batch.y.clone());
        let grads = GradientsParams::from_grads(
            (losses * w.detach()).sum().div_scalar(n).backward(),
            model,
        );
        let look = model.valid().map(&mut AddScaled {
            dir: &grads,
            scale: -alpha,
        });
        let v = LossConfig::Ce {}.per_example(
            look.forward(val.x.clone().inner(), Mode::Probe),
            val.y.clone().inner(),
        );
        v.mean().into_scalar::<f32>() as f64
    }

    /// The meta-gradient of the weighting network equals a central finite difference of
    /// L_val(θ̂(φ)) along a random direction in φ-space.
    #[test]
    fn meta_gradient_matches_finite_difference_of_validation_loss() {
        let ad = Device::flex().autodiff();
        ad.seed(21);
        crate::host_rng::seed(21);
        let input = InputSpec {
            shape: vec![6],
            num_classes: 3,
            mean: vec![0.5],
            std: vec![0.3],
        };
        let model = ModelConfig::mlp(&[16]).init(&input, &ad);
        let net = WeightNet::new(1, 8, &ad);
        let batch = Batch::random(10, &input, &ad);
        let val = Batch::random(8, &input, &ad);
        let alpha = 0.5;
        let loss = LossConfig::Ce {};
        let plain_out = model
            .valid()
            .forward_output(batch.x.clone().inner(), Mode::Probe);
        let losses = loss.per_example(plain_out.logits.clone(), batch.y.clone().inner());
        let y = batch.y.clone().inner();
        let s = teacher_state(&plain_out, &losses, &y, 0.0, &[StateFeature::Loss]); // MW-Net

        // Meta-gradient from the primitive.
        let w = net.forward(s.clone());
        let c = meta_coefficients(
            &model,
            &batch,
            &val,
            &loss,
            w.clone().inner(),
            alpha,
            DirectionalConfig::default(),
        );
        let grads = GradientsParams::from_grads((w * c).sum().backward(), &net);

        // Finite difference along u = the meta-gradient itself: (L(φ + εu) − L(φ − εu)) / 2ε ≈ ‖u‖².
        let u_norm2 = crate::params::grad_dot(&net.valid(), &grads, &grads);
        let eps = 0.02 / u_norm2.sqrt();
        let shift = |sign: f64| {
            net.valid()
                .map(&mut AddScaled {
                    dir: &grads,
                    scale: sign * eps,
                })
                .train()
        };
        let fd = (val_after_virtual_step(&model, &shift(1.0), &batch, &val, &s, alpha)
            - val_after_virtual_step(&model, &shift(-1.0), &batch, &val, &s, alpha))
            / (2.0 * eps);
        let rel = (fd - u_norm2).abs() / u_norm2;
        println!(
            "meta-gradient ‖u‖² = {u_norm2:.6e}, finite difference {fd:.6e}, relative error {rel:.2e}"
        );
        assert!(rel < 5e-3, "{u_norm2} vs {fd}");
    }

    /// The fused step (two forwards at θ) equals the reference composition (a plain forward
    /// for the inputs, the meta-coefficients, the network's update, then `weighted_step`) on
    /// a BatchNorm network with the teacher's internal-state inputs: student parameters,
    /// running statistics and the network's parameters.
    #[test]
    fn fused_step_equals_the_composition_of_its_parts_through_batch_norm() {
        use crate::params::flat_values;
        use crate::step::{OptimizerConfig, OptimizerKind};
        let ad = Device::flex().autodiff();
        ad.seed(9);
        crate::host_rng::seed(9);
        let (cfg, input) = crate::models::fixtures::resnet8();
        let model = cfg.init(&input, &ad);
        let batch = Batch::random(10, &input, &ad);
        let val = Batch::random(6, &input, &ad);
        let loss = LossConfig::Gce { q: 0.7 };
        let labels = batch.y.clone().inner();
        let features = StateFeature::INTERNAL;
        let states = |out: &ModelOutput, losses: &Tensor<1>| {
            teacher_state(out, losses, &labels, 0.3, &features)
        };
        let state_dim = states(
            &model
                .valid()
                .forward_output(batch.x.clone().inner(), Mode::Probe),
            &Tensor::zeros([batch.len()], &ad.clone().inner()),
        )
        .dims()[1];
        let net = WeightNet::new(state_dim, 8, &ad);
        let sgd = || {
            OptimizerConfig {
                kind: OptimizerKind::Sgd,
                momentum: 0.9,
                ..Default::default()
            }
            .init()
        };
        let (lr, meta_lr) = (0.1, 0.05);
        let cfg = DirectionalConfig::default();
        assert_eq!(cfg.scheme, DerivativeScheme::Jvp);

        for real_step in [RealStepWeights::Mean, RealStepWeights::Normalised] {
            let fused = learned_weight_step(
                model.clone(),
                &mut sgd(),
                net.clone(),
                &mut sgd(),
                &batch,
                &val,
                &loss,
                states,
                lr,
                meta_lr,
                cfg,
                real_step,
            );

            let out = model
                .valid()
                .forward_output(batch.x.clone().inner(), Mode::Probe);
            let losses = loss.per_example(out.logits.clone(), batch.y.clone().inner());
            let s = states(&out, &losses);
            let w = net.forward(s.clone());
            let c = meta_coefficients(&model, &batch, &val, &loss, w.clone().inner(), lr, cfg);
            let net_grads = GradientsParams::from_grads((w * c).sum().backward(), &net);
            let net = sgd().step(meta_lr, net.clone(), net_grads);
            // The real step's objective: (1/n) Σ wᵢ ℓᵢ (the reference), or weights normalised
            // to sum 1.
            let outputs = net.valid().forward(s);
            let weights = match real_step {
                RealStepWeights::Mean => outputs.div_scalar(batch.len() as f64),
                RealStepWeights::Normalised => crate::reweight::clip_and_normalise(outputs),
            };
            let (model, _) = weighted_step(
                model.clone(),
                &mut sgd(),
                &batch,
                &loss,
                Some(weights.clone()),
                lr,
            );

            let close = |name: &str, a: Vec<f32>, b: Vec<f32>| {
                assert_eq!(a.len(), b.len(), "{name}");
                let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
                let worst = a
                    .iter()
                    .zip(&b)
                    .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
                println!("{name}: worst difference {worst:.2e} (scale {scale:.2e})");
                assert!(worst <= 1e-5 * scale, "{name}: {worst} (scale {scale})");
            };
            close(
                "student",
                flat_values(&fused.model.valid()),
                flat_values(&model.valid()),
            );
            close(
                "weighting network",
                flat_values(&fused.net.valid()),
                flat_values(&net.valid()),
            );
            close(
                "losses",
                fused.losses.try_into_vec_as::<f32>().unwrap(),
                losses.try_into_vec_as::<f32>().unwrap(),
            );
            // The reported weights are the real step's factors (n · factor = 1 is ERM's).
            close(
                "reported weights",
                fused.weights.try_into_vec_as::<f32>().unwrap(),
                weights.try_into_vec_as::<f32>().unwrap(),
            );
        }
    }
}
