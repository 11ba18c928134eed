//! The hypergradient primitive: per-example directional derivatives
//! d_i = ⟨∇θ ℓ_i(θ), v⟩ along one parameter-space direction v, from forward passes only.
//! Every meta-method (L2RW, the teacher, Meta-Weight-Net, meta-learned loss
//! hyperparameters) and the browser demo go through this file; the README's
//! "Hypergradients" section states what is exact and how it is tested.
//!
//! Schemes:
//! - `jvp` (default): one forward-mode pass (`crate::jvp`) gives the exact tangent ż_i of
//!   every example's logits along v; then d_i = ⟨∂ℓ_i/∂z_i, ż_i⟩. Exact up to round-off,
//!   also at ReLU / max-pool kinks and through BatchNorm batch statistics.
//! - `central`:   d_i ≈ (ℓ_i(θ + h v) − ℓ_i(θ − h v)) / 2h      O(h²), two forwards
//! - `one-sided`: d_i ≈ (ℓ_i(θ + h v) − ℓ_i(θ)) / h              O(h),  one forward given ℓ_i(θ)
//!   with h = c · max(1, ‖θ‖) / ‖v‖ (c ≈ 1e-3 in f32). Finite differences work for any
//!   function of the parameters, but a step that crosses a kink (ReLU, max-pool) biases
//!   them: on CNNs they reach only ~1e-2 relative error in f32.

use crate::batch::Batch;
use crate::jvp::{Dual, Tangents};
use crate::loss::LossConfig;
use crate::models::{Classifier, Mode};
use crate::params::{AddScaled, grad_norm, param_norm_where};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// A direction in parameter space, e.g. the gradient of the validation loss.
pub struct Direction {
    grads: GradientsParams,
}

impl Direction {
    /// ∇θ of a scalar `loss` computed by `model` on an autodiff device (consumes the graph).
    pub fn gradient_of<M: Module>(loss: Tensor<1>, model: &M) -> Self {
        Self {
            grads: GradientsParams::from_grads(loss.backward(), model),
        }
    }

    pub fn from_grads(grads: GradientsParams) -> Self {
        Self { grads }
    }

    pub fn grads(&self) -> &GradientsParams {
        &self.grads
    }

    pub fn into_grads(self) -> GradientsParams {
        self.grads
    }

    /// ‖v‖ over the parameters of `model`.
    pub fn norm<M: Module>(&self, model: &M) -> f64 {
        grad_norm(model, &self.grads)
    }
}

/// How directional derivatives are computed: exactly by forward mode (the default) or by
/// finite differences.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DerivativeScheme {
    /// Exact forward-mode Jacobian–vector product (classifier losses only).
    #[default]
    Jvp,
    /// (f(θ + hv) − f(θ − hv)) / 2h
    Central,
    /// (f(θ + hv) − f(θ)) / h, reusing f(θ) when the caller already has it.
    OneSided,
}

/// Knobs of the primitive.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectionalConfig {
    pub scheme: DerivativeScheme,
    /// c in h = c · max(1, ‖θ‖) / ‖v‖.
    pub rel_step: f64,
}

impl Default for DirectionalConfig {
    fn default() -> Self {
        Self {
            scheme: DerivativeScheme::Jvp,
            rel_step: 1e-3,
        }
    }
}

/// θ ± h·v for a plain (no-autodiff) model, with h chosen relative to scale.
pub struct Perturbation<'a, M> {
    model: &'a M,
    dir: &'a Direction,
    /// The step h; 0 when v = 0 (every directional derivative is then 0).
    pub h: f64,
}

impl<'a, M: Module + Clone> Perturbation<'a, M> {
    /// `model` must be plain (e.g. `trained.valid()`): its parameters are constants here.
    pub fn new(model: &'a M, dir: &'a Direction, rel_step: f64) -> Self {
        let v_norm = dir.norm(model);
        let h = if v_norm > 0.0 && v_norm.is_finite() {
            rel_step * param_norm_where(model, dir.grads()).max(1.0) / v_norm
        } else {
            0.0
        };
        Self { model, dir, h }
    }

