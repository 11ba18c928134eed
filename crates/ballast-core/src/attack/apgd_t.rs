//! APGD-T (Croce & Hein 2020): APGD on the targeted DLR loss, once per target class. The
//! targets are the highest-scoring wrong classes at the clean input, in order, and each run
//! attacks only the examples no earlier run misclassified (the batch shrinks as points break).

use super::{AttackConfig, Objective, apgd, put_rows, rows_where};
use crate::models::{Classifier, Mode};
use burn::prelude::*;

/// Target classes AutoAttack's standard APGD-T tries (fewer when the model has fewer classes).
pub const APGD_T_TARGETS: usize = 9;

/// APGD-T with `targets` target classes (`None`: [`APGD_T_TARGETS`]), `cfg.steps` iterations and
/// `cfg.restarts` restarts per target. x: [B, D] in [0, 1], labels [B] -> adversarial [B, D]
/// (an example keeps the point of the run that misclassified it, else its clean input).
/// Needs at least 4 classes (the targeted DLR loss).
pub fn apgd_targeted(
    model: &Classifier,
    x: Tensor<2>,
    labels: Tensor<1, Int>,
    targets: Option<usize>,
    cfg: &AttackConfig,
    mode: Mode,
) -> Tensor<2> {
    let x = x.detach().inner();
    let device = x.device();
    let labels = labels.to_device(&device);
    let clean = model.forward(x.clone(), mode).detach().inner(); // [B, K]
    let [_, k] = clean.dims();
    let targets = targets.unwrap_or(APGD_T_TARGETS).min(k - 1);
    // Classes by decreasing clean logit: rank 0 is the prediction (the label, for the
    // correctly classified examples an evaluation attacks), ranks 1.. the targets.
    let order = clean.clone().argsort_descending(1); // [B, K]
    let mut robust = correct_flags(clean, &labels);
    let mut adv = x.clone();
    for rank in 1..=targets {
        let rows = rows_where(&robust);
        if rows.is_empty() {
            break;
        }
        let idx = Tensor::<1, Int>::from_data(TensorData::new(rows.clone(), [rows.len()]), &device);
        let objective = Objective::DlrTargeted {
            y: labels.clone().select(0, idx.clone()),
            target: order
                .clone()
                .select(0, idx.clone())
                .narrow(1, rank, 1)
                .squeeze_dim::<1>(1),
        };
        let found = apgd(
            model,
            x.clone().select(0, idx.clone()),
            &objective,
            cfg,
            mode,
        );
        let logits = model.forward(found.clone(), mode).detach().inner();
        let fooled: Vec<bool> = objective
            .fooled(&logits)
            .into_data()
            .try_to_vec()
            .expect("bool data");
        adv = put_rows(adv, &rows, found, &fooled);
        for (&row, f) in rows.iter().zip(&fooled) {
            robust[row as usize] &= !f;
        }
    }
    adv
}

/// Whether each row of `logits` [B, K] predicts its label [B].
pub(crate) fn correct_flags(logits: Tensor<2>, labels: &Tensor<1, Int>) -> Vec<bool> {
    logits
        .argmax(1)
        .squeeze_dim::<1>(1)
        .equal(labels.clone())
        .into_data()
        .try_to_vec()
        .expect("bool data")
}
