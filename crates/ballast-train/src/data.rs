//! Turns `[data]` into train / clean-validation / test splits on the host, with label noise
//! and class imbalance applied and recorded, and gathers mini-batches onto a device.

use crate::config::{DataConfig, DatasetName, RunConfig};
use crate::error::{Result, TrainError, bail};
use ballast_core::{Batch, InputSpec};
use ballast_data::{Dataset, NoiseConfig, NoisyLabels, SplitConfig};
use burn::prelude::*;
use std::path::Path;

pub struct PreparedData {
    pub train: Dataset,
    pub val: Option<Dataset>,
    pub test: Dataset,
    /// Training labels before noise (equal to `train.labels` without noise).
    pub true_train_labels: Vec<u32>,
    pub noise: Option<NoisyLabels>,
    pub input: InputSpec,
}

/// Loads the named dataset (train, test), fetching MNIST / Fashion-MNIST into `cache` if
/// needed. CIFAR-10, CIFAR-100 and SVHN are read from `data.dir` when set, otherwise from
/// `<cache>/<cifar10|cifar100|svhn>/`, the folder `ballast data fetch <name>` fills (they are
/// never downloaded during training). Toy sets draw their test points from the same
/// generator with another seed.
pub fn load_raw(cfg: &DataConfig, seed: u64, cache: &Path) -> Result<(Dataset, Dataset)> {
    use ballast_data::Cifar100Labels;
    use ballast_data::fetch::Source;
    use ballast_data::full_scale::FullScale;
    if cfg.cifar100_labels != Cifar100Labels::Fine && cfg.dataset != DatasetName::Cifar100 {
        bail!(
            "data.cifar100_labels = \"{}\" applies to dataset = \"cifar100\", not {:?}",
            cfg.cifar100_labels.name(),
            cfg.dataset
        );
    }
    if cfg.svhn_extra && cfg.dataset != DatasetName::Svhn {
        bail!(
            "data.svhn_extra applies to dataset = \"svhn\", not {:?}",
            cfg.dataset
        );
    }
    let (n, noise) = (cfg.toy_points, cfg.toy_noise as f32);
    let toy = |s: u64| -> Result<Dataset> {
        Ok(match cfg.dataset {
            DatasetName::Moons => ballast_data::toy::moons(n, noise, s)?,
            DatasetName::Spirals => ballast_data::toy::spirals(n, 3, noise, s)?,
            _ => ballast_data::toy::blobs(n, 4, noise, s)?,
        })
    };
    // The folder of a full-scale set: data.dir, or the cache folder the fetcher fills.
    let full_scale_dir = |set: FullScale, fetch_args: &str| -> Result<std::path::PathBuf> {
        if let Some(dir) = &cfg.dir {
            return Ok(dir.clone());
        }
        let dir = cache.join(set.dir_name());
        if !dir.is_dir() {
            bail!(
                "{} is not in the data cache ({} does not exist): run `ballast data fetch {}{}` \
                 (add --from FOLDER for a copy you already have), or set data.dir",
                set.title(),
                dir.display(),
                set.dir_name(),
                fetch_args
            );
        }
        Ok(dir)
    };
    let source = match cfg.dataset {
        DatasetName::Mnist => Source::Mnist,
        DatasetName::FashionMnist => Source::FashionMnist,
        DatasetName::Cifar10 => {
            let dir = full_scale_dir(FullScale::Cifar10, "")?;
            return Ok(ballast_data::cifar::load_cifar10_dir(&dir)?);
        }
        DatasetName::Cifar100 => {
            let dir = full_scale_dir(FullScale::Cifar100, "")?;
            return Ok(ballast_data::load_cifar100_dir(&dir, cfg.cifar100_labels)?);
        }
        DatasetName::Svhn => {
            let extra = if cfg.svhn_extra { " --extra" } else { "" };
            let dir = full_scale_dir(FullScale::Svhn, extra)?;
            return Ok(ballast_data::load_svhn_dir(&dir, cfg.svhn_extra)?);
        }
        DatasetName::Moons | DatasetName::Spirals | DatasetName::Blobs => {
            let s = seed.wrapping_mul(2);
            return Ok((toy(s.wrapping_add(11))?, toy(s.wrapping_add(12))?));
        }
    };
    let dir = match &cfg.dir {
        Some(d) => d.clone(),
        None => ballast_data::fetch::fetch(
            source,
            cache,
            &ballast_data::fetch::FetchOptions::default(),
        )?,
    };
    Ok(ballast_data::fetch::load(source, &dir)?)
}

