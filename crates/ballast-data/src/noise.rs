//! Seeded label-noise generators.
//!
//! Papers disagree on what "uniform 40% noise" means, so each convention is a
//! separate [`NoiseKind`] and every result records the kind, rate and seed:
//!
//! | kind (serde name) | convention | what happens |
//! |---|---|---|
//! | `uniform` | L2RW UniformFlip | `floor(rate·N)` examples, chosen uniformly at random, get `floor(U(0, K−1))` |
//! | `background` | L2RW BackgroundFlip | the same chosen examples all get one random class `floor(U(0, K−1))` |
//! | `unif` | GLC / MW-Net | each label is drawn from row `y` of `C = p·(1/K)·11ᵀ + (1−p)·I` |
//! | `flip` | GLC / MW-Net | each label is drawn from row `y` of `C` with `1−p` on the diagonal and `p` on one random other class |
//! | `symmetric_exact` | exact rate | exactly `round(p·N)` labels change, to a uniformly random *other* class |
//! | `pair_exact` | exact rate | exactly `round(p·N)` labels change, to the class's designated pair target |
//!
//! The L2RW quirks are kept on purpose (they are what the reference code
//! does): `uniform` may redraw the true label, so the realised noise rate is
//! below `rate`, and neither L2RW kind ever produces class `K−1`.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::DataError;
use crate::rng::SeededRng;

/// Stream salts so that the pair targets and the per-example draws are
/// independent sub-streams of one seed.
const SALT_TARGETS: u64 = 0x7461_7267;
const SALT_DRAWS: u64 = 0x6472_6177;

/// Which label-noise convention to apply. Serde / `FromStr` / `Display` use the
/// snake_case names in the module table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NoiseKind {
    /// L2RW UniformFlip (`uniform`).
    #[serde(rename = "uniform")]
    L2rwUniform,
    /// L2RW BackgroundFlip (`background`).
    #[serde(rename = "background")]
    L2rwBackground,
    /// GLC symmetric transition matrix (`unif`).
    #[serde(rename = "unif")]
    GlcSymmetric,
    /// GLC pair flip transition matrix (`flip`).
    #[serde(rename = "flip")]
    GlcPair,
    /// Exactly `round(p·N)` labels moved to a uniformly random other class (`symmetric_exact`).
    #[serde(rename = "symmetric_exact")]
    SymmetricExact,
    /// Exactly `round(p·N)` labels moved to the pair target (`pair_exact`).
    #[serde(rename = "pair_exact")]
    PairExact,
}

impl NoiseKind {
    /// Every kind, in declaration order.
    pub const ALL: [NoiseKind; 6] = [
        NoiseKind::L2rwUniform,
        NoiseKind::L2rwBackground,
        NoiseKind::GlcSymmetric,
        NoiseKind::GlcPair,
        NoiseKind::SymmetricExact,
        NoiseKind::PairExact,
    ];

    /// The snake_case name used in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            NoiseKind::L2rwUniform => "uniform",
            NoiseKind::L2rwBackground => "background",
            NoiseKind::GlcSymmetric => "unif",
            NoiseKind::GlcPair => "flip",
            NoiseKind::SymmetricExact => "symmetric_exact",
            NoiseKind::PairExact => "pair_exact",
        }
    }
}

impl fmt::Display for NoiseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for NoiseKind {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NoiseKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = NoiseKind::ALL.iter().map(|k| k.name()).collect();
                DataError::InvalidArgument(format!(
                    "unknown noise kind {s:?}; expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// A noise setting as it appears in a config file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseConfig {
    /// The convention.
    pub kind: NoiseKind,
    /// Noise rate `p` in `[0, 1]`.
    pub rate: f64,
    /// Seed of the generator.
    pub seed: u64,
}

/// Labels after corruption, with the bookkeeping needed to evaluate methods
/// that detect or down-weight noisy examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoisyLabels {
    /// The (possibly) corrupted labels, one per example.
    pub labels: Vec<u32>,
    /// `labels[i] != true_labels[i]`.
    pub is_noisy: Vec<bool>,
    /// Example `i` was selected for corruption (its label was redrawn). For
    /// `uniform` this can be true while `is_noisy` is false; for `unif` the
    /// redraw is uniform over all K classes, so the same holds.
    pub corrupted: Vec<bool>,
    /// The convention used.
    pub kind: NoiseKind,
    /// The requested rate.
    pub rate: f64,
    /// The seed used.
    pub seed: u64,
}

impl NoisyLabels {
    /// Number of labels that differ from the truth.
    pub fn noisy_count(&self) -> usize {
        self.is_noisy.iter().filter(|&&b| b).count()
    }

