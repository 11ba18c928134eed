//! The training loop: data, model, optimiser, schedule, periodic evaluation, metrics,
//! checkpoints, resume and the final report.

use crate::checkpoint::{BEST_DIR, Checkpoints, LoopState, save_best, write_atomic};
use crate::config::RunConfig;
use crate::data::{EpochOrder, PreparedData, augmented_batch_of, batch_of, epoch_order};
use crate::eval::evaluate;
use crate::metrics::{EvalRecord, MetricsLog, RobustSummary, Summary};
use crate::perturbation::load_cvae;
use crate::plot::{plot_robust, plot_run, plot_weights};
use crate::robust_eval::{evaluate_robust, first_positions};
use crate::weights::WeightLog;
use anyhow::{Context, Result, bail};
use ballast_core::method::{
    EpochCheck, EpochVerdict, MethodSetup, MethodState, StepContext, TrainedRuns, Trains,
};
use ballast_core::step::erm_step;
use ballast_core::{Backend, Batch, Classifier, CoreError};
use burn::module::Module;
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How to run (everything that is not part of the experiment itself).
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub out: PathBuf,
    pub backend: Backend,
    /// Continue from the run directory's last checkpoint.
    pub resume: bool,
    /// Stop after this many steps in total (the schedule still spans the full budget);
    /// used to split a run, e.g. to test resume.
    pub stop_after: Option<usize>,
    /// Show a progress bar (only drawn on a terminal).
    pub progress: bool,
    /// Where datasets are cached / found.
    pub data_dir: PathBuf,
}

pub const CONFIG_FILE: &str = "config.toml";
pub const INPUT_FILE: &str = "input.json";
pub const SUMMARY_FILE: &str = "summary.json";

/// Seed of the device RNG at a given step, so dropout masks do not depend on how a run was
/// split into resumed pieces.
fn step_seed(seed: u64, step: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(step as u64 + 1)
}

/// Steps per epoch and the total budget.
pub fn budget_steps(cfg: &RunConfig, train_len: usize) -> (usize, usize) {
    let per_epoch = train_len.div_ceil(cfg.budget.batch_size).max(1);
    let total = if cfg.budget.steps > 0 {
        cfg.budget.steps
    } else {
        cfg.budget.epochs * per_epoch
    };
    (per_epoch, total)
}

/// Creates (or, with `--resume`, reopens) the run directory and saves the config there.
/// Returns the checkpoints and the newest one.
pub(crate) fn open_run_dir(
    cfg: &RunConfig,
    opts: &RunOptions,
) -> Result<(Checkpoints, Option<PathBuf>)> {
    let run_dir = &opts.out;
    std::fs::create_dir_all(run_dir)
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    let ckpts = Checkpoints::new(run_dir);
    let latest = ckpts.latest()?;
    let config_path = run_dir.join(CONFIG_FILE);
    if opts.resume {
        if config_path.exists() {
            let saved = RunConfig::load(&config_path, &[])?;
            if &saved != cfg {
                bail!(
                    "--resume: the config differs from the one saved in {}; resume with that file or start a new --out",
                    config_path.display()
                );
            }
        }
    } else if latest.is_some() {
        bail!(
            "{} already holds a run; pass --resume to continue it or choose another --out",
            run_dir.display()
        );
    }
    write_atomic(&config_path, cfg.to_toml().as_bytes())?;
    Ok((ckpts, latest))
}