/// Examples of `data` whose source index is not in `exclude`.
fn without(data: &Dataset, exclude: &Dataset) -> Dataset {
    let taken: std::collections::HashSet<u32> = exclude.index.iter().copied().collect();
    let keep: Vec<usize> = (0..data.len())
        .filter(|&i| !taken.contains(&data.index[i]))
        .collect();
    data.subset(&keep)
}

impl PreparedData {
    pub fn prepare(cfg: &RunConfig, cache: &Path) -> Result<Self> {
        let d = &cfg.data;
        let (full_train, full_test) = load_raw(d, cfg.seed, cache)?;
        let (mut train, val, mut test) = if let Some(imb) = &d.imbalance {
            let [minority, majority] = imb.classes;
            let val = (d.val_size > 0)
                .then(|| {
                    ballast_data::imbalance::balanced_pair(
                        &full_train,
                        minority,
                        majority,
                        d.val_size,
                        cfg.seed,
                    )
                })
                .transpose()?;
            let pool = match &val {
                Some(v) => without(&full_train, v),
                None => full_train,
            };
            let train = ballast_data::imbalance::imbalanced_pair(
                &pool,
                minority,
                majority,
                imb.train_size,
                imb.majority_proportion,
                cfg.seed,
            )?;
            let test_pair =
                ballast_data::imbalance::select_classes(&full_test, &[minority, majority])?;
            let counts = test_pair.class_counts();
            let test_total = if imb.test_size > 0 {
                imb.test_size
            } else {
                2 * counts.iter().min().copied().unwrap_or(0)
            };
            let test = ballast_data::imbalance::balanced_pair(
                &full_test, minority, majority, test_total, cfg.seed,
            )?;
            (train, val, test)
        } else if d.val_size > 0 {
            let split = SplitConfig {
                val_size: d.val_size,
                val_balanced: d.val_balanced,
                seed: cfg.seed,
            };
            let (train, val) = ballast_data::split_train_val(&full_train, &split)?;
            (train, Some(val), full_test)
        } else {
            (full_train, None, full_test)
        };
        if d.train_size > 0 && d.imbalance.is_none() {
            if d.train_size > train.len() {
                bail!(
                    "data.train_size = {} but only {} training examples remain",
                    d.train_size,
                    train.len()
                );
            }
            train = ballast_data::subsample_train(&train, d.train_size, cfg.seed)?;
        }
        if d.test_size > 0 && d.test_size < test.len() {
            test = ballast_data::subsample_train(&test, d.test_size, cfg.seed)?;
        }
        let true_train_labels = train.labels.clone();
        let noise = match &d.noise {
            Some(n) => {
                let noisy = ballast_data::apply_noise(
                    &train.labels,
                    train.num_classes,
                    &NoiseConfig {
                        kind: n.kind,
                        rate: n.rate,
                        seed: n.seed.unwrap_or(cfg.seed),
                    },
                )?;
                train.labels = noisy.labels.clone();
                Some(noisy)
            }
            None => None,
        };
        if train.is_empty() || test.is_empty() {
            bail!("the training or test split is empty: check [data]");
        }
        let input = input_spec(&train);
        cfg.model.validate(&input)?;
        Ok(Self {
            train,
            val,
            test,
            true_train_labels,
            noise,
            input,
        })
    }

    /// The label-noise record for reports (kind, rate, seed, realised rate).
    pub fn noise_summary(&self) -> Option<serde_json::Value> {
        self.noise.as_ref().map(|n| {
            serde_json::json!({
                "kind": n.kind.name(), "rate": n.rate, "seed": n.seed,
                "realised_rate": n.realised_rate(), "noisy_examples": n.noisy_count(),
            })
        })
    }

    /// `data.json` in the run directory: per split its source and size, class counts and the
    /// source index of every example in training-position order (`source_indices[i]` is the
    /// example at position i of the split, the positions batches and weight logs name), and the
    /// label-noise record, with every example whose label was changed (training position,
    /// source index, true and given label). A run can be audited from it without re-deriving
    /// the splits.
    pub fn write_description(&self, run_dir: &Path) -> Result<()> {
        let split = |d: &Dataset| {
            serde_json::json!({
                "name": d.name, "examples": d.len(), "class_counts": d.class_counts(),
                "source_indices": d.index,
            })
        };
        let noise = self.noise_summary().map(|mut summary| {
            let changed: Vec<serde_json::Value> = self
                .true_train_labels
                .iter()
                .zip(&self.train.labels)
                .enumerate()
                .filter(|(_, (t, y))| t != y)
                .map(|(i, (t, y))| {
                    serde_json::json!({
                        "position": i, "source_index": self.train.index[i], "true": t, "label": y,
                    })
                })
                .collect();
            summary["changed"] = changed.into();
            summary
        });
        let desc = serde_json::json!({
            "train": split(&self.train),
            "val": self.val.as_ref().map(split),
            "test": split(&self.test),
            "label_noise": noise,
            "input": self.input,
        });
        crate::checkpoint::write_atomic(
            &run_dir.join("data.json"),
            &serde_json::to_vec_pretty(&desc)?,
        )
    }
}

