//! Portable random numbers for every seeded draw of Ballast: the data crate's splits, noise,
//! toy sets and augmentations, and the trainer's epoch orders and mixup draws.
//!
//! All host-side randomness goes through [`SeededRng`], a ChaCha8 stream seeded with
//! `seed_from_u64`. The conversions to floats, bounded integers, subsets, normals and Beta
//! draws are written here rather than taken from `rand`'s distributions so that a given seed
//! produces the same labels, splits and toy points on every platform and across dependency
//! upgrades (`rand` does not promise value stability for its distributions). The one
//! exception is [`SeededRng::shuffle`], which is `rand` 0.9's Fisher–Yates on this stream,
//! pinned to that release, so that the epoch orders of every recorded run stay reproducible.

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// A deterministic random stream derived from a `u64` seed.
pub struct SeededRng {
    inner: ChaCha8Rng,
}

impl SeededRng {
    /// A stream for `seed`. Different `salt`s give independent streams for the
    /// same user seed, so e.g. the pair-flip targets do not shift when the
    /// number of examples changes.
    pub fn new(seed: u64, salt: u64) -> Self {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(salt);
        Self { inner }
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.inner.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// The next raw 64 random bits (used to derive independent per-example seeds).
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in `[lo, hi)` (`lo` when the interval is empty).
    pub fn uniform_in(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in `0..n` (unbiased, by rejection). `n` must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0, "below(0)");
        let n = n as u64;
        // Reject the top partial block so every residue is equally likely.
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.inner.next_u64();
            if v < zone {
                return (v % n) as usize;
            }
        }
    }

    /// `k` distinct indices drawn uniformly from `0..n`, in draw order
    /// (a partial Fisher–Yates shuffle). `k` must not exceed `n`.
    pub fn choose(&mut self, n: usize, k: usize) -> Vec<usize> {
        debug_assert!(k <= n);
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        all.truncate(k);
        all
    }

    /// Shuffles `items` in place (a uniform permutation): `rand` 0.9's Fisher–Yates
    /// (`SliceRandom::shuffle`) on this stream. The crate pins that release, so a seed gives
    /// the same order the trainer has always used.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        items.shuffle(&mut self.inner);
    }

    /// A uniform permutation of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        self.shuffle(&mut order);
        order
    }

    /// Gamma(shape, 1) sample, `shape` > 0 (Marsaglia & Tsang 2000; for shape < 1 the
    /// boost Gamma(shape + 1)·U^(1/shape)).
    pub fn gamma(&mut self, shape: f64) -> f64 {
        debug_assert!(shape > 0.0, "gamma({shape})");
        if shape < 1.0 {
            // 1 - u lies in (0, 1], so the power is finite and positive.
            let u = 1.0 - self.uniform();
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let z = self.normal();
            let v = 1.0 + c * z;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = 1.0 - self.uniform();
            if u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Beta(a, b) sample as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b); `a`, `b` > 0.
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        x / (x + y)
    }

    /// Standard normal sample (Box–Muller; one of the pair is discarded to keep
    /// the stream simple to reason about).
    pub fn normal(&mut self) -> f64 {
        // 1 - u lies in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (core::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_salt_separates() {
        let a: Vec<u64> = {
            let mut r = SeededRng::new(7, 0);
            (0..8).map(|_| r.below(1000) as u64).collect()
        };
        let b: Vec<u64> = {
            let mut r = SeededRng::new(7, 0);
            (0..8).map(|_| r.below(1000) as u64).collect()
        };
        let c: Vec<u64> = {
            let mut r = SeededRng::new(7, 1);
            (0..8).map(|_| r.below(1000) as u64).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn uniform_in_unit_interval_and_roughly_flat() {
        let mut r = SeededRng::new(1, 0);
        let n = 100_000;
        let mut buckets = [0usize; 10];
        for _ in 0..n {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
            buckets[(u * 10.0) as usize] += 1;
        }
        for b in buckets {
            // Expected 10 000, sd ~95; 6 sd of slack.
            assert!((b as i64 - 10_000).abs() < 600, "{buckets:?}");
        }
    }

    #[test]
    fn choose_is_distinct_and_in_range() {
        let mut r = SeededRng::new(3, 0);
        let picked = r.choose(50, 20);
        assert_eq!(picked.len(), 20);
        let mut sorted = picked.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 20);
        assert!(picked.iter().all(|&i| i < 50));
    }

    #[test]
    fn permutations_are_uniform_and_reproducible() {
        let mut r = SeededRng::new(5, 0);
        let p = r.permutation(40);
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..40).collect::<Vec<_>>());
        assert_eq!(p, SeededRng::new(5, 0).permutation(40));
        // Each of the 6 orders of 3 items ~ 1/6 of 60 000 draws (sd ~91; 6 sd of slack).
        let mut counts = std::collections::HashMap::new();
        for _ in 0..60_000 {
            *counts.entry(r.permutation(3)).or_insert(0usize) += 1;
        }
        assert_eq!(counts.len(), 6);
        for (perm, c) in counts {
            assert!((c as i64 - 10_000).abs() < 550, "{perm:?}: {c}");
        }
    }

    #[test]
    fn gamma_and_beta_have_their_moments() {
        let mut r = SeededRng::new(13, 0);
        let n = 100_000;
        for shape in [0.4, 1.0, 2.5] {
            let xs: Vec<f64> = (0..n).map(|_| r.gamma(shape)).collect();
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            assert!(xs.iter().all(|x| *x > 0.0 && x.is_finite()));
            // Gamma(k, 1): mean k, variance k.
            assert!(
                (mean - shape).abs() < 0.03 * shape.max(1.0),
                "{shape}: mean {mean}"
            );
            assert!(
                (var - shape).abs() < 0.06 * shape.max(1.0),
                "{shape}: var {var}"
            );
        }
        for alpha in [0.2, 1.4] {
            let xs: Vec<f64> = (0..n).map(|_| r.beta(alpha, alpha)).collect();
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            assert!(xs.iter().all(|x| (0.0..=1.0).contains(x)));
            // Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)).
            let want = 1.0 / (4.0 * (2.0 * alpha + 1.0));
            assert!((mean - 0.5).abs() < 0.005, "{alpha}: mean {mean}");
            assert!(
                (var - want).abs() < 0.03 * want,
                "{alpha}: var {var} vs {want}"
            );
        }
    }

    #[test]
    fn normal_has_unit_moments() {
        let mut r = SeededRng::new(11, 0);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.03, "var {var}");
    }
}
