//! Square (Andriushchenko et al. 2020, "Square Attack: a query-efficient black-box
//! adversarial attack via random search"), ℓ∞ (ℓ2: [`super::square_l2`]): random search over
//! square windows, using the model's outputs only (no gradients). Each example starts at
//! vertical stripes of ±ε; each query sets one random square window of one example to x ± ε (a
//! random sign per channel) and keeps it when the margin z_y − max_{j≠y} z_j falls. The window's area follows the paper's
//! schedule, from p_init of the image down to p_init/512. Examples stop querying once
//! misclassified (the batch shrinks as points break).

use super::rounds::per_restart;
use super::square_l2::square_l2;
use super::{AttackConfig, Norm, correct_flags, margin, put_rows, row_mask};
use crate::models::{Classifier, Mode};
use burn::prelude::*;
use burn::tensor::Distribution;

/// The initial fraction of the image a window covers (AutoAttack's standard ℓ∞ setting).
pub const SQUARE_P_INIT: f64 = 0.8;

/// The fraction of the image a window covers at query `i` of `queries`: p_init halved at 10,
/// 50, 200, 500, 1 000, 2 000, 4 000, 6 000 and 8 000 queries of a 10 000-query budget
/// (rescaled to `queries`).
pub fn window_fraction(p_init: f64, i: usize, queries: usize) -> f64 {
    let at = (i as f64 / queries.max(1) as f64 * 10_000.0) as usize;
    let halvings = [10, 50, 200, 500, 1_000, 2_000, 4_000, 6_000, 8_000]
        .iter()
        .filter(|&&t| at > t)
        .count();
    p_init / f64::from(1u32 << halvings)
}

/// Side s of a square covering `fraction` of an h×w image: round(√(fraction·h·w)), at least 1
/// and at most min(h, w) − 1 (so a window never covers a whole side; a one-pixel-high strip,
/// e.g. a vector input [1, 1, D], allows up to D − 1).
pub fn window_side(fraction: f64, h: usize, w: usize) -> usize {
    let s = (fraction * (h * w) as f64).sqrt().round() as usize;
    let cap = if h.min(w) > 1 {
        h.min(w) - 1
    } else {
        h.max(w).saturating_sub(1)
    };
    s.clamp(1, cap.max(1))
}

/// Square with `cfg.steps` queries per example (after the initial one) at radius `cfg.eps`,
/// `cfg.restarts` times (each restart a fresh random search on the examples still robust): the
/// ℓ∞ search below, or [`square_l2`] for `Norm::L2`. x: [B, D] in [0, 1] (the model's image
/// [C, H, W] flattened), labels [B] -> adversarial [B, D]: with one restart the lowest-margin
/// point found (the first misclassifying one for broken examples); with several, each broken
/// example's first misclassifying point, else its clean input.
pub fn square(
    model: &Classifier,
    x: Tensor<2>,
    labels: Tensor<1, Int>,
    cfg: &AttackConfig,
    mode: Mode,
) -> Tensor<2> {
    let [c, h, w] = model.image_shape();
    let [b, d] = x.dims();
    assert_eq!(
        c * h * w,
        d,
        "square: the inputs are not the model's images"
    );
    if cfg.eps == 0.0 || b == 0 {
        return x.detach().inner();
    }
    let search = |x: Tensor<2>, y: Tensor<1, Int>| match cfg.norm {
        Norm::Linf => square_linf(model, x, y, cfg, mode),
        Norm::L2 => square_l2(model, x, y, cfg, mode),
    };
    if cfg.restarts <= 1 {
        return search(x, labels);
    }
    per_restart(model, x, labels, cfg.restarts, mode, |_, x, y| {
        let found = search(x, y.clone());
        let still = correct_flags(model.forward(found.clone(), mode).detach().inner(), &y);
        (found, still.iter().map(|&c| !c).collect())
    })
}