/// Shape, classes and per-channel mean/std of a training set (the in-model normalisation).
pub fn input_spec(train: &Dataset) -> InputSpec {
    let channels = if train.example_shape.len() == 3 {
        train.example_shape[0]
    } else {
        1
    };
    let per_channel = train.example_len() / channels;
    let mut mean = vec![0f64; channels];
    let mut sq = vec![0f64; channels];
    for row in train.x.chunks(train.example_len()) {
        for (c, block) in row.chunks(per_channel).enumerate() {
            for &v in block {
                mean[c] += v as f64;
                sq[c] += (v as f64) * (v as f64);
            }
        }
    }
    let count = (train.len() * per_channel).max(1) as f64;
    let mean: Vec<f64> = mean.iter().map(|m| m / count).collect();
    let std: Vec<f32> = sq
        .iter()
        .zip(&mean)
        .map(|(s, m)| ((s / count - m * m).max(0.0).sqrt().max(1e-3)) as f32)
        .collect();
    InputSpec {
        shape: train.example_shape.clone(),
        num_classes: train.num_classes,
        mean: mean.iter().map(|&m| m as f32).collect(),
        std,
    }
}

/// The permutation of training positions for an epoch (depends only on seed and epoch, so
/// a resumed run sees the same order).
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    ballast_data::SeededRng::new(seed ^ (epoch as u64).wrapping_mul(0xA24B_AED4_963E_E407), 0)
        .permutation(n)
}

/// The epoch permutations of a training loop, one epoch at a time.
#[derive(Default)]
pub struct EpochOrder {
    current: Option<(usize, Vec<usize>)>,
}

impl EpochOrder {
    /// Dataset positions of the batch of `step` (0-based): the seeded permutation of its epoch
    /// (`per_epoch` steps each), sliced at the step's offset.
    pub fn batch(
        &mut self,
        n: usize,
        seed: u64,
        step: usize,
        per_epoch: usize,
        batch_size: usize,
    ) -> &[usize] {
        let epoch = step / per_epoch;
        if self.current.as_ref().map(|(e, _)| *e) != Some(epoch) {
            self.current = Some((epoch, epoch_order(n, seed, epoch)));
        }
        let perm = &self.current.as_ref().expect("set above").1;
        let offset = (step % per_epoch) * batch_size;
        &perm[offset..(offset + batch_size).min(perm.len())]
    }
}

/// Gathers the examples at `positions` into a batch on `device`, augmented in pixel space
/// (`seed` picks the crops, flips and cutout squares; `cutout` 0 = none).
pub fn augmented_batch_of(
    data: &Dataset,
    positions: &[usize],
    augment: ballast_data::Augment,
    padding: usize,
    pad: ballast_data::PadMode,
    cutout: usize,
    seed: u64,
    device: &Device,
) -> Result<Batch> {
    if augment.is_none() && cutout == 0 {
        return Ok(batch_of(data, positions, device));
    }
    let shape: [usize; 3] = data.example_shape.as_slice().try_into().map_err(|_| {
        TrainError::msg(format!(
            "data.augment / data.cutout need [channels, height, width] images; {} has examples of shape {:?}",
            data.name,
            data.example_shape
        ))
    })?;
    let (mut x, y) = gather(data, positions);
    ballast_data::augment_batch(&mut x, shape, augment, padding, pad, seed);
    ballast_data::cutout_batch(&mut x, shape, cutout, seed ^ 0xC07);
    Ok(Batch::from_host(&x, &y, device))
}

/// The pixels ([n·D], one example after another) and labels of the examples at `positions`.
pub fn gather(data: &Dataset, positions: &[usize]) -> (Vec<f32>, Vec<u32>) {
    let d = data.example_len();
    let mut x = Vec::with_capacity(positions.len() * d);
    let mut y = Vec::with_capacity(positions.len());
    for &p in positions {
        x.extend_from_slice(data.example(p));
        y.push(data.labels[p]);
    }
    (x, y)
}

/// Gathers the examples at `positions` into a batch on `device`.
pub fn batch_of(data: &Dataset, positions: &[usize], device: &Device) -> Batch {
    let (x, y) = gather(data, positions);
    Batch::from_host(&x, &y, device)
}
