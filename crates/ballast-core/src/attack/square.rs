//! Square (Andriushchenko et al. 2020, "Square Attack: a query-efficient black-box
//! adversarial attack via random search"), ℓ∞ (ℓ2: [`super::square_l2`]): random search over
//! square windows, using the model's outputs only (no gradients). Each example starts at
//! vertical stripes of ±ε; each query sets one random square window of one example to x ± ε (a
//! random sign per channel) and keeps it when the margin z_y − max_{j≠y} z_j falls. The window's area follows the paper's
//! schedule, from p_init of the image down to p_init/512. Examples stop querying once
//! misclassified (the batch shrinks as points break).

use super::host_search::HostSearch;
use super::rounds::per_restart;
use super::square_l2::square_l2;
use super::{AttackConfig, Norm, correct_flags};
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

/// One Square ℓ∞ search (see the module's doc); ε > 0, B > 0, x: [B, C·H·W]. The search's
/// bookkeeping runs on the host (a query changes one window per example); the device runs
/// one forward per query on the examples still robust.
fn square_linf(
    model: &Classifier,
    x: Tensor<2>,
    labels: Tensor<1, Int>,
    cfg: &AttackConfig,
    mode: Mode,
) -> Tensor<2> {
    let [c, h, w] = model.image_shape();
    let eps = cfg.eps as f32;
    // Vertical stripes: one sign per (example, channel, column).
    let mut search = HostSearch::start(model, x, labels, mode, |xs| {
        let d = c * h * w;
        let stripes =
            crate::host_rng::host_floats(xs.len() / d * c * w, Distribution::Bernoulli(0.5));
        xs.iter()
            .enumerate()
            .map(|(i, &v)| {
                let (r, ch, col) = (i / d, (i % d) / (h * w), i % w);
                let sign = stripes[(r * c + ch) * w + col] * 2.0 - 1.0;
                (v + sign * eps).clamp(0.0, 1.0)
            })
            .collect()
    });
    let d = search.d;
    let lo: Vec<f32> = search.xs.iter().map(|&v| (v - eps).max(0.0)).collect();
    let hi: Vec<f32> = search.xs.iter().map(|&v| (v + eps).min(1.0)).collect();
    let step = 2.0 * eps;
    for i in 0..cfg.steps {
        if search.active.is_empty() {
            break;
        }
        let n = search.active.len();
        let s = window_side(window_fraction(SQUARE_P_INIT, i, cfg.steps), h, w);
        let (sh, sw) = (s.min(h), s.min(w));
        // One window per example: top-left corner uniform over the valid positions.
        let position =
            |u: f32, span: usize| (u * (span + 1) as f32).floor().min(span as f32) as usize;
        let tops = crate::host_rng::host_floats(n, Distribution::Uniform(0.0, 1.0));
        let lefts = crate::host_rng::host_floats(n, Distribution::Uniform(0.0, 1.0));
        let signs = crate::host_rng::host_floats(n * c, Distribution::Bernoulli(0.5));
        let mut proposals = Vec::with_capacity(n * d);
        for (j, &r) in search.active.iter().enumerate() {
            let (top, left) = (position(tops[j], h - sh), position(lefts[j], w - sw));
            let row = r * d..(r + 1) * d;
            let at = proposals.len();
            proposals.extend_from_slice(&search.best[row.clone()]);
            let prop = &mut proposals[at..];
            let (lo, hi) = (&lo[row.clone()], &hi[row]);
            let window = |ch: usize| {
                (top..top + sh)
                    .flat_map(move |y| (left..left + sw).map(move |x| (ch * h + y) * w + x))
            };
            // The window moved to x ± ε (one sign per channel); a window already there
            // changes nothing, so it takes the opposite signs.
            let mut moved = false;
            for ch in 0..c {
                let sign = signs[j * c + ch] * 2.0 - 1.0;
                for k in window(ch) {
                    let v = (prop[k] + sign * step).max(lo[k]).min(hi[k]);
                    moved |= (v - prop[k]).abs() > 1e-7;
                    prop[k] = v;
                }
            }
            if !moved {
                for ch in 0..c {
                    let sign = 1.0 - signs[j * c + ch] * 2.0;
                    for k in window(ch) {
                        prop[k] = (prop[k] + sign * step).max(lo[k]).min(hi[k]);
                    }
                }
            }
        }
        search.query(proposals);
    }
    search.finish()
}
