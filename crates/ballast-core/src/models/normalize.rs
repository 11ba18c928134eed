//! Input normalisation inside the model, so every input outside it lives in [0, 1]
//! (attacks clip to the box in pixel space; the model does `(x - mean) / std`), optionally after
//! quantising the input to a few grey levels (a step function whose gradient is zero almost
//! everywhere: the classic gradient-masking "defence", kept to show what masking looks like),
//! and optionally after adding Gaussian noise to it (a randomised defence, for evaluating
//! attacks with EOT: every forward sees its own draw).

use crate::jvp::Dual;
use burn::prelude::*;
use burn::tensor::Distribution;

#[derive(Module, Debug)]
pub struct Normalize {
    /// [1, D] per-feature mean (a channel's mean repeated over its pixels).
    mean: Tensor<2>,
    /// [1, D] per-feature 1 / std.
    inv_std: Tensor<2>,
    /// Grey levels the input is rounded to before standardising (0: no quantiser).
    levels: usize,
    /// Std σ of the Gaussian noise added to the input at every forward (0: none).
    noise: f64,
}

impl Normalize {
    /// `mean`/`std` are per channel; `features_per_channel` = H·W (1 for vectors).
    pub fn new(mean: &[f32], std: &[f32], features_per_channel: usize, device: &Device) -> Self {
        assert_eq!(
            mean.len(),
            std.len(),
            "mean and std need one value per channel"
        );
        let expand = |v: &[f32], f: fn(f32) -> f32| -> Vec<f32> {
            v.iter()
                .flat_map(|&c| std::iter::repeat_n(f(c), features_per_channel))
                .collect()
        };
        let d = mean.len() * features_per_channel;
        let mean = Tensor::<2>::from_data(TensorData::new(expand(mean, |m| m), [1, d]), device);
        let inv_std =
            Tensor::<2>::from_data(TensorData::new(expand(std, |s| 1.0 / s), [1, d]), device);
        Self {
            mean,
            inv_std,
            levels: 0,
            noise: 0.0,
        }
    }

    /// Rounds inputs to `levels` evenly spaced grey levels 0, 1/(L−1), …, 1 before
    /// standardising (L ≥ 2; 0 removes the quantiser).
    pub fn set_levels(&mut self, levels: usize) {
        self.levels = levels;
    }

    /// Adds σ·N(0, I) to every input before the quantiser and the standardisation, a fresh
    /// draw at every forward in every mode (test-time Gaussian noise, the randomised defence
    /// of randomized-smoothing base classifiers; the noisy input is not clamped to [0, 1]).
    /// σ = 0 removes it. Draws come from the host generator ([`crate::host_rng`]), so the
    /// seed of an attack fixes them.
    pub fn set_input_noise(&mut self, sigma: f64) {
        self.noise = sigma;
    }

    /// The std σ of the input noise (0: a deterministic model).
    pub fn input_noise(&self) -> f64 {
        self.noise
    }

    /// The per-feature mean and 1/std [D] on the host; None behind a quantiser (not affine)
    /// or with input noise (not deterministic).
    pub(crate) fn affine_host(&self) -> Option<(Vec<f32>, Vec<f32>)> {
        if self.levels >= 2 || self.noise > 0.0 {
            return None;
        }
        let host = |t: Tensor<2>| -> Vec<f32> {
            t.into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .expect("f32 normalisation")
        };
        Some((host(self.mean.clone()), host(self.inv_std.clone())))
    }

    /// x: [B, D] in [0, 1] -> [B, D] standardised (the tangent is only scaled; behind the
    /// quantiser it is zero, the step function's derivative). With input noise the model sees
    /// x + σ·n, n ~ N(0, I) [B, D] drawn now: ∂(x + σn)/∂x = I, so the input gradient passes
    /// unchanged, and n does not depend on the parameters, so the tangent does too.
    pub fn forward_dual(&self, x: Dual<2>) -> Dual<2> {
        let x = if self.noise > 0.0 {
            let n = crate::host_rng::float_like(&x.p, Distribution::Normal(0.0, 1.0));
            Dual {
                p: x.p + n.mul_scalar(self.noise),
                t: x.t,
            }
        } else {
            x
        };
        if self.levels >= 2 {
            let top = (self.levels - 1) as f64;
            let p = x.p.mul_scalar(top).round().div_scalar(top);
            return Dual {
                p: (p - self.mean.clone()) * self.inv_std.clone(),
                t: x.t.map(|t| t.zeros_like()),
            };
        }
        Dual {
            p: (x.p - self.mean.clone()) * self.inv_std.clone(),
            t: x.t.map(|t| t * self.inv_std.clone().inner()),
        }
    }
}
