//! `ballast bench`: time training steps of a method on a model and batch size with
//! synthetic inputs of the dataset's shape, on the chosen device.

use crate::config::Method;
use anyhow::Result;
use ballast_core::step::{OptimizerConfig, erm_step};
use ballast_core::{Backend, Batch, InputSpec, LossConfig, ModelConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::Serialize;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    pub method: String,
    pub model: ModelConfig,
    pub input_shape: Vec<usize>,
    pub batch_size: usize,
    pub device: String,
    pub warmup_steps: usize,
    pub steps: usize,
    pub ms_per_step: f64,
    pub steps_per_s: f64,
    pub examples_per_s: f64,
}

#[allow(clippy::too_many_arguments)]
pub fn bench(
    method: Method,
    model_cfg: &ModelConfig,
    input: &InputSpec,
    batch_size: usize,
    warmup: usize,
    steps: usize,
    backend: Backend,
    seed: u64,
) -> Result<BenchResult> {
    model_cfg.validate(input).map_err(anyhow::Error::msg)?;
    let device = backend.device()?.autodiff();
    device.seed(seed);
    let mut model = model_cfg.init(input, &device);
    let mut optim = OptimizerConfig::default().init();
    let x = Tensor::<2>::random(
        [batch_size, input.features()],
        Distribution::Uniform(0.0, 1.0),
        &device,
    );
    let y = Tensor::<1, Int>::random(
        [batch_size],
        Distribution::Uniform(0.0, input.num_classes as f64),
        &device,
    );
    let batch = Batch { x, y };
    let mut run = |n: usize| -> Result<f64> {
        let t = Instant::now();
        for _ in 0..n {
            let (next, losses) = match method {
                Method::Erm => {
                    erm_step(model.clone(), &mut optim, &batch, &LossConfig::Ce {}, 0.01)
                }
            };
            model = next;
            // Reading the loss synchronises the device, as a training loop does.
            let _ = losses.mean().into_scalar::<f32>();
        }
        Ok(t.elapsed().as_secs_f64())
    };
    run(warmup)?;
    let secs = run(steps)?;
    let per = secs / steps.max(1) as f64;
    Ok(BenchResult {
        method: format!("{method:?}").to_lowercase(),
        model: model_cfg.clone(),
        input_shape: input.shape.clone(),
        batch_size,
        device: backend.to_string(),
        warmup_steps: warmup,
        steps,
        ms_per_step: per * 1e3,
        steps_per_s: 1.0 / per,
        examples_per_s: batch_size as f64 / per,
    })
}