    /// The model at θ + sign·h·v.
    pub fn at(&self, sign: f64) -> M {
        self.model.clone().map(&mut AddScaled {
            dir: self.dir.grads(),
            scale: sign * self.h,
        })
    }

    /// Directional derivative of a vector-valued function of the parameters.
    /// `base` = f(θ) if already known (used by the one-sided scheme).
    pub fn derivative<const D: usize>(
        &self,
        scheme: DerivativeScheme,
        base: Option<Tensor<D>>,
        f: impl Fn(&M) -> Tensor<D>,
    ) -> Tensor<D> {
        if self.h == 0.0 {
            let shape = match &base {
                Some(b) => b.shape(),
                None => f(self.model).shape(),
            };
            return Tensor::zeros(shape, &self.model.devices()[0]);
        }
        match scheme {
            DerivativeScheme::Central | DerivativeScheme::Jvp => {
                (f(&self.at(1.0)) - f(&self.at(-1.0))) / (2.0 * self.h)
            }
            DerivativeScheme::OneSided => {
                let base = base.unwrap_or_else(|| f(self.model));
                (f(&self.at(1.0)) - base) / self.h
            }
        }
    }
}

/// d_i = ⟨∇θ ℓ_i(θ), v⟩ for every example of a batch: `per_example(model)` returns the
/// [n] losses of the batch at the given parameters (same batch, same mode every call;
/// use `Mode::Probe` for BatchNorm models). `model` is plain; returns [n].
pub fn directional_derivatives<M: Module + Clone>(
    model: &M,
    dir: &Direction,
    cfg: DirectionalConfig,
    base: Option<Tensor<1>>,
    per_example: impl Fn(&M) -> Tensor<1>,
) -> Tensor<1> {
    Perturbation::new(model, dir, cfg.rel_step).derivative(cfg.scheme, base, per_example)
}

/// Per-example losses ℓ_i(θ) and directional derivatives d_i = ⟨∇θ ℓ_i(θ), v⟩ of a batch.
pub struct LossDirectional {
    /// [n]
    pub losses: Tensor<1>,
    /// [n]
    pub derivatives: Tensor<1>,
}

/// The primitive every meta-method calls: d_i = ⟨∇θ ℓ_i(θ), v⟩ for the examples of `batch`
/// under `loss`, for a plain (no-autodiff) `model` in `mode` (use `Mode::Probe` for the
/// training batch of a meta step: batch statistics, running statistics untouched).
pub fn loss_directional_derivatives(
    model: &Classifier,
    batch: &Batch,
    loss: &LossConfig,
    dir: &Direction,
    cfg: DirectionalConfig,
    mode: Mode,
) -> LossDirectional {
    let per_example =
        |m: &Classifier| loss.per_example(m.forward(batch.x.clone(), mode), batch.y.clone());
    match cfg.scheme {
        DerivativeScheme::Jvp => {
            let out = model.forward_dual(
                Dual::constant(batch.x.clone()),
                mode,
                Some(Tangents { dir: dir.grads() }),
            );
            logit_directional_derivatives(loss, &out.logits, batch.y.clone())
        }
        scheme => {
            let losses = per_example(model);
            let derivatives = Perturbation::new(model, dir, cfg.rel_step).derivative(
                scheme,
                Some(losses.clone()),
                per_example,
            );
            LossDirectional {
                losses,
                derivatives,
            }
        }
    }
}

/// ℓ_i [n] and d_i = ⟨∂ℓ_i/∂z_i, ż_i⟩ [n] from a dual forward's logits (z [n, K], tracked or
/// plain, and its tangent ż [n, K] along v): the directional derivatives of the per-example
/// losses along v, on the inner device. A tracked z keeps its graph, so the same forward can
/// then take the step's backward (no second forward at θ).
pub fn logit_directional_derivatives(
    loss: &LossConfig,
    logits: &Dual<2>,
    y: Tensor<1, Int>,
) -> LossDirectional {
    let z = logits.p.clone().inner(); // [n, K]
    let z_dot = logits.tangent(); // [n, K]
    let (losses, dl_dz) = loss_and_logit_gradient(loss, z, y.inner());
    LossDirectional {
        losses,
        derivatives: (dl_dz * z_dot).sum_dim(1).squeeze_dim::<1>(1),
    }
}

