//! `ballast export`: copy a run's model into a folder of browser assets (`web/assets/`) as a
//! burnpack file, and record it in that folder's `manifest.json` with what the page needs to
//! rebuild and describe it: architecture, input spec, training config, clean and robust
//! accuracy (from the run's `attack.json` report when there is one), Burn version, sha256.

use crate::attack_report::AttackReport;
use crate::checkpoint::file_sha256;
use crate::checkpoint::{BEST_DIR, MODEL_FILE, write_atomic};
use crate::config::RunConfig;
use crate::error::{Context, Result, TrainError, bail};
use crate::run_dir::{SUMMARY_FILE, load_run_model};
use std::path::Path;

pub use ballast_core::manifest::{
    CurveEntry, CurvePoint, Curves, MANIFEST_FILE, Manifest, ModelEntry, PerturbationSetEntry,
    RobustEntry, SetQuality,
};

/// Reads `<dir>/manifest.json`; an empty manifest when there is none yet.
pub fn load_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    if !path.exists() {
        return Ok(Manifest::default());
    }
    let bytes = std::fs::read(&path)?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is malformed", path.display()))
}

fn save_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    write_atomic(
        &dir.join(MANIFEST_FILE),
        serde_json::to_string_pretty(manifest)?.as_bytes(),
    )
}