    /// Number of examples selected for corruption.
    pub fn corrupted_count(&self) -> usize {
        self.corrupted.iter().filter(|&&b| b).count()
    }

    /// Realised fraction of wrong labels (0 for no examples).
    pub fn realised_rate(&self) -> f64 {
        if self.labels.is_empty() {
            0.0
        } else {
            self.noisy_count() as f64 / self.labels.len() as f64
        }
    }
}

/// Number of examples the L2RW generators corrupt: `floor(rate·N)`, as the
/// reference's `int(noise_ratio * N)`, with a 1e-9 guard so that e.g.
/// `0.29 · 100` (28.999… in binary) counts as 29.
pub fn l2rw_corrupt_count(rate: f64, n: usize) -> usize {
    let raw = rate * n as f64;
    ((raw + 1e-9 * raw.max(1.0)).floor() as usize).min(n)
}

/// Number of labels the exact-rate generators change: `round(rate·N)`.
pub fn exact_noisy_count(rate: f64, n: usize) -> usize {
    ((rate * n as f64).round() as usize).min(n)
}

/// The designated "other" class of each class for the pair kinds (`flip`,
/// `pair_exact`): for every class an independent uniform draw among the other
/// `K−1` classes, as in the GLC code (so two classes may share a target).
/// Depends only on `seed` and `num_classes`.
pub fn pair_targets(num_classes: usize, seed: u64) -> Result<Vec<u32>, DataError> {
    check_classes(num_classes)?;
    let mut rng = SeededRng::new(seed, SALT_TARGETS);
    Ok((0..num_classes)
        .map(|c| {
            let r = rng.below(num_classes - 1);
            (if r >= c { r + 1 } else { r }) as u32
        })
        .collect())
}

/// The transition matrix `C[true][noisy]` a kind samples from, for the GLC
/// kinds (`unif`, `flip`); `None` for the others, whose noise is not i.i.d. per
/// example. The pair targets are those of [`pair_targets`] for the same seed.
pub fn transition_matrix(
    kind: NoiseKind,
    rate: f64,
    num_classes: usize,
    seed: u64,
) -> Result<Option<Vec<Vec<f64>>>, DataError> {
    check_rate(rate)?;
    check_classes(num_classes)?;
    let k = num_classes;
    Ok(match kind {
        NoiseKind::GlcSymmetric => Some(
            (0..k)
                .map(|i| {
                    (0..k)
                        .map(|j| rate / k as f64 + if i == j { 1.0 - rate } else { 0.0 })
                        .collect()
                })
                .collect(),
        ),
        NoiseKind::GlcPair => {
            let targets = pair_targets(k, seed)?;
            Some(
                (0..k)
                    .map(|i| {
                        let mut row = vec![0.0; k];
                        row[i] = 1.0 - rate;
                        row[targets[i] as usize] += rate;
                        row
                    })
                    .collect(),
            )
        }
        _ => None,
    })
}

/// Corrupts `true_labels` (each below `num_classes`) with the given convention.
///
/// Deterministic in `(true_labels, num_classes, kind, rate, seed)`. Errors if
/// `rate` is not in `[0, 1]`, `num_classes < 2`, or a label is out of range.
pub fn corrupt_labels(
    true_labels: &[u32],
    num_classes: usize,
    kind: NoiseKind,
    rate: f64,
    seed: u64,
) -> Result<NoisyLabels, DataError> {
    check_rate(rate)?;
    check_classes(num_classes)?;
    crate::dataset::check_labels(true_labels, num_classes)?;
    let n = true_labels.len();
    let k = num_classes;
    let mut rng = SeededRng::new(seed, SALT_DRAWS);
    let mut labels = true_labels.to_vec();
    let mut corrupted = vec![false; n];

    match kind {
        NoiseKind::L2rwUniform | NoiseKind::L2rwBackground => {
            // The reference shuffles and corrupts the first floor(rate·N);
            // a uniformly random subset of that size is the same distribution.
            let chosen = rng.choose(n, l2rw_corrupt_count(rate, n));
            // floor(U(0, K−1)) is uniform on {0, …, K−2}: never class K−1.
            let background = rng.below(k - 1) as u32;
            for i in chosen {
                corrupted[i] = true;
                labels[i] = if kind == NoiseKind::L2rwBackground {
                    background
                } else {
                    rng.below(k - 1) as u32
                };
            }
        }
        NoiseKind::GlcSymmetric => {
            // Row y of p·(1/K)·11ᵀ + (1−p)·I, sampled as: with probability p
            // redraw uniformly over all K classes, else keep y.
            for i in 0..n {
                if rng.uniform() < rate {
                    corrupted[i] = true;
                    labels[i] = rng.below(k) as u32;
                }
            }
        }
        NoiseKind::GlcPair => {
            let targets = pair_targets(k, seed)?;
            for i in 0..n {
                if rng.uniform() < rate {
                    corrupted[i] = true;
                    labels[i] = targets[true_labels[i] as usize];
                }
            }
        }
        NoiseKind::SymmetricExact | NoiseKind::PairExact => {
            let targets = pair_targets(k, seed)?;
            for i in rng.choose(n, exact_noisy_count(rate, n)) {
                corrupted[i] = true;
                let y = true_labels[i] as usize;
                labels[i] = if kind == NoiseKind::PairExact {
                    targets[y]
                } else {
                    // Uniform over the K−1 classes other than y.
                    let r = rng.below(k - 1);
                    (if r >= y { r + 1 } else { r }) as u32
                };
            }
        }
    }

    let is_noisy = labels
        .iter()
        .zip(true_labels)
        .map(|(a, b)| a != b)
        .collect();
    Ok(NoisyLabels {
        labels,
        is_noisy,
        corrupted,
        kind,
        rate,
        seed,
    })
}

/// [`corrupt_labels`] driven by a [`NoiseConfig`].
pub fn apply_noise(
    true_labels: &[u32],
    num_classes: usize,
    config: &NoiseConfig,
) -> Result<NoisyLabels, DataError> {
    corrupt_labels(
        true_labels,
        num_classes,
        config.kind,
        config.rate,
        config.seed,
    )
}

/// Row-normalised empirical transition matrix `T[true][noisy]` (rows of
/// classes with no examples are all zero). Out-of-range labels are ignored.
pub fn empirical_transition(
    true_labels: &[u32],
    noisy_labels: &[u32],
    num_classes: usize,
) -> Vec<Vec<f64>> {
    let mut counts = vec![vec![0usize; num_classes]; num_classes];
    for (&t, &y) in true_labels.iter().zip(noisy_labels) {
        if let Some(cell) = counts
            .get_mut(t as usize)
            .and_then(|row| row.get_mut(y as usize))
        {
            *cell += 1;
        }
    }
    counts
        .into_iter()
        .map(|row| {
            let total: usize = row.iter().sum();
            row.into_iter()
                .map(|c| {
                    if total == 0 {
                        0.0
                    } else {
                        c as f64 / total as f64
                    }
                })
                .collect()
        })
        .collect()
}

fn check_rate(rate: f64) -> Result<(), DataError> {
    if (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err(DataError::InvalidArgument(format!(
            "noise rate {rate} is not in [0, 1]"
        )))
    }
}

fn check_classes(num_classes: usize) -> Result<(), DataError> {
    if num_classes >= 2 {
        Ok(())
    } else {
        Err(DataError::InvalidArgument(format!(
            "label noise needs at least 2 classes, got {num_classes}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Balanced labels 0..k repeated.
    fn balanced(n: usize, k: usize) -> Vec<u32> {
        (0..n).map(|i| (i % k) as u32).collect()
    }

    #[test]
    fn names_round_trip_through_serde_and_from_str() {
        for kind in NoiseKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.name()));
            assert_eq!(serde_json::from_str::<NoiseKind>(&json).unwrap(), kind);
            assert_eq!(kind.name().parse::<NoiseKind>().unwrap(), kind);
            assert_eq!(kind.to_string(), kind.name());
        }
        assert!("pair".parse::<NoiseKind>().is_err());
        let cfg: NoiseConfig =
            serde_json::from_str(r#"{"kind":"symmetric_exact","rate":0.4,"seed":3}"#).unwrap();
        assert_eq!(cfg.kind, NoiseKind::SymmetricExact);
        assert!(serde_json::from_str::<NoiseConfig>(r#"{"kind":"flip","rate":0.4}"#).is_err());
    }

    #[test]
    fn counts_follow_the_documented_rounding() {
        assert_eq!(l2rw_corrupt_count(0.4, 50_000), 20_000);
        assert_eq!(l2rw_corrupt_count(0.29, 100), 29);
        assert_eq!(l2rw_corrupt_count(0.4, 7), 2);
        assert_eq!(l2rw_corrupt_count(1.0, 7), 7);
        assert_eq!(exact_noisy_count(0.4, 7), 3);
        assert_eq!(exact_noisy_count(0.0, 7), 0);
    }

    #[test]
    fn l2rw_uniform_corrupts_floor_rate_n_and_never_gives_last_class() {
        let k = 10;
        let truth = balanced(10_001, k);
        let out = corrupt_labels(&truth, k, NoiseKind::L2rwUniform, 0.4, 5).unwrap();
        assert_eq!(out.corrupted_count(), 4000);
        // Untouched examples keep their label.
        for ((&y, &t), &c) in out.labels.iter().zip(&truth).zip(&out.corrupted) {
            if c {
                assert_ne!(y, (k - 1) as u32);
            } else {
                assert_eq!(y, t);
            }
        }
        // The redraw can equal the truth: about 1/(K−1) of corrupted stay clean
        // (true class K−1 can never stay). Expected noisy ≈ 4000·(1 − 0.9/9) = 3600.
        let noisy = out.noisy_count();
        assert!(noisy < 4000 && (3450..3750).contains(&noisy), "{noisy}");
        assert_eq!(
            out.is_noisy,
            out.labels
                .iter()
                .zip(&truth)
                .map(|(a, b)| a != b)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn l2rw_background_uses_one_class() {
        let truth = balanced(1000, 10);
        let out = corrupt_labels(&truth, 10, NoiseKind::L2rwBackground, 0.4, 9).unwrap();
        assert_eq!(out.corrupted_count(), 400);
        let classes: std::collections::BTreeSet<u32> = (0..truth.len())
            .filter(|&i| out.corrupted[i])
            .map(|i| out.labels[i])
            .collect();
        assert_eq!(classes.len(), 1);
        assert!(*classes.first().unwrap() < 9);
    }

    #[test]
    fn exact_modes_hit_exact_counts() {
        for (n, k, rate) in [(1000, 10, 0.4), (999, 3, 0.25), (17, 2, 0.5), (50, 10, 1.0)] {
            let truth = balanced(n, k);
            let targets = pair_targets(k, 21).unwrap();
            for kind in [NoiseKind::SymmetricExact, NoiseKind::PairExact] {
                let out = corrupt_labels(&truth, k, kind, rate, 21).unwrap();
                let want = (rate * n as f64).round() as usize;
                assert_eq!(out.noisy_count(), want, "{kind} n={n}");
                assert_eq!(out.corrupted, out.is_noisy);
                if kind == NoiseKind::PairExact {
                    for i in 0..n {
                        if out.is_noisy[i] {
                            assert_eq!(out.labels[i], targets[truth[i] as usize]);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn symmetric_exact_spreads_over_other_classes() {
        let k = 5;
        let truth = vec![2u32; 50_000];
        let out = corrupt_labels(&truth, k, NoiseKind::SymmetricExact, 0.8, 4).unwrap();
        let mut counts = [0usize; 5];
        for &y in &out.labels {
            counts[y as usize] += 1;
        }
        assert_eq!(counts[2], 10_000);
        // 40 000 noisy labels over 4 classes: 10 000 each, sd ≈ 87.
        for c in [0, 1, 3, 4] {
            assert!((counts[c] as i64 - 10_000).abs() < 700, "{counts:?}");
        }
    }

    #[test]
    fn pair_targets_differ_from_their_class_and_depend_on_seed() {
        let t = pair_targets(10, 1).unwrap();
        assert!(
            t.iter()
                .enumerate()
                .all(|(c, &o)| o as usize != c && o < 10)
        );
        assert_eq!(t, pair_targets(10, 1).unwrap());
        let differs = (0..20).any(|s| pair_targets(10, s).unwrap() != t);
        assert!(differs);
        assert_eq!(pair_targets(2, 5).unwrap(), vec![1, 0]);
    }

    /// For i.i.d. kinds, every cell of the empirical matrix is within 6 standard
    /// errors (plus a small floor) of C. With ~20 000 examples per row the
    /// binomial sd of a cell is at most 0.0036, so the bound is ~0.022.
    #[test]
    fn glc_kinds_match_their_transition_matrix() {
        let k = 10;
        let truth = balanced(200_000, k);
        for (kind, rate) in [(NoiseKind::GlcSymmetric, 0.4), (NoiseKind::GlcPair, 0.45)] {
            let out = corrupt_labels(&truth, k, kind, rate, 77).unwrap();
            let c = transition_matrix(kind, rate, k, 77).unwrap().unwrap();
            for row in &c {
                assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            }
            let t = empirical_transition(&truth, &out.labels, k);
            let per_row = (truth.len() / k) as f64;
            for i in 0..k {
                for j in 0..k {
                    let p = c[i][j];
                    let se = (p * (1.0 - p) / per_row).sqrt();
                    assert!(
                        (t[i][j] - p).abs() <= 6.0 * se + 1e-3,
                        "{kind} cell ({i},{j}): {} vs {p}",
                        t[i][j]
                    );
                }
            }
        }
        // unif flips at rate p(1 − 1/K).
        let out = corrupt_labels(&truth, k, NoiseKind::GlcSymmetric, 0.4, 1).unwrap();
        assert!((out.realised_rate() - 0.36).abs() < 0.01);
    }

    #[test]
    fn deterministic_by_seed_and_seeds_differ() {
        let truth = balanced(2000, 10);
        for kind in NoiseKind::ALL {
            let a = corrupt_labels(&truth, 10, kind, 0.3, 42).unwrap();
            let b = corrupt_labels(&truth, 10, kind, 0.3, 42).unwrap();
            let c = corrupt_labels(&truth, 10, kind, 0.3, 43).unwrap();
            assert_eq!(a, b, "{kind}");
            assert_ne!(a.labels, c.labels, "{kind}");
            assert_eq!((a.kind, a.rate, a.seed), (kind, 0.3, 42));
        }
    }

    #[test]
    fn zero_rate_is_identity_and_bad_arguments_error() {
        let truth = balanced(100, 4);
        for kind in NoiseKind::ALL {
            let out = corrupt_labels(&truth, 4, kind, 0.0, 1).unwrap();
            assert_eq!(out.labels, truth);
            assert_eq!(out.corrupted_count(), 0);
        }
        for bad in [-0.1, 1.1, f64::NAN] {
            assert!(matches!(
                corrupt_labels(&truth, 4, NoiseKind::GlcPair, bad, 1),
                Err(DataError::InvalidArgument(_))
            ));
        }
        assert!(matches!(
            corrupt_labels(&[0, 0], 1, NoiseKind::GlcPair, 0.1, 1),
            Err(DataError::InvalidArgument(_))
        ));
        assert!(matches!(
            corrupt_labels(&[0, 4], 4, NoiseKind::GlcPair, 0.1, 1),
            Err(DataError::LabelOutOfRange { label: 4, .. })
        ));
        let empty = corrupt_labels(&[], 4, NoiseKind::L2rwUniform, 0.5, 1).unwrap();
        assert!(empty.labels.is_empty());
        assert_eq!(empty.realised_rate(), 0.0);
    }
}
