//! Checkpoints: a directory `checkpoints/step-NNNNNNNN/` holding the model (burnpack and
//! safetensors, the latter loadable by PyTorch), the optimiser state and the loop state.
//! Every file is written to a temporary name and renamed, the directory is assembled under
//! a temporary name and renamed, and `checkpoints/LATEST` is replaced atomically last, so
//! an interrupted write never leaves a half checkpoint behind the pointer. Files and their
//! directory reach the disk (fsync) before the pointer moves.
//!
//! Every checkpoint and best-model directory records what its files hold ([`FileDigests`], in
//! `state.json` / `info.json`): the model's content digest and the sha256 of every other file.
//! Every load checks them ([`read_model`], [`read_checked`]), so a damaged file is an error
//! naming it, never a silently different model.

use crate::error::{Context, Result, TrainError, bail};
use ballast_core::Classifier;
use ballast_core::method::StateFile;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const MODEL_FILE: &str = "model.bpk";
pub const SAFETENSORS_FILE: &str = "model.safetensors";
pub const OPTIMIZER_FILE: &str = "optimizer.bpk";
pub const STATE_FILE: &str = "state.json";
pub const BEST_INFO_FILE: &str = "info.json";
const LATEST: &str = "LATEST";
/// Checkpoints kept by default (`budget.keep_checkpoints`), the newest included.
pub const DEFAULT_KEEP: usize = 2;

/// What a checkpoint's files hold, recorded beside them (`state.json`, `info.json`) and checked
/// on every load.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FileDigests {
    /// The model file's content digest ([`ballast_core::record::content_digest`]): its
    /// tensors' names, dtypes, shapes and values, whatever the file's layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_digest: Option<String>,
    /// sha256 of every other file, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sha256: BTreeMap<String, String>,
}

impl FileDigests {
    /// The digests of `files` (name, bytes); the model file gets its content digest.
    pub fn of(files: &[(&str, Vec<u8>)]) -> Result<Self> {
        let mut digests = Self::default();
        for (name, bytes) in files {
            if *name == MODEL_FILE {
                digests.content_digest = Some(content_digest(bytes, Path::new(name))?);
            } else {
                digests
                    .sha256
                    .insert(name.to_string(), ballast_data::sha256_hex(bytes));
            }
        }
        Ok(digests)
    }

    /// The digests recorded in checkpoint or best-model directory `dir` (none for directories
    /// written before digests were recorded).
    pub fn recorded(dir: &Path) -> Result<Self> {
        for info in [STATE_FILE, BEST_INFO_FILE] {
            let path = dir.join(info);
            if !path.is_file() {
                continue;
            }
            #[derive(Deserialize)]
            struct Recorded {
                #[serde(default)]
                files: FileDigests,
            }
            let recorded: Recorded = serde_json::from_slice(&read(&path)?)
                .with_context(|| format!("{} is malformed", path.display()))?;
            return Ok(recorded.files);
        }
        Ok(Self::default())
    }

    /// Checks the bytes of file `path` (named by its file name) against these digests.
    pub fn check(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let (want, got) = if name == MODEL_FILE {
            match &self.content_digest {
                Some(want) => (want.clone(), content_digest(bytes, path)?),
                None => return Ok(()),
            }
        } else {
            match self.sha256.get(name) {
                Some(want) => (want.clone(), ballast_data::sha256_hex(bytes)),
                None => return Ok(()),
            }
        };
        if want != got {
            bail!(
                "{} is damaged: its contents do not match the digest recorded beside it ({} {}, found {}); it cannot be trusted",
                path.display(),
                if name == MODEL_FILE {
                    "content digest"
                } else {
                    "sha256"
                },
                short(&want),
                short(&got)
            );
        }
        Ok(())
    }
}

fn short(hex: &str) -> &str {
    &hex[..hex.len().min(16)]
}

/// The content digest of a burnpack model file's bytes: it names the weights, not the file.
pub fn content_digest(bytes: &[u8], what: &Path) -> Result<String> {
    Ok(ballast_core::record::content_digest(
        bytes,
        &what.display().to_string(),
    )?)
}

