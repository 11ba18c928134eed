//! Hand-written CPU kernels for the operations that dominate the convolutional models' steps
//! on Burn's `flex` backend: 2-D convolution (chunked im2col + one matrix product per chunk,
//! forward and backward) and max-pooling (direct windows, forward and backward).
//!
//! The model code calls [`conv2d`], [`max_pool2d`] and [`max_pool2d_dual`]; on a `flex`
//! device (plain or autodiff) with f32 tensors they run these kernels through a Burn backend
//! extension, anywhere else (wgpu, CUDA, other dtypes, grouped convolutions, ceil-mode
//! pooling) Burn's own operations. `docs/results/performance.md` times both paths.

#[cfg(feature = "flex")]
pub mod conv2d;
#[cfg(feature = "flex")]
mod extension;
#[cfg(feature = "flex")]
pub mod max_pool2d;

use burn::prelude::*;
use burn::tensor::module;
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use std::sync::atomic::{AtomicU8, Ordering};

/// 0 = not yet read from the environment, 1 = on, 2 = off.
static STATE: AtomicU8 = AtomicU8::new(0);

/// Turns the CPU kernels on or off for the whole process; off, every call runs Burn's own
/// operation. The default is on, unless the environment variable `BALLAST_CPU_KERNELS` is
/// `off` (or `0`): for side-by-side timing and for checking a result against Burn's path.
pub fn set_enabled(on: bool) {
    STATE.store(if on { 1 } else { 2 }, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let value = std::env::var("BALLAST_CPU_KERNELS").unwrap_or_default();
            let on = match value.trim().to_ascii_lowercase().as_str() {
                "" | "on" | "1" => true,
                "off" | "0" => false,
                other => {
                    eprintln!(
                        "warning: BALLAST_CPU_KERNELS={other:?} is neither on nor off; keeping the CPU kernels on"
                    );
                    true
                }
            };
            set_enabled(on);
            on
        }
    }
}

/// Whether `x` lives where the kernels run: a `flex` device (plain or autodiff), f32.
#[allow(unused_variables)]
fn on_cpu_kernels<const D: usize>(x: &Tensor<D>) -> bool {
    #[cfg(feature = "flex")]
    {
        use burn::backend::DispatchDevice;
        let device = x.device();
        #[allow(unreachable_patterns)] // only flex compiled in
        let flex = match device.as_dispatch() {
            DispatchDevice::Flex(_) => true,
            DispatchDevice::Autodiff(inner) => matches!(**inner, DispatchDevice::Flex(_)),
            _ => false,
        };
        enabled() && flex && x.dtype() == burn::tensor::DType::F32
    }
    #[cfg(not(feature = "flex"))]
    false
}

/// conv2d of x [B, C_in, H, W] with weight [C_out, C_in/groups, kh, kw] and bias [C_out]:
/// Burn's `module::conv2d`, through the CPU kernels where they apply (groups = 1).
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if options.groups == 1 && on_cpu_kernels(&x) && conv_is_valid(&x, &weight, &options) {
        use burn::backend::Dispatch;
        use extension::CpuKernels;
        let (x, weight) = (x.into_dispatch(), weight.into_dispatch());
        let y = match bias {
            Some(bias) => {
                <Dispatch as CpuKernels>::cpu_conv2d(x, weight, bias.into_dispatch(), options)
            }
            None => <Dispatch as CpuKernels>::cpu_conv2d_no_bias(x, weight, options),
        };
        return Tensor::from_dispatch(y);
    }
    module::conv2d(x, weight, bias, options)
}

/// Whether the convolution has an output and matching channels (otherwise Burn's operation
/// reports the problem).
#[cfg(feature = "flex")]
fn conv_is_valid(x: &Tensor<4>, weight: &Tensor<4>, options: &ConvOptions<2>) -> bool {
    let ([_, c_in, h, w], [_, c_in_w, kh, kw]) = (x.dims(), weight.dims());
    let fits = |size: usize, k: usize, axis: usize| {
        let (pb, pe) = options.padding[axis];
        k > 0 && size + pb + pe >= options.dilation[axis] * (k - 1) + 1
    };
    c_in == c_in_w && fits(h, kh, 0) && fits(w, kw, 1)
}

/// The output size of a floor-mode pooling along one axis.
#[cfg(feature = "flex")]
fn pooled(size: usize, options: &MaxPoolOptions<2>, axis: usize) -> Option<usize> {
    let (pb, pe) = options.padding[axis];
    let span = options.dilation[axis] * (options.kernel_size[axis] - 1) + 1;
    (size + pb + pe >= span).then(|| (size + pb + pe - span) / options.stride[axis] + 1)
}

#[cfg(feature = "flex")]
fn windows(x: &Tensor<4>, options: &MaxPoolOptions<2>) -> Option<extension::PoolWindows> {
    if options.ceil_mode || !on_cpu_kernels(x) {
        return None;
    }
    let [_, _, h, w] = x.dims();
    Some(extension::PoolWindows {
        kernel: options.kernel_size,
        stride: options.stride,
        dilation: options.dilation,
        pad_begin: options.padding.map(|(begin, _)| begin),
        out: [pooled(h, options, 0)?, pooled(w, options, 1)?],
    })
}

/// Max-pooling of x [B, C, H, W]: Burn's `module::max_pool2d`, through the CPU kernels where
/// they apply (floor mode).
pub fn max_pool2d(x: Tensor<4>, options: MaxPoolOptions<2>) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if let Some(windows) = windows(&x, &options) {
        use extension::CpuKernels;
        let y = <burn::backend::Dispatch as CpuKernels>::cpu_max_pool2d(
            x.clone().into_dispatch(),
            x.into_dispatch(),
            windows,
        );
        return Tensor::from_dispatch(y);
    }
    module::max_pool2d(x, options)
}

/// Max-pooling of x [B, C, H, W] and of its tangent t (same shape): (the pooled x, t at each
/// window's arg-max of x), the pooling's value and directional derivative. The tangent is
/// differentiable in t; x only selects.
pub fn max_pool2d_dual(
    x: Tensor<4>,
    t: Tensor<4>,
    options: MaxPoolOptions<2>,
) -> (Tensor<4>, Tensor<4>) {
    #[cfg(feature = "flex")]
    if let Some(windows) = windows(&x, &options) {
        use burn::backend::Dispatch;
        use extension::CpuKernels;
        let selector = x.clone().detach().into_dispatch();
        let t = <Dispatch as CpuKernels>::cpu_max_pool2d(selector, t.into_dispatch(), windows);
        let p = <Dispatch as CpuKernels>::cpu_max_pool2d(
            x.clone().into_dispatch(),
            x.into_dispatch(),
            windows,
        );
        return (Tensor::from_dispatch(p), Tensor::from_dispatch(t));
    }
    let [b, c, h, w] = x.dims();
    let (p, idx) = module::max_pool2d_with_indices(x, options); // flat H·W index per output
    let [_, _, ho, wo] = idx.dims();
    let t = t
        .reshape([b, c, h * w])
        .gather(2, idx.reshape([b, c, ho * wo]))
        .reshape([b, c, ho, wo]);
    (p, t)
}

#[cfg(all(test, feature = "flex"))]
mod tests;
