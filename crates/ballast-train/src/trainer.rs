//! The training loop in stages, shared by classifier and CVAE runs:
//!
//! ```text
//! setup / resume ─► ( step ─► epoch-end check ─► evaluate and select ─► checkpoint )* ─► summary
//! ```
//!
//! The loop owns what every run has: the run directory, the prepared data, the epoch order,
//! the learning-rate schedule (and the "+FT" fine-tuning tail), the per-step seeds, the
//! staging of each step's inputs ahead of it ([`crate::staging`]), the reading of the steps'
//! results a batch of steps at a time ([`Task::settle`]: a step reads nothing back from the
//! device), the non-finite-loss guard, the progress bar, the metrics log, timing and the loop
//! state. A
//! [`Task`] owns the model and everything specific to it: [`crate::classifier_task`] (every
//! method of [`ballast_core::method`]) and [`crate::cvae_task`] (perturbation sets).

use crate::checkpoint::{Checkpoints, LoopState, write_atomic};
use crate::config::RunConfig;
use crate::data::{EpochOrder, PreparedData};
use crate::error::{Result, bail};
use crate::run_dir::{INPUT_FILE, RunOptions, SUMMARY_FILE, open_run_dir};
use crate::run_log::{LineFormat, RunLog};
use crate::staging::Stager;
use ballast_core::{Method, StepSeeds};
use burn::prelude::{Device, Tensor};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What every stage of a run may read.
pub struct RunContext<'a> {
    pub cfg: &'a RunConfig,
    pub opts: &'a RunOptions,
    pub data: &'a PreparedData,
    pub ckpts: &'a Checkpoints,
    /// The autodiff device of the run (with data parallelism, the main device).
    pub device: Device,
    /// The autodiff devices a step's batch is split over (`--devices`); just `device` in an
    /// ordinary run.
    pub replicas: Vec<Device>,
    pub steps_per_epoch: usize,
    /// Steps of the main budget, and with the fine-tuning tail.
    pub main_steps: usize,
    pub total_steps: usize,
}

impl RunContext<'_> {
    pub fn run_dir(&self) -> &Path {
        &self.opts.out
    }
}

/// Where a step is.
pub struct StepAt<'a> {
    /// 0-based step.
    pub step: usize,
    pub lr: f64,
    /// This step's seed (the task's [`Task::SEEDS`] stream).
    pub seed: u64,
    /// Training-split positions of the batch.
    pub positions: &'a [usize],
    /// A step of the "+FT" tail (plain steps on the clean validation split).
    pub finetuning: bool,
}

/// Where a step that has run is, for reading its results ([`Task::settle`]).
pub struct SettleAt {
    /// 0-based step.
    pub step: usize,
    pub lr: f64,
    /// Examples in the step's batch.
    pub batch: usize,
}

/// The loss a settled step reports: accumulated for the evaluation record and guarded against
/// non-finite values.
pub struct StepLoss {
    pub value: f64,
    /// What the value is ("training loss"), for the error when it is not finite.
    pub what: &'static str,
    /// More of the step for that error and the progress bar ("reconstruction 3.2, KL 0.4").
    pub detail: String,
}

/// Where an evaluation is.
pub struct EvalAt {
    /// Steps completed.
    pub step: usize,
    pub lr: f64,
    /// Wall time of the run so far and its training speed since this process started.
    pub elapsed_s: f64,
    pub steps_per_s: f64,
}

/// Wall time and speed of the finished run.
pub struct RunTiming {
    pub wall_time_s: f64,
    pub steps_per_s: f64,
}

/// What trains, evaluates and reports in a run.
pub trait Task: Sized {
    /// One evaluation point, a line of [`Task::METRICS_FILE`].
    type Record: Serialize;
    /// `summary.json`.
    type Summary: Serialize;
    /// A step's inputs (its batches), built on the run device ahead of the step.
    type Staged: Send;
    const METRICS_FILE: &'static str;
    const SEEDS: StepSeeds;

    /// Builds the task; from checkpoint `resume_from` (with its loop state) when given.
    fn setup(run: &RunContext, resume_from: Option<&Path>) -> Result<(Self, LoopState)>;