/// ℓ_i(z_i) [n] and ∂ℓ_i/∂z_i [n, K] for plain logits z (each loss depends on its own row).
pub fn loss_and_logit_gradient(
    loss: &LossConfig,
    z: Tensor<2>,
    y: Tensor<1, Int>,
) -> (Tensor<1>, Tensor<2>) {
    let leaf = z.autodiff().require_grad();
    let losses = loss.per_example(leaf.clone(), y);
    let grads = losses.clone().sum().backward();
    let dl_dz = leaf.grad(&grads).expect("logits take part in the loss");
    (losses.inner(), dl_dz)
}

/// The brute-force reference of [`loss_directional_derivatives`]: ⟨∇θ l_i, v⟩ by one reverse
/// pass per example of the batch forward in [`Mode::Probe`] (so BatchNorm coupling through
/// batch statistics is included). `model` and `batch` on an autodiff device; B backward
/// passes, for tests and cross-backend checks only. Reads the device.
pub fn exact_directional_derivatives(
    model: &Classifier,
    batch: &Batch,
    loss: &LossConfig,
    dir: &Direction,
) -> Vec<f64> {
    (0..batch.len())
        .map(|i| {
            let losses =
                loss.per_example(model.forward(batch.x.clone(), Mode::Probe), batch.y.clone());
            let g = GradientsParams::from_grads(losses.slice(i..i + 1).sum().backward(), model);
            crate::params::grad_dot(&model.valid(), &g, dir.grads())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Arch, InputSpec, ModelConfig};
    use burn::tensor::Distribution;

    use super::exact_directional_derivatives as exact;

    /// The forward-mode JVP is exact up to f32 round-off: 6e-8 – 1.3e-7 relative error on
    /// these models (README, "Hypergradients").
    const JVP_TOLERANCE: f64 = 1e-6;

    fn rel_error(a: &[f64], b: &[f64]) -> f64 {
        let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
        let den: f64 = b.iter().map(|y| y * y).sum();
        (num / den).sqrt()
    }

    /// Fresh random model, training batch and validation gradient; returns the relative
    /// error of the primitive against the oracle.
    fn check(
        arch: &ModelConfig,
        input: &InputSpec,
        seed: u64,
        loss: LossConfig,
        scheme: DerivativeScheme,
    ) -> f64 {
        let ad = Device::flex().autodiff();
        ad.seed(seed);
        crate::host_rng::seed(seed);
        let model = arch.init(input, &ad);
        let (n, m, d, k) = (12, 16, input.features(), input.num_classes as f64);
        let batch = Batch {
            x: Tensor::<2>::random([n, d], Distribution::Uniform(0.0, 1.0), &ad),
            y: Tensor::<1, Int>::random([n], Distribution::Uniform(0.0, k), &ad),
        };
        let xv = Tensor::<2>::random([m, d], Distribution::Uniform(0.0, 1.0), &ad);
        let yv = Tensor::<1, Int>::random([m], Distribution::Uniform(0.0, k), &ad);
        let val_loss = LossConfig::Ce {}
            .per_example(model.forward(xv, Mode::Probe), yv)
            .mean();
        let dir = Direction::gradient_of(val_loss, &model);

        let oracle = exact(&model, &batch, &loss, &dir);
        let cfg = DirectionalConfig {
            scheme,
            rel_step: 1e-3,
        };
        let plain = model.valid();
        let plain_batch = batch.clone().to_device(&ad.clone().inner());
        let d = loss_directional_derivatives(&plain, &plain_batch, &loss, &dir, cfg, Mode::Probe)
            .derivatives;
        let d: Vec<f64> = d
            .try_into_vec_as::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect();
        rel_error(&d, &oracle)
    }

    fn mlp() -> (ModelConfig, InputSpec) {
        let input = InputSpec {
            shape: vec![20],
            num_classes: 5,
            mean: vec![0.5],
            std: vec![0.3],
        };
        (ModelConfig::mlp(&[32, 32]), input)
    }

    fn lenet() -> (ModelConfig, InputSpec) {
        let mut cfg = ModelConfig::of(Arch::Lenet);
        cfg.width = 0.5;
        let input = InputSpec {
            shape: vec![1, 12, 12],
            num_classes: 4,
            mean: vec![0.5],
            std: vec![0.25],
        };
        (cfg, input)
    }

    fn resnet() -> (ModelConfig, InputSpec) {
        crate::models::fixtures::resnet8()
    }

    fn assert_within(
        name: &str,
        (cfg, input): (ModelConfig, InputSpec),
        seeds: &[u64],
        loss: LossConfig,
        scheme: DerivativeScheme,
        tol: f64,
    ) {
        for &seed in seeds {
            let err = check(&cfg, &input, seed, loss, scheme);
            println!("{name} {scheme:?} {loss:?} seed {seed}: relative error {err:.2e}");
            assert!(
                err <= tol,
                "{name} seed {seed}: relative error {err:.3e} > {tol:e}"
            );
        }
    }

    #[test]
    fn jvp_matches_exact_oracle_on_mlp() {
        assert_within(
            "mlp",
            mlp(),
            &[1, 2, 3],
            LossConfig::Ce {},
            DerivativeScheme::Jvp,
            JVP_TOLERANCE,
        );
    }

    #[test]
    fn jvp_matches_exact_oracle_on_cnn() {
        assert_within(
            "lenet",
            lenet(),
            &[4, 5, 6],
            LossConfig::Ce {},
            DerivativeScheme::Jvp,
            JVP_TOLERANCE,
        );
    }

    #[test]
    fn jvp_matches_exact_oracle_through_batch_norm() {
        assert_within(
            "resnet-8",
            resnet(),
            &[7, 8],
            LossConfig::Ce {},
            DerivativeScheme::Jvp,
            JVP_TOLERANCE,
        );
    }

    #[test]
    fn jvp_matches_exact_oracle_for_robust_losses() {
        let losses = [
            LossConfig::Gce { q: 0.7 },
            LossConfig::Sce {
                alpha: 0.1,
                beta: 1.0,
            },
            LossConfig::NceRce {
                alpha: 1.0,
                beta: 1.0,
            },
        ];
        for loss in losses {
            assert_within(
                "lenet",
                lenet(),
                &[9],
                loss,
                DerivativeScheme::Jvp,
                JVP_TOLERANCE,
            );
        }
    }

    #[test]
    fn central_difference_matches_exact_oracle_on_mlp() {
        assert_within(
            "mlp",
            mlp(),
            &[1, 2, 3],
            LossConfig::Ce {},
            DerivativeScheme::Central,
            2e-4,
        );
    }

    #[test]
    fn finite_differences_are_biased_by_kinks_on_cnn() {
        // Documented limitation: max-pool / ReLU kinks inside [θ − hv, θ + hv].
        assert_within(
            "lenet",
            lenet(),
            &[4],
            LossConfig::Ce {},
            DerivativeScheme::Central,
            5e-2,
        );
        assert_within(
            "mlp",
            mlp(),
            &[7],
            LossConfig::Ce {},
            DerivativeScheme::OneSided,
            5e-3,
        );
    }

    #[test]
    fn zero_direction_gives_zero_derivatives() {
        let ad = Device::flex().autodiff();
        let (cfg, input) = mlp();
        let model = cfg.init(&input, &ad);
        let x = Tensor::<2>::random([4, 20], Distribution::Uniform(0.0, 1.0), &ad);
        // A loss that does not depend on the parameters: gradient 0 everywhere.
        let loss = (model.forward(x.clone(), Mode::Probe) * 0.0).sum();
        let dir = Direction::gradient_of(loss, &model);
        let plain = model.valid();
        let p = Perturbation::new(&plain, &dir, 1e-3);
        assert_eq!(p.h, 0.0);
        let d = p.derivative(DerivativeScheme::Central, None, |m| {
            m.forward(x.clone().inner(), Mode::Probe)
                .sum_dim(1)
                .squeeze_dim::<1>(1)
        });
        assert!(
            d.try_into_vec_as::<f32>()
                .unwrap()
                .iter()
                .all(|v| *v == 0.0)
        );
    }
}
