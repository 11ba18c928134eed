//! PGD (Madry et al. 2018) and FGSM as its one-step case.

use super::{
    AttackConfig, Objective, input_gradient, keep_worst, project, random_start, score, steepest,
};
use crate::models::{Classifier, Mode};
use burn::prelude::*;

/// PGD: from a random (or the clean) start, `steps` ascent steps of size α along sign(∇)
/// (ℓ∞) or ∇/‖∇‖₂ (ℓ2), each projected onto the ε-ball ∩ [0, 1]. With `restarts` > 1 each
/// example keeps its worst run; with `early_stop` an example stops moving once misclassified.
/// x: [B, D] in [0, 1] -> adversarial [B, D] (inner device, detached).
pub fn pgd(
    model: &Classifier,
    x: Tensor<2>,
    objective: &Objective,
    cfg: &AttackConfig,
    mode: Mode,
) -> Tensor<2> {
    let x = x.detach().inner();
    let mut best: Option<(Tensor<2>, Tensor<1, Bool>, Tensor<1>)> = None;
    for _ in 0..cfg.restarts {
        let start = if cfg.random_start && cfg.eps > 0.0 {
            random_start(&x, cfg.norm, cfg.eps)
        } else {
            x.clone()
        };
        let x_adv = pgd_from(model, &x, start, objective, cfg, mode);
        if cfg.restarts == 1 {
            return x_adv;
        }
        let (fooled, values) = score(model, x_adv.clone(), objective, mode);
        let run = (x_adv, fooled, values);
        best = Some(match best {
            None => run,
            Some(b) => keep_worst(b, run),
        });
    }
    best.expect("at least one restart").0
}

/// One PGD run from `start` (a point of the ε-ball around `x`): `cfg.steps` steps of α,
/// each projected; `cfg.restarts` and `cfg.random_start` are the caller's business.
pub fn pgd_from(
    model: &Classifier,
    x: &Tensor<2>,
    start: Tensor<2>,
    objective: &Objective,
    cfg: &AttackConfig,
    mode: Mode,
) -> Tensor<2> {
    let alpha = cfg.alpha();
    let mut x_adv = start;
    for _ in 0..cfg.steps {
        let (g, _, logits) = input_gradient(model, x_adv.clone(), objective, mode);
        let mut step = steepest(g, cfg.norm) * alpha; // [B, D]
        if cfg.early_stop {
            let active = objective
                .fooled(&logits)
                .bool_not()
                .float()
                .unsqueeze_dim(1); // [B, 1]
            step = step * active;
        }
        x_adv = project(x, x_adv + step, cfg.norm, cfg.eps);
    }
    x_adv
}
