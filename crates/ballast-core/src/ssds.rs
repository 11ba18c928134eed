//! SSDS (Esfandiari et al., arXiv 1910.08623): a saddle-point dynamical system for robust
//! training. Each training example i carries a perturbation δ_i and a dual variable v_i that
//! persist across epochs (the runner stores them by dataset index); λ and t are global. One
//! ascent step on δ per descent step on θ:
//!
//! ```text
//! x̃ = clamp(x + δ, 0, 1)                         (optionally δ + U(−ε, ε), re-clipped to ε)
//! L = mean CE(f(x̃), y),  g = ∂L/∂δ_i             (= ∂ℓ_i/∂δ_i / B; or per example ∂ℓ_i/∂δ_i)
//! δ ← clip_ε(δ + η·(g − v·s(δ)/c1))               s = sign(δ) (or a subgradient of ‖δ‖∞)
//! c = ‖δ_old‖∞ − ε;  v ← max(0, v + η·c)         (dual ascent on the budget)
//! t ← t + η·(λ − 1);  λ ← max(0, λ + η/c2·L − t − Σ v·c)
//! θ ← θ − λ·lr·(momentum-SGD direction at x̃)     (the optimiser steps even at λ = 0: its
//!                                                   momentum and weight decay accumulate)
//! ```
//!
//! The defaults are the reference code's, except two of its quirks: Ballast clamps pixels, not
//! normalised pixels, to [0, 1], and the runner selects checkpoints on validation, not training
//! accuracy. `g` is the gradient with respect to δ, so it is zero on the coordinates where the
//! noise clip or the pixel clamp is active ([`SsdsGradient::ThroughClamp`]), and the radius is ε
//! from the first step (the shared ε warm-up applies only with `eps_warmup = true`). Named
//! options keep Ballast's variants: `gradient = "at-clamped-point"`, `ascent = "per-example"`,
//! `subgradient = "linf"`.

use crate::attack::{Norm, project};
use crate::batch::Batch;
use crate::error::CoreError;
use crate::models::{Classifier, Mode};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};

/// Which parts of the dynamical system run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SsdsVariant {
    /// δ, v, λ and t.
    #[default]
    Full,
    /// Plain alternating gradient descent–ascent: no duals, λ = 1 (`NOLAG`).
    Nolag,
    /// Per-example duals v but no λ / t (`NOLAM`).
    Nolam,
}

/// Which subgradient of the budget constraint the δ update uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SsdsSubgradient {
    /// sign(δ), the ℓ1 subgradient the reference code uses.
    #[default]
    Sign,
    /// Of ‖δ‖∞, the constraint the duals price: sign(δ_j) on the coordinates of largest
    /// magnitude (shared equally between ties), 0 elsewhere.
    Linf,
}

/// How the ascent step scales the input gradient.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SsdsAscent {
    /// ∇_δ of the batch-mean loss (= ∇_δ ℓ_i / B), as the reference code computes it: every
    /// ascent step is B times smaller than a per-example one.
    #[default]
    BatchMean,
    /// ∇_δ ℓ_i: each example ascends its own loss, independent of the batch size.
    PerExample,
}

/// Where the ascent gradient is taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SsdsGradient {
    /// ∂L/∂δ through the noise clip and the pixel clamp, as the reference's autograd computes
    /// it: zero on every coordinate where |δ + noise| > ε or x + δ leaves [0, 1].
    #[default]
    ThroughClamp,
    /// ∂L/∂x̃ at the clamped point on every coordinate, so a δ pushed against a clamp keeps
    /// receiving the loss's gradient.
    AtClampedPoint,
}

/// `[adversarial.ssds]` of a run config, defaults of the reference `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SsdsConfig {
    pub variant: SsdsVariant,
    /// Ascent step size η.
    pub eta: f64,
    pub c1: f64,
    pub c2: f64,
    pub lambda0: f64,
    pub v0: f64,
    pub t0: f64,
    /// Add U(−ε, ε) noise to δ before each use (re-clipped to the ε-ball), as the reference
    /// does for MNIST / Fashion-MNIST.
    pub noise: bool,
    pub subgradient: SsdsSubgradient,
    pub ascent: SsdsAscent,
    pub gradient: SsdsGradient,
    /// Ramp ε up over `adversarial.eps_warmup_epochs` as the other adversarial methods do (the
    /// reference runs at ε from the first step).
    pub eps_warmup: bool,
    /// Every this many epochs η ← η·exp(−decay·epoch) while η > 1e-4 (0 = never).
    pub eta_decay_every: usize,
    pub eta_decay: f64,
}