/// Trains the classifier of `cfg` (every method but `cvae`: [`crate::cvae_run::train_cvae`]).
pub fn train(cfg: &RunConfig, opts: &RunOptions) -> Result<Summary> {
    if cfg.method.info().trains != Trains::Classifier {
        bail!(
            "method {} trains a perturbation set, not a classifier: use cvae_run::train_cvae",
            cfg.method
        );
    }
    let run_dir = &opts.out;
    let (ckpts, latest) = open_run_dir(cfg, opts)?;

    let data = PreparedData::prepare(cfg, &opts.data_dir)?;
    write_atomic(
        &run_dir.join(INPUT_FILE),
        &serde_json::to_vec_pretty(&data.input)?,
    )?;
    data.write_description(run_dir)?;

    let device = opts.backend.device()?.autodiff();
    // Learned perturbation set (frozen, plain) of latent-at / cvae-aug, and of the latent
    // robust evaluation of any non-ℓp run that names one (the erm / transform-aug baselines).
    // Loaded before the run's RNG is seeded, so it draws nothing from the run's stream.
    let cvae = match (
        &cfg.perturbation.cvae,
        cfg.method.needs_perturbation_set() || !cfg.method.is_adversarial(),
    ) {
        (Some(dir), true) => {
            let loaded = load_cvae(dir, &device.clone().inner())?;
            if loaded.config.shape.iter().product::<usize>() != data.input.features() {
                bail!(
                    "the CVAE of {} models images {:?}; this run's data has {:?}",
                    dir.display(),
                    loaded.config.shape,
                    data.input.shape
                );
            }
            Some(loaded.cvae.set)
        }
        _ => None,
    };
    device.seed(cfg.seed);
    let mut model = cfg.model.init(&data.input, &device);
    let mut optim = cfg.optimizer.init();
    let mut state = LoopState::default();
    let class_freq = class_frequencies(&data.train);
    let probe = batch_of(&data.train, &[0], &device);
    let validation_split = data
        .val
        .as_ref()
        .filter(|_| cfg.method.needs_validation())
        .map(|v| {
            let all: Vec<usize> = (0..v.len()).collect();
            batch_of(v, &all, &device)
        });
    let runs = RunDirs {
        cfg,
        device: device.clone().inner(),
    };
    let mut method = MethodState::new(
        cfg.method,
        &cfg.method_config(),
        &MethodSetup {
            model: &model,
            probe: &probe,
            input: &data.input,
            train_len: data.train.len(),
            class_freq: &class_freq,
            validation: validation_split.as_ref(),
            perturbation_set: cvae.as_ref(),
            runs: &runs,
            device: &device,
        },
    )?;
    drop(validation_split);
    if opts.resume {
        if let Some(dir) = &latest {
            let (m, o, s) = Checkpoints::load(dir, model, optim)?;
            (model, optim, state) = (m, o, s);
            let files = crate::checkpoint::method_files(dir, &state);
            method.restore(&|name| files(name)).with_context(|| {
                format!("cannot restore the method state from {}", dir.display())
            })?;
            eprintln!("resuming from {} (step {})", dir.display(), state.step);
        }
    }
    // Adversarial training and the per-epoch robust evaluation.
    let adv = &cfg.adversarial;
    let latent = cvae.is_some();
    let robust_eval_on = adv.eval.unwrap_or(cfg.method.is_adversarial() || latent);
    // Latent methods are evaluated against their own threat model.
    let eval_attack = if latent {
        cfg.perturbation.eval_attack()
    } else {
        adv.eval_attack()
    };
    let mut metrics = MetricsLog::open(run_dir, opts.resume.then_some(state.step))?;

    let (per_epoch, main_total) = budget_steps(cfg, data.train.len());
    // "+FT": plain steps on the clean validation split after the main budget.
    let total = main_total + cfg.budget.finetune_steps;
    let (eval_every, ckpt_every) = cfg.budget.intervals(per_epoch);
    let stop = opts.stop_after.unwrap_or(total).min(total);

    let bar = progress_bar(opts.progress, total, state.step);
    let started = Instant::now();
    let elapsed_before = state.elapsed_s;
    let steps_at_start = state.step;
    let mut order = EpochOrder::default();
    let mut weight_log = (cfg.meta.export_weights_every > 0)
        .then(|| WeightLog::open(run_dir, opts.resume.then_some(state.step)))
        .transpose()?;
    let mut last_record = None;

    while state.step < stop {
        let step = state.step;
        let positions = order.batch(
            data.train.len(),
            cfg.seed,
            step,
            per_epoch,
            cfg.budget.batch_size,
        );
        let batch = augmented_batch_of(
            &data.train,
            positions,
            cfg.data.augment,
            cfg.data.augment_padding,
            cfg.data.augment_pad_mode,
            cfg.data.cutout,
            step_seed(cfg.seed, step) ^ 0x5eed_a06,
            &device,
        )?;
        let finetuning = step >= main_total;
        let lr = if finetuning {
            cfg.budget.finetune_lr.unwrap_or(0.1 * cfg.optimizer.lr)
        } else {
            cfg.optimizer.lr * cfg.schedule.factor(step, main_total)
        };

        device.seed(step_seed(cfg.seed, step));
        let (next, losses, weights, robust_correct) = if finetuning {
            let val = validation_batch(&data, cfg, step, &device)?;
            let (m, l) = erm_step(model, &mut optim, &val, &cfg.loss, lr);
            (m, l, None, None)
        } else {
            let validation = || {
                validation_batch(&data, cfg, step, &device)
                    .expect("the run config guarantees a validation split to methods that read one")
            };
            let out = method.step(
                model,
                &mut optim,
                &batch,
                &StepContext {
                    step,
                    total,
                    steps_per_epoch: per_epoch,
                    lr,
                    seed: step_seed(cfg.seed, step),
                    positions,
                    validation: data
                        .val
                        .is_some()
                        .then_some(&validation as &dyn Fn() -> Batch),
                },
            )?;
            (out.model, out.losses, out.weights, out.robust_correct)
        };
        let mean_loss = losses.clone().mean().into_scalar::<f32>() as f64;
        if !mean_loss.is_finite() {
            bar.abandon();
            let kept = ckpts
                .latest()?
                .map(|d| format!("the last good checkpoint is {}", d.display()))
                .unwrap_or_else(|| "no checkpoint was written yet".into());
            bail!(
                "training loss became {mean_loss} at step {} (lr {lr:.3e}); stopped, {kept}. Lower optimizer.lr or check the data.",
                step + 1
            );
        }
        model = next;
        if let Some(c) = robust_correct {
            state.adv_correct += c;
            state.adv_seen += batch.len();
        }
        if let (Some(w), Some(log), false) = (&weights, weight_log.as_mut(), finetuning) {
            if step % cfg.meta.export_weights_every == 0 {
                log.append(step + 1, &data, positions, w.clone(), losses.clone())?;
            }
        }
        state.step += 1;
        state.loss_sum += mean_loss;
        state.loss_count += 1;
        bar.set_position(state.step as u64);
        bar.set_message(format!("loss {mean_loss:.4}"));

        // Epoch-end checks of the method (fgsm-rs: catastrophic overfitting).
        let mut stop_now = false;
        if !finetuning && state.step % per_epoch == 0 {
            let first = batch_of(
                &data.train,
                &first_positions(data.train.len(), cfg.budget.batch_size),
                &device.clone().inner(),
            );
            let check = EpochCheck {
                epoch: state.step / per_epoch,
                first_batch: &first,
                seed: cfg.seed,
            };
            model = match method.end_of_epoch(model, &check) {
                EpochVerdict::Continue(m) => m,
                EpochVerdict::Stop { model, reason } => {
                    bar.println(&reason);
                    state.stopped_early = Some(reason);
                    stop_now = true;
                    model
                }
            };
        }

        let done = state.step == total || stop_now;
        if state.step % eval_every == 0 || done {
            let elapsed = elapsed_before + started.elapsed().as_secs_f64();
            let plain = model.valid();
            let val = data.val.as_ref().map(|v| {
                evaluate(
                    &plain,
                    v,
                    cfg.budget.eval_batch_size,
                    &device.clone().inner(),
                )
            });
            let test = evaluate(
                &plain,
                &data.test,
                cfg.budget.eval_batch_size,
                &device.clone().inner(),
            );
            let robust = robust_eval_on.then(|| {
                let dev = device.clone().inner();
                let atk = std::slice::from_ref(&eval_attack);
                let bs = cfg.budget.batch_size;
                let seed = cfg.seed ^ 0xE7A1;
                let on = |d: &ballast_data::Dataset, limit: usize| {
                    evaluate_robust(
                        &plain,
                        d,
                        &first_positions(d.len(), limit),
                        atk,
                        bs,
                        seed,
                        &dev,
                        cvae.as_ref(),
                    )
                };
                (
                    on(&data.train, adv.eval_train_examples),
                    data.val.as_ref().map(|v| on(v, 0)),
                    on(&data.test, adv.eval_test_examples),
                )
            });
            let record = EvalRecord {
                step: state.step,
                epoch: state.step as f64 / per_epoch as f64,
                lr,
                train_loss: state.loss_sum / state.loss_count.max(1) as f64,
                val_loss: val.map(|v| v.loss),
                val_acc: val.map(|v| v.accuracy),
                test_loss: test.loss,
                test_acc: test.accuracy,
                loss_hyper: method.loss_hyper().map(|h| {
                    h.try_into_vec_as::<f32>()
                        .expect("hyperparameters are readable")
                        .into_iter()
                        .map(f64::from)
                        .collect()
                }),
                elapsed_s: elapsed,
                steps_per_s: (state.step - steps_at_start) as f64
                    / started.elapsed().as_secs_f64().max(1e-9),
                train_adv_acc: (state.adv_seen > 0)
                    .then(|| state.adv_correct as f64 / state.adv_seen as f64),
                train_acc: robust.as_ref().map(|r| r.0.clean_accuracy),
                train_robust_acc: robust.as_ref().map(|r| r.0.worst_case_accuracy),
                val_robust_acc: robust
                    .as_ref()
                    .and_then(|r| r.1.as_ref().map(|v| v.worst_case_accuracy)),
                test_robust_acc: robust.as_ref().map(|r| r.2.worst_case_accuracy),
            };
            // Model selection: robust validation accuracy when robustness is evaluated.
            let score = match &robust {
                Some(_) => record
                    .val_robust_acc
                    .or(record.test_robust_acc)
                    .unwrap_or(0.0),
                None => record.val_acc.unwrap_or(record.test_acc),
            };
            if state.best_val_acc.is_none_or(|b| score > b) {
                state.best_val_acc = Some(score);
                state.best_step = Some(state.step);
                state.test_acc_at_best = Some(record.test_acc);
                state.test_robust_at_best = record.test_robust_acc;
                if robust.is_some() {
                    save_best(
                        run_dir,
                        &model,
                        &serde_json::json!({
                            "step": state.step,
                            "epoch": record.epoch,
                            "selected_on": if record.val_robust_acc.is_some() { "validation robust accuracy" } else { "test robust accuracy (no validation split)" },
                            "score": score,
                            "attack": &eval_attack,
                            "record": &record,
                        }),
                    )?;
                }
            }
            state.loss_sum = 0.0;
            state.loss_count = 0;
            state.adv_correct = 0;
            state.adv_seen = 0;
            metrics.append(&record)?;
            let pct = |label: &str, a: Option<f64>| {
                a.map(|a| format!("  {label} {:.2}%", 100.0 * a))
                    .unwrap_or_default()
            };
            bar.println(format!(
                "step {:>6}  epoch {:>5.2}  lr {:.2e}  train loss {:.4}{}{}  test acc {:.2}%{}{}",
                record.step,
                record.epoch,
                record.lr,
                record.train_loss,
                pct("train adv acc", record.train_adv_acc),
                pct("val acc", record.val_acc),
                100.0 * record.test_acc,
                pct("val robust", record.val_robust_acc),
                pct("test robust", record.test_robust_acc),
            ));
            last_record = Some(record);
        }
        if state.step % ckpt_every == 0 || done || state.step == stop {
            state.elapsed_s = elapsed_before + started.elapsed().as_secs_f64();
            ckpts.save(&model, &optim, &method.save()?, &state)?;
        }
        if stop_now {
            break;
        }
    }
    bar.finish_and_clear();

    let wall = elapsed_before + started.elapsed().as_secs_f64();
    let ran = (state.step - steps_at_start) as f64;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let records = metrics.records()?;
    let summary = Summary {
        method: cfg.method.name().to_string(),
        model: format!("{:?}", cfg.model.arch),
        dataset: format!("{:?}", cfg.data.dataset),
        seed: cfg.seed,
        steps: state.step,
        final_record: last_record.or_else(|| records.last().cloned()),
        best_val_acc: state.best_val_acc,
        best_step: state.best_step,
        test_acc_at_best_val: state.test_acc_at_best,
        wall_time_s: wall,
        steps_per_s: ran / secs,
        examples_per_s: ran * cfg.budget.batch_size as f64 / secs,
        device: opts.backend.to_string(),
        checkpoint: ckpts.latest()?,
        label_noise: data.noise_summary(),
        robust: robust_eval_on.then(|| {
            let best = records
                .iter()
                .filter_map(|r| r.test_robust_acc.map(|a| (a, r.epoch)))
                .fold(None::<(f64, f64)>, |m, x| match m {
                    Some(m) if m.0 >= x.0 => Some(m),
                    _ => Some(x),
                });
            let fin = records.last();
            RobustSummary {
                attack: eval_attack.clone(),
                test_examples: first_positions(data.test.len(), adv.eval_test_examples).len(),
                best_epoch: state.best_step.map(|s| s as f64 / per_epoch as f64),
                test_robust_at_best_val: state.test_robust_at_best,
                test_clean_at_best_val: state.test_acc_at_best,
                best_test_robust: best.map(|b| b.0),
                best_test_robust_epoch: best.map(|b| b.1),
                final_test_robust: fin.and_then(|r| r.test_robust_acc),
                final_test_clean: fin.map(|r| r.test_acc),
                best_checkpoint: Some(run_dir.join(BEST_DIR).join(crate::checkpoint::MODEL_FILE))
                    .filter(|p| p.exists()),
            }
        }),
        stopped_early: state.stopped_early.clone(),
        method_state: method.report(),
    };
    write_atomic(
        &run_dir.join(SUMMARY_FILE),
        &serde_json::to_vec_pretty(&summary)?,
    )?;
    if let Err(e) = plot_run(run_dir, &records) {
        eprintln!("warning: could not draw plots: {e:#}");
    }
    if robust_eval_on {
        if let Err(e) = plot_robust(run_dir, &records, state.best_step) {
            eprintln!("warning: could not draw the robust plot: {e:#}");
        }
    }
    if weight_log.is_some() {
        if let Err(e) = plot_weights(run_dir, cfg.budget.batch_size) {
            eprintln!("warning: could not draw the weight plot: {e:#}");
        }
    }
    Ok(summary)
}