    /// Builds the inputs of the step at `at` on the run device. Runs on the staging thread
    /// ([`crate::staging`]) while the previous step computes, so it reads only the run, and
    /// every draw it makes must be seeded by `at`.
    fn stage(run: &RunContext, at: &StepAt) -> Result<Self::Staged>;

    /// One optimiser step on `staged`, the inputs of the batch at `at.positions`. Returns the
    /// step's readings, [k] scalars left on the device: a step reads nothing back to the host
    /// (on a GPU that would drain the queue every step). The loop reads the readings of many
    /// steps at once, in order, and hands each step's to [`Task::settle`].
    fn step(
        &mut self,
        run: &RunContext,
        state: &mut LoopState,
        at: &StepAt,
        staged: Self::Staged,
    ) -> Result<Tensor<1>>;

    /// A step's readings, now on the host: accumulates them and returns the step's loss.
    fn settle(
        &mut self,
        run: &RunContext,
        state: &mut LoopState,
        at: &SettleAt,
        readings: &[f32],
    ) -> Result<StepLoss>;

    /// After each completed epoch of the main budget: a reason to stop training, if any.
    fn end_of_epoch(
        &mut self,
        _run: &RunContext,
        _state: &mut LoopState,
    ) -> Result<Option<String>> {
        Ok(None)
    }

    /// An evaluation point: the record, and model selection in `state`.
    fn evaluate(
        &mut self,
        run: &RunContext,
        state: &mut LoopState,
        at: &EvalAt,
    ) -> Result<Self::Record>;

    /// The progress line of a record.
    fn describe(record: &Self::Record) -> String;

    /// What in a record is not finite ("test loss inf"), if anything: the model has diverged,
    /// and the run stops before checkpointing it.
    fn diverged(_record: &Self::Record) -> Option<String> {
        None
    }

    /// Writes a checkpoint of the task and `state`.
    fn checkpoint(&self, run: &RunContext, state: &LoopState) -> Result<PathBuf>;

    /// The run's report; `metrics` is the log of every evaluation.
    fn summary(
        &self,
        run: &RunContext,
        state: &LoopState,
        timing: &RunTiming,
        last: Option<Self::Record>,
        metrics: &Path,
    ) -> Result<Self::Summary>;

    /// After the summary: plots and other views of the finished run (failures are warnings).
    fn draw(&self, _run: &RunContext, _state: &LoopState, _metrics: &Path) -> Result<()> {
        Ok(())
    }
}

/// Steps per epoch and the main budget.
pub fn budget_steps(cfg: &RunConfig, train_len: usize) -> (usize, usize) {
    let per_epoch = train_len.div_ceil(cfg.budget.batch_size).max(1);
    let total = if cfg.budget.steps > 0 {
        cfg.budget.steps
    } else {
        cfg.budget.epochs * per_epoch
    };
    (per_epoch, total)
}

