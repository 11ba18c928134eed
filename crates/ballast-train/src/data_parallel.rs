//! Data parallelism over several devices, the way Burn 0.22 supports it on every backend:
//! per-device gradients combined on the main device, no collective operations.
//!
//! Burn's collective DDP (`burn::tensor::distributed`, gradients all-reduced inside
//! `backward`) runs only on CUDA with NCCL; on the CPU backend every entry point panics and
//! wgpu has no transport between devices (docs/scale.md). What works everywhere is what
//! burn-train's multi-device strategy does: a replica per device, its gradients moved to the
//! main device and summed (`GradientsAccumulator`), one optimiser step there. The sum is the
//! full batch's mean gradient because shard k's mean loss carries the weight b_k / B.
//!
//! Not wired into the trainer yet (a method's step computes and applies its gradients in one
//! call); this is the ERM step and its check.

use ballast_core::models::Mode;
use ballast_core::{Batch, Classifier, LossConfig};
use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

/// Contiguous shards of `n` rows over `parts` devices, sizes differing by at most one.
fn shards(n: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    (0..parts)
        .map(|k| k * n / parts..(k + 1) * n / parts)
        .filter(|r| !r.is_empty())
        .collect()
}

/// One ERM step with the batch split over `devices` (autodiff devices; the model and batch
/// live on `devices[0]`, the main device). Replica k computes ∇θ (b_k / B) · mean ℓ over its
/// shard in its own thread; the gradients are moved to the main device, summed and applied
/// by one optimiser step. Equal to [`ballast_core::step::erm_step`] on the whole batch for a
/// model without BatchNorm (BatchNorm sees per-shard statistics). Returns the updated model
/// and the detached per-example losses [B] on the main device's plain side.
pub fn erm_step(
    model: Classifier,
    optim: &mut ModuleOptimizer,
    batch: &Batch,
    loss: &LossConfig,
    lr: f64,
    devices: &[Device],
) -> (Classifier, Tensor<1>) {
    let main = devices[0].clone();
    let b = batch.len();
    let parts = shards(b, devices.len());
    let results: Vec<(GradientsParams, Tensor<1>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .iter()
            .zip(devices)
            .map(|(rows, device)| {
                let replica = model.clone().fork(device);
                let x = batch
                    .x
                    .clone()
                    .inner()
                    .slice(rows.clone())
                    .to_device(device);
                let y = batch
                    .y
                    .clone()
                    .inner()
                    .slice(rows.clone())
                    .to_device(device);
                let share = rows.len() as f64 / b as f64;
                scope.spawn(move || {
                    let logits = replica.forward(x, Mode::Train);
                    let losses = loss.per_example(logits, y); // [b_k]
                    let objective = losses.clone().mean() * share;
                    let grads = GradientsParams::from_grads(objective.backward(), &replica);
                    (grads, losses.detach().inner())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a replica's thread panicked"))
            .collect()
    });
    let mut sum = GradientsAccumulator::new();
    let mut losses = Vec::with_capacity(results.len());
    for (grads, shard_losses) in results {
        sum.accumulate(&model, grads.to_device(&main, &model));
        losses.push(shard_losses.to_device(&main.clone().inner()));
    }
    let model = optim.step(lr, model, sum.grads());
    (model, Tensor::cat(losses, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_core::models::{InputSpec, ModelConfig};
    use ballast_core::step::{OptimizerConfig, erm_step as one_device_step};
    use ballast_core::{host_rng, params};

    #[test]
    fn shards_cover_the_batch_in_order() {
        assert_eq!(shards(10, 3), vec![0..3, 3..6, 6..10]);
        assert_eq!(shards(2, 4), vec![0..1, 1..2]);
    }

    /// Two replicas with half the batch each take the steps one device takes with the whole
    /// batch (MLP, no BatchNorm; SGD with momentum and weight decay).
    #[test]
    fn two_devices_with_half_batches_equal_one_device_with_the_batch() {
        let input = InputSpec {
            shape: vec![12],
            num_classes: 3,
            mean: vec![0.5],
            std: vec![0.25],
        };
        let device = Device::flex().autodiff();
        host_rng::seed_init(4, &device);
        let init = host_rng::init_on_host(&device, |d| ModelConfig::mlp(&[16]).init(&input, d));
        let optimizer = OptimizerConfig::default();
        let loss = LossConfig::Ce {};
        let (mut single, mut split) = (init.clone(), init);
        let (mut opt_single, mut opt_split) = (optimizer.init(), optimizer.init());
        let devices = [device.clone(), Device::flex().autodiff()];
        for step in 0..10 {
            host_rng::seed(100 + step);
            let batch = Batch::random(32, &input, &device);
            let (m, l1) = one_device_step(single, &mut opt_single, &batch, &loss, 0.1);
            single = m;
            let (m, l2) = erm_step(split, &mut opt_split, &batch, &loss, 0.1, &devices);
            split = m;
            let (l1, l2): (Vec<f32>, Vec<f32>) = (
                l1.into_data().try_to_vec().unwrap(),
                l2.into_data().try_to_vec().unwrap(),
            );
            let worst = l1
                .iter()
                .zip(&l2)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst <= 1e-5, "step {step}: losses differ by {worst}");
        }
        let (a, b) = (params::flat_values(&single), params::flat_values(&split));
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        let moved = a
            .iter()
            .zip(params::flat_values(&init_again(&input)))
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        println!("after 10 steps: max |θ_1 device − θ_2 devices| = {worst:.2e}, moved {moved:.2e}");
        assert!(moved > 1e-3, "the steps did not move the parameters");
        assert!(worst <= 1e-5, "parameters differ by {worst}");
    }

    fn init_again(input: &InputSpec) -> Classifier {
        let device = Device::flex().autodiff();
        host_rng::seed_init(4, &device);
        host_rng::init_on_host(&device, |d| ModelConfig::mlp(&[16]).init(input, d))
    }
}