/// One Square ℓ∞ search (see the module's doc); ε > 0, B > 0, x: [B, C·H·W].
fn square_linf(
    model: &Classifier,
    x: Tensor<2>,
    labels: Tensor<1, Int>,
    cfg: &AttackConfig,
    mode: Mode,
) -> Tensor<2> {
    let x = x.detach().inner();
    let device = x.device();
    let labels = labels.to_device(&device);
    let [b, d] = x.dims();
    let [c, h, w] = model.image_shape();
    let eps = cfg.eps;
    let margins = |xs: Tensor<2>, ys: Tensor<1, Int>| -> Vec<f32> {
        let m = margin(model.forward(xs, mode).detach().inner(), ys);
        m.try_to_vec_as::<f32>().expect("f32 data")
    };
    // Vertical stripes: one sign per (example, channel, column).
    let stripes = signs([b, c, 1, w], &device)
        .expand([b, c, h, w])
        .reshape([b, d]);
    let mut best = (x.clone() + stripes * eps).clamp(0.0, 1.0);
    let mut best_margin = margins(best.clone(), labels.clone());
    let rows_h = index_grid(h, &device).reshape([1, 1, h, 1]);
    let cols_w = index_grid(w, &device).reshape([1, 1, 1, w]);
    // The examples still correctly classified, and their inputs, best points and labels; the
    // set is compacted only when some of them break.
    let mut working = Active::of(&best_margin, &x, &best, &labels, eps);
    for i in 0..cfg.steps {
        let Some(active) = working.as_mut() else {
            break;
        };
        let n = active.rows.len();
        let s = window_side(window_fraction(SQUARE_P_INIT, i, cfg.steps), h, w);
        let (sh, sw) = (s.min(h), s.min(w));
        // One window per example: top-left corner uniform over the valid positions.
        let corner = |span: usize| {
            crate::host_rng::float([n, 1, 1, 1], Distribution::Uniform(0.0, 1.0), &device)
                .mul_scalar((span + 1) as f64)
                .floor()
                .clamp_max(span as f64)
        };
        let (top, left) = (corner(h - sh), corner(w - sw));
        let inside = |grid: Tensor<4>, start: Tensor<4>, side: usize, shape: [usize; 4]| {
            let grid = grid.expand(shape);
            let start = start.expand(shape);
            // 1 where start ≤ grid < start + side (integer-valued floats).
            (grid.clone() - start.clone() + 1.0).clamp(0.0, 1.0)
                * (start + side as f64 - grid).clamp(0.0, 1.0)
        };
        let window = inside(rows_h.clone(), top, sh, [n, 1, h, 1]).expand([n, c, h, w])
            * inside(cols_w.clone(), left, sw, [n, 1, 1, w]).expand([n, c, h, w]);
        let window = window.reshape([n, d]);
        let sign = signs([n, c, 1, 1], &device)
            .expand([n, c, h, w])
            .reshape([n, d]);
        let candidate = |sign: Tensor<2>| {
            let moved = active.best.clone() + window.clone() * sign * (2.0 * eps);
            moved
                .max_pair(active.lo.clone())
                .min_pair(active.hi.clone())
        };
        // A window already at those signs changes nothing: take the opposite signs there.
        let first = candidate(sign.clone());
        let unchanged = (first.clone() - active.best.clone())
            .abs()
            .max_dim(1)
            .lower_equal_elem(1e-7)
            .expand([n, d]);
        let proposal = first.mask_where(unchanged, candidate(sign.neg()));
        let proposed = margins(proposal.clone(), active.labels.clone());
        let better: Vec<bool> = proposed
            .iter()
            .zip(&active.margin)
            .map(|(new, old)| new < old)
            .collect();
        if !better.iter().any(|&b| b) {
            continue;
        }
        active.best = active
            .best
            .clone()
            .mask_where(row_mask(&better, d, &device), proposal);
        for (j, &take) in better.iter().enumerate() {
            if take {
                active.margin[j] = proposed[j];
            }
        }
        if active.margin.iter().any(|&m| m <= 0.0) {
            // Write the working points back and keep attacking only the robust ones.
            best = active.write_back(best, &mut best_margin);
            working = Active::of(&best_margin, &x, &best, &labels, eps);
        }
    }
    match working {
        Some(active) => active.write_back(best, &mut best_margin),
        None => best,
    }
}

/// Square's working set: the examples still correctly classified (margin > 0).
struct Active {
    /// Their rows in the batch.
    rows: Vec<i32>,
    /// [n, D] best points so far.
    best: Tensor<2>,
    /// [n, D] the ε-ball ∩ [0, 1] around their inputs.
    lo: Tensor<2>,
    hi: Tensor<2>,
    /// [n]
    labels: Tensor<1, Int>,
    /// Their best margins (host).
    margin: Vec<f32>,
}

impl Active {
    /// The working set of the examples with a positive margin (None when there are none).
    fn of(
        margin: &[f32],
        x: &Tensor<2>,
        best: &Tensor<2>,
        labels: &Tensor<1, Int>,
        eps: f64,
    ) -> Option<Self> {
        let rows: Vec<i32> = (0..margin.len() as i32)
            .filter(|&r| margin[r as usize] > 0.0)
            .collect();
        if rows.is_empty() {
            return None;
        }
        let device = x.device();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(rows.clone(), [rows.len()]), &device);
        let x_n = x.clone().select(0, idx.clone());
        Some(Self {
            best: best.clone().select(0, idx.clone()),
            lo: (x_n.clone() - eps).clamp_min(0.0),
            hi: (x_n + eps).clamp_max(1.0),
            labels: labels.clone().select(0, idx),
            margin: rows.iter().map(|&r| margin[r as usize]).collect(),
            rows,
        })
    }

    /// `best` [B, D] and the batch's margins with the working set's points and margins in.
    fn write_back(&self, best: Tensor<2>, margin: &mut [f32]) -> Tensor<2> {
        for (&r, &m) in self.rows.iter().zip(&self.margin) {
            margin[r as usize] = m;
        }
        let everyone = vec![true; self.rows.len()];
        put_rows(best, &self.rows, self.best.clone(), &everyone)
    }
}

/// ±1 with equal probability, `shape`, drawn on the host.
fn signs(shape: [usize; 4], device: &Device) -> Tensor<4> {
    crate::host_rng::float(shape, Distribution::Bernoulli(0.5), device) * 2.0 - 1.0
}

/// 0, 1, …, n − 1 as floats [n].
fn index_grid(n: usize, device: &Device) -> Tensor<1> {
    Tensor::<1, Int>::arange(0..n as i64, device).float()
}
