//! The loop AutoAttack's targeted attacks share: one run per target class — the highest-scoring
//! wrong classes at the clean input, in order — each on the examples no earlier run broke (the
//! batch shrinks as points break).

use super::{correct_flags, put_rows, rows_where};
use crate::models::{Classifier, Mode};
use burn::prelude::*;

/// Calls `run(x [n, D], labels [n], target [n])` for target ranks 1..=`targets` (capped at
/// K − 1), each time on the examples still correctly classified and not yet broken; `run`
/// returns its points [n, D] and which examples they break. x: [B, D], labels [B] -> [B, D]:
/// each broken example's point, else its clean input.
pub(crate) fn per_target(
    model: &Classifier,
    x: Tensor<2>,
    labels: Tensor<1, Int>,
    targets: usize,
    mode: Mode,
    mut run: impl FnMut(Tensor<2>, Tensor<1, Int>, Tensor<1, Int>) -> (Tensor<2>, Vec<bool>),
) -> Tensor<2> {
    let x = x.detach().inner();
    let device = x.device();
    let labels = labels.to_device(&device);
    let clean = model.forward(x.clone(), mode).detach().inner(); // [B, K]
    let [_, k] = clean.dims();
    // Classes by decreasing clean logit: rank 0 is the prediction (the label, for the
    // correctly classified examples an evaluation attacks), ranks 1.. the targets.
    let order = clean.clone().argsort_descending(1); // [B, K]
    let mut robust = correct_flags(clean, &labels);
    let mut adv = x.clone();
    for rank in 1..=targets.min(k - 1) {
        let rows = rows_where(&robust);
        if rows.is_empty() {
            break;
        }
        let idx = Tensor::<1, Int>::from_data(TensorData::new(rows.clone(), [rows.len()]), &device);
        let target = order
            .clone()
            .select(0, idx.clone())
            .narrow(1, rank, 1)
            .squeeze_dim::<1>(1);
        let (found, broken) = run(
            x.clone().select(0, idx.clone()),
            labels.clone().select(0, idx),
            target,
        );
        adv = put_rows(adv, &rows, found, &broken);
        for (&r, b) in rows.iter().zip(&broken) {
            robust[r as usize] &= !b;
        }
    }
    adv
}
