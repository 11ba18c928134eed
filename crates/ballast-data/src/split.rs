//! Seeded train / clean-validation splits and training subsamples.
//!
//! Reweighting methods (L2RW, MW-Net, …) need a small clean validation set
//! carved out of the training data *before* label noise is applied to the
//! rest. Both outputs keep the examples in their original relative order and
//! carry the source indices, so results can name the underlying examples.

use serde::{Deserialize, Serialize};

use crate::rng::SeededRng;
use crate::{DataError, Dataset};

/// How to carve a validation set out of a training set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitConfig {
    /// Number of validation examples.
    pub val_size: usize,
    /// Equal number of validation examples per class (`val_size` must then be a
    /// multiple of the number of classes); otherwise a uniformly random subset.
    pub val_balanced: bool,
    /// Seed of the selection.
    pub seed: u64,
}

/// Splits `data` into `(train, validation)`; the two partition the input.
///
/// Deterministic given the config. Errors if `val_size` exceeds the data, a
/// balanced split is asked for with `val_size` not divisible by the number of
/// classes, or a class has too few examples for its share.
pub fn split_train_val(
    data: &Dataset,
    config: &SplitConfig,
) -> Result<(Dataset, Dataset), DataError> {
    data.validate()?;
    let n = data.len();
    if config.val_size > n {
        return Err(DataError::InvalidArgument(format!(
            "validation size {} exceeds the {n} examples of {}",
            config.val_size, data.name
        )));
    }
    let mut rng = SeededRng::new(config.seed, 0);
    let mut in_val = vec![false; n];
    if config.val_balanced {
        let k = data.num_classes;
        if !config.val_size.is_multiple_of(k) {
            return Err(DataError::InvalidArgument(format!(
                "a balanced validation set of {} examples cannot be split evenly over {k} classes",
                config.val_size
            )));
        }
        let per_class = config.val_size / k;
        for (class, positions) in data.positions_by_class().iter().enumerate() {
            if positions.len() < per_class {
                return Err(DataError::NotEnoughExamples {
                    class: class as u32,
                    needed: per_class,
                    available: positions.len(),
                });
            }
            for p in rng.choose(positions.len(), per_class) {
                in_val[positions[p]] = true;
            }
        }
    } else {
        for p in rng.choose(n, config.val_size) {
            in_val[p] = true;
        }
    }
    let (val_pos, train_pos): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| in_val[i]);
    let mut train = data.subset(&train_pos);
    let mut val = data.subset(&val_pos);
    train.name = format!("{}-train", data.name);
    val.name = format!("{}-val", data.name);
    Ok((train, val))
}

/// A uniformly random subset of `n` examples (original order kept), e.g. to
/// train on 5 000 of MNIST's 60 000 images. Errors if `n` exceeds the data.
pub fn subsample_train(data: &Dataset, n: usize, seed: u64) -> Result<Dataset, DataError> {
    data.validate()?;
    if n > data.len() {
        return Err(DataError::InvalidArgument(format!(
            "cannot subsample {n} examples from the {} of {}",
            data.len(),
            data.name
        )));
    }
    let mut picked = SeededRng::new(seed, 0).choose(data.len(), n);
    picked.sort_unstable();
    Ok(data.subset(&picked))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3 classes with 10, 20 and 30 examples; x holds the position.
    fn data() -> Dataset {
        let labels: Vec<u32> = (0..60)
            .map(|i| match i % 6 {
                0 => 0,
                1 | 2 => 1,
                _ => 2,
            })
            .collect();
        let x = (0..60).map(|i| i as f32).collect();
        Dataset::new(x, vec![1], labels, 3, "d").unwrap()
    }

    #[test]
    fn balanced_split_partitions_with_equal_class_counts() {
        let d = data();
        let cfg = SplitConfig {
            val_size: 15,
            val_balanced: true,
            seed: 4,
        };
        let (train, val) = split_train_val(&d, &cfg).unwrap();
        assert_eq!(val.class_counts(), vec![5, 5, 5]);
        assert_eq!(train.class_counts(), vec![5, 15, 25]);
        let mut all: Vec<u32> = train.index.iter().chain(&val.index).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..60).collect::<Vec<u32>>());
        assert!(val.index.windows(2).all(|w| w[0] < w[1]));
        // The features travel with their index.
        for (i, &src) in val.index.iter().enumerate() {
            assert_eq!(val.x[i], src as f32);
        }
        assert_eq!(
            (train.name.as_str(), val.name.as_str()),
            ("d-train", "d-val")
        );
        assert_eq!(split_train_val(&d, &cfg).unwrap(), (train, val));
    }

    #[test]
    fn random_split_is_seeded() {
        let d = data();
        let cfg = |seed| SplitConfig {
            val_size: 12,
            val_balanced: false,
            seed,
        };
        let (t1, v1) = split_train_val(&d, &cfg(1)).unwrap();
        let (_, v1b) = split_train_val(&d, &cfg(1)).unwrap();
        let (_, v2) = split_train_val(&d, &cfg(2)).unwrap();
        assert_eq!(v1.len(), 12);
        assert_eq!(t1.len(), 48);
        assert_eq!(v1, v1b);
        assert_ne!(v1.index, v2.index);
    }

    #[test]
    fn split_errors() {
        let d = data();
        let err = split_train_val(
            &d,
            &SplitConfig {
                val_size: 33,
                val_balanced: true,
                seed: 0,
            },
        )
        .unwrap_err();
        assert_eq!(
            err,
            DataError::NotEnoughExamples {
                class: 0,
                needed: 11,
                available: 10
            }
        );
        for (val_size, balanced) in [(16, true), (61, false)] {
            let err = split_train_val(
                &d,
                &SplitConfig {
                    val_size,
                    val_balanced: balanced,
                    seed: 0,
                },
            )
            .unwrap_err();
            assert!(matches!(err, DataError::InvalidArgument(_)), "{err}");
        }
    }

    #[test]
    fn subsample() {
        let d = data();
        let s = subsample_train(&d, 20, 9).unwrap();
        assert_eq!(s.len(), 20);
        assert!(s.index.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(s, subsample_train(&d, 20, 9).unwrap());
        assert_ne!(s.index, subsample_train(&d, 20, 10).unwrap().index);
        assert_eq!(subsample_train(&d, 60, 1).unwrap().index, d.index);
        assert!(subsample_train(&d, 61, 1).is_err());
    }
}
