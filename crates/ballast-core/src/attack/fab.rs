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

use super::hyperplane::{Scratch, project_row};
use super::rounds::{per_restart, per_target};
use super::{AttackConfig, Norm, Objective, input_gradient, random_start, row_norms};
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

/// [`fab_minimal`] towards `towards`'s boundary, from `start` (None: x₀). The model's forward
/// and gradient run on the device; the projections and the step, row by row, on the host.
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
    let device = x0.device();
    let [n, d] = x0.dims();
    let labels = labels.to_device(&device);
    let fooling = Objective::CrossEntropy(labels.clone());
    let upload = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [n, d]), &device);
    let x0h = host_floats(x0);
    let mut x1h = start.map_or_else(|| x0h.clone(), host_floats);
    let mut best = x0h.clone();
    let mut best_dist = vec![f32::INFINITY; n];
    let (mut d1, mut d0) = (vec![0.0f32; d], vec![0.0f32; d]);
    let mut scratch = Scratch::default();
    let (eta, alpha_max, beta) = (FAB_ETA as f32, FAB_ALPHA_MAX as f32, FAB_BETA as f32);
    for _ in 0..cfg.steps {
        // The boundary's linearisation at x₁: g(x₁) + w·(z − x₁) = 0, w = ∇(z_t − z_y).
        let x1 = upload(&x1h);
        let (w, g) = match &towards {
            Boundary::Target(t) => {
                let gap = Objective::LogitGap {
                    y: labels.clone(),
                    target: t.clone(),
                };
                let (w, g, _) = input_gradient(model, x1, &gap, mode);
                (w, g)
            }
            Boundary::Closest { classes } => {
                closest_boundary(model, x1, &labels, *classes, cfg.norm, mode)
            }
        }; // [n, D], [n]
        let (w, g) = (host_floats(w), host_floats(g));
        for (j, x1j) in x1h.chunks_exact_mut(d).enumerate() {
            let (wj, x0j) = (&w[j * d..(j + 1) * d], &x0h[j * d..(j + 1) * d]);
            // Steps δ with w·δ = c: from x₁, c = −g(x₁); from x₀, c = w·(x₁ − x₀) − g(x₁).
            let moved: f64 = wj
                .iter()
                .zip(x1j.iter().zip(x0j))
                .map(|(&wi, (&a, &b))| f64::from(wi) * f64::from(a - b))
                .sum();
            project_row(wj, -g[j], x1j, cfg.norm, &mut d1, &mut scratch);
            project_row(
                wj,
                moved as f32 - g[j],
                x0j,
                cfg.norm,
                &mut d0,
                &mut scratch,
            );
            let (a1, a0) = (row_norm(&d1, cfg.norm), row_norm(&d0, cfg.norm));
            let alpha = (a1 / (a1 + a0 + 1e-12)).clamp(0.0, alpha_max);
            for i in 0..d {
                let from_x1 = x1j[i] + d1[i] * eta;
                let from_x0 = x0j[i] + d0[i] * eta;
                x1j[i] = (from_x1 * (1.0 - alpha) + from_x0 * alpha).clamp(0.0, 1.0);
            }
        }
        // Misclassified iterates: record the closest, then pull back towards x₀.
        let logits = model.forward(upload(&x1h), mode).detach().inner();
        let fooled: Vec<bool> = fooling
            .fooled(&logits)
            .into_data()
            .try_to_vec()
            .expect("bool data");
        for (j, x1j) in x1h.chunks_exact_mut(d).enumerate() {
            if !fooled[j] {
                continue;
            }
            let x0j = &x0h[j * d..(j + 1) * d];
            let step: Vec<f32> = x1j.iter().zip(x0j).map(|(&a, &b)| a - b).collect();
            let dist = row_norm(&step, cfg.norm);
            if dist < best_dist[j] {
                best_dist[j] = dist;
                best[j * d..(j + 1) * d].copy_from_slice(x1j);
            }
            for ((v, &o), &s) in x1j.iter_mut().zip(x0j).zip(&step) {
                *v = o + s * beta;
            }
        }
    }
    (upload(&best), best_dist)
}

/// A tensor's values on the host, row-major.
fn host_floats<const N: usize>(t: Tensor<N>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 data")
}

/// ‖v‖∞ or ‖v‖₂.
fn row_norm(v: &[f32], norm: Norm) -> f32 {
    match norm {
        Norm::Linf => v.iter().fold(0.0f32, |m, &a| m.max(a.abs())),
        Norm::L2 => v
            .iter()
            .map(|&a| f64::from(a) * f64::from(a))
            .sum::<f64>()
            .sqrt() as f32,
    }
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

/// The least-norm step δ [n, D] from the points `x` [n, D] in [0, 1] with w·δ = c [n] inside the
/// box (0 ≤ x + δ ≤ 1), row by row; where the box cannot reach c, the step of the box that
/// comes closest (see [`super::hyperplane`]; computed on the host).
pub fn project_onto_hyperplane(w: Tensor<2>, c: Tensor<1>, x: Tensor<2>, norm: Norm) -> Tensor<2> {
    let device = x.device();
    let [n, d] = w.dims();
    let (w, c, x) = (host_floats(w), host_floats(c), host_floats(x));
    let mut delta = vec![0.0f32; n * d];
    let mut scratch = Scratch::default();
    for (j, row) in delta.chunks_exact_mut(d).enumerate() {
        let span = j * d..(j + 1) * d;
        project_row(&w[span.clone()], c[j], &x[span], norm, row, &mut scratch);
    }
    Tensor::from_data(TensorData::new(delta, [n, d]), &device)
}