/// The bytes of model file `path`, checked against the digest recorded in its directory.
pub fn read_model(path: &Path) -> Result<Vec<u8>> {
    let bytes = read(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    FileDigests::recorded(dir)?.check(path, &bytes)?;
    Ok(bytes)
}

/// The bytes of file `name` of checkpoint `dir`, checked against its recorded digest.
pub fn read_checked(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    let bytes = read(&path)?;
    FileDigests::recorded(dir)?.check(&path, &bytes)?;
    Ok(bytes)
}

/// `state.json`: the loop state and the digests of the checkpoint's files.
#[derive(Serialize, Deserialize)]
struct StateOnDisk {
    #[serde(flatten)]
    state: LoopState,
    #[serde(default)]
    files: FileDigests,
}

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
    let files = [
        (MODEL_FILE, model_bytes(model)?),
        (SAFETENSORS_FILE, safetensors_bytes(model)?),
    ];
    let mut info = info.clone();
    info["files"] = serde_json::to_value(FileDigests::of(&files)?)?;
    let tmp = run_dir.join(".best.tmp");
    let dir = run_dir.join(BEST_DIR);
    let written = write_dir(
        &tmp,
        files
            .iter()
            .map(|(n, b)| (*n, b.as_slice()))
            .chain([(BEST_INFO_FILE, serde_json::to_vec_pretty(&info)?.as_slice())]),
    );
    written.with_context(|| format!("cannot write the best model to {}", dir.display()))?;
    let old = run_dir.join(".best.old");
    if dir.exists() {
        if old.exists() {
            fs::remove_dir_all(&old)?;
        }
        fs::rename(&dir, &old)?;
    }
    fs::rename(&tmp, &dir)?;
    sync_dir(run_dir)?;
    if old.exists() {
        fs::remove_dir_all(&old)?;
    }
    Ok(dir)
}

/// Writes `files` into a fresh directory `tmp` and syncs them and it to the disk. On any error
/// the partial directory is removed (a full disk is not kept full by a half checkpoint) and the
/// error names the file.
fn write_dir<'a>(tmp: &Path, files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Result<()> {
    let result = (|| -> Result<()> {
        if tmp.exists() {
            fs::remove_dir_all(tmp)
                .with_context(|| format!("cannot remove the stale {}", tmp.display()))?;
        }
        fs::create_dir_all(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        for (name, bytes) in files {
            write_synced(&tmp.join(name), bytes)?;
        }
        sync_dir(tmp)
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(tmp);
    }
    result
}

/// Writes `bytes` to a new file at `path` and syncs it to the disk.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file =
        fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .with_context(|| format!("cannot write {} ({} bytes)", path.display(), bytes.len()))
}

/// Syncs a directory's entries (new and renamed files) to the disk.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))?;
    Ok(())
}

/// Lower-case hex sha256 of a file's bytes (checkpoints, exported assets): it names the
/// file, not the weights in it.
pub fn file_sha256(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(ballast_data::sha256_hex(&bytes))
}

/// Writes bytes to `path` through a synced temporary file and a rename; a failed write removes
/// its temporary and names it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(match path.extension().and_then(|e| e.to_str()) {
        Some(ext) => format!("{ext}.tmp"),
        None => "tmp".to_string(),
    });
    if let Err(e) = write_synced(&tmp, bytes) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, path).with_context(|| format!("cannot move {} into place", path.display()))?;
    sync_dir(
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )
}

/// A module's burnpack bytes, with stable parameter ids: the same weights always give the
/// same bytes ([`ballast_core::record::with_stable_ids`]).
pub fn model_bytes<M: Module>(model: &M) -> Result<Vec<u8>> {
    Ok(stable_model_bytes(model)?.0)
}

fn stable_model_bytes<M: Module>(model: &M) -> Result<(Vec<u8>, ballast_core::record::IdMap)> {
    let bytes = model
        .valid()
        .into_record()
        .into_bytes()
        .map_err(|e| TrainError::msg(format!("cannot encode model: {e:?}")))?;
    Ok(ballast_core::record::with_stable_ids(&bytes, "the model")?)
}

/// A module's and its optimiser's bytes, both keyed by the module's stable parameter ids.
fn model_and_optimizer_bytes<M: Module>(
    model: &M,
    optim: &ModuleOptimizer,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let (model, ids) = stable_model_bytes(model)?;
    let optim = ballast_core::record::optimizer_with_ids(
        &optimizer_bytes(optim)?,
        &ids,
        "the optimizer state",
    )?;
    Ok((model, optim))
}

