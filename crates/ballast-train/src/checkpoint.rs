//! Checkpoints: a directory `checkpoints/step-NNNNNNNN/` holding the model (burnpack and
//! safetensors, the latter loadable by PyTorch), the optimiser state and the loop state.
//! Every file is written to a temporary name and renamed, the directory is assembled under
//! a temporary name and renamed, and `checkpoints/LATEST` is replaced atomically last, so
//! an interrupted write never leaves a half checkpoint behind the pointer.

use crate::error::{Context, Result, TrainError, bail};
use ballast_core::Classifier;
use ballast_core::method::StateFile;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

pub const MODEL_FILE: &str = "model.bpk";
pub const SAFETENSORS_FILE: &str = "model.safetensors";
pub const OPTIMIZER_FILE: &str = "optimizer.bpk";
pub const STATE_FILE: &str = "state.json";
const LATEST: &str = "LATEST";
/// Checkpoints kept besides the newest one.
const KEEP_OLDER: usize = 1;

/// Loop state needed to continue a run exactly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Optimiser steps completed.
    pub step: usize,
    /// The best model-selection score so far — validation accuracy, or robust validation
    /// accuracy for runs with a robust evaluation — and its step.
    #[serde(alias = "best_val_acc")]
    pub best_score: Option<f64>,
    pub best_step: Option<usize>,
    /// Test accuracy at the best validation step.
    pub test_acc_at_best: Option<f64>,
    /// Training-loss sum and count since the last evaluation.
    pub loss_sum: f64,
    pub loss_count: usize,
    /// Wall time spent before this checkpoint (seconds).
    pub elapsed_s: f64,
    /// Adversarial methods: training examples correct at their adversarial point since the
    /// last evaluation, and how many were seen.
    #[serde(default)]
    pub adv_correct: usize,
    #[serde(default)]
    pub adv_seen: usize,
    /// Robust test accuracy at the best validation step (adversarial runs select on robust
    /// validation accuracy).
    #[serde(default)]
    pub test_robust_at_best: Option<f64>,
    /// Checkpoints written before method state had files of its own kept SSDS's λ, t and
    /// fgsm-rs's check reference here; read only, to resume them ([`method_files`]).
    #[serde(default, skip_serializing)]
    pub ssds: Option<ballast_core::ssds::SsdsGlobals>,
    #[serde(default, skip_serializing)]
    pub overfit_reference: Option<f64>,
    /// Why training stopped before its budget, if it did.
    #[serde(default)]
    pub stopped_early: Option<String>,
}

/// Directory of the best-by-validation model of a run.
pub const BEST_DIR: &str = "best";

/// Writes the best model so far to `run_dir/best/` (burnpack, safetensors and `info.json`),
/// assembled under a temporary name and renamed into place.
pub fn save_best(run_dir: &Path, model: &Classifier, info: &serde_json::Value) -> Result<PathBuf> {
    let tmp = run_dir.join(".best.tmp");
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    fs::create_dir_all(&tmp)?;
    fs::write(tmp.join(MODEL_FILE), model_bytes(model)?)?;
    fs::write(tmp.join(SAFETENSORS_FILE), safetensors_bytes(model)?)?;
    fs::write(tmp.join("info.json"), serde_json::to_vec_pretty(info)?)?;
    let dir = run_dir.join(BEST_DIR);
    let old = run_dir.join(".best.old");
    if dir.exists() {
        if old.exists() {
            fs::remove_dir_all(&old)?;
        }
        fs::rename(&dir, &old)?;
    }
    fs::rename(&tmp, &dir)?;
    if old.exists() {
        fs::remove_dir_all(&old)?;
    }
    Ok(dir)
}

/// Lower-case hex sha256 of a file's bytes (checkpoints, exported assets): it names the
/// file, not the weights in it.
pub fn file_sha256(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(ballast_data::sha256_hex(&bytes))
}

/// Writes bytes to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot move {} into place", path.display()))
}

pub fn model_bytes<M: Module>(model: &M) -> Result<Vec<u8>> {
    let bytes = model
        .valid()
        .into_record()
        .into_bytes()
        .map_err(|e| TrainError::msg(format!("cannot encode model: {e:?}")))?;
    Ok(bytes.to_vec())
}

