//! Square (Andriushchenko et al. 2020, "Square Attack: a query-efficient black-box
//! adversarial attack via random search"), ℓ∞: random search over square windows, using the
//! model's outputs only (no gradients). Each example starts at vertical stripes of ±ε; each
//! query sets one random square window of one example to x ± ε (a random sign per channel) and
//! keeps it when the margin z_y − max_{j≠y} z_j falls. The window's area follows the paper's
//! schedule, from p_init of the image down to p_init/512. Examples stop querying once
//! misclassified (the batch shrinks as points break).

use super::{AttackConfig, margin, put_rows};
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

/// Square ℓ∞ with `cfg.steps` queries per example (after the initial one) at radius `cfg.eps`.
/// x: [B, D] in [0, 1] (the model's image [C, H, W] flattened), labels [B] -> adversarial
/// [B, D]: the lowest-margin point found (the first misclassifying one for broken examples).
pub fn square(
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
    assert_eq!(
        c * h * w,
        d,
        "square: the inputs are not the model's images"
    );
    let eps = cfg.eps;
    if eps == 0.0 || b == 0 {
        return x;
    }
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
    for i in 0..cfg.steps {
        let rows: Vec<i32> = (0..b as i32)
            .filter(|&r| best_margin[r as usize] > 0.0)
            .collect();
        if rows.is_empty() {
            break;
        }
        let n = rows.len();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(rows.clone(), [n]), &device);
        let x_n = x.clone().select(0, idx.clone());
        let best_n = best.clone().select(0, idx.clone());
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
            let moved = best_n.clone() + window.clone() * sign * (2.0 * eps);
            let lo = (x_n.clone() - eps).clamp_min(0.0);
            let hi = (x_n.clone() + eps).clamp_max(1.0);
            moved.max_pair(lo).min_pair(hi)
        };
        // A window already at those signs changes nothing: take the opposite signs there.
        let first = candidate(sign.clone());
        let unchanged = (first.clone() - best_n.clone())
            .abs()
            .max_dim(1)
            .lower_equal_elem(1e-7)
            .expand([n, d]);
        let proposal = first.mask_where(unchanged, candidate(sign.neg()));
        let proposed = margins(proposal.clone(), labels.clone().select(0, idx));
        let better: Vec<bool> = rows
            .iter()
            .zip(&proposed)
            .map(|(&r, &m)| m < best_margin[r as usize])
            .collect();
        for ((&r, &m), &take) in rows.iter().zip(&proposed).zip(&better) {
            if take {
                best_margin[r as usize] = m;
            }
        }
        best = put_rows(best, &rows, proposal, &better);
    }
    best
}

/// ±1 with equal probability, `shape`, drawn on the host.
fn signs(shape: [usize; 4], device: &Device) -> Tensor<4> {
    crate::host_rng::float(shape, Distribution::Bernoulli(0.5), device) * 2.0 - 1.0
}

/// 0, 1, …, n − 1 as floats [n].
fn index_grid(n: usize, device: &Device) -> Tensor<1> {
    Tensor::<1, Int>::arange(0..n as i64, device).float()
}