/// Fraction of training examples per class (labels as seen by the learner).
fn class_frequencies(train: &ballast_data::Dataset) -> Vec<f32> {
    let counts = train.class_counts();
    let n = train.len().max(1) as f32;
    counts.iter().map(|&c| c as f32 / n).collect()
}

/// The clean validation batch of a meta step: all of the split if it is small, otherwise
/// `meta.val_batch_size` examples drawn from the step (reproducible across resume).
fn validation_batch(
    data: &PreparedData,
    cfg: &RunConfig,
    step: usize,
    device: &Device,
) -> Result<Batch> {
    let val = data
        .val
        .as_ref()
        .context("this method needs a clean validation split (data.val_size > 0)")?;
    let m = cfg.meta.val_batch_size;
    if val.len() <= m {
        let all: Vec<usize> = (0..val.len()).collect();
        return Ok(batch_of(val, &all, device));
    }
    let per_epoch = val.len() / m;
    let order = epoch_order(val.len(), cfg.seed ^ 0x5EED_0F_7A1, step / per_epoch);
    let offset = (step % per_epoch) * m;
    Ok(batch_of(val, &order[offset..offset + m], device))
}

pub(crate) fn progress_bar(show: bool, total: usize, pos: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(total as u64),
        if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {per_sec}  ETA {eta}  {msg}")
            .expect("valid template"),
    );
    bar.set_position(pos as u64);
    bar
}

