//! APGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble
//! of diverse parameter-free attacks"): PGD with momentum 0.75 and a per-example step size
//! that starts at 2ε and halves at checkpoints where the objective stopped improving, each
//! halving restarting from the example's best point. Against a randomised model each iterate's
//! gradient and objective are means over `cfg.eot_draws` forward + backward passes (EOT, as
//! AutoAttack's `eot_iter`): [`eot_input_gradient`].

use super::{
    AttackConfig, Objective, eot_input_gradient, keep_worst, project, random_start, row_mask,
    score, steepest,
};
use crate::models::{Classifier, Mode};
use burn::prelude::*;

/// Iterations at which the step size may be halved: ⌈p_j·N⌉ with p_0 = 0, p_1 = 0.22,
/// p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06).
pub fn checkpoints(steps: usize) -> Vec<usize> {
    let mut p = vec![0.0f64, 0.22];
    while *p.last().unwrap() < 1.0 {
        let j = p.len() - 1;
        let next = p[j] + (p[j] - p[j - 1] - 0.03).max(0.06);
        p.push(next);
    }
    let mut w: Vec<usize> = p
        .iter()
        .map(|q| (q * steps as f64 - 1e-9).ceil() as usize)
        .filter(|&w| w > 0 && w <= steps)
        .collect();
    w.dedup();
    w
}

/// APGD on `objective` (CE, or DLR for APGD-DLR), `cfg.steps` iterations per restart, each
/// iterate's gradient and objective averaged over `cfg.eot_draws` passes.
/// x: [B, D] in [0, 1] -> adversarial [B, D]: the first misclassifying point of an example,
/// else its highest-objective point.
pub fn apgd(
    model: &Classifier,
    x: Tensor<2>,
    objective: &Objective,
    cfg: &AttackConfig,
    mode: Mode,
) -> Tensor<2> {
    let x = x.detach().inner();
    let mut best: Option<(Tensor<2>, Tensor<1, Bool>, Tensor<1>)> = None;
    for _ in 0..cfg.restarts {
        let run = apgd_run(model, &x, objective, cfg, mode);
        best = Some(match best {
            None => run,
            Some(b) => keep_worst(b, run),
        });
    }
    best.expect("at least one restart").0
}

fn to_vec(t: Tensor<1>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 data")
}

fn apgd_run(
    model: &Classifier,
    x: &Tensor<2>,
    objective: &Objective,
    cfg: &AttackConfig,
    mode: Mode,
) -> (Tensor<2>, Tensor<1, Bool>, Tensor<1>) {
    let device = x.device();
    let [b, _] = x.dims();
    let (norm, eps, n_iter) = (cfg.norm, cfg.eps, cfg.steps);
    let marks = checkpoints(n_iter);
    let mut x_adv = if eps > 0.0 {
        random_start(x, norm, eps)
    } else {
        x.clone()
    };
    let (mut grad, values, logits) =
        eot_input_gradient(model, x_adv.clone(), objective, mode, cfg.eot_draws);
    // Per-example state: step size η (starts at 2ε), best objective and its point.
    let mut eta = vec![2.0 * eps as f32; b];
    let mut f_best = to_vec(values.clone());
    let mut x_best = x_adv.clone();
    let mut grad_best = grad.clone();
    let mut fooled = objective.fooled(&logits);
    let mut x_fool = x_adv.clone(); // first misclassifying point (x_adv where never fooled)
    let mut f_prev = f_best.clone();
    let mut increases = vec![0usize; b];
    let mut f_best_at_mark = f_best.clone();
    let mut halved_at_mark = vec![false; b];
    let mut last_mark = 0usize;
    let mut x_prev = x_adv.clone();
    for k in 0..n_iter {
        let eta_t = Tensor::<1>::from_data(TensorData::new(eta.clone(), [b]), &device)
            .unsqueeze_dim::<2>(1); // [B, 1]
        let z = project(x, x_adv.clone() + steepest(grad, norm) * eta_t, norm, eps);
        let next = if k == 0 {
            z
        } else {
            // Momentum: x + 0.75·(z − x) + 0.25·(x − x_prev), projected again.
            let mixed = x_adv.clone()
                + (z - x_adv.clone()) * 0.75
                + (x_adv.clone() - x_prev.clone()) * 0.25;
            project(x, mixed, norm, eps)
        };
        x_prev = x_adv;
        x_adv = next;
        let (g, values, logits) =
            eot_input_gradient(model, x_adv.clone(), objective, mode, cfg.eot_draws);
        grad = g;
        // Keep the first point at which each example is misclassified.
        let now_fooled = objective.fooled(&logits);
        let newly = now_fooled.clone().bool_and(fooled.clone().bool_not());
        x_fool = x_fool.mask_where(
            newly.unsqueeze_dim::<2>(1).expand([b, x.dims()[1]]),
            x_adv.clone(),
        );
        fooled = fooled.bool_or(now_fooled);
        // Best objective so far.
        let f = to_vec(values);
        let improved: Vec<bool> = f.iter().zip(&f_best).map(|(a, b)| a > b).collect();
        for i in 0..b {
            if f[i] > f_prev[i] {
                increases[i] += 1;
            }
            if improved[i] {
                f_best[i] = f[i];
            }
        }
        f_prev = f;
        let mask = row_mask(&improved, x.dims()[1], &device);
        x_best = x_best.mask_where(mask.clone(), x_adv.clone());
        grad_best = grad_best.mask_where(mask, grad.clone());
        // Checkpoint: halve η where the objective rose in fewer than 75 % of the steps since
        // the last checkpoint, or where η was not halved last time and the best did not move.
        if marks.contains(&(k + 1)) {
            let span = (k + 1 - last_mark) as f64;
            let mut halve = vec![false; b];
            for i in 0..b {
                let oscillating = (increases[i] as f64) < 0.75 * span;
                let stalled = !halved_at_mark[i] && f_best_at_mark[i] >= f_best[i];
                halve[i] = oscillating || stalled;
                if halve[i] {
                    eta[i] *= 0.5;
                }
                increases[i] = 0;
            }
            f_best_at_mark = f_best.clone();
            halved_at_mark = halve.clone();
            last_mark = k + 1;
            if halve.iter().any(|&h| h) {
                let h = row_mask(&halve, x.dims()[1], &device);
                x_adv = x_adv.mask_where(h.clone(), x_best.clone());
                grad = grad.mask_where(h, grad_best.clone());
            }
        }
    }
    let fooled_2 = fooled.unsqueeze_dim::<2>(1).expand([b, x.dims()[1]]);
    let out = x_best.mask_where(fooled_2, x_fool);
    // The objective at the returned points, which restarts compare.
    let (fooled, values) = score(model, out.clone(), objective, mode);
    (out, fooled, values)
}
