//! Portable random numbers for every seeded generator in the crate.
//!
//! All randomness goes through [`SeededRng`], a ChaCha8 stream seeded with
//! `seed_from_u64`. The conversions to floats, bounded integers, subsets and
//! normals are written here rather than taken from `rand`'s distributions so
//! that a given seed produces the same labels, splits and toy points on every
//! platform and across dependency upgrades (`rand` does not promise value
//! stability for its distributions).

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// A deterministic random stream derived from a `u64` seed.
pub(crate) struct SeededRng {
    inner: ChaCha8Rng,
}

impl SeededRng {
    /// A stream for `seed`. Different `salt`s give independent streams for the
    /// same user seed, so e.g. the pair-flip targets do not shift when the
    /// number of examples changes.
    pub(crate) fn new(seed: u64, salt: u64) -> Self {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(salt);
        Self { inner }
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.inner.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// The next raw 64 random bits (used to derive independent per-example seeds).
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in `[lo, hi)` (`lo` when the interval is empty).
    pub(crate) fn uniform_in(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in `0..n` (unbiased, by rejection). `n` must be positive.
    pub(crate) fn below(&mut self, n: usize) -> usize {
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
    pub(crate) fn choose(&mut self, n: usize, k: usize) -> Vec<usize> {
        debug_assert!(k <= n);
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        all.truncate(k);
        all
    }

    /// Standard normal sample (Box–Muller; one of the pair is discarded to keep
    /// the stream simple to reason about).
    pub(crate) fn normal(&mut self) -> f64 {
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
