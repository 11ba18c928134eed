//! PreActResNet-18 (He et al. 2016, identity mappings), the model of the robust-overfitting
//! experiments (Rice et al. 2020): 3×3 stem, four stages of two pre-activation blocks
//! (64/128/256/512 · width), global average pool, linear head.

use super::layers::{conv1x1, conv3x3, global_avg_pool, scaled};
use super::{BatchNorm, DualOutput, InputSpec, Mode, Normalize};
use crate::jvp::{self, Dual, Tangents};
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct PreActBlock {
    bn1: BatchNorm,
    conv1: Conv2d,
    bn2: BatchNorm,
    conv2: Conv2d,
    shortcut: Option<Conv2d>,
}

impl PreActBlock {
    fn new(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Self {
        Self {
            bn1: BatchNorm::new(c_in, device),
            conv1: conv3x3(c_in, c_out, stride, device),
            bn2: BatchNorm::new(c_out, device),
            conv2: conv3x3(c_out, c_out, 1, device),
            shortcut: (stride != 1 || c_in != c_out).then(|| conv1x1(c_in, c_out, stride, device)),
        }
    }

    /// [B, C_in, H, W] -> [B, C_out, H/stride, W/stride]
    fn forward(&self, x: Dual<4>, mode: Mode, v: Option<Tangents>) -> Dual<4> {
        let out = jvp::batch_norm(&self.bn1, x.clone(), mode, v).relu();
        let skip = match &self.shortcut {
            Some(conv) => jvp::conv2d(conv, out.clone(), v),
            None => x,
        };
        let out = jvp::conv2d(&self.conv1, out, v);
        let out = jvp::batch_norm(&self.bn2, out, mode, v).relu();
        jvp::conv2d(&self.conv2, out, v).add(skip)
    }
}

#[derive(Module, Debug)]
pub struct PreActResNet18 {
    pub(crate) norm: Normalize,
    stem: Conv2d,
    blocks: Vec<PreActBlock>,
    bn: BatchNorm,
    head: Linear,
    shape: [usize; 3],
}

impl PreActResNet18 {
    /// The input's image shape [C, H, W].
    pub fn image_shape(&self) -> [usize; 3] {
        self.shape
    }

    pub fn new(input: &InputSpec, width: f64, device: &Device) -> Self {
        let [c, h, w] = input.image_shape();
        let widths = [64, 128, 256, 512].map(|c| scaled(c, width));
        let mut blocks = Vec::new();
        let mut c_in = widths[0];
        for (stage, &c_out) in widths.iter().enumerate() {
            let stride = if stage == 0 { 1 } else { 2 };
            blocks.push(PreActBlock::new(c_in, c_out, stride, device));
            blocks.push(PreActBlock::new(c_out, c_out, 1, device));
            c_in = c_out;
        }
        Self {
            norm: input.normalize(device),
            stem: conv3x3(c, widths[0], 1, device),
            blocks,
            bn: BatchNorm::new(c_in, device),
            head: LinearConfig::new(c_in, input.num_classes).init(device),
            shape: [c, h, w],
        }
    }

    /// x: [B, C·H·W] in [0, 1] -> features [B, 512·width], logits [B, K].
    pub fn forward_dual(&self, x: Dual<2>, mode: Mode, v: Option<Tangents>) -> DualOutput {
        let [b, _] = x.p.dims();
        let [c, h, w] = self.shape;
        let z = self
            .norm
            .forward_dual(x)
            .map_linear(|t| t.reshape([b, c, h, w]));
        let mut z = jvp::conv2d(&self.stem, z, v);
        for block in &self.blocks {
            z = block.forward(z, mode, v);
        }
        let features = jvp::batch_norm(&self.bn, z, mode, v)
            .relu()
            .map_linear(global_avg_pool);
        DualOutput {
            logits: jvp::linear(&self.head, features.clone(), v),
            features,
        }
    }
}
