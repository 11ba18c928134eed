//! `ballast bench --profile-ops`: the operations of one LeNet ERM step (L2RW's MNIST model,
//! batch B), each timed alone at the shape it has inside the step, forward and forward +
//! backward, plus the optimiser update and the whole step, twice in one run: through
//! Ballast's CPU kernels (`ballast_core::kernels`, what models run) and through Burn's own
//! operations (the kernels switched off). `scripts/bench-peer.py --profile-ops` times the same
//! list in PyTorch, so the tables line up row by row.
//!
//! "Forward + backward" of an operation y = f(x; θ) is one `(y · g).sum().backward()` with a
//! fixed random g of y's shape and x and θ tracked: the vector-Jacobian products for x and for
//! θ, plus one multiply and one sum, which PyTorch's twin does too.

use crate::error::Result;
use ballast_core::{Backend, kernels};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{GradientsParams, SgdConfig, momentum::MomentumConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::relu;
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use serde::Serialize;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct OpTiming {
    /// The operation and its shape, e.g. `conv2d 5x5 1->16, 28x28`.
    pub op: String,
    pub forward_ms: f64,
    /// Forward and the vector-Jacobian products for the input and the parameters.
    pub forward_backward_ms: f64,
}

/// One pass over the step's operations.
#[derive(Clone, Debug, Serialize)]
pub struct OpPass {
    pub ops: Vec<OpTiming>,
    /// SGD with momentum 0.9 on LeNet's parameters, given their gradients.
    pub optimizer_ms: f64,
    /// One whole ERM step (forward, cross-entropy, backward, SGD update).
    pub step_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct OpProfile {
    pub device: String,
    pub batch_size: usize,
    pub warmup: usize,
    pub repeats: usize,
    /// Through Ballast's CPU kernels (on the CPU backend; elsewhere the same as `burn`).
    pub kernels: OpPass,
    /// Through Burn's own operations.
    pub burn: OpPass,
}

/// The LeNet of L2RW's MNIST experiments as plain layers (the same as
/// `ballast_core::models::LeNet` without its normalisation).
#[derive(Module, Debug)]
struct LeNetLayers {
    convs: Vec<Conv2d>,
    fc: Linear,
    head: Linear,
}

impl LeNetLayers {
    fn new(device: &Device) -> Self {
        let convs = [1, 16, 32, 64]
            .windows(2)
            .map(|p| conv(p[0], p[1], device))
            .collect();
        Self {
            convs,
            fc: LinearConfig::new(64 * 4 * 4, 100).init(device),
            head: LinearConfig::new(100, 10).init(device),
        }
    }

    /// x: [B, 1, 28, 28] -> logits [B, 10].
    fn forward(&self, mut z: Tensor<4>) -> Tensor<2> {
        for c in &self.convs {
            z = max_pool(relu(convolve(c, z)));
        }
        self.head.forward(relu(self.fc.forward(z.flatten(1, 3))))
    }
}

fn conv(c_in: usize, c_out: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [5, 5])
        .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
        .init(device)
}

/// The layer's convolution as the models run it (padding 2 on every side).
fn convolve(layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let options = ConvOptions::new([1, 1], [2, 2], [1, 1], 1);
    let bias = layer.bias.as_ref().map(|b| b.val());
    kernels::conv2d(x, layer.weight.val(), bias, options)
}

/// Max-pooling 3×3, stride 2, padding 1, as the models run it.
fn max_pool(x: Tensor<4>) -> Tensor<4> {
    let options = MaxPoolOptions::new([3, 3])
        .with_stride([2, 2])
        .with_padding([1, 1]);
    kernels::max_pool2d(x, options)
}

/// Mean seconds of `f` over `repeats` calls after `warmup` calls; `f` ends by reading a
/// scalar, so the time includes the device's work.
fn time(warmup: usize, repeats: usize, mut f: impl FnMut() -> f32) -> f64 {
    for _ in 0..warmup {
        std::hint::black_box(f());
    }
    let t = Instant::now();
    for _ in 0..repeats {
        std::hint::black_box(f());
    }
    t.elapsed().as_secs_f64() / repeats.max(1) as f64
}

/// Times `op` forward alone and forward + backward on a fresh input of `shape`.
fn profile_op<const D: usize, const E: usize>(
    name: String,
    shape: [usize; D],
    device: &Device,
    warmup: usize,
    repeats: usize,
    op: impl Fn(Tensor<D>) -> Tensor<E>,
) -> OpTiming {
    let x = Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), device);
    let y_shape = op(x.clone()).shape();
    let g = Tensor::<E>::random(y_shape, Distribution::Normal(0.0, 1.0), device);
    let forward = time(warmup, repeats, || {
        let y = op(x.clone().detach());
        y.slice_dim(0, 0..1).sum().into_scalar::<f32>()
    });
    let forward_backward = time(warmup, repeats, || {
        let x = x.clone().detach().require_grad();
        let y = op(x.clone());
        let grads = (y * g.clone()).sum().backward();
        let gx = x.grad(&grads).expect("the input is tracked");
        gx.slice_dim(0, 0..1).sum().into_scalar::<f32>()
    });
    OpTiming {
        op: name,
        forward_ms: forward * 1e3,
        forward_backward_ms: forward_backward * 1e3,
    }
}

