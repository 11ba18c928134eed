//! Forward-mode differentiation (Jacobian–vector products) for the layers Ballast models
//! use. A [`Dual`] carries a value and its tangent along a parameter-space direction v;
//! each layer maps (x, ẋ) to (y, ẏ) with ẏ = ∂y/∂x·ẋ + ∂y/∂θ·v. One dual forward gives the
//! exact directional derivative of every output, with no finite-difference step and no
//! error at ReLU / max-pool kinks. With no tangents (`None`) every function here is the
//! ordinary forward, so models have a single forward implementation. Tangents are always
//! computed on plain (no-autodiff) tensors, so a tracked training forward can carry them
//! without recording them in its graph.

use crate::kernels;
use crate::models::{BatchNorm, Mode};
use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::nn::{Linear, PaddingConfig2d};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};

/// The direction v, looked up per parameter (parameters without an entry have v = 0).
#[derive(Clone, Copy)]
pub struct Tangents<'a> {
    pub dir: &'a GradientsParams,
}

impl Tangents<'_> {
    pub fn of<const D: usize>(&self, param: &Param<Tensor<D>>) -> Option<Tensor<D>> {
        self.dir.get::<D>(param.id)
    }
}

/// A value and its tangent (None = zero tangent).
#[derive(Clone, Debug)]
pub struct Dual<const D: usize> {
    pub p: Tensor<D>,
    pub t: Option<Tensor<D>>,
}

fn add_opt<const D: usize>(a: Option<Tensor<D>>, b: Option<Tensor<D>>) -> Option<Tensor<D>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, None) => a,
        (None, b) => b,
    }
}

impl<const D: usize> Dual<D> {
    /// A value with zero tangent (an input).
    pub fn constant(p: Tensor<D>) -> Self {
        Self { p, t: None }
    }

    /// Applies the same linear map to value and tangent.
    pub fn map_linear<const E: usize>(self, f: impl Fn(Tensor<D>) -> Tensor<E>) -> Dual<E> {
        Dual {
            t: self.t.map(&f),
            p: f(self.p),
        }
    }

    pub fn add(self, other: Dual<D>) -> Dual<D> {
        Dual {
            p: self.p + other.p,
            t: add_opt(self.t, other.t),
        }
    }

    pub fn relu(self) -> Dual<D> {
        let t = self
            .t
            .map(|t| t * self.p.clone().inner().greater_elem(0.0).float());
        Dual {
            p: burn::tensor::activation::relu(self.p),
            t,
        }
    }

    /// The tangent, materialised as zeros when absent.
    pub fn tangent(&self) -> Tensor<D> {
        self.t
            .clone()
            .unwrap_or_else(|| Tensor::zeros(self.p.shape(), &self.p.device().inner()))
    }
}

/// y = x W + b.
pub fn linear(layer: &Linear, x: Dual<2>, v: Option<Tangents>) -> Dual<2> {
    let from_input = x.t.map(|t| t.matmul(layer.weight.val().inner()));
    let from_params = v.and_then(|v| {
        let vw = v.of(&layer.weight);
        let vb = layer.bias.as_ref().and_then(|b| v.of(b));
        if vw.is_none() && vb.is_none() {
            return None;
        }
        let [n, _] = x.p.dims();
        let out = layer.weight.dims()[1];
        let w = match vw {
            Some(vw) => x.p.clone().inner().matmul(vw), // [B, D] x [D, O]
            None => Tensor::zeros([n, out], &x.p.device().inner()),
        };
        Some(match vb {
            Some(vb) => w + vb.unsqueeze_dim(0),
            None => w,
        })
    });
    Dual {
        p: layer.forward(x.p),
        t: add_opt(from_input, from_params),
    }
}

/// The layer's forward, through [`kernels::conv2d`] (explicit or no padding; `Same` padding
/// keeps Burn's own path).
fn conv_forward(layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let padding = match layer.padding {
        PaddingConfig2d::Valid => [(0, 0); 2],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        PaddingConfig2d::Same => return layer.forward(x),
    };
    let options =
        ConvOptions::new_with_padding(layer.stride, padding, layer.dilation, layer.groups);
    let bias = layer.bias.as_ref().map(|b| b.val());
    kernels::conv2d(x, layer.weight.val(), bias, options)
}

/// 2-D convolution (linear in the input and, jointly, in weight and bias).
pub fn conv2d(layer: &Conv2d, x: Dual<4>, v: Option<Tangents>) -> Dual<4> {
    let from_input = x.t.map(|t| {
        let mut no_bias = layer.valid();
        no_bias.bias = None;
        conv_forward(&no_bias, t)
    });
    let from_params = v.and_then(|v| {
        let vw = v.of(&layer.weight);
        let vb = layer.bias.as_ref().and_then(|b| v.of(b));
        if vw.is_none() && vb.is_none() {
            return None;
        }
        // A plain copy of the layer with (v_W, v_b) as parameters, applied to the plain input:
        // nothing here is recorded in a tracked forward's graph.
        let mut tangent_layer = layer.valid();
        tangent_layer.weight =
            Param::from_tensor(vw.unwrap_or_else(|| layer.weight.val().inner().zeros_like()));
        tangent_layer.bias = vb.map(Param::from_tensor);
        Some(conv_forward(&tangent_layer, x.p.clone().inner()))
    });
    Dual {
        p: conv_forward(layer, x.p),
        t: add_opt(from_input, from_params),
    }
}