impl Default for SsdsConfig {
    fn default() -> Self {
        Self {
            variant: SsdsVariant::Full,
            eta: 2.0,
            c1: 100.0,
            c2: 100.0,
            lambda0: 4.0,
            v0: 1.0,
            t0: 1.0,
            noise: false,
            subgradient: SsdsSubgradient::Sign,
            ascent: SsdsAscent::BatchMean,
            gradient: SsdsGradient::ThroughClamp,
            eps_warmup: false,
            eta_decay_every: 100,
            eta_decay: 1e-3,
        }
    }
}

impl SsdsConfig {
    pub fn validate(&self) -> Result<(), CoreError> {
        for (name, v) in [("eta", self.eta), ("c1", self.c1), ("c2", self.c2)] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(CoreError::Config(format!(
                    "adversarial.ssds.{name} must be positive, got {v}"
                )));
            }
        }
        if self.lambda0 < 0.0 || self.v0 < 0.0 {
            return Err(CoreError::Config(
                "adversarial.ssds.lambda0 and v0 must be >= 0".into(),
            ));
        }
        Ok(())
    }

    /// η at the start of `epoch` (0-based) under the decay rule.
    pub fn eta_at(&self, epoch: usize) -> f64 {
        let mut eta = self.eta;
        if self.eta_decay_every == 0 {
            return eta;
        }
        let mut e = self.eta_decay_every;
        while e <= epoch && eta > 1e-4 {
            eta *= (-self.eta_decay * e as f64).exp();
            e += self.eta_decay_every;
        }
        eta
    }
}

/// The global scalars of the system.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SsdsGlobals {
    pub lambda: f64,
    pub t: f64,
}

impl SsdsGlobals {
    pub fn new(cfg: &SsdsConfig) -> Self {
        Self {
            lambda: cfg.lambda0,
            t: cfg.t0,
        }
    }
}

/// One SSDS step on a batch with its stored state.
pub struct SsdsStep {
    pub model: Classifier,
    /// [B] per-example loss at x̃ (detached, inner device).
    pub losses: Tensor<1>,
    /// [B, D] updated perturbations and [B] duals, to write back to the store.
    pub delta: Tensor<2>,
    pub v: Tensor<1>,
    /// [1] examples classified correctly at x̃.
    pub robust_correct: Tensor<1, Int>,
}

/// A subgradient of ‖δ‖∞ per row: sign(δ_j)/m on the m coordinates of largest |δ_j|.
fn linf_subgradient(delta: Tensor<2>) -> Tensor<2> {
    let abs = delta.clone().abs();
    let top = abs.clone().max_dim(1); // [B, 1]
    let at_max = abs.greater_equal(top.clone()).float() * top.greater_elem(0.0).float(); // [B, D]
    let count = at_max.clone().sum_dim(1).clamp_min(1.0); // [B, 1]
    delta.sign() * at_max / count
}

/// ∂x̃/∂δ [B, D] of x̃ = clamp(x + clip_ε(noisy), 0, 1), `noisy` = δ + noise [B, D] (without
/// noise: `None`, and the stored δ is inside the ball): 1 where neither clamp is active, 0 where
/// one is. As in PyTorch's `clamp` and `where`, a value exactly at a bound passes the gradient.
fn clamp_pass_mask(
    x: &Tensor<2>,
    used: &Tensor<2>,
    noisy: Option<&Tensor<2>>,
    eps: f64,
) -> Tensor<2> {
    let shifted = x.clone() + used.clone();
    let in_range =
        shifted.clone().greater_equal_elem(0.0).float() * shifted.lower_equal_elem(1.0).float();
    match noisy {
        Some(noisy) => in_range * noisy.clone().abs().lower_equal_elem(eps).float(),
        None => in_range,
    }
}

