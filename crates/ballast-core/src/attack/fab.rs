//! FAB (Croce & Hein 2020, "Minimally distorted adversarial examples with a fast adaptive
//! boundary attack"), ℓ∞ and ℓ2: FAB-T, targeted, and the untargeted FAB of AutoAttack's "plus"
//! suite. For a target class t (untargeted: at each iteration the class whose linearised
//! boundary is closest), each iteration linearises the
//! boundary z_t = z_y at the current point x₁ and projects both x₁ and the original x₀ onto
//! that hyperplane inside the box [0, 1] (least ℓp norm, exactly); it then steps to a convex
//! combination of the two projections (weight α on x₀'s, at most α_max, with overshoot η).
//! Whenever the point is misclassified it is recorded if closer than the best so far and pulled
//! back towards x₀ (x₀ + β·(x₁ − x₀)). FAB searches for the smallest perturbation; an example
//! counts as broken at radius ε when the closest misclassified point found is within ε.

use super::rounds::{per_restart, per_target};
use super::{AttackConfig, Norm, Objective, input_gradient, random_start, row_mask, row_norms};
use crate::models::{Classifier, Mode};
use burn::prelude::*;

/// Target classes AutoAttack's standard FAB-T tries (fewer when the model has fewer classes).
pub const FAB_T_TARGETS: usize = 9;
/// Largest weight of the original point's projection in a step.
pub const FAB_ALPHA_MAX: f64 = 0.1;
/// Overshoot of each projection.
pub const FAB_ETA: f64 = 1.05;
/// Pull-back towards the original point after a misclassified iterate.
pub const FAB_BETA: f64 = 0.9;

/// FAB-T at radius `cfg.eps` with `cfg.steps` iterations per target, each target run only on
/// the examples no earlier target broke. x: [B, D] in [0, 1], labels [B] -> [B, D]: the
/// closest misclassified point found where it lies within ε, else the clean input.
pub fn fab_targeted(
    model: &Classifier,
    x: Tensor<2>,
    labels: Tensor<1, Int>,
    cfg: &AttackConfig,
    mode: Mode,
) -> Tensor<2> {
    per_target(model, x, labels, FAB_T_TARGETS, mode, |x, y, target| {
        let (found, dist) = fab_minimal(model, x, y, target, cfg, mode);
        let within = dist.iter().map(|&d| d <= cfg.eps as f32).collect();
        (found, within)
    })
}

/// Untargeted FAB at radius `cfg.eps`, `cfg.steps` iterations per restart: the first restart
/// starts at the clean input, later ones at a random point of the ε/2-ball (as AutoAttack), each
/// on the examples no earlier restart broke. x: [B, D] in [0, 1], labels [B] -> [B, D]: the
/// closest misclassified point found where it lies within ε, else the clean input.
pub fn fab_untargeted(
    model: &Classifier,
    x: Tensor<2>,
    labels: Tensor<1, Int>,
    cfg: &AttackConfig,
    mode: Mode,
) -> Tensor<2> {
    let classes = model.forward(x.clone().narrow(0, 0, 1), mode).dims()[1];
    per_restart(model, x, labels, cfg.restarts, mode, |restart, x, y| {
        let start = (restart > 0).then(|| random_start(&x, cfg.norm, 0.5 * cfg.eps));
        let towards = Boundary::Closest { classes };
        let (found, dist) = fab_search(model, x, y, towards, start, cfg, mode);
        let within = dist.iter().map(|&d| d <= cfg.eps as f32).collect();
        (found, within)
    })
}

/// One FAB run towards `target` [n] for x₀ [n, D] with labels [n], `cfg.steps` iterations in
/// `cfg.norm` (ε is not used). Returns the closest misclassified points found [n, D] (x₀ where
/// none) and their distances to x₀ [n] (∞ where none).
pub fn fab_minimal(
    model: &Classifier,
    x0: Tensor<2>,
    labels: Tensor<1, Int>,
    target: Tensor<1, Int>,
    cfg: &AttackConfig,
    mode: Mode,
) -> (Tensor<2>, Vec<f32>) {
    fab_search(model, x0, labels, Boundary::Target(target), None, cfg, mode)
}

/// Which boundary a FAB run linearises at each iterate.
enum Boundary {
    /// z_t = z_y for the target t [n].
    Target(Tensor<1, Int>),
    /// The closest (in the dual norm) of the model's `classes` − 1 boundaries z_t = z_y.
    Closest { classes: usize },
}

