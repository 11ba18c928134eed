//! A trained CVAE (a learned perturbation set) loaded from its run directory. The
//! `[perturbation]` settings live in the core crate ([`PerturbationConfig`]).

use crate::checkpoint::{Checkpoints, MODEL_FILE, load_model_bytes};
use crate::error::{Context, Result, TrainError};
use ballast_core::perturbation::{Cvae, CvaeConfig};
pub use ballast_core::perturbation::{PairKind, PerturbationConfig};
use burn::prelude::*;
use std::path::{Path, PathBuf};

/// The CVAE's architecture, saved beside its checkpoints.
pub const CVAE_FILE: &str = "cvae.json";

/// A trained CVAE loaded from its run directory.
pub struct LoadedCvae {
    pub run_dir: PathBuf,
    pub config: CvaeConfig,
    /// The pairing of the run that trained it.
    pub perturbation: PerturbationConfig,
    pub cvae: Cvae,
    pub checkpoint: PathBuf,
}

/// Loads the newest checkpoint of a CVAE run (`method = "cvae"`) onto `device` (plain).
pub fn load_cvae(run_dir: &Path, device: &Device) -> Result<LoadedCvae> {
    let arch_path = run_dir.join(CVAE_FILE);
    let text = std::fs::read(&arch_path).with_context(|| {
        format!(
            "cannot read {}: is {} a CVAE run (method = \"cvae\")?",
            arch_path.display(),
            run_dir.display()
        )
    })?;
    let config: CvaeConfig = serde_json::from_slice(&text)
        .with_context(|| format!("{} is malformed", arch_path.display()))?;
    config
        .validate()
        .map_err(|e| TrainError::msg(format!("{}: {e}", arch_path.display())))?;
    let run_cfg = crate::RunConfig::load(&run_dir.join(crate::run_dir::CONFIG_FILE), &[])?;
    let ckpt = Checkpoints::new(run_dir)
        .latest()?
        .with_context(|| format!("{} has no checkpoint yet", run_dir.display()))?;
    let path = ckpt.join(MODEL_FILE);
    let bytes = crate::checkpoint::read_model(&path)?;
    let cvae = load_model_bytes(config.init(device), &bytes, &path)?;
    Ok(LoadedCvae {
        run_dir: run_dir.to_path_buf(),
        config,
        perturbation: run_cfg.perturbation,
        cvae,
        checkpoint: path,
    })
}
