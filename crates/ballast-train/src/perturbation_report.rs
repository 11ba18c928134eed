//! Reports of the learned-perturbation-set workflow, each recording every knob:
//! - [`cvae_report`]: the set's quality on test pairs (and on held-out corruptions);
//! - [`real_perturbation_report`]: a classifier's accuracy under random real perturbations
//!   (the transforms or corruptions the set was learned from);
//! - [`certify_report`]: certified accuracy against radius under latent randomized smoothing.

use crate::checkpoint::file_sha256;
use crate::config::RunConfig;
use crate::cvae_quality::{CvaeQuality, cvae_quality};
use crate::data::{PreparedData, gather};
use crate::error::{Context, Result, TrainError};
use crate::perturbation::{LoadedCvae, PairKind, PerturbationConfig, load_cvae};
use crate::robust_eval::first_positions;
use ballast_core::Classifier;
use ballast_core::models::Mode;
use ballast_core::perturbation::{Certificate, SmoothingConfig, certify};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn image_shape(data: &PreparedData) -> Result<[usize; 3]> {
    data.test.example_shape.as_slice().try_into().map_err(|_| {
        TrainError::msg(format!(
            "perturbation sets need [C, H, W] images; {} has examples of shape {:?}",
            data.test.name, data.test.example_shape
        ))
    })
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CvaeReport {
    pub cvae_run: PathBuf,
    pub checkpoint: PathBuf,
    pub checkpoint_sha256: String,
    pub dataset: String,
    pub pairs: PairKind,
    pub perturbation: PerturbationConfig,
    pub split: String,
    pub seed: u64,
    /// Pairs from the training distribution of the set.
    pub in_distribution: CvaeQuality,
    /// Pairs from the held-out corruptions (corruption sets only).
    pub held_out: Option<CvaeQuality>,
    pub device: String,
    pub wall_time_s: f64,
}

/// Quality of the CVAE of `run_dir` on the first `examples` test images at radii `eps`.
#[allow(clippy::too_many_arguments)]
pub fn cvae_report(
    run_dir: &Path,
    eps: &[f64],
    examples: usize,
    steps: usize,
    samples: usize,
    seed: u64,
    data_dir: &Path,
    device: &Device,
    device_name: &str,
) -> Result<CvaeReport> {
    let started = Instant::now();
    let loaded = load_cvae(run_dir, device)?;
    let cfg = RunConfig::load(&run_dir.join(crate::run_dir::CONFIG_FILE), &[])?;
    let data = PreparedData::prepare(&cfg, data_dir)?;
    let shape = image_shape(&data)?;
    let p = &loaded.perturbation;
    let (x, _) = gather(&data.test, &first_positions(data.test.len(), examples));
    let eval = |x_tilde: &[f32]| {
        cvae_quality(
            &loaded.cvae,
            loaded.config.likelihood,
            &x,
            x_tilde,
            eps,
            steps,
            samples,
            cfg.budget.eval_batch_size,
            seed,
            device,
        )
    };
    let in_distribution = eval(&p.perturb_host(&x, shape, seed ^ 0x1D)?);
    let held_out = match p.pairs {
        PairKind::Corruptions => Some(eval(&p.perturb_host_held_out(&x, shape, seed ^ 0x0D)?)),
        PairKind::Rts => None,
    };
    Ok(CvaeReport {
        cvae_run: run_dir.to_path_buf(),
        checkpoint_sha256: file_sha256(&loaded.checkpoint)?,
        checkpoint: loaded.checkpoint,
        dataset: format!("{:?}", cfg.data.dataset),
        pairs: p.pairs,
        perturbation: p.clone(),
        split: "test".into(),
        seed,
        in_distribution,
        held_out,
        device: device_name.into(),
        wall_time_s: started.elapsed().as_secs_f64(),
    })
}

/// Accuracy under one family of real perturbations.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RealAccuracy {
    pub name: String,
    /// Mean accuracy over all draws.
    pub accuracy: f64,
    /// Fraction of examples classified correctly under every draw.
    pub all_draws_accuracy: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RealPerturbationReport {
    pub checkpoint: PathBuf,
    pub checkpoint_sha256: String,
    pub dataset: String,
    pub split: String,
    pub examples: usize,
    pub draws: usize,
    pub seed: u64,
    pub perturbation: PerturbationConfig,
    pub clean_accuracy: f64,
    pub results: Vec<RealAccuracy>,
    pub mode: String,
    pub device: String,
    pub wall_time_s: f64,
}

fn correct_flags(model: &Classifier, x: &[f32], y: &[u32], d: usize, device: &Device) -> Vec<bool> {
    let n = y.len();
    let xt = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [n, d]), device);
    let pred: Vec<i64> = model
        .forward(xt, Mode::Eval)
        .argmax(1)
        .reshape([n])
        .into_data()
        .convert::<i64>()
        .try_to_vec()
        .expect("int data");
    pred.iter().zip(y).map(|(p, l)| *p == *l as i64).collect()
}

