//! `method = "cvae"`: trains the conditional VAE of a learned perturbation set on pairs
//! (x, x̃) drawn on the fly from `[perturbation]` (Wong & Kolter 2021): Adam (or the configured
//! optimiser) on reconstruction + β(epoch)·KL, the learning-rate schedule of `[schedule]`,
//! and at every evaluation the set's quality on fixed test pairs. Downstream runs load the
//! newest checkpoint (as the reference configs do).

use crate::checkpoint::{LoopState, write_atomic};
use crate::config::RunConfig;
use crate::cvae_quality::{CvaeQuality, cvae_quality};
use crate::data::{EpochOrder, PreparedData, gather};
use crate::perturbation::CVAE_FILE;
use crate::run::{INPUT_FILE, RunOptions, SUMMARY_FILE, budget_steps, open_run_dir};
use anyhow::{Context, Result, bail};
use ballast_core::method::cvae_step;
use ballast_core::perturbation::Cvae;
use burn::module::Module;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

pub const CVAE_METRICS_FILE: &str = "cvae_metrics.jsonl";

/// One evaluation point of a CVAE run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvaeRecord {
    pub step: usize,
    pub epoch: f64,
    pub lr: f64,
    pub beta: f64,
    /// Means over the training steps since the last record.
    pub train_reconstruction: f64,
    pub train_kl: f64,
    pub test: CvaeQuality,
    pub elapsed_s: f64,
    pub steps_per_s: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CvaeSummary {
    pub method: String,
    pub dataset: String,
    pub pairs: crate::perturbation::PairKind,
    pub seed: u64,
    pub steps: usize,
    pub parameters: usize,
    pub final_record: Option<CvaeRecord>,
    pub wall_time_s: f64,
    pub steps_per_s: f64,
    pub device: String,
    pub checkpoint: Option<PathBuf>,
}

/// Seed of step `step`'s pairs and noise (independent of how the run was split by resumes).
fn step_seed(seed: u64, step: usize) -> u64 {
    seed.wrapping_mul(0xD1B5_4A32_D192_ED03)
        .wrapping_add(step as u64 + 1)
}

