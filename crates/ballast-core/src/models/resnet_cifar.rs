//! CIFAR ResNet-32 (He et al. 2016, §4.2), the Meta-Weight-Net and L2RW model: 3×3 stem
//! (16), three stages of five basic blocks (16/32/64 · width), parameter-free "option A"
//! shortcuts (stride-2 subsampling plus zero channels), global average pool, linear head.

use super::layers::{conv3x3, global_avg_pool, scaled};
use super::{BatchNorm, DualOutput, InputSpec, Mode, Normalize};
use crate::jvp::{self, Dual, Tangents};
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;

#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    stride: usize,
    pad_channels: usize,
}

impl BasicBlock {
    fn new(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv1: conv3x3(c_in, c_out, stride, device),
            bn1: BatchNorm::new(c_out, device),
            conv2: conv3x3(c_out, c_out, 1, device),
            bn2: BatchNorm::new(c_out, device),
            stride,
            pad_channels: c_out - c_in,
        }
    }

    /// Option-A shortcut (linear): [B, C, H, W] -> [B, C + pad, H/s, W/s], zero new channels.
    fn shortcut(&self, x: Tensor<4>) -> Tensor<4> {
        let x = if self.stride > 1 {
            let s = self.stride;
            max_pool2d(x, MaxPoolOptions::new([1, 1]).with_stride([s, s])) // pure subsampling
        } else {
            x
        };
        if self.pad_channels == 0 {
            return x;
        }
        let [b, _, h, w] = x.dims();
        let before = self.pad_channels / 2;
        let after = self.pad_channels - before;
        let device = x.device();
        Tensor::cat(
            vec![
                Tensor::zeros([b, before, h, w], &device),
                x,
                Tensor::zeros([b, after, h, w], &device),
            ],
            1,
        )
    }

    fn forward(&self, x: Dual<4>, mode: Mode, v: Option<Tangents>) -> Dual<4> {
        let out = jvp::conv2d(&self.conv1, x.clone(), v);
        let out = jvp::batch_norm(&self.bn1, out, mode, v).relu();
        let out = jvp::batch_norm(&self.bn2, jvp::conv2d(&self.conv2, out, v), mode, v);
        out.add(x.map_linear(|t| self.shortcut(t))).relu()
    }
}

#[derive(Module, Debug)]
pub struct ResNetCifar {
    pub(crate) norm: Normalize,
    stem: Conv2d,
    bn: BatchNorm,
    blocks: Vec<BasicBlock>,
    head: Linear,
    shape: [usize; 3],
}

impl ResNetCifar {
    /// The input's image shape [C, H, W].
    pub fn image_shape(&self) -> [usize; 3] {
        self.shape
    }

    /// `depth` = 6n + 2 (32 for ResNet-32).
    pub fn new(input: &InputSpec, depth: usize, width: f64, device: &Device) -> Self {
        let [c, h, w] = input.image_shape();
        let per_stage = (depth - 2) / 6;
        let widths = [16, 32, 64].map(|c| scaled(c, width));
        let mut blocks = Vec::new();
        let mut c_in = widths[0];
        for (stage, &c_out) in widths.iter().enumerate() {
            for i in 0..per_stage {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                blocks.push(BasicBlock::new(c_in, c_out, stride, device));
                c_in = c_out;
            }
        }
        Self {
            norm: input.normalize(device),
            stem: conv3x3(c, widths[0], 1, device),
            bn: BatchNorm::new(widths[0], device),
            blocks,
            head: LinearConfig::new(c_in, input.num_classes).init(device),
            shape: [c, h, w],
        }
    }

    /// x: [B, C·H·W] in [0, 1] -> features [B, 64·width], logits [B, K].
    pub fn forward_dual(&self, x: Dual<2>, mode: Mode, v: Option<Tangents>) -> DualOutput {
        let [b, _] = x.p.dims();
        let [c, h, w] = self.shape;
        let z = self
            .norm
            .forward_dual(x)
            .map_linear(|t| t.reshape([b, c, h, w]));
        let z = jvp::conv2d(&self.stem, z, v);
        let mut z = jvp::batch_norm(&self.bn, z, mode, v).relu();
        for block in &self.blocks {
            z = block.forward(z, mode, v);
        }
        let features = z.map_linear(global_avg_pool);
        DualOutput {
            logits: jvp::linear(&self.head, features.clone(), v),
            features,
        }
    }
}
