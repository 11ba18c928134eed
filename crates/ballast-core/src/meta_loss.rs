//! Meta-learned robust-loss hyperparameters (Shu et al., arXiv 2002.06482): λ (GCE q,
//! SCE α/β, NCE+RCE α/β) follows the hypergradient of the clean validation loss after one
//! virtual step. With first-order autodiff only:
//!   θ̂ = θ − (α/n) Σ_i ∇θ ℓ_i(θ; λ),   g = ∇L_val(θ̂),
//!   ∂L_val(θ̂)/∂λ = −(α/n) ∂/∂λ Σ_i D_g ℓ_i(θ; λ),
//! where D_g ℓ_i is the derivative of ℓ_i along g. The forward-mode pass gives the exact
//! logit tangents ż_i along g; the loss is a smooth function of the logits, so
//! D_g ℓ_i(λ) = (ℓ(z_i + h ż_i; λ) − ℓ(z_i − h ż_i; λ)) / 2h is accurate, and it is an
//! ordinary autodiff graph in λ alone.

use crate::batch::Batch;
use crate::hypergrad::Direction;
use crate::jvp::{Dual, Tangents};
use crate::loss::LossConfig;
use crate::models::{Classifier, Mode};
use crate::params::AddScaled;
use burn::module::{Module, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;

/// The loss hyperparameters as a trainable module ([H], in `LossConfig::hyper` order).
#[derive(Module, Debug)]
pub struct LossHyper {
    pub values: Param<Tensor<1>>,
}

impl LossHyper {
    pub fn new(loss: &LossConfig, device: &Device) -> Self {
        let h: Vec<f32> = loss.hyper().iter().map(|&v| v as f32).collect();
        let n = h.len();
        Self {
            values: Param::from_tensor(Tensor::from_data(TensorData::new(h, [n]), device)),
        }
    }

    /// The values on the host.
    pub fn to_vec(&self) -> Vec<f64> {
        self.values
            .val()
            .try_into_vec_as::<f32>()
            .expect("hyperparameters are readable")
            .into_iter()
            .map(f64::from)
            .collect()
    }

    /// [1] tensors, one per hyperparameter (tracked when the module is).
    pub fn split(&self) -> Vec<Tensor<1>> {
        let v = self.values.val();
        (0..v.dims()[0])
            .map(|i| v.clone().slice(i..i + 1))
            .collect()
    }

    /// Clamps every value into the loss's valid range (on the device: no host read).
    pub fn project(self, loss: &LossConfig) -> Self {
        let bounds = loss.hyper_bounds();
        let n = bounds.len();
        let device = self.values.val().device();
        let plain = device.clone().inner();
        let lo: Vec<f32> = bounds.iter().map(|b| b.0 as f32).collect();
        let hi: Vec<f32> = bounds.iter().map(|b| b.1 as f32).collect();
        let lo = Tensor::<1>::from_data(TensorData::new(lo, [n]), &plain);
        let hi = Tensor::<1>::from_data(TensorData::new(hi, [n]), &plain);
        let id = self.values.id;
        let t = self.values.val().inner().max_pair(lo).min_pair(hi); // [H]
        let t = if device.is_autodiff() {
            t.autodiff().require_grad()
        } else {
            t
        };
        Self {
            values: Param::initialized(id, t),
        }
    }

    /// The per-example loss at the current values, held constant: [B, K], [B] -> [B].
    pub fn per_example(
        &self,
        loss: &LossConfig,
        logits: Tensor<2>,
        labels: Tensor<1, Int>,
    ) -> Tensor<1> {
        let lam: Vec<Tensor<1>> = self.split().into_iter().map(|t| t.detach()).collect();
        loss.per_example_with(logits, labels, &lam)
    }
}

/// What [`hyper_gradient`] produced.
pub struct HyperGradient {
    /// ∂L_val(θ̂(λ))/∂λ, keyed by the hyperparameters' parameter.
    pub grads: GradientsParams,
    /// [n, K] the batch's logits at θ from the dual forward ([`Mode::Train`]), tracked when the
    /// student is: the real step's forward, so the step needs no second one.
    pub logits: Tensor<2>,
}

/// ∂L_val(θ̂(λ))/∂λ for the hyperparameters of `loss`; `model` is the autodiff student at θ,
/// `hyper` lives on the autodiff device. The dual forward at θ runs in [`Mode::Train`]
/// (BatchNorm running statistics move once, as in the real step it stands for).
pub fn hyper_gradient(
    model: &Classifier,
    hyper: &LossHyper,
    batch: &Batch,
    val: &Batch,
    loss: &LossConfig,
    virtual_lr: f64,
) -> HyperGradient {
    let n = batch.len() as f64;
    let lam_const: Vec<Tensor<1>> = hyper.split().into_iter().map(|t| t.detach()).collect();
    // θ̂ = θ − α ∇θ mean ℓ(θ; λ).
    let logits = model.forward(batch.x.clone(), Mode::Probe);
    let train_loss = loss
        .per_example_with(logits, batch.y.clone(), &lam_const)
        .mean();
    let step = GradientsParams::from_grads(train_loss.backward(), model);
    let look_ahead = model
        .valid()
        .map(&mut AddScaled {
            dir: &step,
            scale: -virtual_lr,
        })
        .train();
    let val_loss = LossConfig::Ce {}
        .per_example(
            look_ahead.forward(val.x.clone(), Mode::Probe),
            val.y.clone(),
        )
        .mean();
    let g = Direction::gradient_of(val_loss, &look_ahead);
    // Exact logit tangents along g at θ, from the step's own (tracked) forward.
    let out = model.forward_dual(
        Dual::constant(batch.x.clone()),
        Mode::Train,
        Some(Tangents { dir: g.grads() }),
    );
    let z = out.logits.p.clone().inner();
    let z_dot = out.logits.tangent();
    let y = batch.y.clone().inner();
    // Central difference along the tangent with h = 1e-2 / max|ż|, kept on the device (no
    // host read, so the browser's WebGPU backend can run it). ż = 0 gives a zero objective.
    let scale = z_dot.clone().abs().max().clamp_min(1e-30); // [1]
    let h = scale.recip().mul_scalar(1e-2); // [1]
    let u = z_dot * h.clone().unsqueeze::<2>(); // [n, K] = h·ż
    let lam = hyper.split();
    let plus = loss.per_example_with(z.clone() + u.clone(), y.clone(), &lam);
    let minus = loss.per_example_with(z - u, y, &lam);
    let inv_2h = h.recip().mul_scalar(0.5).autodiff(); // [1], constant
    let objective = (plus - minus).sum() * inv_2h * (-virtual_lr / n);
    HyperGradient {
        grads: GradientsParams::from_grads(objective.backward(), hyper),
        logits: out.logits.p,
    }
}

/// One meta update of λ (optimiser step, then projection onto the valid range). Returns the
/// updated λ and the batch's logits at θ (see [`HyperGradient::logits`]).
#[allow(clippy::too_many_arguments)]
pub fn meta_loss_update(
    model: &Classifier,
    hyper: LossHyper,
    hyper_optim: &mut ModuleOptimizer,
    batch: &Batch,
    val: &Batch,
    loss: &LossConfig,
    virtual_lr: f64,
    meta_lr: f64,
) -> (LossHyper, Tensor<2>) {
    let HyperGradient { grads, logits } =
        hyper_gradient(model, &hyper, batch, val, loss, virtual_lr);
    (
        hyper_optim.step(meta_lr, hyper, grads).project(loss),
        logits,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{InputSpec, ModelConfig};

    /// L_val(θ̂(λ)) computed directly for given hyperparameter values.
    fn val_after_virtual_step(
        model: &Classifier,
        batch: &Batch,
        val: &Batch,
        loss: &LossConfig,
        lam: &[f64],
        alpha: f64,
    ) -> f64 {
        let lc = loss.with_hyper(lam);
        let l = lc
            .per_example(model.forward(batch.x.clone(), Mode::Probe), batch.y.clone())
            .mean();
        let grads = GradientsParams::from_grads(l.backward(), model);
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

    #[test]
    fn hypergradient_matches_finite_difference_of_validation_loss() {
        let ad = Device::flex().autodiff();
        ad.seed(31);
        crate::host_rng::seed(31);
        let input = InputSpec {
            shape: vec![6],
            num_classes: 3,
            mean: vec![0.5],
            std: vec![0.3],
        };
        let model = ModelConfig::mlp(&[16]).init(&input, &ad);
        let batch = Batch::random(12, &input, &ad);
        let val = Batch::random(8, &input, &ad);
        let alpha = 1.0;
        for loss in [
            LossConfig::Gce { q: 0.6 },
            LossConfig::Sce {
                alpha: 0.5,
                beta: 1.0,
            },
        ] {
            let hyper = LossHyper::new(&loss, &ad);
            let grads = hyper_gradient(&model, &hyper, &batch, &val, &loss, alpha).grads;
            let g: Vec<f64> = grads
                .get::<1>(hyper.values.id)
                .unwrap()
                .try_into_vec_as::<f32>()
                .unwrap()
                .into_iter()
                .map(f64::from)
                .collect();
            let lam = loss.hyper();
            for (i, gi) in g.iter().enumerate() {
                let eps = 0.05;
                let shifted = |s: f64| {
                    let mut l = lam.clone();
                    l[i] += s * eps;
                    val_after_virtual_step(&model, &batch, &val, &loss, &l, alpha)
                };
                let fd = (shifted(1.0) - shifted(-1.0)) / (2.0 * eps);
                let rel = (gi - fd).abs() / fd.abs().max(1e-12);
                println!(
                    "{loss:?} λ{i}: hypergradient {gi:.6e}, finite difference {fd:.6e}, relative error {rel:.2e}"
                );
                assert!(rel < 2e-2, "{loss:?} λ{i}: {gi} vs {fd}");
            }
        }
    }

    #[test]
    fn projection_keeps_hyperparameters_in_range() {
        let d = Device::flex();
        let loss = LossConfig::Gce { q: 0.7 };
        let mut h = LossHyper::new(&loss, &d);
        h.values = Param::from_tensor(Tensor::from_floats([1.7], &d));
        assert_eq!(h.project(&loss).to_vec(), vec![1.0]);
    }
}
