//! Multi-layer perceptron: Linear -> ReLU blocks, then a linear head.

use super::{DualOutput, InputSpec, Normalize, layers::scaled};
use crate::jvp::{self, Dual, Tangents};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct Mlp {
    pub(crate) norm: Normalize,
    hidden: Vec<Linear>,
    head: Linear,
}

impl Mlp {
    pub fn new(input: &InputSpec, hidden: &[usize], width: f64, device: &Device) -> Self {
        let mut layers = Vec::new();
        let mut d = input.features();
        for &h in hidden {
            let h = scaled(h, width);
            layers.push(LinearConfig::new(d, h).init(device));
            d = h;
        }
        Self {
            norm: input.normalize(device),
            hidden: layers,
            head: LinearConfig::new(d, input.num_classes).init(device),
        }
    }

    /// Input features D.
    pub fn input_features(&self) -> usize {
        self.hidden.first().unwrap_or(&self.head).weight.dims()[0]
    }

    /// x: [B, D] in [0, 1] -> features [B, H_last], logits [B, K] (with tangents along v).
    pub fn forward_dual(&self, x: Dual<2>, v: Option<Tangents>) -> DualOutput {
        let mut h = self.norm.forward_dual(x);
        for layer in &self.hidden {
            h = jvp::linear(layer, h, v).relu();
        }
        DualOutput {
            logits: jvp::linear(&self.head, h.clone(), v),
            features: h,
        }
    }
}
