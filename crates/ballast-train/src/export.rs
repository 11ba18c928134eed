//! `ballast export`: copy a run's model into a folder of browser assets (`web/assets/`) as a
//! burnpack file, and record it in that folder's `manifest.json` with what the page needs to
//! rebuild and describe it: architecture, input spec, training config, clean and robust
//! accuracy (from the run's `attack.json` report when there is one), Burn version, sha256.

use crate::attack_report::{AttackReport, file_sha256};
use crate::checkpoint::{BEST_DIR, MODEL_FILE, write_atomic};
use crate::config::RunConfig;
use crate::run::{SUMMARY_FILE, load_run_model};
use anyhow::{Context, Result, bail};
use ballast_core::{InputSpec, ModelConfig};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const MANIFEST_FILE: &str = "manifest.json";

/// Robust accuracy of an exported model at one radius.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RobustEntry {
    pub norm: String,
    pub eps: f64,
    /// e.g. ["pgd-40x5 linf eps=0.3", "apgd-ce-100 linf eps=0.3", …]
    pub attacks: Vec<String>,
    pub worst_case_accuracy: f64,
    pub examples: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub name: String,
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
    pub method: String,
    pub model: ModelConfig,
    pub input: InputSpec,
    pub dataset: String,
    /// The run config, as TOML.
    pub training_config: String,
    /// Clean accuracy on the test examples of the attack report (or, without one, on the
    /// run's whole test split), and how many examples that was.
    pub clean_test_accuracy: Option<f64>,
    pub clean_test_examples: Option<usize>,
    pub robust: Vec<RobustEntry>,
    /// Which checkpoint: "best" (validation-selected) or "latest".
    pub checkpoint: String,
    pub burn_version: String,
    pub ballast_version: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub models: Vec<ModelEntry>,
}

impl Manifest {
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        if !path.exists() {
            return Ok(Self::default());
        }
        let bytes = std::fs::read(&path)?;
        serde_json::from_slice(&bytes).with_context(|| format!("{} is malformed", path.display()))
    }
}

/// Exports the model of `run_dir` (its best model with `best`) as `<assets>/<name>.bpk`.
pub fn export(run_dir: &Path, name: &str, assets: &Path, best: bool) -> Result<ModelEntry> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("--name must be letters, digits, '-' or '_', got `{name}`");
    }
    let device = ballast_core::Backend::Cpu.device()?;
    let (cfg, input, model, latest) = load_run_model(run_dir, &device)?;
    let (model, source) = if best {
        let file = run_dir.join(BEST_DIR).join(MODEL_FILE);
        let bytes = std::fs::read(&file).with_context(|| {
            format!(
                "cannot read {} (only runs with a robust evaluation keep a best model)",
                file.display()
            )
        })?;
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
    };
    let mut manifest = Manifest::load(assets)?;
    manifest.models.retain(|m| m.name != name);
    manifest.models.push(entry.clone());
    manifest.models.sort_by(|a, b| a.name.cmp(&b.name));
    write_atomic(
        &assets.join(MANIFEST_FILE),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )?;
    Ok(entry)
}