/// SSDS step. `delta` [B, D] and `v` [B] are the batch's stored state (inner device).
#[allow(clippy::too_many_arguments)]
pub fn ssds_step(
    model: Classifier,
    optim: &mut ModuleOptimizer,
    batch: &Batch,
    delta: Tensor<2>,
    v: Tensor<1>,
    globals: &mut SsdsGlobals,
    cfg: &SsdsConfig,
    eps: f64,
    eta: f64,
    lr: f64,
) -> SsdsStep {
    let x = batch.x.clone().inner();
    let [b, d] = x.dims(); // [B, D]
    let device = x.device();
    let noisy = cfg.noise.then(|| {
        delta.clone() + crate::host_rng::float([b, d], Distribution::Uniform(-eps, eps), &device)
    });
    let used = match &noisy {
        Some(noisy) => noisy.clone().clamp(-eps, eps),
        None => delta.clone(),
    };
    let x_tilde = project(&x, x.clone() + used.clone(), Norm::Linf, eps); // clamp(x + δ, 0, 1)
    // One forward/backward in train mode gives both ∂L/∂x̃ (the ascent direction, with the
    // batch-mean scale) and ∂L/∂θ (the descent direction at the same x̃).
    let xt = x_tilde.autodiff().require_grad();
    let logits = model.forward(xt.clone(), Mode::Train); // [B, K]
    let per_example = crate::loss::cross_entropy(logits.clone(), batch.y.clone()); // [B]
    let correct = crate::step::correct_count(logits.detach().inner(), batch.y.clone().inner());
    let losses = per_example.clone().detach().inner();
    let backward = per_example.mean().backward();
    let g = xt
        .grad(&backward)
        .expect("x̃ takes part in the forward")
        .inner(); // [B, D]
    let g = match cfg.ascent {
        SsdsAscent::PerExample => g * b as f64,
        SsdsAscent::BatchMean => g,
    };
    let g = match cfg.gradient {
        SsdsGradient::ThroughClamp => g * clamp_pass_mask(&x, &used, noisy.as_ref(), eps),
        SsdsGradient::AtClampedPoint => g,
    };
    let grads = GradientsParams::from_grads(backward, &model);
    let budget = delta.clone().abs().max_dim(1).squeeze_dim::<1>(1) - eps; // c_i [B]
    let (new_delta, new_v) = match cfg.variant {
        SsdsVariant::Nolag => ((delta + g * eta).clamp(-eps, eps), v),
        SsdsVariant::Full | SsdsVariant::Nolam => {
            let s = match cfg.subgradient {
                SsdsSubgradient::Linf => linf_subgradient(delta.clone()),
                SsdsSubgradient::Sign => delta.clone().sign(),
            };
            let pull = s * (v.clone().unsqueeze_dim::<2>(1) / cfg.c1); // [B, D]
            let new_delta = (delta + (g - pull) * eta).clamp(-eps, eps);
            let new_v = (v + budget.clone() * eta).clamp_min(0.0);
            (new_delta, new_v)
        }
    };
    let scale = match cfg.variant {
        SsdsVariant::Full => {
            // λ sets this step's size, so the full variant reads two scalars on the host,
            // in one read (the other variants read nothing).
            let read: Vec<f32> = Tensor::cat(
                vec![losses.clone().mean(), (new_v.clone() * budget).sum()],
                0,
            )
            .try_into_vec_as::<f32>()
            .expect("two f32 scalars");
            let (mean_loss, priced) = (read[0] as f64, read[1] as f64);
            globals.t += eta * (globals.lambda - 1.0);
            globals.lambda =
                (globals.lambda + eta / cfg.c2 * mean_loss - globals.t - priced).max(0.0);
            globals.lambda
        }
        SsdsVariant::Nolag | SsdsVariant::Nolam => 1.0,
    };
    // At λ = 0 the step moves nothing but still feeds momentum (and weight decay) into the
    // optimiser's state, as the reference's SubOptMOM does.
    let model = optim.step(lr * scale, model, grads);
    SsdsStep {
        model,
        losses,
        delta: new_delta,
        v: new_v,
        robust_correct: correct,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{InputSpec, ModelConfig};
    use crate::params::flat_values;
    use crate::step::OptimizerConfig;

    #[test]
    fn linf_subgradient_marks_the_largest_coordinates() {
        let device = Device::flex();
        let d = Tensor::<2>::from_floats(
            [[0.1, -0.3, 0.2], [0.2, -0.2, 0.0], [0.0, 0.0, 0.0]],
            &device,
        );
        let s: Vec<f32> = linf_subgradient(d).into_data().try_to_vec().unwrap();
        assert_eq!(s, vec![0.0, -1.0, 0.0, 0.5, -0.5, 0.0, 0.0, 0.0, 0.0]);
    }

    fn tiny() -> (Classifier, Batch, InputSpec) {
        let device = Device::flex().autodiff();
        device.seed(5);
        let input = InputSpec {
            shape: vec![1, 2, 2],
            num_classes: 3,
            mean: vec![0.5],
            std: vec![0.3],
        };
        let model = ModelConfig::mlp(&[6]).init(&input, &device);
        let x = Tensor::<2>::from_floats([[1.0, 0.5, 0.0, 0.5], [0.2, 0.4, 0.6, 0.8]], &device);
        let y = Tensor::<1, Int>::from_ints([2, 0], &device);
        (model, Batch { x, y }, input)
    }

    fn rows(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_to_vec().unwrap()
    }

    /// x = 1 with δ = +0.1 and x = 0 with δ = −0.1 leave [0, 1]: the reference's gradient with
    /// respect to δ is zero there (v = 0, so only the gradient moves δ); the coordinates inside
    /// move. At the clamped point every coordinate moves.
    #[test]
    fn the_ascent_gradient_is_zero_where_the_pixel_clamp_is_active() {
        let (model, batch, _) = tiny();
        let device = batch.x.device().inner();
        let delta = Tensor::<2>::from_floats([[0.1, 0.1, -0.1, 0.0], [0.0; 4]], &device);
        let v = Tensor::<1>::zeros([2], &device);
        let step = |gradient| {
            let cfg = SsdsConfig {
                v0: 0.0,
                gradient,
                ..SsdsConfig::default()
            };
            let mut globals = SsdsGlobals::new(&cfg);
            let mut optim = OptimizerConfig::default().init();
            let out = ssds_step(
                model.clone(),
                &mut optim,
                &batch,
                delta.clone(),
                v.clone(),
                &mut globals,
                &cfg,
                0.3,
                2.0,
                0.01,
            );
            rows(out.delta)
        };
        let through = step(SsdsGradient::ThroughClamp);
        let at = step(SsdsGradient::AtClampedPoint);
        let before = rows(delta.clone());
        assert_eq!(
            (through[0], through[2]),
            (before[0], before[2]),
            "{through:?}"
        );
        for j in [1, 3, 4, 5, 6, 7] {
            assert_ne!(through[j], before[j], "coordinate {j}: {through:?}");
            assert_eq!(through[j], at[j], "coordinate {j}");
        }
        assert!(at[0] != before[0] && at[2] != before[2], "{at:?}");
    }

    /// With noise, a coordinate whose δ + noise left the ε-ball passes no gradient either.
    #[test]
    fn the_clamp_mask_covers_the_noise_clip_and_the_pixel_range() {
        let device = Device::flex();
        let x = Tensor::<2>::from_floats([[0.5, 0.5, 0.95, 0.0, 0.5]], &device);
        let noisy = Tensor::<2>::from_floats([[0.2, 0.35, 0.1, 0.0, -0.3]], &device);
        let used = noisy.clone().clamp(-0.3, 0.3);
        let mask = rows(clamp_pass_mask(&x, &used, Some(&noisy), 0.3));
        assert_eq!(mask, vec![1.0, 0.0, 0.0, 1.0, 1.0]);
        let without = rows(clamp_pass_mask(&x, &used, None, 0.3));
        assert_eq!(without, vec![1.0, 1.0, 0.0, 1.0, 1.0]);
    }

    /// λ = 0 moves no parameter but, as the reference's SubOptMOM, feeds the optimiser's
    /// momentum: the next step (λ = 1) differs from one taken by a fresh optimiser.
    #[test]
    fn the_optimiser_accumulates_momentum_at_lambda_zero() {
        let (model, batch, _) = tiny();
        let device = batch.x.device().inner();
        let delta = Tensor::<2>::zeros([2, 4], &device);
        let v = Tensor::<1>::ones([2], &device);
        // t far above the loss keeps λ at 0.
        let cfg = SsdsConfig {
            lambda0: 0.0,
            t0: 1e6,
            ..SsdsConfig::default()
        };
        let sgd = OptimizerConfig {
            momentum: 0.9,
            ..OptimizerConfig::default()
        };
        let mut globals = SsdsGlobals::new(&cfg);
        let mut used = sgd.init();
        let out = ssds_step(
            model.clone(),
            &mut used,
            &batch,
            delta.clone(),
            v.clone(),
            &mut globals,
            &cfg,
            0.3,
            2.0,
            0.1,
        );
        assert_eq!(globals.lambda, 0.0);
        assert_eq!(
            flat_values(&out.model),
            flat_values(&model),
            "λ = 0 moves no parameter"
        );
        let next = |optim: &mut ModuleOptimizer| {
            let mut g = SsdsGlobals {
                lambda: 1.0,
                t: 0.0,
            };
            let cfg = SsdsConfig {
                variant: SsdsVariant::Nolam,
                ..cfg.clone()
            };
            let out = ssds_step(
                model.clone(),
                optim,
                &batch,
                delta.clone(),
                v.clone(),
                &mut g,
                &cfg,
                0.3,
                2.0,
                0.1,
            );
            flat_values(&out.model)
        };
        assert_ne!(next(&mut used), next(&mut sgd.init()));
    }

    #[test]
    fn eta_decays_every_period() {
        let cfg = SsdsConfig::default();
        assert_eq!(cfg.eta_at(99), 2.0);
        assert!((cfg.eta_at(100) - 2.0 * (-0.1f64).exp()).abs() < 1e-12);
        assert!((cfg.eta_at(200) - 2.0 * (-0.1f64).exp() * (-0.2f64).exp()).abs() < 1e-12);
    }
}
