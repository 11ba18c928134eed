//! The CPU kernels as a Burn backend extension: forward on Burn's `flex` backend, and the
//! autodiff wrapper whose backward pass calls the kernels' vector-Jacobian products.

use super::conv2d::{self, ConvGeometry};
use super::max_pool2d::{self, PoolGeometry};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, TensorData};

/// The hot operations of the convolutional models, on the CPU.
#[backend_extension(Flex, Autodiff)]
pub trait CpuKernels: Backend {
    /// conv2d (groups = 1) of x [B, C_in, H, W] with weight [C_out, C_in, kh, kw] plus bias
    /// [C_out].
    fn cpu_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self>;

    /// [`CpuKernels::cpu_conv2d`] without a bias.
    fn cpu_conv2d_no_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self>;

    /// For each max-pooling window of `x` [B, C, H, W], `values` (same shape) at the window's
    /// arg-max. Differentiable in `values` only (the arg-max is piecewise constant in x).
    fn cpu_max_pool2d(
        x: FloatTensor<Self>,
        values: FloatTensor<Self>,
        geometry: PoolWindows,
    ) -> FloatTensor<Self>;
}

/// A max-pooling's windows, independent of the batch and channel count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolWindows {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub pad_begin: [usize; 2],
    pub out: [usize; 2],
}

fn dims4(t: &FlexTensor) -> [usize; 4] {
    let s = t.layout().shape();
    [s[0], s[1], s[2], s[3]]
}

fn f32s(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    if t.is_contiguous() {
        std::borrow::Cow::Borrowed(t.storage::<f32>())
    } else {
        std::borrow::Cow::Owned(t.to_contiguous().storage::<f32>().to_vec())
    }
}

fn flex(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn conv_geometry(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> ConvGeometry {
    let [batch, c_in, h, w] = dims4(x);
    let [c_out, c_in_w, kh, kw] = dims4(weight);
    assert_eq!(c_in, c_in_w, "cpu_conv2d: input channels");
    assert_eq!(options.groups, 1, "cpu_conv2d: groups");
    let out = |size: usize, k: usize, axis: usize| {
        let (pb, pe) = options.padding[axis];
        (size + pb + pe - options.dilation[axis] * (k - 1) - 1) / options.stride[axis] + 1
    };
    ConvGeometry {
        batch,
        c_in,
        h,
        w,
        c_out,
        kh,
        kw,
        stride: options.stride,
        dilation: options.dilation,
        pad_begin: options.padding_begin(),
        out_h: out(h, kh, 0),
        out_w: out(w, kw, 1),
    }
}

fn pool_geometry(x: &FlexTensor, windows: &PoolWindows) -> PoolGeometry {
    let [batch, channels, h, w] = dims4(x);
    PoolGeometry {
        batch,
        channels,
        h,
        w,
        kernel: windows.kernel,
        stride: windows.stride,
        dilation: windows.dilation,
        pad_begin: windows.pad_begin,
        out_h: windows.out[0],
        out_w: windows.out[1],
    }
}

fn check_f32(t: &FlexTensor, op: &str) {
    assert_eq!(
        t.dtype(),
        DType::F32,
        "{op}: the CPU kernels take f32 tensors"
    );
}

fn flex_conv2d(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: ConvOptions<2>,
) -> FlexTensor {
    check_f32(&x, "cpu_conv2d");
    let g = conv_geometry(&x, &weight, &options);
    let bias = bias.as_ref().map(f32s);
    let y = conv2d::forward(&g, &f32s(&x), &f32s(&weight), bias.as_deref());
    flex(y, vec![g.batch, g.c_out, g.out_h, g.out_w])
}

impl CpuKernels for Flex {
    fn cpu_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        options: ConvOptions<2>,
    ) -> FlexTensor {
        flex_conv2d(x, weight, Some(bias), options)
    }

    fn cpu_conv2d_no_bias(
        x: FlexTensor,
        weight: FlexTensor,
        options: ConvOptions<2>,
    ) -> FlexTensor {
        flex_conv2d(x, weight, None, options)
    }

    fn cpu_max_pool2d(x: FlexTensor, values: FlexTensor, windows: PoolWindows) -> FlexTensor {
        let same = std::sync::Arc::ptr_eq(&x.data_arc(), &values.data_arc())
            && x.layout() == values.layout();
        let (y, argmax) = Self::cpu_max_pool2d_argmax(x, &windows);
        if same {
            y
        } else {
            Self::cpu_max_pool2d_gather(values, &argmax)
        }
    }
}

/// The kernels' vector-Jacobian products, on the backend that runs them.
pub trait CpuKernelsBackward: Backend {
    /// (dx, dweight, dbias) of [`CpuKernels::cpu_conv2d`], each only when asked for.
    #[allow(clippy::type_complexity)]
    fn cpu_conv2d_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: &ConvOptions<2>,
        wanted: conv2d::Wanted,
    ) -> [Option<FloatTensor<Self>>; 3];

    /// (the pooled x, each window's arg-max as a flat index into its plane).
    fn cpu_max_pool2d_argmax(
        x: FloatTensor<Self>,
        windows: &PoolWindows,
    ) -> (FloatTensor<Self>, ArgMax);

    /// values at each window's arg-max.
    fn cpu_max_pool2d_gather(values: FloatTensor<Self>, argmax: &ArgMax) -> FloatTensor<Self>;

    /// d values of [`CpuKernels::cpu_max_pool2d`]: each output gradient added at its arg-max.
    fn cpu_max_pool2d_backward(grad: FloatTensor<Self>, argmax: &ArgMax) -> FloatTensor<Self>;
}

/// The arg-max of every window of a pooling, with the geometry it indexes.
#[derive(Clone, Debug)]
pub struct ArgMax {
    index: std::sync::Arc<Vec<u32>>,
    geometry: PoolGeometry,
}