pub fn train_cvae(cfg: &RunConfig, opts: &RunOptions) -> Result<CvaeSummary> {
    let run_dir = &opts.out;
    let (ckpts, latest) = open_run_dir(cfg, opts)?;
    let data = PreparedData::prepare(cfg, &opts.data_dir)?;
    write_atomic(
        &run_dir.join(INPUT_FILE),
        &serde_json::to_vec_pretty(&data.input)?,
    )?;
    data.write_description(run_dir)?;
    let shape: [usize; 3] = data
        .train
        .example_shape
        .as_slice()
        .try_into()
        .map_err(|_| {
            anyhow::anyhow!(
                "method cvae needs images [C, H, W]; {} has examples of shape {:?}",
                data.train.name,
                data.train.example_shape
            )
        })?;
    let p = &cfg.perturbation;
    let arch = p.cvae_config(shape);
    arch.validate().map_err(anyhow::Error::msg)?;
    write_atomic(&run_dir.join(CVAE_FILE), &serde_json::to_vec_pretty(&arch)?)?;

    let device = opts.backend.device()?.autodiff();
    device.seed(cfg.seed);
    let mut cvae: Cvae = arch.init(&device);
    let mut optim = cfg.optimizer.init();
    let mut state = LoopState::default();
    if let (Some(dir), true) = (&latest, opts.resume) {
        let (m, o, s) = crate::checkpoint::Checkpoints::load(dir, cvae, optim)?;
        (cvae, optim, state) = (m, o, s);
        eprintln!("resuming from {} (step {})", dir.display(), state.step);
    }

    // Fixed evaluation pairs: the first test images and one draw of their perturbation.
    let eval_n = if p.eval_examples == 0 {
        data.test.len()
    } else {
        p.eval_examples.min(data.test.len())
    };
    let eval_pos: Vec<usize> = (0..eval_n).collect();
    let (eval_x, _) = gather(&data.test, &eval_pos);
    let eval_t = p.perturb_host(&eval_x, shape, cfg.seed ^ 0xE7A1_9A12)?;
    let inner = device.clone().inner();

    let (per_epoch, total) = budget_steps(cfg, data.train.len());
    let (eval_every, ckpt_every) = cfg.budget.intervals(per_epoch);
    let stop = opts.stop_after.unwrap_or(total).min(total);
    let metrics_path = run_dir.join(CVAE_METRICS_FILE);
    // A fresh run starts a new log; a resumed one drops records past its checkpoint.
    if metrics_path.exists() {
        let kept: String = if opts.resume {
            std::fs::read_to_string(&metrics_path)?
                .lines()
                .filter(|l| {
                    serde_json::from_str::<CvaeRecord>(l).is_ok_and(|r| r.step <= state.step)
                })
                .map(|l| format!("{l}\n"))
                .collect()
        } else {
            String::new()
        };
        write_atomic(&metrics_path, kept.as_bytes())?;
    }
    let bar = crate::run::progress_bar(opts.progress, total, state.step);
    let started = Instant::now();
    let elapsed_before = state.elapsed_s;
    let steps_at_start = state.step;
    let (mut rec_sum, mut kl_sum) = (0.0f64, 0.0f64);
    let mut order = EpochOrder::default();
    let mut last = None;
    while state.step < stop {
        let step = state.step;
        let positions = order.batch(
            data.train.len(),
            cfg.seed,
            step,
            per_epoch,
            cfg.budget.batch_size,
        );
        let (x, _) = gather(&data.train, positions);
        let x_tilde = p.perturb_host(&x, shape, step_seed(cfg.seed, step))?;
        let n = positions.len();
        let d = x.len() / n;
        let xt = Tensor::<2>::from_data(TensorData::new(x, [n, d]), &device);
        let tt = Tensor::<2>::from_data(TensorData::new(x_tilde, [n, d]), &device);
        let lr = cfg.optimizer.lr * cfg.schedule.factor(step, total);
        let beta = p.beta_at(step as f64 / per_epoch as f64);
        device.seed(step_seed(cfg.seed, step) ^ 0x401_5E);
        let out = cvae_step(cvae, &mut optim, xt, tt, arch.likelihood, beta, lr);
        let (rec, kl) = (out.reconstruction, out.kl);
        if !out.is_finite() {
            bar.abandon();
            let kept = ckpts
                .latest()?
                .map(|d| format!("the last good checkpoint is {}", d.display()))
                .unwrap_or_else(|| "no checkpoint was written yet".into());
            bail!(
                "CVAE loss became non-finite at step {} (reconstruction {rec}, KL {kl}, lr {lr:.3e}); stopped, {kept}. Lower optimizer.lr.",
                step + 1
            );
        }
        cvae = out.cvae;
        rec_sum += rec;
        kl_sum += kl;
        state.loss_sum += rec + beta * kl;
        state.loss_count += 1;
        state.step += 1;
        bar.set_position(state.step as u64);
        bar.set_message(format!("recon {rec:.2}  kl {kl:.2}  beta {beta:.3}"));

        let done = state.step == total;
        if state.step % eval_every == 0 || done {
            let plain = cvae.valid();
            let test = cvae_quality(
                &plain,
                arch.likelihood,
                &eval_x,
                &eval_t,
                &p.eval_eps,
                p.approx_steps,
                p.approx_samples,
                cfg.budget.eval_batch_size,
                cfg.seed ^ 0xE7A1,
                &inner,
            );
            let count = state.loss_count.max(1) as f64;
            let record = CvaeRecord {
                step: state.step,
                epoch: state.step as f64 / per_epoch as f64,
                lr,
                beta,
                train_reconstruction: rec_sum / count,
                train_kl: kl_sum / count,
                test,
                elapsed_s: elapsed_before + started.elapsed().as_secs_f64(),
                steps_per_s: (state.step - steps_at_start) as f64
                    / started.elapsed().as_secs_f64().max(1e-9),
            };
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&metrics_path)
                .with_context(|| format!("cannot open {}", metrics_path.display()))?;
            writeln!(f, "{}", serde_json::to_string(&record)?)?;
            bar.println(format!(
                "step {:>6}  epoch {:>5.2}  beta {:.3}  train recon {:.2} kl {:.2}  test recon {:.2} kl {:.2}  {}",
                record.step,
                record.epoch,
                beta,
                record.train_reconstruction,
                record.train_kl,
                record.test.reconstruction,
                record.test.kl,
                record
                    .test
                    .per_eps
                    .iter()
                    .map(|q| format!("ae@{} {:.4}", q.eps, q.approximation_error))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            (rec_sum, kl_sum) = (0.0, 0.0);
            state.loss_sum = 0.0;
            state.loss_count = 0;
            last = Some(record);
        }
        if state.step % ckpt_every == 0 || done || state.step == stop {
            state.elapsed_s = elapsed_before + started.elapsed().as_secs_f64();
            ckpts.save_module(&cvae, &optim, &state)?;
        }
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let summary = CvaeSummary {
        method: "cvae".into(),
        dataset: format!("{:?}", cfg.data.dataset),
        pairs: p.pairs,
        seed: cfg.seed,
        steps: state.step,
        parameters: cvae.num_params(),
        final_record: last,
        wall_time_s: elapsed_before + started.elapsed().as_secs_f64(),
        steps_per_s: (state.step - steps_at_start) as f64 / secs,
        device: opts.backend.to_string(),
        checkpoint: ckpts.latest()?,
    };
    write_atomic(
        &run_dir.join(SUMMARY_FILE),
        &serde_json::to_vec_pretty(&summary)?,
    )?;
    Ok(summary)
}
