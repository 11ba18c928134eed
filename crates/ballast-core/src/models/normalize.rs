//! Input normalisation inside the model, so every input outside it lives in [0, 1]
//! (attacks clip to the box in pixel space; the model does `(x - mean) / std`), optionally after
//! quantising the input to a few grey levels (a step function whose gradient is zero almost
//! everywhere: the classic gradient-masking "defence", kept to show what masking looks like).

use crate::jvp::Dual;
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct Normalize {
    /// [1, D] per-feature mean (a channel's mean repeated over its pixels).
    mean: Tensor<2>,
    /// [1, D] per-feature 1 / std.
    inv_std: Tensor<2>,
    /// Grey levels the input is rounded to before standardising (0: no quantiser).
    levels: usize,
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
        }
    }

    /// Rounds inputs to `levels` evenly spaced grey levels 0, 1/(L−1), …, 1 before
    /// standardising (L ≥ 2; 0 removes the quantiser).
    pub fn set_levels(&mut self, levels: usize) {
        self.levels = levels;
    }

    /// x: [B, D] in [0, 1] -> [B, D] standardised (the tangent is only scaled; behind the
    /// quantiser it is zero, the step function's derivative).
    pub fn forward_dual(&self, x: Dual<2>) -> Dual<2> {
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
