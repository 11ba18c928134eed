//! Clean evaluation of a model on a dataset (inference mode: running BatchNorm statistics,
//! no dropout), and the test report of `ballast eval`.

use crate::data::batch_of;
use crate::error::Result;
use ballast_core::loss::cross_entropy;
use ballast_core::step::correct;
use ballast_core::{Classifier, Mode};
use ballast_data::Dataset;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    /// Mean cross-entropy.
    pub loss: f64,
    pub accuracy: f64,
    pub examples: usize,
}

/// `model` should be plain (`model.valid()`); `device` the matching plain device.
pub fn evaluate(
    model: &Classifier,
    data: &Dataset,
    batch_size: usize,
    device: &Device,
) -> EvalResult {
    let n = data.len();
    let (mut loss_sum, mut hits) = (0.0f64, 0usize);
    let positions: Vec<usize> = (0..n).collect();
    for chunk in positions.chunks(batch_size.max(1)) {
        let batch = batch_of(data, chunk, device);
        let logits = model.forward(batch.x, Mode::Eval);
        hits += correct(logits.clone(), batch.y.clone());
        loss_sum += cross_entropy(logits, batch.y).sum().into_scalar::<f32>() as f64;
    }
    EvalResult {
        loss: loss_sum / n.max(1) as f64,
        accuracy: hits as f64 / n.max(1) as f64,
        examples: n,
    }
}

/// The test-split report of a run's model (`ballast eval RUN`): accuracy and loss with the
/// checkpoint they came from. `path`, `best`: as [`crate::run_dir::load_named_model`].
pub fn test_report(
    path: &std::path::Path,
    best: bool,
    data_dir: &std::path::Path,
    device: &Device,
    device_name: &str,
) -> Result<serde_json::Value> {
    let (_run_dir, cfg, model, checkpoint) = crate::run_dir::load_named_model(path, best, device)?;
    let data = crate::data::PreparedData::prepare(&cfg, data_dir)?;
    let result = evaluate(&model, &data.test, cfg.budget.eval_batch_size, device);
    Ok(serde_json::json!({
        "checkpoint": checkpoint,
        "split": "test",
        "examples": result.examples,
        "accuracy": result.accuracy,
        "loss": result.loss,
        "mode": "inference (running BatchNorm statistics, no dropout)",
        "device": device_name,
        "dataset": format!("{:?}", cfg.data.dataset),
        "seed": cfg.seed,
    }))
}
