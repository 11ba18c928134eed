//! Restarts of the attacks that start from a random point of their own (FAB with random starts,
//! Square): each restart runs only on the examples still correctly classified and not yet
//! broken, so the batch shrinks as points break.

use super::{correct_flags, put_rows, rows_where};
use crate::models::{Classifier, Mode};
use burn::prelude::*;

/// Calls `run(restart, x [n, D], labels [n])` for restarts 0..`restarts` (at least one), each
/// time on the examples still robust; `run` returns its points [n, D] and which examples they
/// break. x: [B, D], labels [B] -> [B, D]: each broken example's point, else its clean input.
pub(crate) fn per_restart(
    model: &Classifier,
    x: Tensor<2>,
    labels: Tensor<1, Int>,
    restarts: usize,
    mode: Mode,
    mut run: impl FnMut(usize, Tensor<2>, Tensor<1, Int>) -> (Tensor<2>, Vec<bool>),
) -> Tensor<2> {
    let x = x.detach().inner();
    let device = x.device();
    let labels = labels.to_device(&device);
    let mut robust = correct_flags(model.forward(x.clone(), mode).detach().inner(), &labels);
    let mut adv = x.clone();
    for restart in 0..restarts.max(1) {
        let rows = rows_where(&robust);
        if rows.is_empty() {
            break;
        }
        let idx = Tensor::<1, Int>::from_data(TensorData::new(rows.clone(), [rows.len()]), &device);
        let (found, broken) = run(
            restart,
            x.clone().select(0, idx.clone()),
            labels.clone().select(0, idx),
        );
        adv = put_rows(adv, &rows, found, &broken);
        for (&r, b) in rows.iter().zip(&broken) {
            robust[r as usize] &= !b;
        }
    }
    adv
}