/// [`fab_minimal`] towards `towards`'s boundary, from `start` (None: x₀).
fn fab_search(
    model: &Classifier,
    x0: Tensor<2>,
    labels: Tensor<1, Int>,
    towards: Boundary,
    start: Option<Tensor<2>>,
    cfg: &AttackConfig,
    mode: Mode,
) -> (Tensor<2>, Vec<f32>) {
    let x0 = x0.detach().inner();
    let [n, d] = x0.dims();
    let labels = labels.to_device(&x0.device());
    let fooling = Objective::CrossEntropy(labels.clone());
    let norm_of = |t: Tensor<2>| match cfg.norm {
        Norm::Linf => t.abs().max_dim(1), // [n, 1]
        Norm::L2 => row_norms(t),
    };
    let mut x1 = start.unwrap_or_else(|| x0.clone());
    let mut best = x0.clone();
    let mut best_dist = vec![f32::INFINITY; n];
    for _ in 0..cfg.steps {
        // The boundary's linearisation at x₁: g(x₁) + w·(z − x₁) = 0, w = ∇(z_t − z_y).
        let (w, g) = match &towards {
            Boundary::Target(t) => {
                let gap = Objective::LogitGap {
                    y: labels.clone(),
                    target: t.clone(),
                };
                let (w, g, _) = input_gradient(model, x1.clone(), &gap, mode);
                (w, g)
            }
            Boundary::Closest { classes } => {
                closest_boundary(model, x1.clone(), &labels, *classes, cfg.norm, mode)
            }
        }; // [n, D], [n]
        let dot = |z: Tensor<2>| (w.clone() * z).sum_dim(1).squeeze_dim::<1>(1); // [n]
        // Steps δ with w·δ = c: from x₁, c = −g(x₁); from x₀, c = w·(x₁ − x₀) − g(x₁).
        let c1 = g.clone().neg();
        let c0 = dot(x1.clone() - x0.clone()) - g;
        let steps = project_onto_hyperplane(
            Tensor::cat(vec![w.clone(), w], 0),
            Tensor::cat(vec![c1, c0], 0),
            Tensor::cat(vec![x1.clone(), x0.clone()], 0),
            cfg.norm,
        ); // [2n, D]
        let d1 = steps.clone().narrow(0, 0, n);
        let d0 = steps.narrow(0, n, n);
        let (a1, a0) = (norm_of(d1.clone()), norm_of(d0.clone()));
        let alpha = (a1.clone() / (a1 + a0 + 1e-12)).clamp(0.0, FAB_ALPHA_MAX); // [n, 1]
        let alpha = alpha.expand([n, d]);
        x1 = ((x1 + d1 * FAB_ETA) * (alpha.clone().neg() + 1.0)
            + (x0.clone() + d0 * FAB_ETA) * alpha)
            .clamp(0.0, 1.0);
        // Misclassified iterates: record the closest, then pull back towards x₀.
        let logits = model.forward(x1.clone(), mode).detach().inner();
        let fooled: Vec<bool> = fooling
            .fooled(&logits)
            .into_data()
            .try_to_vec()
            .expect("bool data");
        if !fooled.iter().any(|&f| f) {
            continue;
        }
        let dist: Vec<f32> = norm_of(x1.clone() - x0.clone())
            .try_to_vec_as::<f32>()
            .expect("f32 data");
        let closer: Vec<bool> = (0..n)
            .map(|j| fooled[j] && dist[j] < best_dist[j])
            .collect();
        for j in 0..n {
            if closer[j] {
                best_dist[j] = dist[j];
            }
        }
        best = best.mask_where(row_mask(&closer, d, &x0.device()), x1.clone());
        let pulled = x0.clone() + (x1.clone() - x0.clone()) * FAB_BETA;
        x1 = x1.mask_where(row_mask(&fooled, d, &x0.device()), pulled);
    }
    (best, best_dist)
}

