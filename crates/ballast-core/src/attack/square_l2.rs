//! Square ℓ2 (Andriushchenko et al. 2020, §3.2): random search that moves ℓ2 mass between square
//! windows, using the model's outputs only (no gradients). The start is a grid of
//! "pseudo-Gaussian" tiles (nested rectangles weighted 1/(k+1)², positive over one half of the
//! tile and negative over the other) with a random sign per channel, scaled to ‖δ‖₂ = ε. Each
//! query picks two random windows of side s for one example: the first gets a fresh
//! pseudo-Gaussian pattern added to its normalised current perturbation, and carries the ℓ2 mass
//! of both windows (plus any budget left unused); the second is zeroed. The whole perturbation is
//! then rescaled to ‖δ‖₂ = ε and clipped to the pixel box, and the query is kept when the margin
//! z_y − max_{j≠y} z_j falls. The window's area follows the ℓ∞ attack's schedule. Examples stop
//! querying once misclassified.
//!
//! The per-example bookkeeping (two windows, per-channel norms) runs on the host: the queries'
//! forwards dominate the cost, and the proposals are uploaded as one [n, D] batch per query.

use super::host_search::HostSearch;
use super::{AttackConfig, SQUARE_P_INIT, window_fraction};
use crate::host_rng;
use crate::models::{Classifier, Mode};
use burn::prelude::*;
use burn::tensor::Distribution;

/// Side of a Square ℓ2 window covering `fraction` of an h×w image: round(√(fraction·h·w)), at
/// least 3 and odd (the paper's choice), at most min(h, w).
pub fn l2_window_side(fraction: f64, h: usize, w: usize) -> usize {
    let mut s = ((fraction * (h * w) as f64).sqrt().round() as usize).max(3);
    if s.is_multiple_of(2) {
        s += 1;
    }
    s.min(h.min(w)).max(1)
}

/// The pseudo-Gaussian pattern [s, s] (row-major), unit ℓ2 norm: nested rectangles around the
/// centre of the upper half weighted 1/(k+1)² for the k-th, the same negated on the lower half,
/// transposed when `transpose`.
pub fn pseudo_gaussian(s: usize, transpose: bool) -> Vec<f32> {
    let top = s / 2;
    let upper = nested_rectangles(top, s);
    let lower = nested_rectangles(s - top, s);
    let mut p: Vec<f32> = upper
        .into_iter()
        .chain(lower.into_iter().map(|v| -v))
        .collect();
    normalise(&mut p);
    if transpose {
        let copy = p.clone();
        for r in 0..s {
            for c in 0..s {
                p[c * s + r] = copy[r * s + c];
            }
        }
    }
    p
}

/// [rows, cols] (row-major), unit ℓ2 norm: rectangle k (k = 0, 1, …) spans rows
/// r0 − k .. r0 + k + 1 and columns c0 − k .. c0 + k + 1 around (r0, c0) = (rows/2, cols/2),
/// cut to the array, and adds 1/(k+1)² to every cell it covers.
fn nested_rectangles(rows: usize, cols: usize) -> Vec<f32> {
    let mut a = vec![0.0f32; rows * cols];
    let (r0, c0) = ((rows / 2) as isize, (cols / 2) as isize);
    for k in 0..=(rows.max(cols) / 2) as isize {
        let weight = 1.0 / ((k + 1) * (k + 1)) as f32;
        let rows_k = (r0 - k).max(0) as usize..((r0 + k + 1) as usize).min(rows);
        let cols_k = (c0 - k).max(0) as usize..((c0 + k + 1) as usize).min(cols);
        for r in rows_k {
            for c in cols_k.clone() {
                a[r * cols + c] += weight;
            }
        }
    }
    normalise(&mut a);
    a
}

/// Scales `v` to unit ℓ2 norm (a zero vector stays zero).
fn normalise(v: &mut [f32]) {
    let n = norm(v);
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// One example's perturbation δ [C, H, W] (row-major) and its geometry.
struct Perturbation<'a> {
    delta: &'a mut [f32],
    shape: [usize; 3],
}

impl Perturbation<'_> {
    /// The flat indices of channel `ch`'s s×s window at (top, left).
    fn window(&self, ch: usize, top: usize, left: usize, s: usize) -> impl Iterator<Item = usize> {
        let [_, h, w] = self.shape;
        (top..top + s).flat_map(move |r| (left..left + s).map(move |c| (ch * h + r) * w + c))
    }

    /// One Square ℓ2 proposal: window 1 at `one` gets `pattern`·sign_ch plus its normalised
    /// current content, rescaled per channel to the ℓ2 mass of both windows plus an equal share
    /// of the unused budget ε² − ‖δ‖²; window 2 at `two` is zeroed (where it does not overlap
    /// window 1).
    fn propose(
        &mut self,
        one: (usize, usize),
        two: (usize, usize),
        s: usize,
        pattern: &[f32],
        signs: &[f32],
        eps: f32,
    ) {
        let [c, h, w] = self.shape;
        let unused = (eps * eps - norm(self.delta).powi(2)).max(0.0) / c as f32;
        let in_one = |r: usize, col: usize| {
            (one.0..one.0 + s).contains(&r) && (one.1..one.1 + s).contains(&col)
        };
        let mut fresh = vec![0.0f32; s * s];
        for (ch, &sign) in signs.iter().enumerate().take(c) {
            let own: Vec<f32> = self
                .window(ch, one.0, one.1, s)
                .map(|i| self.delta[i])
                .collect();
            let own_norm = norm(&own);
            // ‖δ‖² over the union of the two windows.
            let second: f32 = (two.0..two.0 + s)
                .flat_map(|r| (two.1..two.1 + s).map(move |col| (r, col)))
                .filter(|&(r, col)| !in_one(r, col))
                .map(|(r, col)| self.delta[(ch * h + r) * w + col].powi(2))
                .sum();
            let mass = (unused + own_norm * own_norm + second).sqrt();
            for (f, (&p, &o)) in fresh.iter_mut().zip(pattern.iter().zip(&own)) {
                *f = p * sign + o / (own_norm + 1e-10);
            }
            let fresh_norm = norm(&fresh);
            let scale = if fresh_norm > 0.0 {
                mass / fresh_norm
            } else {
                0.0
            };
            for i in self.window(ch, two.0, two.1, s).collect::<Vec<_>>() {
                self.delta[i] = 0.0;
            }
            for (i, f) in self
                .window(ch, one.0, one.1, s)
                .collect::<Vec<_>>()
                .into_iter()
                .zip(&fresh)
            {
                self.delta[i] = f * scale;
            }
        }
    }
}

