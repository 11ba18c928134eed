//! Every random draw of a run, made on the host and then moved to the device.
//!
//! Burn's backends each have their own generator (`device.seed(s)` seeds flex's ChaCha12 on the
//! CPU and a different kernel-side generator on wgpu or CUDA), so the same seed drew different
//! attack starts, noise and dropout masks on each backend. The draws of a step go through this
//! module instead: one generator per thread, seeded with [`seed`] where the step used to seed its
//! device, producing `TensorData` on the host that is then uploaded. The generator and the
//! sampling are the ones Burn's flex backend uses (rand's `StdRng` from `seed_from_u64`, values
//! from `TensorData::random` in f32 / i32), so on the CPU every draw is bit-for-bit what
//! `device.seed(s)` followed by `Tensor::random` gave, and runs recorded before this module keep
//! their numbers. Uploads are host → device writes: nothing here reads a device tensor back.
//!
//! A thread that never called [`seed`] draws from a generator seeded with [`UNSEEDED`] (fixed,
//! so even an unseeded test is repeatable).
//!
//! Initial weights come from the host as well. Burn's layer initialisers draw from the
//! backend's generator, so [`init_on_host`] runs them on the CPU backend (flex, whose generator
//! is a host one, seeded by [`seed_init`]) and then moves the module to the run's device: the
//! same seed gives the same initial weights on every backend, and on the CPU exactly the
//! weights of `device.seed(seed)` followed by an initialisation on the device.

use std::cell::RefCell;

use burn::module::Module;
use burn::prelude::{Device, Int, Tensor};
use burn::tensor::{Distribution, Element, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Seed of a thread's generator before its first [`seed`].
pub const UNSEEDED: u64 = 42;

thread_local! {
    static GENERATOR: RefCell<StdRng> = RefCell::new(StdRng::seed_from_u64(UNSEEDED));
}

/// Restarts this thread's generator from `seed` (the host counterpart of `device.seed(seed)`).
pub fn seed(seed: u64) {
    GENERATOR.with(|g| *g.borrow_mut() = StdRng::seed_from_u64(seed));
}

/// `shape` values of `distribution` in f32, drawn on the host and uploaded to `device`.
pub fn float<const D: usize>(
    shape: [usize; D],
    distribution: Distribution,
    device: &Device,
) -> Tensor<D> {
    Tensor::from_data(draw::<f32, D>(shape, distribution), device)
}

/// [`float`] with the shape and device of `like`.
pub fn float_like<const D: usize>(like: &Tensor<D>, distribution: Distribution) -> Tensor<D> {
    float(like.dims(), distribution, &like.device())
}

/// `shape` integers of `distribution` (drawn as i32), uploaded to `device`.
pub fn int<const D: usize>(
    shape: [usize; D],
    distribution: Distribution,
    device: &Device,
) -> Tensor<D, Int> {
    Tensor::from_data(draw::<i32, D>(shape, distribution), device)
}

/// `len` values of `distribution` in f32 from this thread's generator, kept on the host (for
/// draws the host consumes itself, e.g. Square ℓ2's window positions).
pub fn host_floats(len: usize, distribution: Distribution) -> Vec<f32> {
    draw::<f32, 1>([len], distribution)
        .try_into_vec::<f32>()
        .expect("f32 draws")
}

/// `shape` values of `distribution` as `E`, from this thread's generator.
fn draw<E: Element, const D: usize>(shape: [usize; D], distribution: Distribution) -> TensorData {
    GENERATOR.with(|g| TensorData::random::<E, _, _>(shape, distribution, &mut *g.borrow_mut()))
}

/// Seeds the generator of initial weights (Burn's CPU generator; with no CPU backend compiled
/// in, `device`'s). Call once per run, before its [`init_on_host`] calls: they continue one
/// stream in call order.
pub fn seed_init(seed: u64, device: &Device) {
    #[cfg(feature = "flex")]
    {
        let _ = device;
        Device::flex().seed(seed);
    }
    #[cfg(not(feature = "flex"))]
    device.seed(seed);
}

/// A module built by `build` with its initial weights drawn on the host: `build` runs on the
/// CPU backend (with autodiff when `device` has it), every parameter is materialised there
/// (Burn initialises lazily, in read order) and the module is then moved to `device`, keeping
/// which parameters require gradients. On the CPU backend itself nothing moves.
///
/// Without the CPU backend compiled in, the weights come from `device`'s generator.
pub fn init_on_host<M: Module>(device: &Device, build: impl FnOnce(&Device) -> M) -> M {
    #[cfg(feature = "flex")]
    {
        // Device equality ignores autodiff: ask for it explicitly.
        let host = if device.is_autodiff() {
            Device::flex().autodiff()
        } else {
            Device::flex()
        };
        let module = build(&host);
        module.visit(&mut crate::models::TouchParams);
        if host == *device {
            module
        } else {
            module.fork(device)
        }
    }
    #[cfg(not(feature = "flex"))]
    {
        let module = build(device);
        module.visit(&mut crate::models::TouchParams);
        module
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn draws_equal_flex_device_draws_under_the_same_seed() {
        let device = Device::flex();
        for s in [0u64, 7, 0x9E37_79B9_7F4A_7C15] {
            device.seed(s);
            let on_device = (
                values(Tensor::<2>::random(
                    [5, 7],
                    Distribution::Uniform(-0.3, 0.3),
                    &device,
                )),
                values(Tensor::<2>::random(
                    [3, 4],
                    Distribution::Normal(0.0, 1.0),
                    &device,
                )),
                Tensor::<1, Int>::random([9], Distribution::Uniform(0.0, 10.0), &device)
                    .into_data()
                    .try_to_vec::<i32>()
                    .unwrap(),
                values(Tensor::<1>::random(
                    [6],
                    Distribution::Bernoulli(0.3),
                    &device,
                )),
            );
            seed(s);
            let on_host = (
                values(float([5, 7], Distribution::Uniform(-0.3, 0.3), &device)),
                values(float([3, 4], Distribution::Normal(0.0, 1.0), &device)),
                int([9], Distribution::Uniform(0.0, 10.0), &device)
                    .into_data()
                    .try_to_vec::<i32>()
                    .unwrap(),
                values(float([6], Distribution::Bernoulli(0.3), &device)),
            );
            assert_eq!(on_device, on_host, "seed {s}");
        }
    }

    #[test]
    fn reseeding_repeats_and_threads_do_not_share_a_stream() {
        let device = Device::flex();
        seed(3);
        let a = values(float([16], Distribution::Uniform(0.0, 1.0), &device));
        seed(3);
        let b = values(float([16], Distribution::Uniform(0.0, 1.0), &device));
        assert_eq!(a, b);
        let other = std::thread::spawn(|| {
            seed(3);
            values(float(
                [16],
                Distribution::Uniform(0.0, 1.0),
                &Device::flex(),
            ))
        })
        .join()
        .unwrap();
        assert_eq!(a, other);
        let c = values(float([16], Distribution::Uniform(0.0, 1.0), &device));
        assert_ne!(a, c, "the stream advances");
    }
}