/// Safetensors in PyTorch conventions: Linear weights [out, in], BatchNorm gamma/beta as
/// weight/bias, names without the model-family prefix (e.g. `head.weight`).
pub fn safetensors_bytes(model: &Classifier) -> Result<Vec<u8>> {
    let mut store = SafetensorsStore::from_bytes(None)
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true);
    model
        .valid()
        .save_into(&mut store)
        .map_err(|e| TrainError::msg(format!("cannot encode safetensors: {e:?}")))?;
    store
        .get_bytes()
        .map_err(|e| TrainError::msg(format!("cannot encode safetensors: {e:?}")))
}

fn optimizer_bytes(optim: &ModuleOptimizer) -> Result<Vec<u8>> {
    let bytes = optim
        .into_bytes()
        .map_err(|e| TrainError::msg(format!("cannot encode optimizer state: {e:?}")))?;
    Ok(bytes.to_vec())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// A module (burnpack) and its optimiser state from two files of a checkpoint directory.
fn load_pair<M: Module>(
    dir: &Path,
    module_file: &str,
    optim_file: &str,
    module: M,
    optim: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer)> {
    let path = dir.join(module_file);
    let module = load_model_bytes(module, &read(&path)?, &path)?;
    let opt_path = dir.join(optim_file);
    let optim = optim
        .from_bytes(Bytes::from_bytes_vec(read(&opt_path)?))
        .map_err(|e| {
            TrainError::msg(format!(
                "{} is not a valid optimizer state: {e:?}",
                opt_path.display()
            ))
        })?;
    Ok((module, optim))
}

/// Loads burnpack bytes into `model` (which fixes the architecture), checking that every
/// tensor was applied.
pub fn load_model_bytes<M: Module>(model: M, bytes: &[u8], what: &Path) -> Result<M> {
    Ok(ballast_core::record::load_model_bytes(
        model,
        bytes,
        &what.display().to_string(),
    )?)
}

pub struct Checkpoints {
    root: PathBuf,
}

impl Checkpoints {
    pub fn new(run_dir: &Path) -> Self {
        Self {
            root: run_dir.join("checkpoints"),
        }
    }

    /// A classifier checkpoint: the model (burnpack and safetensors), its optimiser, the
    /// method's state files and the loop state.
    pub fn save(
        &self,
        model: &Classifier,
        optim: &ModuleOptimizer,
        method: &[StateFile],
        state: &LoopState,
    ) -> Result<PathBuf> {
        let mut files: Vec<(&str, Vec<u8>)> = vec![
            (MODEL_FILE, model_bytes(model)?),
            (SAFETENSORS_FILE, safetensors_bytes(model)?),
            (OPTIMIZER_FILE, optimizer_bytes(optim)?),
        ];
        files.extend(method.iter().map(|f| (f.name, f.bytes.clone())));
        self.save_files(&files, state)
    }

    /// A checkpoint of any module (burnpack only) with its optimiser and loop state.
    pub fn save_module<M: Module>(
        &self,
        module: &M,
        optim: &ModuleOptimizer,
        state: &LoopState,
    ) -> Result<PathBuf> {
        let files = [
            (MODEL_FILE, model_bytes(module)?),
            (OPTIMIZER_FILE, optimizer_bytes(optim)?),
        ];
        self.save_files(&files, state)
    }

    /// Assembles `step-NNNNNNNN/` from `files` plus the loop state under a temporary name,
    /// renames it into place and moves the pointer.
    fn save_files(&self, files: &[(&str, Vec<u8>)], state: &LoopState) -> Result<PathBuf> {
        fs::create_dir_all(&self.root)?;
        let name = format!("step-{:08}", state.step);
        let tmp = self.root.join(format!(".{name}.tmp"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        for (file, bytes) in files {
            fs::write(tmp.join(file), bytes)?;
        }
        fs::write(tmp.join(STATE_FILE), serde_json::to_vec_pretty(state)?)?;
        let dir = self.root.join(&name);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::rename(&tmp, &dir)?;
        write_atomic(&self.root.join(LATEST), name.as_bytes())?;
        self.prune(&name)?;
        Ok(dir)
    }

    fn prune(&self, newest: &str) -> Result<()> {
        let mut names: Vec<String> = fs::read_dir(&self.root)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("step-") && n.as_str() != newest)
            .collect();
        names.sort();
        let drop = names.len().saturating_sub(KEEP_OLDER);
        for n in &names[..drop] {
            fs::remove_dir_all(self.root.join(n))?;
        }
        Ok(())
    }

    /// The newest complete checkpoint directory, if any.
    pub fn latest(&self) -> Result<Option<PathBuf>> {
        let pointer = self.root.join(LATEST);
        if !pointer.exists() {
            return Ok(None);
        }
        let name = fs::read_to_string(&pointer)?;
        let dir = self.root.join(name.trim());
        if !dir.join(MODEL_FILE).exists() {
            bail!(
                "{} points to {}, which is incomplete",
                pointer.display(),
                dir.display()
            );
        }
        Ok(Some(dir))
    }

    /// Loads model, optimiser and loop state from a checkpoint directory.
    pub fn load<M: Module>(
        dir: &Path,
        model: M,
        optim: ModuleOptimizer,
    ) -> Result<(M, ModuleOptimizer, LoopState)> {
        let (model, optim) = load_pair(dir, MODEL_FILE, OPTIMIZER_FILE, model, optim)?;
        let state_path = dir.join(STATE_FILE);
        let state: LoopState = serde_json::from_slice(&read(&state_path)?)
            .with_context(|| format!("{} is malformed", state_path.display()))?;
        Ok((model, optim, state))
    }
}

/// Reads the method's state files of checkpoint `dir` by name. Checkpoints from before
/// methods saved their own files hold SSDS's globals and fgsm-rs's reference in the loop
/// state; those are served under the names the methods now use.
pub fn method_files(dir: &Path, state: &LoopState) -> impl Fn(&'static str) -> Option<Vec<u8>> {
    let dir = dir.to_path_buf();
    let legacy_ssds = state.ssds.map(|g| serde_json::to_vec(&g).expect("JSON"));
    let legacy_check = state
        .overfit_reference
        .map(|r| serde_json::to_vec(&serde_json::json!({ "overfit_reference": r })).expect("JSON"));
    move |name| {
        fs::read(dir.join(name)).ok().or_else(|| match name {
            "ssds.json" => legacy_ssds.clone(),
            "fgsm_check.json" => legacy_check.clone(),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_core::models::{Arch, Mode};
    use ballast_core::{InputSpec, ModelConfig};
    use burn::prelude::*;
    use burn::tensor::Distribution;

    #[test]
    fn burnpack_round_trip_keeps_weights_and_batch_norm_statistics() {
        let device = Device::flex().autodiff();
        let input = InputSpec {
            shape: vec![3, 8, 8],
            num_classes: 4,
            mean: vec![0.5; 3],
            std: vec![0.2; 3],
        };
        let mut cfg = ModelConfig::of(Arch::ResnetCifar);
        cfg.depth = 8;
        cfg.width = 0.5;
        let model = cfg.init(&input, &device);
        let x = Tensor::<2>::random([6, 192], Distribution::Uniform(0.0, 1.0), &device);
        let _ = model.forward(x.clone(), Mode::Train); // moves the running statistics
        let bytes = model_bytes(&model).unwrap();
        let fresh = cfg.init(&input, &device);
        let loaded = load_model_bytes(fresh, &bytes, Path::new("mem")).unwrap();
        let a = model
            .valid()
            .forward(x.clone().inner(), Mode::Eval)
            .into_data();
        let b = loaded.valid().forward(x.inner(), Mode::Eval).into_data();
        assert_eq!(a, b);
    }

    #[test]
    fn wrong_architecture_or_garbage_is_an_error() {
        let device = Device::flex();
        let input = InputSpec {
            shape: vec![4],
            num_classes: 2,
            mean: vec![0.0],
            std: vec![1.0],
        };
        let small = ModelConfig::mlp(&[8]).init(&input, &device);
        let bytes = model_bytes(&small).unwrap();
        let big = ModelConfig::mlp(&[16]).init(&input, &device);
        assert!(load_model_bytes(big, &bytes, Path::new("x.bpk")).is_err());
        let again = ModelConfig::mlp(&[8]).init(&input, &device);
        let err = load_model_bytes(again, b"not a checkpoint", Path::new("x.bpk")).unwrap_err();
        assert!(err.to_string().contains("x.bpk"), "{err}");
    }

    #[test]
    fn atomic_write_replaces_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }
}
