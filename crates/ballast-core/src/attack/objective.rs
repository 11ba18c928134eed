//! What an attack maximises, per example.

use crate::loss::cross_entropy;
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};

/// The per-example function an attack ascends.
#[derive(Clone, Debug)]
pub enum Objective {
    /// Cross-entropy with the true labels [B].
    CrossEntropy(Tensor<1, Int>),
    /// Croce & Hein's difference of logits ratio with the true labels [B].
    Dlr(Tensor<1, Int>),
    /// The targeted DLR loss of APGD-T: true labels `y` [B], target classes `target` [B].
    DlrTargeted {
        y: Tensor<1, Int>,
        target: Tensor<1, Int>,
    },
    /// z_target − z_y: positive once the target class beats the true one (FAB-T's boundary).
    LogitGap {
        y: Tensor<1, Int>,
        target: Tensor<1, Int>,
    },
    /// Mixup: lam·CE(y_a) + (1 − lam)·CE(y_b).
    Mixup {
        a: Tensor<1, Int>,
        b: Tensor<1, Int>,
        lam: f64,
    },
    /// TRADES: KL(p_clean ‖ softmax(logits)), with the clean probabilities [B, K] fixed.
    Kl(Tensor<2>),
}

impl Objective {
    /// [B, K] logits -> [B].
    pub fn per_example(&self, logits: Tensor<2>) -> Tensor<1> {
        let device = logits.device();
        match self {
            Objective::CrossEntropy(y) => cross_entropy(logits, y.clone().to_device(&device)),
            Objective::Dlr(y) => dlr_loss(logits, y.clone().to_device(&device)),
            Objective::DlrTargeted { y, target } => dlr_targeted_loss(
                logits,
                y.clone().to_device(&device),
                target.clone().to_device(&device),
            ),
            Objective::LogitGap { y, target } => {
                logit_of(logits.clone(), target.clone().to_device(&device))
                    - logit_of(logits, y.clone().to_device(&device))
            }
            Objective::Mixup { a, b, lam } => {
                cross_entropy(logits.clone(), a.clone().to_device(&device)) * *lam
                    + cross_entropy(logits, b.clone().to_device(&device)) * (1.0 - lam)
            }
            Objective::Kl(p) => {
                let p = p.clone().to_device(&device);
                let log_p = p.clone().clamp_min(1e-12).log();
                (p * (log_p - log_softmax(logits, 1)))
                    .sum_dim(1)
                    .squeeze_dim(1)
            }
        }
    }

    /// The labels an example is misclassified against, if the objective has labels.
    pub fn labels(&self) -> Option<&Tensor<1, Int>> {
        match self {
            Objective::CrossEntropy(y)
            | Objective::Dlr(y)
            | Objective::DlrTargeted { y, target: _ }
            | Objective::LogitGap { y, target: _ } => Some(y),
            _ => None,
        }
    }

    /// Whether each example is misclassified ([B], all false without labels).
    pub fn fooled(&self, logits: &Tensor<2>) -> Tensor<1, Bool> {
        let [b, _] = logits.dims();
        match self.labels() {
            Some(y) => {
                let device = logits.device();
                let pred = logits.clone().argmax(1).squeeze_dim::<1>(1);
                pred.not_equal(y.clone().to_device(&device))
            }
            None => Tensor::<1, Int>::zeros([b], &logits.device()).bool(),
        }
    }

    /// The DLR objective with the same labels.
    pub fn as_dlr(&self) -> Option<Objective> {
        self.labels().map(|y| Objective::Dlr(y.clone()))
    }

    /// The KL objective of TRADES around the clean logits.
    pub fn trades(clean_logits: Tensor<2>) -> Self {
        Objective::Kl(softmax(clean_logits.detach(), 1))
    }
}

/// DLR(z, y) = −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3 + 1e-12), z sorted decreasingly as
/// z_π1 ≥ z_π2 ≥ …: [B, K] (K ≥ 3), [B] -> [B]. Invariant to shifting and scaling the logits.
pub fn dlr_loss(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [_, k] = logits.dims();
    assert!(k >= 3, "the DLR loss needs at least 3 classes, got {k}");
    let sorted = logits.clone().sort_descending(1); // [B, K]
    let top1 = sorted.clone().narrow(1, 0, 1).squeeze_dim::<1>(1);
    let top3 = sorted.narrow(1, 2, 1).squeeze_dim::<1>(1);
    let z_y = logits
        .clone()
        .gather(1, labels.clone().unsqueeze_dim(1))
        .squeeze_dim::<1>(1);
    // max over the other classes: push the true class far down first.
    let mask = labels.one_hot::<2>(k).bool().to_device(&logits.device());
    let others = logits.mask_fill(mask, -1e9).max_dim(1).squeeze_dim::<1>(1);
    (z_y - others).neg() / (top1 - top3 + 1e-12)
}

/// The class logit z_c of every row: [B, K], [B] -> [B].
fn logit_of(logits: Tensor<2>, class: Tensor<1, Int>) -> Tensor<1> {
    logits.gather(1, class.unsqueeze_dim(1)).squeeze_dim::<1>(1)
}

/// Targeted DLR(z, y, t) = −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e-12), z sorted
/// decreasingly: [B, K] (K ≥ 4), [B], [B] -> [B]. Ascending it pushes the target class t above
/// the true class y; invariant to shifting and scaling the logits.
pub fn dlr_targeted_loss(
    logits: Tensor<2>,
    labels: Tensor<1, Int>,
    target: Tensor<1, Int>,
) -> Tensor<1> {
    let [_, k] = logits.dims();
    assert!(
        k >= 4,
        "the targeted DLR loss needs at least 4 classes, got {k}"
    );
    let sorted = logits.clone().sort_descending(1); // [B, K]
    let top = |i: usize| sorted.clone().narrow(1, i, 1).squeeze_dim::<1>(1);
    let scale = top(0) - (top(2) + top(3)) * 0.5 + 1e-12;
    let z_y = logit_of(logits.clone(), labels);
    let z_t = logit_of(logits, target);
    (z_y - z_t).neg() / scale
}

/// The margin z_y − max_{j≠y} z_j of the true class (negative = misclassified): the loss
/// Square minimises. [B, K], [B] -> [B].
pub fn margin(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [_, k] = logits.dims();
    let mask = labels
        .clone()
        .one_hot::<2>(k)
        .bool()
        .to_device(&logits.device());
    let z_y = logit_of(logits.clone(), labels);
    let others = logits
        .mask_fill(mask, f32::NEG_INFINITY)
        .max_dim(1)
        .squeeze_dim::<1>(1);
    z_y - others
}