/// Profiles the operations of one LeNet ERM step at batch `b` on `backend` (autodiff device),
/// through the CPU kernels and through Burn's operations.
pub fn profile(backend: Backend, b: usize, warmup: usize, repeats: usize) -> Result<OpProfile> {
    let device = backend.device()?.autodiff();
    let was = kernels::enabled();
    kernels::set_enabled(true);
    let with_kernels = pass(&device, b, warmup, repeats);
    kernels::set_enabled(false);
    let burn = pass(&device, b, warmup, repeats);
    kernels::set_enabled(was);
    Ok(OpProfile {
        device: backend.to_string(),
        batch_size: b,
        warmup,
        repeats,
        kernels: with_kernels,
        burn,
    })
}

fn pass(device: &Device, b: usize, warmup: usize, repeats: usize) -> OpPass {
    device.seed(1);
    let mut ops = Vec::new();
    for (c_in, c_out, side) in [(1, 16, 28), (16, 32, 14), (32, 64, 7)] {
        let shape = [b, c_in, side, side];
        let layer = conv(c_in, c_out, device);
        let name = format!("conv2d 5x5 {c_in}->{c_out}, {side}x{side}");
        ops.push(profile_op(name, shape, device, warmup, repeats, |x| {
            convolve(&layer, x)
        }));
        let shape = [b, c_out, side, side];
        let name = format!("relu [{c_out}x{side}x{side}]");
        ops.push(profile_op(name, shape, device, warmup, repeats, relu));
        let name = format!("max-pool 3x3/2 [{c_out}x{side}x{side}]");
        ops.push(profile_op(name, shape, device, warmup, repeats, max_pool));
    }
    for (d_in, d_out) in [(1024, 100), (100, 10)] {
        let layer = LinearConfig::new(d_in, d_out).init(device);
        let name = format!("linear {d_in}->{d_out}");
        ops.push(profile_op(name, [b, d_in], device, warmup, repeats, |x| {
            layer.forward(x)
        }));
    }
    let labels = Tensor::<1, Int>::from_data(
        TensorData::new((0..b as i64).map(|i| i % 10).collect(), [b]),
        device,
    );
    let ce = CrossEntropyLossConfig::new().init(device);
    ops.push(profile_op(
        "cross-entropy [10]".into(),
        [b, 10],
        device,
        warmup,
        repeats,
        |x| ce.forward(x, labels.clone()).reshape([1]),
    ));

    let net = LeNetLayers::new(device);
    let x = Tensor::<4>::random([b, 1, 28, 28], Distribution::Default, device);
    let loss = |net: &LeNetLayers| ce.forward(net.forward(x.clone()), labels.clone());
    let mut optim = SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_momentum(0.9)))
        .init();
    // The update alone: gradients are computed outside the timed span.
    let mut model = net;
    let mut optimizer = 0.0;
    for i in 0..warmup + repeats {
        let grads = GradientsParams::from_grads(loss(&model).backward(), &model);
        let t = Instant::now();
        model = optim.step(0.1, model, grads);
        let bias = model.head.bias.as_ref().expect("bias").val();
        std::hint::black_box(bias.sum().into_scalar::<f32>());
        if i >= warmup {
            optimizer += t.elapsed().as_secs_f64() / repeats.max(1) as f64;
        }
    }
    let mut model = Some(model);
    let step = time(warmup, repeats, || {
        let m = model.take().expect("model");
        let l = loss(&m);
        let value = l.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(l.backward(), &m);
        model = Some(optim.step(0.1, m, grads));
        value
    });
    OpPass {
        ops,
        optimizer_ms: optimizer * 1e3,
        step_ms: step * 1e3,
    }
}