/// Max-pooling: the tangent is taken at each window's arg-max.
pub fn max_pool2d(pool: &MaxPool2d, x: Dual<4>) -> Dual<4> {
    let [_, _, h, w] = x.p.dims();
    let (pad_h, pad_w) = padding_pairs(
        &pool.padding,
        [h, w],
        pool.kernel_size,
        pool.stride,
        pool.dilation,
    );
    let options = MaxPoolOptions::new(pool.kernel_size)
        .with_stride(pool.stride)
        .with_padding_pairs([pad_h, pad_w])
        .with_dilation(pool.dilation)
        .with_ceil_mode(pool.ceil_mode);
    let Some(t) = x.t else {
        if matches!(pool.padding, PaddingConfig2d::Same) {
            return Dual::constant(pool.forward(x.p));
        }
        return Dual::constant(kernels::max_pool2d(x.p, options));
    };
    let (p, t) = kernels::max_pool2d_dual(x.p, t, options);
    Dual { p, t: Some(t) }
}

/// ((top, bottom), (left, right)) of a 2-D padding config for an input of size `hw`.
fn padding_pairs(
    padding: &PaddingConfig2d,
    hw: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
) -> ((usize, usize), (usize, usize)) {
    match *padding {
        PaddingConfig2d::Valid => ((0, 0), (0, 0)),
        PaddingConfig2d::Explicit(top, left, bottom, right) => ((top, bottom), (left, right)),
        PaddingConfig2d::Same => {
            let same = |i: usize| {
                let out = hw[i].div_ceil(stride[i]);
                let total = ((out - 1) * stride[i] + (kernel[i] - 1) * dilation[i] + 1)
                    .saturating_sub(hw[i]);
                (total / 2, total - total / 2)
            };
            (same(0), same(1))
        }
    }
}

/// BatchNorm in `mode`. Batch statistics (Train/Probe) depend on the whole batch, and so
/// does their tangent: μ̇ = mean(ẋ), (σ²)˙ = mean(2 (x − μ)(ẋ − μ̇)).
pub fn batch_norm<const D: usize>(
    bn: &BatchNorm,
    x: Dual<D>,
    mode: Mode,
    v: Option<Tangents>,
) -> Dual<D> {
    let vg = v.and_then(|v| v.of(&bn.gamma));
    let vb = v.and_then(|v| v.of(&bn.beta));
    let x_plain = x.p.clone().inner();
    let p = bn.forward(x.p, mode);
    if x.t.is_none() && vg.is_none() && vb.is_none() {
        return Dual::constant(p);
    }
    // The tangent, on plain tensors.
    let channels = bn.gamma.dims()[0];
    let device = x_plain.device();
    // [C] -> broadcastable [1, C, 1, ...]
    let per_channel = |t: Tensor<1>| -> Tensor<D> {
        let mut shape = [1usize; D];
        shape[1] = channels;
        t.inner().reshape(shape)
    };
    let reduce_dims: Vec<usize> = (0..D).filter(|&d| d != 1).collect();
    let mean_over =
        |t: Tensor<D>| -> Tensor<D> { reduce_dims.iter().fold(t, |acc, &d| acc.mean_dim(d)) };
    let gamma = per_channel(bn.gamma.val());
    let eps = bn.epsilon;
    let (x_hat, x_hat_t) = match mode {
        Mode::Eval => {
            let mean = per_channel(bn.running_mean.value_sync().to_device(&device));
            let var = bn.running_var.value_sync().to_device(&device);
            let std = per_channel(var.add_scalar(eps).sqrt());
            let x_hat = (x_plain - mean) / std.clone();
            (x_hat, x.t.map(|t| t / std))
        }
        Mode::Train | Mode::Probe => {
            let mean = mean_over(x_plain.clone());
            let centered = x_plain - mean;
            let var = mean_over(centered.clone().powi_scalar(2));
            let std = var.add_scalar(eps).sqrt();
            let x_hat = centered.clone() / std.clone();
            let x_hat_t = x.t.map(|t| {
                let t_centered = t.clone() - mean_over(t);
                let var_t = mean_over(centered.clone() * t_centered.clone()) * 2.0;
                let std_t = var_t / (std.clone() * 2.0);
                t_centered / std.clone() - x_hat.clone() * std_t / std.clone()
            });
            (x_hat, x_hat_t)
        }
    };
    let t = add_opt(
        add_opt(
            x_hat_t.map(|t| t * gamma.clone()),
            vg.map(|g| x_hat.clone() * per_channel(g)),
        ),
        vb.map(|b| per_channel(b) + x_hat.zeros_like()),
    );
    Dual { p, t }
}

/// Inverted dropout in [`Mode::Train`], with the same mask on the tangent.
pub fn dropout<const D: usize>(x: Dual<D>, prob: f64, mode: Mode) -> Dual<D> {
    if mode != Mode::Train || prob <= 0.0 {
        return x;
    }
    let keep = 1.0 - prob;
    let mask = crate::host_rng::float_like(&x.p, Distribution::Bernoulli(keep)) / keep;
    Dual {
        t: x.t.map(|t| t * mask.clone().inner()),
        p: x.p * mask,
    }
}