/// Exports the model of `run_dir` (its best model with `best`) as `<assets>/<name>.bpk`.
pub fn export(run_dir: &Path, name: &str, assets: &Path, best: bool) -> Result<ModelEntry> {
    check_name(name)?;
    let device = ballast_core::Backend::Cpu.device()?;
    let (cfg, input, model, latest) = load_run_model(run_dir, &device)?;
    let (model, source) = if best {
        let file = run_dir.join(BEST_DIR).join(MODEL_FILE);
        if !file.is_file() {
            if cfg.data.val_size == 0 {
                bail!(
                    "--best: {} selects no model: it has no validation split (data.val_size = 0), and a model is never chosen on test data",
                    run_dir.display()
                );
            }
            bail!(
                "{} does not exist (only runs with a robust evaluation keep a best model)",
                file.display()
            );
        }
        let bytes = crate::checkpoint::read_model(&file)?;
        (
            crate::checkpoint::load_model_bytes(model, &bytes, &file)?,
            file,
        )
    } else {
        (model, latest)
    };
    std::fs::create_dir_all(assets)?;
    let file = format!("{name}.bpk");
    let target = assets.join(&file);
    write_atomic(&target, &crate::checkpoint::model_bytes(&model)?)?;
    // Clean accuracy and robustness: the attack report of the same checkpoint if there is one.
    let report: Option<AttackReport> = std::fs::read(run_dir.join("attack.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|r: &AttackReport| r.checkpoint_sha256 == file_sha256(&source).unwrap_or_default());
    let summary: Option<crate::metrics::Summary> = std::fs::read(run_dir.join(SUMMARY_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let (clean, clean_examples) = match &report {
        Some(r) => (Some(r.clean_accuracy), Some(r.examples)),
        None => (
            summary
                .as_ref()
                .and_then(|s| s.final_record.as_ref().map(|r| r.test_acc)),
            None,
        ),
    };
    let robust = report
        .iter()
        .flat_map(|r| {
            r.results.iter().map(|res| RobustEntry {
                norm: r.spec.norm.name().to_string(),
                eps: res.eps,
                attacks: res
                    .result
                    .per_attack
                    .iter()
                    .map(|a| a.name.clone())
                    .collect(),
                worst_case_accuracy: res.result.worst_case_accuracy,
                examples: res.result.examples,
            })
        })
        .collect();
    let entry = ModelEntry {
        name: name.to_string(),
        sha256: file_sha256(&target)?,
        content_digest: Some(crate::checkpoint::content_digest(
            &std::fs::read(&target)?,
            &target,
        )?),
        bytes: std::fs::metadata(&target)?.len(),
        file,
        method: cfg.method.name().to_string(),
        model: cfg.model.clone(),
        input,
        dataset: format!("{:?}", cfg.data.dataset),
        training_config: RunConfig::to_toml(&cfg),
        clean_test_accuracy: clean,
        clean_test_examples: clean_examples,
        robust,
        checkpoint: if best { "best" } else { "latest" }.to_string(),
        burn_version: crate::BURN_VERSION.to_string(),
        ballast_version: env!("CARGO_PKG_VERSION").to_string(),
        perturbation_set: None,
    };
    let mut manifest = load_manifest(assets)?;
    // Link to a shipped perturbation set cut from the CVAE checkpoint this run names.
    let set_sha = cfg
        .perturbation
        .cvae
        .as_ref()
        .and_then(|dir| {
            crate::checkpoint::Checkpoints::new(dir)
                .latest()
                .ok()
                .flatten()
        })
        .and_then(|ckpt| file_sha256(&ckpt.join(MODEL_FILE)).ok());
    let entry = ModelEntry {
        perturbation_set: set_sha.and_then(|sha| {
            manifest
                .perturbation_sets
                .iter()
                .find(|s| s.source_sha256 == sha)
                .map(|s| s.name.clone())
        }),
        ..entry
    };
    manifest.models.retain(|m| m.name != name);
    manifest.models.push(entry.clone());
    manifest.models.sort_by(|a, b| a.name.cmp(&b.name));
    save_manifest(assets, &manifest)?;
    Ok(entry)
}

/// Exports the per-evaluation robust curves of an adversarial run (`metrics.jsonl`,
/// `summary.json`) as `<assets>/<name>.curves.json` for the robust-overfitting panel.
pub fn export_curves(run_dir: &Path, name: &str, assets: &Path) -> Result<CurveEntry> {
    check_name(name)?;
    let read = |file: &str| {
        let path = run_dir.join(file);
        std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
    };
    let summary: crate::metrics::Summary = serde_json::from_str(&read(SUMMARY_FILE)?)
        .with_context(|| format!("{} is malformed", run_dir.join(SUMMARY_FILE).display()))?;
    let robust = summary.robust.as_ref().with_context(|| {
        format!(
            "{} has no robust evaluation: only adversarial runs with `adversarial.eval` have curves",
            run_dir.display()
        )
    })?;
    let mut points = Vec::new();
    for (i, line) in read("metrics.jsonl")?.lines().enumerate() {
        let r: crate::metrics::EvalRecord = serde_json::from_str(line)
            .with_context(|| format!("metrics.jsonl line {} is malformed", i + 1))?;
        let missing = || {
            TrainError::msg(format!(
                "metrics.jsonl line {} lacks a robust figure",
                i + 1
            ))
        };
        points.push(CurvePoint {
            epoch: r.epoch,
            lr: r.lr,
            train_acc: r.train_acc.ok_or_else(missing)?,
            train_robust_acc: r.train_robust_acc.ok_or_else(missing)?,
            val_acc: r.val_acc.ok_or_else(missing)?,
            val_robust_acc: r.val_robust_acc.ok_or_else(missing)?,
            test_acc: r.test_acc,
            test_robust_acc: r.test_robust_acc.ok_or_else(missing)?,
        });
    }
    if points.is_empty() {
        bail!("{}/metrics.jsonl has no evaluations", run_dir.display());
    }
    let curves = Curves {
        name: name.to_string(),
        method: summary.method.clone(),
        dataset: summary.dataset.clone(),
        model: summary.model.clone(),
        seed: summary.seed,
        attack: robust.attack.describe(),
        test_examples: robust.test_examples,
        selected_epoch: robust
            .best_epoch
            .context("the run's summary names no best epoch")?,
        points,
        training_config: read("config.toml")?,
    };
    std::fs::create_dir_all(assets)?;
    let file = format!("{name}.curves.json");
    write_atomic(
        &assets.join(&file),
        serde_json::to_string(&curves)?.as_bytes(),
    )?;
    let entry = CurveEntry {
        name: name.to_string(),
        file,
        method: curves.method,
        dataset: curves.dataset,
    };
    let mut manifest = load_manifest(assets)?;
    manifest.curves.retain(|c| c.name != name);
    manifest.curves.push(entry.clone());
    manifest.curves.sort_by(|a, b| a.name.cmp(&b.name));
    save_manifest(assets, &manifest)?;
    Ok(entry)
}

/// Exports the perturbation set (prior and generator) of a CVAE run as `<assets>/<name>.bpk`
/// for the page's explorer, with its latent dimensions ranked by effect (measured on
/// `digits`, test images of the run's data) and its quality from `quality.json` when the run
/// has one (`ballast eval <cvae run> --out <run>/quality.json`).
pub fn export_perturbation_set(
    run_dir: &Path,
    name: &str,
    assets: &Path,
    digits: &ballast_data::Dataset,
) -> Result<PerturbationSetEntry> {
    use burn::prelude::*;
    check_name(name)?;
    let device = ballast_core::Backend::Cpu.device()?;
    let loaded = crate::perturbation::load_cvae(run_dir, &device)?;
    let cfg = RunConfig::load(&run_dir.join(crate::run_dir::CONFIG_FILE), &[])?;
    let set = loaded.cvae.set;
    let d: usize = loaded.config.features();
    if digits.example_len() != d {
        bail!(
            "the CVAE models {} pixels, the digits have {}",
            d,
            digits.example_len()
        );
    }
    // Effect of a unit step along each latent dimension, averaged over ±1 and the digits.
    let n = digits.len().min(200);
    let x = Tensor::<2>::from_data(TensorData::new(digits.x[..n * d].to_vec(), [n, d]), &device);
    let l = loaded.config.latent;
    let centre = set.perturb(x.clone(), Tensor::zeros([n, l], &device));
    let mut effect = Vec::with_capacity(l);
    for j in 0..l {
        let mut total = 0.0;
        for sign in [-1.0f32, 1.0] {
            let mut u = vec![0f32; l];
            u[j] = sign;
            let u = Tensor::<2>::from_data(TensorData::new(u, [1, l]), &device).expand([n, l]);
            let moved = set.perturb(x.clone(), u);
            total += (moved - centre.clone())
                .powi_scalar(2)
                .mean()
                .into_scalar::<f32>() as f64;
        }
        effect.push(total / 2.0);
    }
    let mut order: Vec<usize> = (0..l).collect();
    order.sort_by(|a, b| effect[*b].total_cmp(&effect[*a]));
    let quality = std::fs::read(run_dir.join("quality.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<crate::perturbation_report::CvaeReport>(&b).ok())
        .filter(|r| r.checkpoint_sha256 == file_sha256(&loaded.checkpoint).unwrap_or_default())
        .map(|r| {
            r.in_distribution
                .per_eps
                .iter()
                .map(|q| SetQuality {
                    eps: q.eps,
                    approximation_error: q.approximation_error,
                    expected_approximation_error: q.expected_approximation_error,
                })
                .collect()
        })
        .unwrap_or_default();
    let p = &cfg.perturbation;
    let perturbation = match p.pairs {
        crate::perturbation::PairKind::Rts => format!(
            "rts: rotation ±{}°, scale {}–{}, translation ±{} px",
            p.rts.max_rotation_deg, p.rts.scale[0], p.rts.scale[1], p.rts.max_translation
        ),
        crate::perturbation::PairKind::Corruptions => format!(
            "corruptions: {}",
            p.corruptions
                .kinds
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    std::fs::create_dir_all(assets)?;
    let file = format!("{name}.bpk");
    let target = assets.join(&file);
    write_atomic(&target, &crate::checkpoint::model_bytes(&set)?)?;
    let entry = PerturbationSetEntry {
        name: name.to_string(),
        sha256: file_sha256(&target)?,
        bytes: std::fs::metadata(&target)?.len(),
        file,
        cvae: loaded.config.clone(),
        perturbation,
        dataset: format!("{:?}", cfg.data.dataset),
        leading_dims: order,
        dim_effect: effect,
        quality,
        source_sha256: file_sha256(&loaded.checkpoint)?,
        training_config: RunConfig::to_toml(&cfg),
        burn_version: crate::BURN_VERSION.to_string(),
        ballast_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let mut manifest = load_manifest(assets)?;
    manifest.perturbation_sets.retain(|m| m.name != name);
    manifest.perturbation_sets.push(entry.clone());
    manifest
        .perturbation_sets
        .sort_by(|a, b| a.name.cmp(&b.name));
    save_manifest(assets, &manifest)?;
    Ok(entry)
}

/// Writes a train / test subset (`ballast data subset`, e.g. `web/assets/mnist-subset.bin.gz`)
/// atomically for the page's playground and attack lab; returns the file's size.
pub fn export_subset(
    train: &ballast_data::Dataset,
    test: &ballast_data::Dataset,
    path: &Path,
) -> Result<u64> {
    let bytes = ballast_data::encode_subset(train, test)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_atomic(path, &bytes)?;
    Ok(bytes.len() as u64)
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("--name must be letters, digits, '-' or '_', got `{name}`");
    }
    Ok(())
}
