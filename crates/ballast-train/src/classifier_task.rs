//! Classifier runs (every method that trains a classifier): the student and its optimiser,
//! the method's state ([`MethodState`]), the "+FT" tail, the per-example weight log, and at
//! each evaluation clean accuracy, the robust evaluation (ℓp PGD, or the latent attack of a
//! perturbation set) and model selection on the validation split.

use crate::checkpoint::{BEST_DIR, Checkpoints, LoopState, MODEL_FILE, method_files, save_best};
use crate::config::RunConfig;
use crate::data::{PreparedData, augmented_batch_of, batch_of, epoch_order};
use crate::error::{Context, Result, bail};
use crate::eval::evaluate;
use crate::metrics::{EvalRecord, RobustSummary, Summary, read_records};
use crate::perturbation::load_cvae;
use crate::plot::{plot_robust, plot_run, plot_weights};
use crate::robust_eval::{evaluate_robust, first_positions};
use crate::run_dir::load_run_model;
use crate::trainer::{EvalAt, RunContext, RunTiming, SettleAt, StepAt, StepLoss, Task};
use crate::weights::WeightLog;
use ballast_core::attack::{AttackConfig, Schedule};
use ballast_core::method::{
    EpochCheck, EpochVerdict, MethodSetup, MethodState, StepContext, TrainedRuns, Trains,
};
use ballast_core::perturbation::PerturbationSet;
use ballast_core::step::erm_step;
use ballast_core::{Batch, Classifier, CoreError, StepSeeds};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use std::path::{Path, PathBuf};

pub struct ClassifierTask {
    model: Classifier,
    optim: ModuleOptimizer,
    method: MethodState,
    /// The perturbation set of latent methods and of latent robust evaluation (plain).
    perturbation_set: Option<PerturbationSet>,
    /// Robust accuracy at every evaluation, with this attack.
    robust_eval: Option<AttackConfig>,
    weight_log: Option<WeightLog>,
    /// Weight-log rows of steps not settled yet: step, batch positions, weights and losses
    /// ([B] each, on the device).
    unlogged_weights: Vec<(usize, Vec<usize>, Tensor<1>, Tensor<1>)>,
}

/// A classifier step's inputs on the run device: its training batch (the clean validation
/// batch in the "+FT" tail), and the clean validation batch of methods that read one.
pub struct StagedBatches {
    train: Batch,
    validation: Option<Batch>,
}

impl Task for ClassifierTask {
    type Record = EvalRecord;
    type Staged = StagedBatches;
    type Summary = Summary;
    const METRICS_FILE: &'static str = "metrics.jsonl";
    const SEEDS: StepSeeds = StepSeeds::CLASSIFIER;