/// The linearised boundary z_t − z_y closest to x [n, D] in the dual norm over the classes
/// t ≠ y of the model's K: its gradient w [n, D] and value g [n] (one backward pass over K
/// copies of the batch).
fn closest_boundary(
    model: &Classifier,
    x: Tensor<2>,
    labels: &Tensor<1, Int>,
    k: usize,
    norm: Norm,
    mode: Mode,
) -> (Tensor<2>, Tensor<1>) {
    let [n, _] = x.dims();
    let device = x.device();
    let ys = Tensor::cat(vec![labels.clone(); k], 0); // [K·n]
    let targets = Tensor::<1, Int>::arange(0..k as i64, &device)
        .reshape([k, 1])
        .expand([k, n])
        .reshape([k * n]);
    let gap = Objective::LogitGap {
        y: ys.clone(),
        target: targets.clone(),
    };
    let (w, g, _) = input_gradient(model, Tensor::cat(vec![x; k], 0), &gap, mode);
    let dual = match norm {
        Norm::Linf => w.clone().abs().sum_dim(1),
        Norm::L2 => row_norms(w.clone()),
    }
    .squeeze_dim::<1>(1);
    let dist = (g.clone().abs() / (dual + 1e-12)).mask_fill(targets.equal(ys), f32::INFINITY);
    let closest = dist.reshape([k, n]).argmin(0).reshape([n]); // class index per example
    let rows = closest * n as i64 + Tensor::<1, Int>::arange(0..n as i64, &device);
    (w.select(0, rows.clone()), g.select(0, rows))
}

/// The least-norm step δ [n, D] from the points `x` [n, D] in [0, 1] with w·δ = c inside the
/// box (0 ≤ x + δ ≤ 1), row by row; where the box cannot reach c, the step of the box that
/// comes closest. Coordinate i moves in the direction s_i = sign(c·w_i) by at most its room
/// b_i (1 − x_i or x_i): ℓ∞ moves every coordinate by min(τ, b_i), ℓ2 by min(τ·|w_i|, b_i),
/// with the least τ that reaches |c| — found exactly by sorting the breakpoints.
pub fn project_onto_hyperplane(w: Tensor<2>, c: Tensor<1>, x: Tensor<2>, norm: Norm) -> Tensor<2> {
    let [n, d] = w.dims();
    let w_s = w * c.clone().sign().unsqueeze_dim::<2>(1).expand([n, d]); // points along c
    let s = w_s.clone().sign();
    let a = w_s.abs(); // |w_i|
    let room = (x.clone().neg() + 1.0).mask_where(s.clone().lower_elem(0.0), x); // b_i
    // Σ_i u_i·min(τ, r_i) = |c| with (ℓ∞) u = a, r = b; (ℓ2) u = a², r = b / a.
    let (u, r) = match norm {
        Norm::Linf => (a.clone(), room.clone()),
        Norm::L2 => (
            a.clone().powi_scalar(2),
            (room.clone() / a.clone().clamp_min(1e-30)).mask_fill(a.clone().equal_elem(0.0), 0.0),
        ),
    };
    let tau = water_level(u, r, c.abs()).expand([n, d]); // [n, D]
    let moved = match norm {
        Norm::Linf => tau,
        Norm::L2 => tau * a,
    };
    s * moved.min_pair(room)
}

/// τ [n, 1] with Σ_i u_i·min(τ, r_i) = c per row (u, r ≥ 0 [n, D], c ≥ 0 [n]); max_i r_i where
/// even that falls short. The left side is piecewise linear and non-decreasing in τ with
/// breakpoints r_i: sorted, its value at every breakpoint comes from prefix sums, and τ lies on
/// the first segment that reaches c.
fn water_level(u: Tensor<2>, r: Tensor<2>, c: Tensor<1>) -> Tensor<2> {
    let [n, d] = u.dims();
    let (r_sorted, order) = r.sort_with_indices(1); // ascending
    let u_sorted = u.gather(1, order);
    let ur = u_sorted.clone() * r_sorted.clone();
    let ur_before = ur.clone().cumsum(1) - ur; // Σ_{j<k} u_j r_j
    let u_from =
        u_sorted.clone().sum_dim(1).expand([n, d]) - (u_sorted.clone().cumsum(1) - u_sorted); // Σ_{j≥k} u_j
    let at_breakpoint = ur_before.clone() + r_sorted.clone() * u_from.clone(); // F(r_k)
    let c = c.unsqueeze_dim::<2>(1); // [n, 1]
    let short = at_breakpoint
        .lower(c.clone().expand([n, d]))
        .int()
        .sum_dim(1); // [n, 1]
    let segment = short.clone().clamp_max(d as i64 - 1);
    let tau =
        (c - ur_before.gather(1, segment.clone())) / u_from.gather(1, segment).clamp_min(1e-30);
    let top = r_sorted.narrow(1, d - 1, 1);
    tau.mask_where(short.greater_equal_elem(d as i64), top)
}
