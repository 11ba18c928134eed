//! Oracles for the CPU kernels: on fresh random shapes and inputs, the kernels' outputs and
//! gradients equal Burn's own operations' (the reference implementation of the same maths).

use super::*;
use burn::tensor::{Distribution, TensorData};
use proptest::prelude::*;

fn close(what: &str, got: Tensor<4>, want: Tensor<4>) -> Result<(), TestCaseError> {
    let (got, want) = (got.into_data(), want.into_data());
    prop_assert_eq!(got.shape(), want.shape(), "{} shape", what);
    let (got, want) = (
        got.try_to_vec::<f32>().unwrap(),
        want.try_to_vec::<f32>().unwrap(),
    );
    let scale = want
        .iter()
        .filter(|v| v.is_finite())
        .fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        prop_assert!(
            g == w || (g - w).abs() <= 1e-5 * scale,
            "{} differs at {}: kernel {} vs Burn {}",
            what,
            i,
            g,
            w
        );
    }
    Ok(())
}

fn grads_of(
    f: impl Fn(Tensor<4>, Tensor<4>, Tensor<1>) -> Tensor<4>,
    x: &Tensor<4>,
    w: &Tensor<4>,
    b: &Tensor<1>,
    g: &Tensor<4>,
) -> [Tensor<4>; 4] {
    let x = x.clone().require_grad();
    let w = w.clone().require_grad();
    let b = b.clone().require_grad();
    let y = f(x.clone(), w.clone(), b.clone());
    let grads = (y.clone() * g.clone()).sum().backward();
    [
        y.inner(),
        x.grad(&grads).expect("dx"),
        w.grad(&grads).expect("dw"),
        b.grad(&grads).expect("db").reshape([1, 1, 1, -1]),
    ]
}

/// Whether every floor-mode pooling window along an axis covers at least one input element.
fn every_window_sees_input(
    size: usize,
    k: usize,
    s: usize,
    d: usize,
    pb: usize,
    pe: usize,
) -> bool {
    let out = (size + pb + pe - d * (k - 1) - 1) / s + 1;
    (0..out).all(|o| (0..k).any(|t| (o * s + t * d).checked_sub(pb).is_some_and(|i| i < size)))
}