/// The model of a run directory at its newest checkpoint, on `device`.
pub fn load_run_model(
    run_dir: &Path,
    device: &Device,
) -> Result<(RunConfig, ballast_core::InputSpec, Classifier, PathBuf)> {
    let cfg = RunConfig::load(&run_dir.join(CONFIG_FILE), &[])?;
    let input_path = run_dir.join(INPUT_FILE);
    let input: ballast_core::InputSpec = serde_json::from_slice(
        &std::fs::read(&input_path)
            .with_context(|| format!("cannot read {}", input_path.display()))?,
    )
    .with_context(|| format!("{} is malformed", input_path.display()))?;
    let ckpt = Checkpoints::new(run_dir)
        .latest()?
        .with_context(|| format!("{} has no checkpoint", run_dir.display()))?;
    let model = cfg.model.init(&input, device);
    let path = ckpt.join(crate::checkpoint::MODEL_FILE);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let model = crate::checkpoint::load_model_bytes(model, &bytes, &path)?;
    Ok((cfg, input, model, path))
}

/// The runs a method builds on, read from their directories: each must have trained on the
/// same data as this run.
struct RunDirs<'a> {
    cfg: &'a RunConfig,
    device: Device,
}

impl TrainedRuns for RunDirs<'_> {
    fn classifier(&self, dir: Option<&Path>) -> Result<Classifier, CoreError> {
        let dir = dir.ok_or_else(|| {
            CoreError::config(format!(
                "method {} builds on a classifier trained on the same data: name its run directory in [{}]",
                self.cfg.method, self.cfg.method
            ))
        })?;
        let (other, _, model, _) =
            load_run_model(dir, &self.device).map_err(|e| CoreError::config(format!("{e:#}")))?;
        if (&other.data, other.seed) != (&self.cfg.data, self.cfg.seed) {
            return Err(CoreError::config(format!(
                "{} trained on other data ([data] or seed differ from this run's)",
                dir.display()
            )));
        }
        Ok(model)
    }
}
