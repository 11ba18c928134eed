//! Clean evaluation of a model on a dataset (inference mode: running BatchNorm statistics,
//! no dropout). Attack evaluation arrives with the adversarial family.

use crate::data::batch_of;
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