/// Runs `T` for `cfg` in the run directory of `opts`, through every stage.
pub fn train<T: Task>(cfg: &RunConfig, opts: &RunOptions) -> Result<T::Summary> {
    // Setup / resume.
    if opts.devices > 1 && cfg.method != Method::Erm {
        bail!(
            "--devices {} (data parallelism) supports method erm so far, not {}",
            opts.devices,
            cfg.method
        );
    }
    let replicas: Vec<Device> = opts
        .backend
        .devices(opts.devices)?
        .into_iter()
        .map(|d| d.autodiff())
        .collect();
    let run_dir = &opts.out;
    let opened = open_run_dir(cfg, opts)?;
    let ckpts = opened.ckpts;
    let data = PreparedData::prepare(cfg, &opts.data_dir)?;
    write_atomic(
        &run_dir.join(INPUT_FILE),
        &serde_json::to_vec_pretty(&data.input)?,
    )?;
    data.write_description(run_dir)?;
    let (steps_per_epoch, main_steps) = budget_steps(cfg, data.train.len());
    let run = RunContext {
        cfg,
        opts,
        data: &data,
        ckpts: &ckpts,
        device: replicas[0].clone(),
        replicas,
        steps_per_epoch,
        main_steps,
        total_steps: main_steps + cfg.budget.finetune_steps,
    };
    let resume_from = opened.resume_from;
    let (mut task, mut state) = T::setup(&run, resume_from.as_deref())?;
    if let Some(dir) = &resume_from {
        eprintln!("resuming from {} (step {})", dir.display(), state.step);
    } else {
        // The initial model, so that a run can be checked from its first step.
        task.checkpoint(&run, &state)?;
    }
    let mut log = RunLog::open(
        &run_dir.join(T::METRICS_FILE),
        LineFormat::JsonRecords,
        opts.resume.then_some(state.step),
    )?;

    let total = run.total_steps;
    let (eval_every, ckpt_every) = cfg.budget.intervals(steps_per_epoch);
    let stop = opts.stop_after.unwrap_or(total).min(total);
    let bar = progress_bar(opts.progress, total, state.step);
    let started = Instant::now();
    let elapsed_before = state.elapsed_s;
    let steps_at_start = state.step;
    // The loop, with the staging thread of its batches alongside.
    let last = std::thread::scope(|scope| -> Result<Option<T::Record>> {
        let mut order = EpochOrder::default();
        let mut ahead = EpochOrder::default();
        let mut last = None;
        let mut pending = PendingReadings::default();
        let mut stager = Stager::spawn::<T>(scope, &run);
        while state.step < stop {
            // Step, with the next step's inputs staged meanwhile.
            let step = state.step;
            let at = step_at::<T>(&run, &mut order, step);
            let (lr, finetuning) = (at.lr, at.finetuning);
            let staged = stager.take::<T>(&run, &at)?;
            if step + 1 < stop {
                stager.request(&step_at::<T>(&run, &mut ahead, step + 1));
            }
            let readings = task.step(&run, &mut state, &at, staged)?;
            pending.push(
                SettleAt {
                    step,
                    lr,
                    batch: at.positions.len(),
                },
                readings,
            );
            state.step += 1;
            bar.set_position(state.step as u64);
            if pending.due() {
                pending.settle(&mut task, &run, &mut state, &bar)?;
            }

            // Epoch-end check.
            let mut stop_now = false;
            if !finetuning && state.step % steps_per_epoch == 0 {
                pending.settle(&mut task, &run, &mut state, &bar)?;
                if let Some(reason) = task.end_of_epoch(&run, &mut state)? {
                    bar.println(&reason);
                    state.stopped_early = Some(reason);
                    stop_now = true;
                }
            }

            // Evaluate and select.
            let done = state.step == total || stop_now;
            if state.step % eval_every == 0 || done {
                pending.settle(&mut task, &run, &mut state, &bar)?;
                let at = EvalAt {
                    step: state.step,
                    lr,
                    elapsed_s: elapsed_before + started.elapsed().as_secs_f64(),
                    steps_per_s: (state.step - steps_at_start) as f64
                        / started.elapsed().as_secs_f64().max(1e-9),
                };
                let record = task.evaluate(&run, &mut state, &at)?;
                state.loss_sum = 0.0;
                state.loss_count = 0;
                log.append_json(&record)?;
                bar.println(T::describe(&record));
                if let Some(what) = T::diverged(&record) {
                    bar.abandon();
                    bail!(
                        "the model diverged: its {what} at the evaluation of step {} (lr {lr:.3e}); stopped without checkpointing it, {}. Lower optimizer.lr or check the data.",
                        state.step,
                        run.ckpts.last_good()?
                    );
                }
                last = Some(record);
            }

            // Checkpoint.
            if state.step % ckpt_every == 0 || done || state.step == stop {
                pending.settle(&mut task, &run, &mut state, &bar)?;
                state.elapsed_s = elapsed_before + started.elapsed().as_secs_f64();
                task.checkpoint(&run, &state)?;
            }
            if stop_now {
                break;
            }
        }
        pending.settle(&mut task, &run, &mut state, &bar)?;
        Ok(last)
    })?;
    bar.finish_and_clear();

    // Summary.
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let timing = RunTiming {
        wall_time_s: elapsed_before + started.elapsed().as_secs_f64(),
        steps_per_s: (state.step - steps_at_start) as f64 / secs,
    };
    let summary = task.summary(&run, &state, &timing, last, log.path())?;
    write_atomic(
        &run_dir.join(SUMMARY_FILE),
        &serde_json::to_vec_pretty(&summary)?,
    )?;
    if let Err(e) = task.draw(&run, &state, log.path()) {
        eprintln!("warning: could not draw the plots: {}", e.report());
    }
    Ok(summary)
}

