//! APGD-T (Croce & Hein 2020): APGD on the targeted DLR loss, once per target class. The
//! targets are the highest-scoring wrong classes at the clean input, in order, and each run
//! attacks only the examples no earlier run misclassified (the batch shrinks as points break).

use super::rounds::per_target;
use super::{AttackConfig, Objective, apgd};
use crate::models::{Classifier, Mode};
use burn::prelude::*;

/// Target classes AutoAttack's standard APGD-T tries (fewer when the model has fewer classes).
pub const APGD_T_TARGETS: usize = 9;

/// APGD-T towards [`APGD_T_TARGETS`] target classes, `cfg.steps` iterations and `cfg.restarts`
/// restarts per target. x: [B, D] in [0, 1], labels [B] -> adversarial [B, D]
/// (an example keeps the point of the run that misclassified it, else its clean input).
/// Needs at least 4 classes (the targeted DLR loss).
pub fn apgd_targeted(
    model: &Classifier,
    x: Tensor<2>,
    labels: Tensor<1, Int>,
    cfg: &AttackConfig,
    mode: Mode,
) -> Tensor<2> {
    per_target(model, x, labels, APGD_T_TARGETS, mode, |x, y, target| {
        let objective = Objective::DlrTargeted { y, target };
        let found = apgd(model, x, &objective, cfg, mode);
        let logits = model.forward(found.clone(), mode).detach().inner();
        let fooled = objective
            .fooled(&logits)
            .into_data()
            .try_to_vec()
            .expect("bool data");
        (found, fooled)
    })
}