/// x + δ·ε/‖δ‖₂ clipped to [0, 1] (x itself when δ = 0).
fn point_at(x: &[f32], delta: &[f32], eps: f32) -> impl Iterator<Item = f32> {
    let n = norm(delta);
    let scale = if n > 0.0 { eps / n } else { 0.0 };
    x.iter()
        .zip(delta)
        .map(move |(&xi, &di)| (xi + di * scale).clamp(0.0, 1.0))
}

/// The start: tiles of side t = max(⌊H/5⌋, 1) laid from a centred offset, each a pseudo-Gaussian
/// pattern (its own random transposition) with a random sign per (example, channel); δ [D].
fn initial_delta(shape: [usize; 3]) -> Vec<f32> {
    let [c, h, w] = shape;
    let t = (h / 5).max(1);
    let (tiles_h, tiles_w) = (h / t, w / t);
    let (top0, left0) = ((h - tiles_h * t) / 2, (w - tiles_w * t) / 2);
    let mut delta = vec![0.0f32; c * h * w];
    for i in 0..tiles_h {
        for j in 0..tiles_w {
            let coins = host_rng::host_floats(1 + c, Distribution::Uniform(0.0, 1.0));
            let pattern = pseudo_gaussian(t, coins[0] > 0.5);
            for ch in 0..c {
                let sign = if coins[1 + ch] < 0.5 { -1.0 } else { 1.0 };
                for r in 0..t {
                    for col in 0..t {
                        let at = (ch * h + top0 + i * t + r) * w + left0 + j * t + col;
                        delta[at] += sign * pattern[r * t + col];
                    }
                }
            }
        }
    }
    delta
}

/// Square ℓ2 with `cfg.steps` queries per example (after the initial one) at radius `cfg.eps`
/// (> 0). x: [B, D] in [0, 1] (B > 0; the model's image [C, H, W] flattened), labels [B] ->
/// adversarial [B, D]: the lowest-margin point found (the first misclassifying one for broken
/// examples). Called through [`super::square`], which checks the shapes.
pub(crate) fn square_l2(
    model: &Classifier,
    x: Tensor<2>,
    labels: Tensor<1, Int>,
    cfg: &AttackConfig,
    mode: Mode,
) -> Tensor<2> {
    let shape = model.image_shape();
    let [c, h, w] = shape;
    let eps = cfg.eps as f32;
    let mut search = HostSearch::start(model, x, labels, mode, |xs| {
        xs.chunks_exact(c * h * w)
            .flat_map(|x_r| point_at(x_r, &initial_delta(shape), eps).collect::<Vec<_>>())
            .collect()
    });
    let d = search.d;
    for i in 0..cfg.steps {
        if search.active.is_empty() {
            break;
        }
        let s = l2_window_side(window_fraction(SQUARE_P_INIT, i, cfg.steps), h, w);
        let per = 4 + c;
        let n = search.active.len();
        let draws = host_rng::host_floats(1 + n * per, Distribution::Uniform(0.0, 1.0));
        let pattern = pseudo_gaussian(s, draws[0] > 0.5);
        let position = |u: f32, span: usize| ((u * (span + 1) as f32) as usize).min(span);
        let mut proposals = Vec::with_capacity(n * d);
        for (j, &r) in search.active.iter().enumerate() {
            let u = &draws[1 + j * per..1 + (j + 1) * per];
            let x_r = &search.xs[r * d..(r + 1) * d];
            let mut delta: Vec<f32> = search.best[r * d..(r + 1) * d]
                .iter()
                .zip(x_r)
                .map(|(p, x)| p - x)
                .collect();
            let signs: Vec<f32> = u[4..]
                .iter()
                .map(|&v| if v < 0.5 { -1.0 } else { 1.0 })
                .collect();
            Perturbation {
                delta: &mut delta,
                shape,
            }
            .propose(
                (position(u[0], h - s), position(u[1], w - s)),
                (position(u[2], h - s), position(u[3], w - s)),
                s,
                &pattern,
                &signs,
                eps,
            );
            proposals.extend(point_at(x_r, &delta, eps));
        }
        search.query(proposals);
    }
    search.finish()
}