/// Accuracy of `model` (plain) on the first `examples` test images under `draws` random
/// real perturbations each (the run's `[perturbation]`, or `perturbation` when given).
#[allow(clippy::too_many_arguments)]
pub fn real_perturbation_report(
    cfg: &RunConfig,
    model: &Classifier,
    checkpoint: &Path,
    perturbation: &PerturbationConfig,
    examples: usize,
    draws: usize,
    batch: usize,
    seed: u64,
    data_dir: &Path,
    device: &Device,
    device_name: &str,
) -> Result<RealPerturbationReport> {
    let started = Instant::now();
    let data = PreparedData::prepare(cfg, data_dir)?;
    let shape = image_shape(&data)?;
    let d: usize = shape.iter().product();
    let positions = first_positions(data.test.len(), examples);
    let mut families: Vec<(String, bool)> = vec![(
        match perturbation.pairs {
            PairKind::Rts => "rts".into(),
            PairKind::Corruptions => "corruptions (in distribution)".into(),
        },
        false,
    )];
    if perturbation.pairs == PairKind::Corruptions {
        families.push(("corruptions (held out)".into(), true));
    }
    let mut clean = 0usize;
    let mut per_family = vec![(0usize, 0usize); families.len()];
    for (b, chunk) in positions.chunks(batch.max(1)).enumerate() {
        let (x, y) = gather(&data.test, chunk);
        clean += correct_flags(model, &x, &y, d, device)
            .iter()
            .filter(|k| **k)
            .count();
        for (f, (_, held_out)) in families.iter().enumerate() {
            let mut all = vec![true; y.len()];
            for k in 0..draws {
                let s = seed
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .wrapping_add((b * 1000 + k) as u64 * 2 + *held_out as u64);
                let moved = if *held_out {
                    perturbation.perturb_host_held_out(&x, shape, s)?
                } else {
                    perturbation.perturb_host(&x, shape, s)?
                };
                let ok = correct_flags(model, &moved, &y, d, device);
                per_family[f].0 += ok.iter().filter(|k| **k).count();
                for (a, k) in all.iter_mut().zip(&ok) {
                    *a &= *k;
                }
            }
            per_family[f].1 += all.iter().filter(|k| **k).count();
        }
    }
    let n = positions.len().max(1) as f64;
    Ok(RealPerturbationReport {
        checkpoint: checkpoint.to_path_buf(),
        checkpoint_sha256: file_sha256(checkpoint)?,
        dataset: format!("{:?}", cfg.data.dataset),
        split: "test".into(),
        examples: positions.len(),
        draws,
        seed,
        perturbation: perturbation.clone(),
        clean_accuracy: clean as f64 / n,
        results: families
            .iter()
            .zip(&per_family)
            .map(|((name, _), (mean, all))| RealAccuracy {
                name: name.clone(),
                accuracy: *mean as f64 / (n * draws.max(1) as f64),
                all_draws_accuracy: *all as f64 / n,
            })
            .collect(),
        mode: "inference (running BatchNorm statistics, no dropout)".into(),
        device: device_name.into(),
        wall_time_s: started.elapsed().as_secs_f64(),
    })
}

/// Certified accuracy at one radius.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CertifiedAt {
    pub radius: f64,
    pub certified_accuracy: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CertifyReport {
    pub checkpoint: PathBuf,
    pub checkpoint_sha256: String,
    pub cvae_checkpoint: PathBuf,
    pub cvae_checkpoint_sha256: String,
    pub dataset: String,
    pub split: String,
    pub examples: usize,
    pub seed: u64,
    pub smoothing: SmoothingConfig,
    /// Fraction of examples where the smoothed classifier abstains.
    pub abstain_rate: f64,
    /// Smoothed (certified at radius 0) accuracy.
    pub smoothed_accuracy: f64,
    pub curve: Vec<CertifiedAt>,
    /// Per example: label and certificate.
    pub certificates: Vec<(u32, Certificate)>,
    pub device: String,
    pub wall_time_s: f64,
}

