//! A run directory: its files, how a run opens it (fresh or resumed), and how other commands
//! find a run and its model from any path inside it.

use crate::checkpoint::{
    BEST_DIR, Checkpoints, MODEL_FILE, checkpoint_is_intact, load_model_bytes, read_model,
    write_atomic,
};
use crate::config::{RunConfig, Trains};
use crate::error::{Context, Result, bail};
use crate::run_lock::{LOCK_FILE, RunLock};
use ballast_core::{Backend, Classifier, InputSpec};
use burn::prelude::Device;
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "config.toml";
pub const INPUT_FILE: &str = "input.json";
pub const SUMMARY_FILE: &str = "summary.json";

/// How to run (everything that is not part of the experiment itself).
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub out: PathBuf,
    pub backend: Backend,
    /// Continue from the run directory's last checkpoint.
    pub resume: bool,
    /// Write into a non-empty `out` that is not a Ballast run.
    pub force: bool,
    /// Stop after this many steps in total (the schedule still spans the full budget);
    /// used to split a run, e.g. to test resume.
    pub stop_after: Option<usize>,
    /// Show a progress bar (only drawn on a terminal).
    pub progress: bool,
    /// Where datasets are cached / found.
    pub data_dir: PathBuf,
    /// Devices of the backend the batch is split over (data parallelism, method erm); 1 is
    /// the ordinary single-device run.
    pub devices: usize,
}

/// `runs/<name>`, or `runs/<name>-2`, `-3`, … if that already exists: where a run goes when
/// the user names no directory.
pub fn fresh_run_dir(name: &str) -> PathBuf {
    let base = Path::new("runs").join(name);
    if !base.exists() {
        return base;
    }
    (2..)
        .map(|i| Path::new("runs").join(format!("{name}-{i}")))
        .find(|p| !p.exists())
        .expect("a free directory name")
}

/// A run directory opened for writing by [`open_run_dir`].
pub struct OpenedRun {
    pub ckpts: Checkpoints,
    /// The checkpoint to resume from (`--resume`), checked intact.
    pub resume_from: Option<PathBuf>,
    /// Held for the run's life: no second writer meanwhile.
    pub lock: RunLock,
}

/// Creates (or, with `--resume`, reopens) the run directory, locks it and saves the config
/// there. Refuses a directory another process is writing, a non-empty directory that is not a
/// run (without `--force`), a run without `--resume`, a `--resume` with no checkpoint, and a
/// damaged checkpoint (naming the newest intact one).
pub fn open_run_dir(cfg: &RunConfig, opts: &RunOptions) -> Result<OpenedRun> {
    let run_dir = &opts.out;
    let existed = run_dir.exists();
    if existed && !run_dir.is_dir() {
        bail!("--out {} exists and is not a directory", run_dir.display());
    }
    let foreign = existed && !is_run_dir(run_dir) && !is_empty_dir(run_dir)?;
    if foreign && !opts.force {
        bail!(
            "--out {} is a non-empty directory that is not a Ballast run (no {CONFIG_FILE}); choose an empty or new directory, or pass --force to write into it",
            run_dir.display()
        );
    }
    std::fs::create_dir_all(run_dir)
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    let lock = RunLock::acquire(run_dir)?;
    let ckpts = Checkpoints::new(run_dir).keeping(cfg.budget.keep_checkpoints);
    let latest = ckpts.latest()?;
    let config_path = run_dir.join(CONFIG_FILE);
    let resume_from = if opts.resume {
        let Some(latest) = latest else {
            bail!(
                "--resume: {} has no checkpoint to resume from; run without --resume to start it",
                run_dir.display()
            );
        };
        if config_path.exists() {
            let saved = RunConfig::load(&config_path, &[])?;
            if &saved != cfg {
                bail!(
                    "--resume: the config differs from the one saved in {}; resume with that file or start a new --out",
                    config_path.display()
                );
            }
        }
        if !checkpoint_is_intact(&latest) {
            let offer = match ckpts.newest_intact()? {
                Some(intact) => format!(
                    "the newest intact checkpoint is {}: move the damaged one out of {} and --resume again to continue from it",
                    intact.display(),
                    ckpts.root().display()
                ),
                None => "no intact checkpoint is left; start the run again".to_string(),
            };
            bail!(
                "--resume: {} is damaged (a file does not match the digest recorded in its state.json); {offer}",
                latest.display()
            );
        }
        Some(latest)
    } else {
        if latest.is_some() {
            bail!(
                "{} already holds a run; pass --resume to continue it or choose another --out",
                run_dir.display()
            );
        }
        None
    };
    write_atomic(&config_path, cfg.to_toml().as_bytes())?;
    Ok(OpenedRun {
        ckpts,
        resume_from,
        lock,
    })
}

