//! The loop AutoAttack's attacks share: several rounds of one attack — one per target class
//! (APGD-T, FAB-T) or one per restart (FAB, Square) — each run only on the examples no earlier
//! round broke, so the batch shrinks as points break.

use super::{correct_flags, put_rows, rows_where};
use crate::models::{Classifier, Mode};
use burn::prelude::*;

/// Calls `run(round, rows [n], x [n, D], labels [n])` for rounds 0..`rounds` on the examples
/// still `robust` (their batch rows `rows`); `run` returns its points [n, D] and which examples
/// they break. x: [B, D], labels [B] -> [B, D]: each broken example's point, else its input.
fn on_robust_rows(
    x: Tensor<2>,
    labels: Tensor<1, Int>,
    mut robust: Vec<bool>,
    rounds: usize,
    mut run: impl FnMut(usize, Tensor<1, Int>, Tensor<2>, Tensor<1, Int>) -> (Tensor<2>, Vec<bool>),
) -> Tensor<2> {
    let device = x.device();
    let mut adv = x.clone();
    for round in 0..rounds {
        let rows = rows_where(&robust);
        if rows.is_empty() {
            break;
        }
        let idx = Tensor::<1, Int>::from_data(TensorData::new(rows.clone(), [rows.len()]), &device);
        let (found, broken) = run(
            round,
            idx.clone(),
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

/// Calls `run(x [n, D], labels [n], target [n])` for target ranks 1..=`targets` (capped at
/// K − 1): the highest-scoring wrong classes at the clean input, in order, each time on the
/// examples still correctly classified and not yet broken. x: [B, D], labels [B] -> [B, D].
pub(crate) fn per_target(
    model: &Classifier,
    x: Tensor<2>,
    labels: Tensor<1, Int>,
    targets: usize,
    mode: Mode,
    mut run: impl FnMut(Tensor<2>, Tensor<1, Int>, Tensor<1, Int>) -> (Tensor<2>, Vec<bool>),
) -> Tensor<2> {
    let x = x.detach().inner();
    let labels = labels.to_device(&x.device());
    let clean = model.forward(x.clone(), mode).detach().inner(); // [B, K]
    let [_, k] = clean.dims();
    // Classes by decreasing clean logit: rank 0 is the prediction (the label, for the
    // correctly classified examples an evaluation attacks), ranks 1.. the targets.
    let order = clean.clone().argsort_descending(1); // [B, K]
    let robust = correct_flags(clean, &labels);
    let rounds = targets.min(k - 1);
    on_robust_rows(x, labels, robust, rounds, |round, rows, x, y| {
        let target = order
            .clone()
            .select(0, rows)
            .narrow(1, round + 1, 1)
            .squeeze_dim::<1>(1);
        run(x, y, target)
    })
}

/// Calls `run(restart, x [n, D], labels [n])` for restarts 0..`restarts` (at least one), each
/// time on the examples still correctly classified and not yet broken. x: [B, D], labels [B]
/// -> [B, D].
pub(crate) fn per_restart(
    model: &Classifier,
    x: Tensor<2>,
    labels: Tensor<1, Int>,
    restarts: usize,
    mode: Mode,
    mut run: impl FnMut(usize, Tensor<2>, Tensor<1, Int>) -> (Tensor<2>, Vec<bool>),
) -> Tensor<2> {
    let x = x.detach().inner();
    let labels = labels.to_device(&x.device());
    let robust = correct_flags(model.forward(x.clone(), mode).detach().inner(), &labels);
    on_robust_rows(x, labels, robust, restarts.max(1), |restart, _, x, y| {
        run(restart, x, y)
    })
}