/// Latent randomized-smoothing certificates for the first `examples` test images.
#[allow(clippy::too_many_arguments)]
pub fn certify_report(
    cfg: &RunConfig,
    model: &Classifier,
    checkpoint: &Path,
    cvae: &LoadedCvae,
    smoothing: &SmoothingConfig,
    radii: &[f64],
    examples: usize,
    seed: u64,
    data_dir: &Path,
    device: &Device,
    device_name: &str,
) -> Result<CertifyReport> {
    smoothing.validate()?;
    let started = Instant::now();
    let data = PreparedData::prepare(cfg, data_dir)?;
    let d = data.test.example_len();
    let k = data.input.num_classes;
    let positions = first_positions(data.test.len(), examples);
    let mut certificates = Vec::with_capacity(positions.len());
    for (i, &p) in positions.iter().enumerate() {
        ballast_core::host_rng::seed(
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(i as u64),
        );
        let x = Tensor::<2>::from_data(
            TensorData::new(data.test.example(p).to_vec(), [1, d]),
            device,
        );
        let c = certify(model, &cvae.cvae.set, &x, k, smoothing);
        certificates.push((data.test.labels[p], c));
    }
    let n = positions.len().max(1) as f64;
    let frac = |f: &dyn Fn(&(u32, Certificate)) -> bool| {
        certificates.iter().filter(|c| f(c)).count() as f64 / n
    };
    let curve = radii
        .iter()
        .map(|&r| CertifiedAt {
            radius: r,
            certified_accuracy: frac(&|(y, c)| {
                c.predicts(*y as usize) && c.radius_for(*y as usize) >= r
            }),
        })
        .collect();
    Ok(CertifyReport {
        checkpoint: checkpoint.to_path_buf(),
        checkpoint_sha256: file_sha256(checkpoint)?,
        cvae_checkpoint: cvae.checkpoint.clone(),
        cvae_checkpoint_sha256: file_sha256(&cvae.checkpoint)?,
        dataset: format!("{:?}", cfg.data.dataset),
        split: "test".into(),
        examples: positions.len(),
        seed,
        smoothing: smoothing.clone(),
        abstain_rate: frac(&|(_, c)| matches!(c, Certificate::Abstain { .. })),
        smoothed_accuracy: frac(&|(y, c)| c.predicts(*y as usize)),
        curve,
        certificates,
        device: device_name.into(),
        wall_time_s: started.elapsed().as_secs_f64(),
    })
}

/// `ballast certify`: loads the model named by `path` (see
/// [`crate::run_dir::load_named_model`]) and the perturbation set of `cvae` (default: the
/// run's `perturbation.cvae`), then certifies the first `examples` test images.
#[allow(clippy::too_many_arguments)]
pub fn certify_run(
    path: &Path,
    best: bool,
    cvae: Option<&Path>,
    smoothing: &SmoothingConfig,
    radii: &[f64],
    examples: usize,
    seed: u64,
    data_dir: &Path,
    device: &Device,
    device_name: &str,
) -> Result<CertifyReport> {
    let (_run_dir, cfg, model, checkpoint) = crate::run_dir::load_named_model(path, best, device)?;
    let dir = cvae
        .map(Path::to_path_buf)
        .or(cfg.perturbation.cvae.clone())
        .context(
            "certify needs a learned perturbation set: pass --cvae <run directory of a `method = \"cvae\"` run>",
        )?;
    let loaded = load_cvae(&dir, device)?;
    certify_report(
        &cfg,
        &model,
        &checkpoint,
        &loaded,
        smoothing,
        radii,
        examples,
        seed,
        data_dir,
        device,
        device_name,
    )
}

impl CertifyReport {
    /// The report without its per-example certificates.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "checkpoint": self.checkpoint,
            "cvae_checkpoint": self.cvae_checkpoint,
            "examples": self.examples,
            "smoothing": self.smoothing,
            "abstain_rate": self.abstain_rate,
            "smoothed_accuracy": self.smoothed_accuracy,
            "curve": self.curve,
            "wall_time_s": self.wall_time_s,
        })
    }
}