/// Where step `step` is: its batch in the epoch order, learning rate, seed and kind.
fn step_at<'o, T: Task>(run: &RunContext, order: &'o mut EpochOrder, step: usize) -> StepAt<'o> {
    let cfg = run.cfg;
    let finetuning = step >= run.main_steps;
    StepAt {
        step,
        lr: if finetuning {
            cfg.budget.finetune_lr.unwrap_or(0.1 * cfg.optimizer.lr)
        } else {
            cfg.optimizer.lr * cfg.schedule.factor(step, run.main_steps)
        },
        seed: T::SEEDS.at(cfg.seed, step),
        positions: order.batch(
            run.data.train.len(),
            cfg.seed,
            step,
            run.steps_per_epoch,
            cfg.budget.batch_size,
        ),
        finetuning,
    }
}

/// Steps that have run but whose readings are still on the device. Settled in one host read
/// every [`PendingReadings::MAX_STEPS`] steps or [`PendingReadings::MAX_WAIT`], and always
/// before an epoch-end check, an evaluation or a checkpoint, so no checkpoint is written past a
/// non-finite loss.
struct PendingReadings {
    steps: Vec<(SettleAt, Tensor<1>)>,
    since: Instant,
}

impl Default for PendingReadings {
    fn default() -> Self {
        Self {
            steps: Vec::new(),
            since: Instant::now(),
        }
    }
}

impl PendingReadings {
    const MAX_STEPS: usize = 32;
    const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

    fn push(&mut self, at: SettleAt, readings: Tensor<1>) {
        self.steps.push((at, readings));
    }

    fn due(&self) -> bool {
        self.steps.len() >= Self::MAX_STEPS || self.since.elapsed() >= Self::MAX_WAIT
    }

    /// Reads every pending step's readings at once and settles the steps in order: their losses
    /// join the record's mean, and the first non-finite one stops the run with an error.
    fn settle<T: Task>(
        &mut self,
        task: &mut T,
        run: &RunContext,
        state: &mut LoopState,
        bar: &ProgressBar,
    ) -> Result<()> {
        self.since = Instant::now();
        if self.steps.is_empty() {
            return Ok(());
        }
        let steps = std::mem::take(&mut self.steps);
        let lengths: Vec<usize> = steps.iter().map(|(_, r)| r.dims()[0]).collect();
        let (ats, readings): (Vec<SettleAt>, Vec<Tensor<1>>) = steps.into_iter().unzip();
        let values = Tensor::cat(readings, 0)
            .try_into_vec_as::<f32>()
            .map_err(|e| crate::error::TrainError::msg(format!("reading step results: {e:?}")))?;
        let mut offset = 0;
        for (at, len) in ats.iter().zip(lengths) {
            let loss = task.settle(run, state, at, &values[offset..offset + len])?;
            offset += len;
            if !loss.value.is_finite() {
                bar.abandon();
                let kept = run.ckpts.last_good()?;
                let detail = if loss.detail.is_empty() {
                    String::new()
                } else {
                    format!("{}, ", loss.detail)
                };
                bail!(
                    "{} became {} at step {} ({detail}lr {:.3e}); stopped, {kept}. Lower optimizer.lr or check the data.",
                    loss.what,
                    loss.value,
                    at.step + 1,
                    at.lr
                );
            }
            state.loss_sum += loss.value;
            state.loss_count += 1;
            bar.set_message(if loss.detail.is_empty() {
                format!("loss {:.4}", loss.value)
            } else {
                loss.detail
            });
        }
        Ok(())
    }
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
