//! The small MNIST CNN of Wong, Rice & Kolter's "Fast is better than free" (ICLR 2020) and
//! its PGD baselines: two 4×4 stride-2 convolutions (16, 32 channels, padding 1), ReLU, then
//! FC 100 -> K. On 28×28 inputs the spatial size goes 28 -> 14 -> 7. About 9× cheaper than
//! the L2RW LeNet, which makes multi-step adversarial training affordable on a CPU.

mod window;

pub(crate) use window::{Activations, WindowedSmallCnn};

use super::{DualOutput, InputSpec, Normalize, layers::scaled};
use crate::jvp::{self, Dual, Tangents};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

/// Every convolution's kernel side, stride and zero padding.
const KERNEL: usize = 4;
const STRIDE: usize = 2;
const PADDING: usize = 1;

#[derive(Module, Debug)]
pub struct SmallCnn {
    pub(crate) norm: Normalize,
    convs: Vec<Conv2d>,
    fc: Linear,
    head: Linear,
    shape: [usize; 3],
}

impl SmallCnn {
    /// The input's image shape [C, H, W].
    pub fn image_shape(&self) -> [usize; 3] {
        self.shape
    }

    pub fn new(input: &InputSpec, width: f64, device: &Device) -> Self {
        let [c, h, w] = input.image_shape();
        let channels = [c, scaled(16, width), scaled(32, width)];
        let convs = channels
            .windows(2)
            .map(|p| {
                Conv2dConfig::new([p[0], p[1]], [KERNEL, KERNEL])
                    .with_stride([STRIDE, STRIDE])
                    .with_padding(PaddingConfig2d::Explicit(
                        PADDING, PADDING, PADDING, PADDING,
                    ))
                    .init(device)
            })
            .collect();
        // Each conv maps s -> floor((s + 2·PADDING − KERNEL) / STRIDE) + 1 = floor(s / 2).
        let conv = |s: usize| (s + 2 * PADDING - KERNEL) / STRIDE + 1;
        let shrink = |s: usize| conv(conv(s));
        let flat = channels[2] * shrink(h) * shrink(w);
        let hidden = scaled(100, width);
        Self {
            norm: input.normalize(device),
            convs,
            fc: LinearConfig::new(flat, hidden).init(device),
            head: LinearConfig::new(hidden, input.num_classes).init(device),
            shape: [c, h, w],
        }
    }

    /// x: [B, C·H·W] in [0, 1] -> features [B, 100·width], logits [B, K].
    pub fn forward_dual(&self, x: Dual<2>, v: Option<Tangents>) -> DualOutput {
        let [b, _] = x.p.dims();
        let [c, h, w] = self.shape;
        let mut z = self
            .norm
            .forward_dual(x)
            .map_linear(|t| t.reshape([b, c, h, w]));
        for conv in &self.convs {
            z = jvp::conv2d(conv, z, v).relu(); // [B, C', H/2, W/2]
        }
        let features = jvp::linear(&self.fc, z.map_linear(|t| t.flatten(1, 3)), v).relu(); // [B, 100]
        DualOutput {
            logits: jvp::linear(&self.head, features.clone(), v),
            features,
        }
    }
}