/// Whether `dir` holds a Ballast run (its config, or checkpoints).
fn is_run_dir(dir: &Path) -> bool {
    dir.join(CONFIG_FILE).is_file() || dir.join("checkpoints").is_dir()
}

fn is_empty_dir(dir: &Path) -> Result<bool> {
    let mut entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    Ok(entries.all(|e| e.is_ok_and(|e| e.file_name() == LOCK_FILE)))
}

/// The run directory at or above `path` (a run directory, a checkpoint directory or a model
/// file inside one).
pub fn find_run_dir(path: &Path) -> Result<PathBuf> {
    for dir in path.ancestors() {
        if dir.join(CONFIG_FILE).is_file() && dir.join(INPUT_FILE).is_file() {
            return Ok(dir.to_path_buf());
        }
    }
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    bail!(
        "{} is not inside a Ballast run directory (no config.toml + input.json found above it)",
        path.display()
    )
}

/// What a run directory holds, from its saved config.
pub fn run_trains(run_dir: &Path) -> Result<Trains> {
    let cfg = RunConfig::load(&run_dir.join(CONFIG_FILE), &[])?;
    Ok(cfg.method.info().trains)
}

/// The model of a run directory at its newest checkpoint, on `device`.
pub fn load_run_model(
    run_dir: &Path,
    device: &Device,
) -> Result<(RunConfig, InputSpec, Classifier, PathBuf)> {
    let cfg = RunConfig::load(&run_dir.join(CONFIG_FILE), &[])?;
    let input_path = run_dir.join(INPUT_FILE);
    let input: InputSpec = serde_json::from_slice(
        &std::fs::read(&input_path)
            .with_context(|| format!("cannot read {}", input_path.display()))?,
    )
    .with_context(|| format!("{} is malformed", input_path.display()))?;
    let ckpt = Checkpoints::new(run_dir)
        .latest()?
        .with_context(|| format!("{} has no checkpoint", run_dir.display()))?;
    let model = cfg.model.init(&input, device);
    let path = ckpt.join(MODEL_FILE);
    let model = load_model_bytes(model, &read_model(&path)?, &path)?;
    Ok((cfg, input, model, path))
}

/// A run's model named by `path`: a run directory (its newest checkpoint, or its
/// best-by-validation model with `best`), a checkpoint directory or a model file. Returns
/// the run directory, its config, the model and the file it came from.
pub fn load_named_model(
    path: &Path,
    best: bool,
    device: &Device,
) -> Result<(PathBuf, RunConfig, Classifier, PathBuf)> {
    let run_dir = find_run_dir(path)?;
    let (cfg, _input, mut model, mut file) = load_run_model(&run_dir, device)?;
    let named = if path.is_file() {
        Some(path.to_path_buf())
    } else if best {
        let best_file = run_dir.join(BEST_DIR).join(MODEL_FILE);
        if !best_file.is_file() {
            if cfg.data.val_size == 0 {
                bail!(
                    "--best: {} selects no model: it has no validation split (data.val_size = 0), and a model is never chosen on test data",
                    run_dir.display()
                );
            }
            bail!(
                "--best: {} does not exist (runs with a robust evaluation keep their best-by-validation model there)",
                best_file.display()
            );
        }
        Some(best_file)
    } else {
        Some(path.join(MODEL_FILE)).filter(|p| p.is_file())
    };
    if let Some(named) = named {
        model = load_model_bytes(model, &read_model(&named)?, &named)?;
        file = named;
    }
    Ok((run_dir, cfg, model, file))
}