    fn setup(run: &RunContext, resume_from: Option<&Path>) -> Result<(Self, LoopState)> {
        let (cfg, data, device) = (run.cfg, run.data, &run.device);
        if cfg.method.info().trains != Trains::Classifier {
            bail!(
                "method {} trains a perturbation set, not a classifier",
                cfg.method
            );
        }
        // Learned perturbation set (frozen) of latent-at / cvae-aug, and of the latent robust
        // evaluation of any non-ℓp run that names one (the erm / transform-aug baselines).
        // Loaded before the run's RNG is seeded, so it draws nothing from the run's stream.
        let perturbation_set = match (
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
        ballast_core::host_rng::seed_init(cfg.seed, device);
        let model =
            ballast_core::host_rng::init_on_host(device, |d| cfg.model.init(&data.input, d));
        let optim = cfg.optimizer.init();
        let class_freq = class_frequencies(&data.train);
        let probe = batch_of(&data.train, &[0], device);
        let validation_split = data
            .val
            .as_ref()
            .filter(|_| cfg.method.needs_validation())
            .map(|v| {
                let all: Vec<usize> = (0..v.len()).collect();
                batch_of(v, &all, device)
            });
        let runs = RunDirs {
            cfg,
            device: device.clone().inner(),
        };
        let method = MethodState::new(
            cfg.method,
            &cfg.method_config(),
            &MethodSetup {
                model: &model,
                probe: &probe,
                input: &data.input,
                train_len: data.train.len(),
                class_freq: &class_freq,
                validation: validation_split.as_ref(),
                perturbation_set: perturbation_set.as_ref(),
                runs: &runs,
                device,
                seed: cfg.seed,
            },
        )?;
        let adv = &cfg.adversarial;
        let latent = perturbation_set.is_some();
        let robust_eval = adv
            .eval
            .unwrap_or(cfg.method.is_adversarial() || latent)
            .then(|| {
                // Latent methods are evaluated against their own threat model.
                if latent {
                    cfg.perturbation.eval_attack()
                } else {
                    adv.eval_attack()
                }
            });
        let mut task = Self {
            model,
            optim,
            method,
            perturbation_set,
            robust_eval,
            weight_log: None,
            unlogged_weights: Vec::new(),
        };
        let mut state = LoopState::default();
        if let Some(dir) = resume_from {
            let (m, o, s) = Checkpoints::load(dir, task.model, task.optim)?;
            (task.model, task.optim, state) = (m, o, s);
            let files = method_files(dir, &state);
            task.method.restore(&files).with_context(|| {
                format!("cannot restore the method state from {}", dir.display())
            })?;
        }
        task.weight_log = (cfg.meta.export_weights_every > 0)
            .then(|| WeightLog::open(run.run_dir(), run.opts.resume.then_some(state.step)))
            .transpose()?;
        Ok((task, state))
    }

    fn stage(run: &RunContext, at: &StepAt) -> Result<StagedBatches> {
        let (cfg, data, device) = (run.cfg, run.data, &run.device);
        if at.finetuning {
            return Ok(StagedBatches {
                train: validation_batch(data, cfg, at.step, device)?,
                validation: None,
            });
        }
        let train = augmented_batch_of(
            &data.train,
            at.positions,
            cfg.data.augment,
            cfg.data.augment_padding,
            cfg.data.augment_pad_mode,
            cfg.data.cutout,
            at.seed ^ 0x5eed_a06,
            device,
        )?;
        let validation = (cfg.method.needs_validation() && data.val.is_some())
            .then(|| validation_batch(data, cfg, at.step, device))
            .transpose()?;
        Ok(StagedBatches { train, validation })
    }

    fn step(
        &mut self,
        run: &RunContext,
        _state: &mut LoopState,
        at: &StepAt,
        staged: StagedBatches,
    ) -> Result<Tensor<1>> {
        let (cfg, data, device) = (run.cfg, run.data, &run.device);
        let StagedBatches {
            train: batch,
            validation: staged_validation,
        } = staged;
        ballast_core::host_rng::seed(at.seed);
        let model = self.model.clone();
        let (model, losses, weights, robust_correct) = if at.finetuning {
            let (m, l) = erm_step(model, &mut self.optim, &batch, &cfg.loss, at.lr);
            (m, l, None, None)
        } else if run.replicas.len() > 1 {
            let (m, l) = crate::data_parallel::erm_step(
                model,
                &mut self.optim,
                &batch,
                &cfg.loss,
                at.lr,
                &run.replicas,
            );
            (m, l, None, None)
        } else {
            let validation = || match &staged_validation {
                Some(v) => v.clone(),
                None => validation_batch(data, cfg, at.step, device).expect(
                    "the run config guarantees a validation split to methods that read one",
                ),
            };
            let out = self.method.step(
                model,
                &mut self.optim,
                &batch,
                &StepContext {
                    step: at.step,
                    total: run.total_steps,
                    steps_per_epoch: run.steps_per_epoch,
                    lr: at.lr,
                    seed: at.seed,
                    positions: at.positions,
                    validation: data
                        .val
                        .is_some()
                        .then_some(&validation as &dyn Fn() -> Batch),
                },
            )?;
            (out.model, out.losses, out.weights, out.robust_correct)
        };
        self.model = model;
        if let Some(w) = &weights {
            if self.weight_log.is_some()
                && !at.finetuning
                && at.step % cfg.meta.export_weights_every == 0
            {
                self.unlogged_weights.push((
                    at.step,
                    at.positions.to_vec(),
                    w.clone(),
                    losses.clone(),
                ));
            }
        }
        // Readings: the mean loss, and the robust-correct count of adversarial steps.
        let mut readings = vec![losses.mean()];
        readings.extend(robust_correct.map(|c| c.float()));
        Ok(Tensor::cat(readings, 0))
    }

    fn settle(
        &mut self,
        run: &RunContext,
        state: &mut LoopState,
        at: &SettleAt,
        readings: &[f32],
    ) -> Result<StepLoss> {
        if let Some(&robust_correct) = readings.get(1) {
            state.adv_correct += robust_correct as usize;
            state.adv_seen += at.batch;
        }
        if self
            .unlogged_weights
            .first()
            .is_some_and(|u| u.0 == at.step)
        {
            let (step, positions, w, losses) = self.unlogged_weights.remove(0);
            if let Some(log) = self.weight_log.as_mut() {
                log.append(step + 1, run.data, &positions, w, losses)?;
            }
        }
        Ok(StepLoss {
            value: readings[0] as f64,
            what: "training loss",
            detail: String::new(),
        })
    }

    fn end_of_epoch(&mut self, run: &RunContext, state: &mut LoopState) -> Result<Option<String>> {
        let first = batch_of(
            &run.data.train,
            &first_positions(run.data.train.len(), run.cfg.budget.batch_size),
            &run.device.clone().inner(),
        );
        let check = EpochCheck {
            epoch: state.step / run.steps_per_epoch,
            first_batch: &first,
            seed: run.cfg.seed,
        };
        let model = self.model.clone();
        Ok(match self.method.end_of_epoch(model, &check) {
            EpochVerdict::Continue(m) => {
                self.model = m;
                None
            }
            EpochVerdict::Stop { model, reason } => {
                self.model = model;
                Some(reason)
            }
        })
    }

    fn evaluate(
        &mut self,
        run: &RunContext,
        state: &mut LoopState,
        at: &EvalAt,
    ) -> Result<EvalRecord> {
        let (cfg, data) = (run.cfg, run.data);
        let dev = run.device.clone().inner();
        let adv = &cfg.adversarial;
        let plain = self.model.valid();
        let val = data
            .val
            .as_ref()
            .map(|v| evaluate(&plain, v, cfg.budget.eval_batch_size, &dev));
        let test = evaluate(&plain, &data.test, cfg.budget.eval_batch_size, &dev);
        let robust = self.robust_eval.as_ref().map(|attack| {
            let on = |d: &ballast_data::Dataset, limit: usize| {
                evaluate_robust(
                    &plain,
                    d,
                    &first_positions(d.len(), limit),
                    std::slice::from_ref(attack),
                    Schedule::Independent,
                    cfg.budget.batch_size,
                    cfg.seed ^ 0xE7A1,
                    &dev,
                    self.perturbation_set.as_ref(),
                )
            };
            (
                on(&data.train, adv.eval_train_examples),
                data.val.as_ref().map(|v| on(v, 0)),
                on(&data.test, adv.eval_test_examples),
            )
        });
        let record = EvalRecord {
            step: at.step,
            epoch: at.step as f64 / run.steps_per_epoch as f64,
            lr: at.lr,
            train_loss: state.loss_sum / state.loss_count.max(1) as f64,
            val_loss: val.map(|v| v.loss),
            val_acc: val.map(|v| v.accuracy),
            test_loss: test.loss,
            test_acc: test.accuracy,
            loss_hyper: self.method.loss_hyper().map(|h| {
                h.try_into_vec_as::<f32>()
                    .expect("hyperparameters are readable")
                    .into_iter()
                    .map(f64::from)
                    .collect()
            }),
            elapsed_s: at.elapsed_s,
            steps_per_s: at.steps_per_s,
            train_adv_acc: (state.adv_seen > 0)
                .then(|| state.adv_correct as f64 / state.adv_seen as f64),
            train_acc: robust.as_ref().map(|r| r.0.clean_accuracy),
            train_robust_acc: robust.as_ref().map(|r| r.0.worst_case_accuracy),
            val_robust_acc: robust
                .as_ref()
                .and_then(|r| r.1.as_ref().map(|v| v.worst_case_accuracy)),
            test_robust_acc: robust.as_ref().map(|r| r.2.worst_case_accuracy),
        };
        // Model selection, on the validation split only (robust validation accuracy when
        // robustness is evaluated): a run without one (data.val_size = 0) selects nothing,
        // and the test split is never used to choose a model.
        let score = match &robust {
            Some(_) => record.val_robust_acc,
            None => record.val_acc,
        };
        if let Some(score) = score.filter(|s| state.best_score.is_none_or(|b| *s > b)) {
            state.best_score = Some(score);
            state.best_step = Some(at.step);
            state.test_acc_at_best = Some(record.test_acc);
            state.test_robust_at_best = record.test_robust_acc;
            if robust.is_some() {
                save_best(
                    run.run_dir(),
                    &self.model,
                    &serde_json::json!({
                        "step": at.step,
                        "epoch": record.epoch,
                        "selected_on": "validation robust accuracy",
                        "score": score,
                        "attack": &self.robust_eval,
                        "record": &record,
                    }),
                )?;
            }
        }
        state.adv_correct = 0;
        state.adv_seen = 0;
        Ok(record)
    }

    fn describe(record: &EvalRecord) -> String {
        let pct = |label: &str, a: Option<f64>| {
            a.map(|a| format!("  {label} {:.2}%", 100.0 * a))
                .unwrap_or_default()
        };
        format!(
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
        )
    }

    fn diverged(record: &EvalRecord) -> Option<String> {
        let losses = [
            ("mean training loss", Some(record.train_loss)),
            ("validation loss", record.val_loss),
            ("test loss", Some(record.test_loss)),
        ];
        losses.into_iter().find_map(|(what, v)| {
            v.filter(|v| !v.is_finite())
                .map(|v| format!("{what} is {v}"))
        })
    }

    fn checkpoint(&self, run: &RunContext, state: &LoopState) -> Result<PathBuf> {
        run.ckpts
            .save(&self.model, &self.optim, &self.method.save()?, state)
    }

    fn summary(
        &self,
        run: &RunContext,
        state: &LoopState,
        timing: &RunTiming,
        last: Option<EvalRecord>,
        metrics: &Path,
    ) -> Result<Summary> {
        let cfg = run.cfg;
        let records = read_records(metrics)?;
        Ok(Summary {
            method: cfg.method.name().to_string(),
            model: format!("{:?}", cfg.model.arch),
            dataset: format!("{:?}", cfg.data.dataset),
            seed: cfg.seed,
            steps: state.step,
            final_record: last.or_else(|| records.last().cloned()),
            best_val_score: state.best_score,
            best_step: state.best_step,
            test_acc_at_best_val: state.test_acc_at_best,
            wall_time_s: timing.wall_time_s,
            steps_per_s: timing.steps_per_s,
            examples_per_s: timing.steps_per_s * cfg.budget.batch_size as f64,
            device: run.opts.backend.to_string(),
            checkpoint: run.ckpts.latest()?,
            label_noise: run.data.noise_summary(),
            robust: self.robust_eval.as_ref().map(|attack| {
                let best = records
                    .iter()
                    .filter_map(|r| r.test_robust_acc.map(|a| (a, r.epoch)))
                    .fold(None::<(f64, f64)>, |m, x| match m {
                        Some(m) if m.0 >= x.0 => Some(m),
                        _ => Some(x),
                    });
                let fin = records.last();
                RobustSummary {
                    attack: attack.clone(),
                    test_examples: first_positions(
                        run.data.test.len(),
                        cfg.adversarial.eval_test_examples,
                    )
                    .len(),
                    best_epoch: state
                        .best_step
                        .map(|s| s as f64 / run.steps_per_epoch as f64),
                    test_robust_at_best_val: state.test_robust_at_best,
                    test_clean_at_best_val: state.test_acc_at_best,
                    best_test_robust: best.map(|b| b.0),
                    best_test_robust_epoch: best.map(|b| b.1),
                    final_test_robust: fin.and_then(|r| r.test_robust_acc),
                    final_test_clean: fin.map(|r| r.test_acc),
                    best_checkpoint: Some(run.run_dir().join(BEST_DIR).join(MODEL_FILE))
                        .filter(|p| p.exists()),
                }
            }),
            stopped_early: state.stopped_early.clone(),
            method_state: self.method.report(),
        })
    }

    fn draw(&self, run: &RunContext, state: &LoopState, metrics: &Path) -> Result<()> {
        let records = read_records(metrics)?;
        plot_run(run.run_dir(), &records)?;
        if self.robust_eval.is_some() {
            plot_robust(run.run_dir(), &records, state.best_step)?;
        }
        if self.weight_log.is_some() {
            plot_weights(run.run_dir(), run.cfg.budget.batch_size)?;
        }
        Ok(())
    }
}

/// Fraction of training examples per class (labels as seen by the learner).
fn class_frequencies(train: &ballast_data::Dataset) -> Vec<f32> {
    let counts = train.class_counts();
    let n = train.len().max(1) as f32;
    counts.iter().map(|&c| c as f32 / n).collect()
}

/// The clean validation batch of a step: all of the split if it is small, otherwise
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
            load_run_model(dir, &self.device).map_err(|e| CoreError::config(e.report()))?;
        if (&other.data, other.seed) != (&self.cfg.data, self.cfg.seed) {
            return Err(CoreError::config(format!(
                "{} trained on other data ([data] or seed differ from this run's)",
                dir.display()
            )));
        }
        Ok(model)
    }
}