/// Safetensors in PyTorch conventions: Linear weights [out, in], BatchNorm gamma/beta as
/// weight/bias, names without the model-family prefix (e.g. `head.weight`).
pub fn safetensors_bytes(model: &Classifier) -> Result<Vec<u8>> {
    // Burn's default metadata is a hash map written in no fixed order: one key instead, so the
    // same weights always give the same bytes.
    let mut store = SafetensorsStore::from_bytes(None)
        .clear_metadata()
        .metadata("format", "pt")
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
    let module = load_model_bytes(module, &read_model(&path)?, &path)?;
    let opt_path = dir.join(optim_file);
    let optim = optim
        .from_bytes(Bytes::from_bytes_vec(read_checked(dir, optim_file)?))
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
    /// Checkpoints kept, the newest included.
    keep: usize,
}

impl Checkpoints {
    pub fn new(run_dir: &Path) -> Self {
        Self {
            root: run_dir.join("checkpoints"),
            keep: DEFAULT_KEEP,
        }
    }

    /// Keeps the newest `keep` checkpoints (at least one) instead of [`DEFAULT_KEEP`].
    pub fn keeping(mut self, keep: usize) -> Self {
        self.keep = keep.max(1);
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
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
        let (model_file, optim_file) = model_and_optimizer_bytes(model, optim)?;
        let mut files: Vec<(&str, Vec<u8>)> = vec![
            (MODEL_FILE, model_file),
            (SAFETENSORS_FILE, safetensors_bytes(model)?),
            (OPTIMIZER_FILE, optim_file),
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
        let (model_file, optim_file) = model_and_optimizer_bytes(module, optim)?;
        let files = [(MODEL_FILE, model_file), (OPTIMIZER_FILE, optim_file)];
        self.save_files(&files, state)
    }

    /// Assembles `step-NNNNNNNN/` from `files` plus the loop state under a temporary name,
    /// renames it into place and moves the pointer.
    fn save_files(&self, files: &[(&str, Vec<u8>)], state: &LoopState) -> Result<PathBuf> {
        fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create {}", self.root.display()))?;
        let name = format!("step-{:08}", state.step);
        let dir = self.root.join(&name);
        if let Some((_, model)) = files.iter().find(|(n, _)| *n == MODEL_FILE) {
            let what = dir.join(MODEL_FILE);
            if let Some(tensor) =
                ballast_core::record::first_non_finite(model, &what.display().to_string())?
            {
                bail!(
                    "the weights diverged by step {}: {tensor} holds a NaN or an infinity; stopped without writing that checkpoint, {}. Lower optimizer.lr or check the data.",
                    state.step,
                    self.last_good()?
                );
            }
        }
        let on_disk = StateOnDisk {
            state: state.clone(),
            files: FileDigests::of(files)?,
        };
        let state_bytes = serde_json::to_vec_pretty(&on_disk)?;
        let tmp = self.root.join(format!(".{name}.tmp"));
        write_dir(
            &tmp,
            files
                .iter()
                .map(|(n, b)| (*n, b.as_slice()))
                .chain([(STATE_FILE, state_bytes.as_slice())]),
        )
        .with_context(|| {
            format!(
                "cannot write the checkpoint of step {} ({}); the run stays resumable from its last checkpoint",
                state.step,
                dir.display()
            )
        })?;
        if dir.exists() {
            fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot replace {}", dir.display()))?;
        }
        fs::rename(&tmp, &dir)
            .with_context(|| format!("cannot move {} into place", dir.display()))?;
        sync_dir(&self.root)?;
        write_atomic(&self.root.join(LATEST), name.as_bytes()).with_context(|| {
            format!(
                "cannot point {} at the checkpoint of step {}; the run stays resumable ({} is complete)",
                self.root.join(LATEST).display(),
                state.step,
                dir.display()
            )
        })?;
        self.prune(&name)?;
        Ok(dir)
    }

    /// "the last good checkpoint is …" (every checkpoint written holds finite weights and a
    /// finite loss: the loop stops before writing one that does not).
    pub fn last_good(&self) -> Result<String> {
        Ok(match self.latest()? {
            Some(dir) => format!("the last good checkpoint is {}", dir.display()),
            None => "no checkpoint was written".to_string(),
        })
    }

    /// The names of the complete checkpoint directories (`step-NNNNNNNN`), oldest first.
    fn step_dirs(&self) -> Result<Vec<String>> {
        if !self.root.is_dir() {
            return Ok(Vec::new());
        }
        let mut names: Vec<String> = fs::read_dir(&self.root)
            .with_context(|| format!("cannot list {}", self.root.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("step-"))
            .collect();
        names.sort();
        Ok(names)
    }

    fn prune(&self, newest: &str) -> Result<()> {
        let older: Vec<String> = self
            .step_dirs()?
            .into_iter()
            .filter(|n| n.as_str() != newest)
            .collect();
        let drop = older.len().saturating_sub(self.keep - 1);
        for n in &older[..drop] {
            let dir = self.root.join(n);
            fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        }
        Ok(())
    }

    /// The newest checkpoint directory, if any: the one `LATEST` names, or — when `LATEST` is
    /// missing, unreadable or names a checkpoint that is gone or incomplete — the newest complete
    /// one, with a warning.
    pub fn latest(&self) -> Result<Option<PathBuf>> {
        let pointer = self.root.join(LATEST);
        let complete =
            |dir: &Path| dir.join(MODEL_FILE).is_file() && dir.join(STATE_FILE).is_file();
        let named = if pointer.exists() {
            match fs::read(&pointer) {
                Ok(bytes) => match std::str::from_utf8(&bytes).map(str::trim) {
                    Ok(name) if name.starts_with("step-") && !name.contains(['/', '\\']) => {
                        let dir = self.root.join(name);
                        if complete(&dir) {
                            return Ok(Some(dir));
                        }
                        format!("names {}, which is missing or incomplete", dir.display())
                    }
                    _ => "does not name a checkpoint".to_string(),
                },
                Err(e) => format!("cannot be read ({e})"),
            }
        } else {
            "is missing".to_string()
        };
        let newest = self
            .step_dirs()?
            .into_iter()
            .rev()
            .map(|n| self.root.join(n))
            .find(|d| complete(d));
        if let Some(dir) = &newest {
            eprintln!(
                "warning: {} {named}; using the newest complete checkpoint, {}",
                pointer.display(),
                dir.display()
            );
        }
        Ok(newest)
    }

    /// The newest checkpoint whose files all match their recorded digests, if any (what a
    /// resume can fall back to when the newest one is damaged).
    pub fn newest_intact(&self) -> Result<Option<PathBuf>> {
        for name in self.step_dirs()?.into_iter().rev() {
            let dir = self.root.join(name);
            if checkpoint_is_intact(&dir) {
                return Ok(Some(dir));
            }
        }
        Ok(None)
    }

    /// Loads model, optimiser and loop state from a checkpoint directory, every file checked
    /// against its recorded digest.
    pub fn load<M: Module>(
        dir: &Path,
        model: M,
        optim: ModuleOptimizer,
    ) -> Result<(M, ModuleOptimizer, LoopState)> {
        let (model, optim) = load_pair(dir, MODEL_FILE, OPTIMIZER_FILE, model, optim)?;
        Ok((model, optim, read_state(dir)?))
    }
}

/// The loop state of checkpoint `dir`.
pub fn read_state(dir: &Path) -> Result<LoopState> {
    let state_path = dir.join(STATE_FILE);
    let on_disk: StateOnDisk = serde_json::from_slice(&read(&state_path)?)
        .with_context(|| format!("{} is malformed", state_path.display()))?;
    Ok(on_disk.state)
}

/// Whether every file of checkpoint `dir` that has a recorded digest matches it.
pub fn checkpoint_is_intact(dir: &Path) -> bool {
    let Ok(digests) = FileDigests::recorded(dir) else {
        return false;
    };
    let names = digests
        .content_digest
        .iter()
        .map(|_| MODEL_FILE.to_string())
        .chain(digests.sha256.keys().cloned());
    for name in names {
        let path = dir.join(&name);
        match fs::read(&path) {
            Ok(bytes) if digests.check(&path, &bytes).is_ok() => {}
            _ => return false,
        }
    }
    dir.join(MODEL_FILE).is_file()
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