impl CpuKernelsBackward for Flex {
    fn cpu_conv2d_backward(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        options: &ConvOptions<2>,
        wanted: conv2d::Wanted,
    ) -> [Option<FlexTensor>; 3] {
        let g = conv_geometry(&x, &weight, options);
        let grads = conv2d::backward(&g, &f32s(&x), &f32s(&weight), &f32s(&grad), wanted);
        [
            grads.x.map(|v| flex(v, vec![g.batch, g.c_in, g.h, g.w])),
            grads
                .weight
                .map(|v| flex(v, vec![g.c_out, g.c_in, g.kh, g.kw])),
            grads.bias.map(|v| flex(v, vec![g.c_out])),
        ]
    }

    fn cpu_max_pool2d_argmax(x: FlexTensor, windows: &PoolWindows) -> (FlexTensor, ArgMax) {
        check_f32(&x, "cpu_max_pool2d");
        let g = pool_geometry(&x, windows);
        let (y, index) = max_pool2d::forward(&g, &f32s(&x));
        let argmax = ArgMax {
            index: std::sync::Arc::new(index),
            geometry: g,
        };
        (flex(y, vec![g.batch, g.channels, g.out_h, g.out_w]), argmax)
    }

    fn cpu_max_pool2d_gather(values: FlexTensor, argmax: &ArgMax) -> FlexTensor {
        check_f32(&values, "cpu_max_pool2d");
        let g = argmax.geometry;
        assert_eq!(
            dims4(&values),
            [g.batch, g.channels, g.h, g.w],
            "cpu_max_pool2d: values shape"
        );
        let y = max_pool2d::gather(&g, &f32s(&values), &argmax.index);
        flex(y, vec![g.batch, g.channels, g.out_h, g.out_w])
    }

    fn cpu_max_pool2d_backward(grad: FlexTensor, argmax: &ArgMax) -> FlexTensor {
        let g = argmax.geometry;
        let dx = max_pool2d::backward(&g, &argmax.index, &f32s(&grad));
        flex(dx, vec![g.batch, g.channels, g.h, g.w])
    }
}

#[derive(Debug)]
struct Conv2dBackward;

impl<B: Backend + CpuKernelsBackward> Backward<B, 3> for Conv2dBackward {
    /// (x, weight, options); the bias is not needed for the products.
    type State = (NodeId, NodeId, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, cp: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, w_state, options) = ops.state;
        let x = cp.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let w = cp.retrieve_node_output::<B::FloatTensorPrimitive>(w_state);
        let wanted = conv2d::Wanted {
            x: node_x.is_some(),
            weight: node_w.is_some(),
            bias: node_b.is_some(),
        };
        let [dx, dw, db] = B::cpu_conv2d_backward(x, w, grad, &options, wanted);
        for (node, d) in [(node_x, dx), (node_w, dw), (node_b, db)] {
            if let (Some(node), Some(d)) = (node, d) {
                grads.register::<B>(node.id, d);
            }
        }
    }
}

#[derive(Debug)]
struct Conv2dNoBiasBackward;

impl<B: Backend + CpuKernelsBackward> Backward<B, 2> for Conv2dNoBiasBackward {
    type State = (NodeId, NodeId, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, cp: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, w_state, options) = ops.state;
        let x = cp.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let w = cp.retrieve_node_output::<B::FloatTensorPrimitive>(w_state);
        let wanted = conv2d::Wanted {
            x: node_x.is_some(),
            weight: node_w.is_some(),
            bias: false,
        };
        let [dx, dw, _] = B::cpu_conv2d_backward(x, w, grad, &options, wanted);
        for (node, d) in [(node_x, dx), (node_w, dw)] {
            if let (Some(node), Some(d)) = (node, d) {
                grads.register::<B>(node.id, d);
            }
        }
    }
}

#[derive(Debug)]
struct MaxPool2dBackward;

impl<B: Backend + CpuKernelsBackward> Backward<B, 1> for MaxPool2dBackward {
    /// The forward's arg-max.
    type State = ArgMax;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_values] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = node_values {
            grads.register::<B>(node.id, B::cpu_max_pool2d_backward(grad, &ops.state));
        }
    }
}

impl<B, C> CpuKernels for Autodiff<B, C>
where
    B: Backend + CpuKernels + CpuKernelsBackward,
    C: CheckpointStrategy,
{
    fn cpu_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        match Conv2dBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let w_state = prep.checkpoint(&weight);
                let y = B::cpu_conv2d(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                    options.clone(),
                );
                prep.finish((x_state, w_state, options), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::cpu_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                options,
            )),
        }
    }

    fn cpu_conv2d_no_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        match Conv2dNoBiasBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let w_state = prep.checkpoint(&weight);
                let y = B::cpu_conv2d_no_bias(
                    x.into_primitive(),
                    weight.into_primitive(),
                    options.clone(),
                );
                prep.finish((x_state, w_state, options), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::cpu_conv2d_no_bias(
                x.into_primitive(),
                weight.into_primitive(),
                options,
            )),
        }
    }

    fn cpu_max_pool2d(
        x: FloatTensor<Self>,
        values: FloatTensor<Self>,
        windows: PoolWindows,
    ) -> FloatTensor<Self> {
        let same = x.id() == values.id();
        let x = x.into_primitive();
        match MaxPool2dBackward
            .prepare::<C>([values.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (pooled, argmax) = B::cpu_max_pool2d_argmax(x, &windows);
                let y = if same {
                    pooled
                } else {
                    B::cpu_max_pool2d_gather(values.into_primitive(), &argmax)
                };
                prep.finish(argmax, y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::cpu_max_pool2d(x, values.into_primitive(), windows))
            }
        }
    }
}
