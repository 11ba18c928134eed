//! FAB's projection, on the host: the least-norm step δ from a point x in [0, 1]^D onto the
//! hyperplane w·δ = c inside the box (0 ≤ x + δ ≤ 1), exactly, in O(D) expected time per row.
//!
//! Coordinate i moves in the direction s_i = sign(c·w_i) by at most its room b_i (1 − x_i, or
//! x_i when s_i < 0): ℓ∞ moves every coordinate by min(τ, b_i), ℓ2 by min(τ·|w_i|, b_i), with the
//! least τ that reaches |c|. In both cases τ solves a "water level" equation
//!
//! ```text
//! F(τ) = Σ_i u_i·min(τ, r_i) = |c|        ℓ∞: u = |w|, r = b      ℓ2: u = w², r = b / |w|
//! ```
//!
//! F is piecewise linear and non-decreasing with breakpoints r_i. Where the box cannot reach
//! |c| (F(max r) < |c|) the step is the box's closest, τ = max r. The breakpoint segment that
//! holds τ is found by a three-way quickselect over the breakpoints instead of a sort.

use super::Norm;

/// Reusable buffers for [`project_row`]: (r_i, u_i) per coordinate.
#[derive(Default)]
pub(crate) struct Scratch {
    pairs: Vec<(f32, f32)>,
}

/// δ [D] for one row: the least-`norm` step from `x` [D] in [0, 1] with w·δ = c inside the box,
/// written into `delta`.
pub(crate) fn project_row(
    w: &[f32],
    c: f32,
    x: &[f32],
    norm: Norm,
    delta: &mut [f32],
    scratch: &mut Scratch,
) {
    let up = c > 0.0;
    if c == 0.0 || c.is_nan() {
        delta.fill(0.0);
        return;
    }
    // Direction s_i of coordinate i (+1, −1, 0), its room b_i, and |w_i|.
    let direction = |wi: f32| -> f32 {
        let s = if up { wi } else { -wi };
        if s > 0.0 {
            1.0
        } else if s < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    let room = |s: f32, xi: f32| if s < 0.0 { xi } else { 1.0 - xi };
    // Breakpoints with r_i = 0 or u_i = 0 add nothing to F (a saturated pixel, a flat
    // coordinate) and are left out; only the largest breakpoint needs all of them.
    let pairs = &mut scratch.pairs;
    pairs.clear();
    let mut top = 0.0f32;
    for (&wi, &xi) in w.iter().zip(x) {
        let b = room(direction(wi), xi);
        let a = wi.abs();
        let (r, u) = match norm {
            Norm::Linf => (b, a),
            Norm::L2 if a == 0.0 => (0.0, 0.0),
            Norm::L2 => (b / a.max(1e-30), a * a),
        };
        top = top.max(r);
        if r > 0.0 && u > 0.0 {
            pairs.push((r, u));
        }
    }
    let tau = water_level(pairs, c.abs()).unwrap_or(top);
    for ((d, &wi), &xi) in delta.iter_mut().zip(w).zip(x) {
        let s = direction(wi);
        let moved = match norm {
            Norm::Linf => tau,
            Norm::L2 => tau * wi.abs(),
        };
        *d = s * moved.min(room(s, xi));
    }
}

/// τ with Σ_i u_i·min(τ, r_i) = c (pairs (r_i, u_i), r, u ≥ 0, c > 0); None where even τ = max r
/// falls short. The pairs are reordered.
///
/// τ lies on the segment below the least breakpoint r* with F(r*) ≥ c, where the coordinates
/// with r_i < r* are saturated: τ = (c − Σ_{r_i<r*} u_i r_i) / Σ_{r_i≥r*} u_i. Quickselect keeps
/// a candidate range of breakpoints and the sums over the pairs already left of it (`below`,
/// Σ u·r) and right of it (`above`, Σ u); each round splits the range at a pivot p by
/// F(p) = below + Σ_{r<p} u·r + p·(Σ_{r≥p} u + above).
pub(crate) fn water_level(pairs: &mut [(f32, f32)], c: f32) -> Option<f32> {
    let c = f64::from(c);
    let (mut lo, mut hi) = (0usize, pairs.len());
    let (mut below, mut above) = (0.0f64, 0.0f64);
    // The least breakpoint found with F ≥ c, and the sums it gives τ.
    let mut found: Option<(f64, f64)> = None;
    while lo < hi {
        let p = pairs[lo + (hi - lo) / 2].0;
        // Three-way partition of pairs[lo..hi]: r < p | r = p | r > p.
        let (mut lt, mut i, mut gt) = (lo, lo, hi);
        while i < gt {
            let r = pairs[i].0;
            if r < p {
                pairs.swap(lt, i);
                lt += 1;
                i += 1;
            } else if r > p {
                gt -= 1;
                pairs.swap(i, gt);
            } else {
                i += 1;
            }
        }
        let ur_less: f64 = pairs[lo..lt]
            .iter()
            .map(|&(r, u)| f64::from(r) * f64::from(u))
            .sum();
        let u_rest: f64 = pairs[lt..hi].iter().map(|&(_, u)| f64::from(u)).sum();
        let f_p = below + ur_less + f64::from(p) * (u_rest + above);
        if f_p >= c {
            // r* ≤ p: p is the best so far; look for a smaller one among r < p.
            above += u_rest;
            found = Some((below + ur_less, above));
            hi = lt;
        } else {
            // r* > p: everything up to p saturates.
            let ur_equal: f64 = pairs[lt..gt]
                .iter()
                .map(|&(r, u)| f64::from(r) * f64::from(u))
                .sum();
            below += ur_less + ur_equal;
            lo = gt;
        }
    }
    found.map(|(saturated, free)| ((c - saturated) / free.max(1e-30)) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The same τ by sorting the breakpoints (the definition, in f64).
    fn water_level_by_sorting(pairs: &[(f32, f32)], c: f32) -> f64 {
        let mut sorted: Vec<(f64, f64)> = pairs
            .iter()
            .map(|&(r, u)| (f64::from(r), f64::from(u)))
            .collect();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let c = f64::from(c);
        let f = |tau: f64| sorted.iter().map(|&(r, u)| u * r.min(tau)).sum::<f64>();
        for k in 0..sorted.len() {
            if f(sorted[k].0) >= c {
                let saturated: f64 = sorted[..k].iter().map(|&(r, u)| r * u).sum();
                let free: f64 = sorted[k..].iter().map(|&(_, u)| u).sum();
                return (c - saturated) / free.max(1e-30);
            }
        }
        sorted.last().map_or(0.0, |p| p.0)
    }

    proptest! {
        /// Random breakpoints with many ties (a grid of 5 values) and exact zeros, as MNIST's
        /// saturated pixels give.
        #[test]
        fn quickselect_finds_the_sorted_level(
            pairs in prop::collection::vec((0usize..5, 0.0f32..2.0, prop::bool::ANY), 1..60),
            c in 0.001f32..8.0,
        ) {
            let pairs: Vec<(f32, f32)> = pairs
                .into_iter()
                .map(|(k, u, zero)| (k as f32 * 0.25, if zero { 0.0 } else { u }))
                .collect();
            let expected = water_level_by_sorting(&pairs, c);
            let top = pairs.iter().map(|p| p.0).fold(0.0f32, f32::max);
            let got = f64::from(water_level(&mut pairs.clone(), c).unwrap_or(top));
            prop_assert!((got - expected).abs() <= 1e-5 * expected.abs().max(1.0),
                "{got} vs {expected}");
        }
    }
}