/// Input [B, C, H, W] rounded to halves: many ties, as after a ReLU.
fn ties(t: Tensor<4>) -> Tensor<4> {
    t.mul_scalar(2.0).round().div_scalar(2.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn conv2d_and_its_gradients_match_burn(
        batch in 1usize..5, c_in in 1usize..4, c_out in 1usize..5,
        h in 1usize..10, w in 1usize..10, kh in 1usize..5, kw in 1usize..5,
        stride in (1usize..4, 1usize..4), dilation in (1usize..3, 1usize..3),
        pad in (0usize..3, 0usize..3, 0usize..3, 0usize..3), bias in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let (pt, pl, pb, pr) = pad;
        prop_assume!(h + pt + pb >= dilation.0 * (kh - 1) + 1);
        prop_assume!(w + pl + pr >= dilation.1 * (kw - 1) + 1);
        let device = Device::flex().autodiff();
        device.seed(seed);
        let options = ConvOptions::new_with_padding(
            [stride.0, stride.1], [(pt, pb), (pl, pr)], [dilation.0, dilation.1], 1,
        );
        let normal = Distribution::Normal(0.0, 1.0);
        let x = Tensor::<4>::random([batch, c_in, h, w], normal, &device);
        let wt = Tensor::<4>::random([c_out, c_in, kh, kw], normal, &device);
        let b = Tensor::<1>::random([c_out], normal, &device);
        let reference = module::conv2d(x.clone().inner(), wt.clone().inner(), None, options.clone());
        let g = Tensor::<4>::random(reference.dims(), normal, &device);
        let with_bias = |f: fn(Tensor<4>, Tensor<4>, Option<Tensor<1>>, ConvOptions<2>) -> Tensor<4>| {
            let options = options.clone();
            move |x: Tensor<4>, w: Tensor<4>, b: Tensor<1>| {
                // Without a bias the bias still receives a (zero) gradient through a no-op add.
                if bias { f(x, w, Some(b), options.clone()) } else { f(x, w, None, options.clone()) + b.mul_scalar(0.0).reshape([1, -1, 1, 1]) }
            }
        };
        let ours = grads_of(with_bias(conv2d), &x, &wt, &b, &g);
        let burn = grads_of(with_bias(module::conv2d), &x, &wt, &b, &g);
        for ((name, o), r) in ["output", "dx", "dweight", "dbias"].into_iter().zip(ours).zip(burn) {
            close(name, o, r)?;
        }
        // The plain (no-autodiff) device runs the same forward.
        let b = bias.then(|| b.inner());
        let plain = conv2d(x.clone().inner(), wt.clone().inner(), b.clone(), options.clone());
        close("plain output", plain, module::conv2d(x.inner(), wt.inner(), b, options))?;
    }

    #[test]
    fn max_pool2d_its_gradient_and_its_tangent_match_burn(
        batch in 1usize..4, c in 1usize..4, h in 1usize..10, w in 1usize..10,
        kernel in (1usize..4, 1usize..4), stride in (1usize..4, 1usize..4),
        dilation in (1usize..3, 1usize..3), pad in (0usize..2, 0usize..2, 0usize..2, 0usize..2),
        tied in any::<bool>(), seed in any::<u64>(),
    ) {
        let (pt, pl, pb, pr) = pad;
        prop_assume!(pt.max(pb) <= kernel.0 / 2 && pl.max(pr) <= kernel.1 / 2);
        prop_assume!(h + pt + pb >= dilation.0 * (kernel.0 - 1) + 1);
        prop_assume!(w + pl + pr >= dilation.1 * (kernel.1 - 1) + 1);
        // Burn's own reference has no answer for windows made only of padding.
        prop_assume!(every_window_sees_input(h, kernel.0, stride.0, dilation.0, pt, pb));
        prop_assume!(every_window_sees_input(w, kernel.1, stride.1, dilation.1, pl, pr));
        let device = Device::flex().autodiff();
        device.seed(seed);
        let options = MaxPoolOptions::new([kernel.0, kernel.1])
            .with_stride([stride.0, stride.1])
            .with_padding_pairs([(pt, pb), (pl, pr)])
            .with_dilation([dilation.0, dilation.1]);
        let normal = Distribution::Normal(0.0, 1.0);
        let mut x = Tensor::<4>::random([batch, c, h, w], normal, &device);
        if tied {
            x = ties(x);
        }
        let reference = module::max_pool2d(x.clone().inner(), options.clone());
        let g = Tensor::<4>::random(reference.dims(), normal, &device);
        let run = |f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
            let xt = x.clone().require_grad();
            let y = f(xt.clone());
            let grads = (y.clone() * g.clone()).sum().backward();
            (y.inner(), xt.grad(&grads).expect("dx"))
        };
        let (y, dx) = run(&|x| max_pool2d(x, options.clone()));
        let (ry, rdx) = run(&|x| module::max_pool2d(x, options.clone()));
        close("output", y, ry)?;
        close("dx", dx, rdx)?;

        // The tangent: t at each window's arg-max, and its gradient in t.
        let t = Tensor::<4>::random([batch, c, h, w], normal, &device.clone().inner());
        let (p, tp) = max_pool2d_dual(x.clone().inner(), t.clone(), options.clone());
        let (_, idx) = module::max_pool2d_with_indices(x.clone().inner(), options.clone());
        let [_, _, ho, wo] = idx.dims();
        let want = t.clone().reshape([batch, c, h * w]).gather(2, idx.reshape([batch, c, ho * wo])).reshape([batch, c, ho, wo]);
        close("dual value", p, reference)?;
        close("dual tangent", tp, want)?;
    }
}

#[test]
fn the_kernels_run_only_where_they_apply() {
    let x = Tensor::<4>::from_data(
        TensorData::new(vec![1.0f32; 16], [1, 1, 4, 4]),
        &Device::flex(),
    );
    assert!(on_cpu_kernels(&x));
    let tracked = Tensor::<4>::ones([1, 1, 4, 4], &Device::flex().autodiff()).require_grad();
    assert!(on_cpu_kernels(&tracked));
    let f64_x = x.cast(burn::tensor::DType::F64);
    assert!(!on_cpu_kernels(&f64_x));
}
