//! `method = "cvae"` runs: the conditional VAE of a learned perturbation set trained on pairs
//! (x, x̃) drawn on the fly from `[perturbation]` (Wong & Kolter 2021) with the core's
//! [`cvae_step`] — reconstruction + β(epoch)·KL, the configured optimiser and schedule — and at
//! every evaluation the set's quality on fixed test pairs. Downstream runs load the newest
//! checkpoint (as the reference configs do).

use crate::checkpoint::{Checkpoints, LoopState, write_atomic};
use crate::cvae_quality::{CvaeQuality, cvae_quality};
use crate::data::gather;
use crate::error::{Result, TrainError};
use crate::perturbation::{CVAE_FILE, PairKind};
use crate::trainer::{EvalAt, RunContext, RunTiming, SettleAt, StepAt, StepLoss, Task};
use ballast_core::StepSeeds;
use ballast_core::method::cvae_step;
use ballast_core::perturbation::{Cvae, CvaeConfig};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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
    pub pairs: PairKind,
    pub seed: u64,
    pub steps: usize,
    pub parameters: usize,
    pub final_record: Option<CvaeRecord>,
    pub wall_time_s: f64,
    pub steps_per_s: f64,
    pub device: String,
    pub checkpoint: Option<PathBuf>,
}

pub struct CvaeTask {
    cvae: Cvae,
    optim: ModuleOptimizer,
    arch: CvaeConfig,
    /// Fixed evaluation pairs: the first test images and one draw of their perturbation.
    eval_x: Vec<f32>,
    eval_t: Vec<f32>,
    /// Sums since the last evaluation, and β of the latest step.
    reconstruction_sum: f64,
    kl_sum: f64,
    beta: f64,
}

/// The [C, H, W] shape of a dataset's examples; an error for data that are not images.
fn image_shape(data: &ballast_data::Dataset) -> Result<[usize; 3]> {
    data.example_shape.as_slice().try_into().map_err(|_| {
        TrainError::msg(format!(
            "method cvae needs images [C, H, W]; {} has examples of shape {:?}",
            data.name, data.example_shape
        ))
    })
}

impl Task for CvaeTask {
    type Record = CvaeRecord;
    type Staged = (Tensor<2>, Tensor<2>);
    type Summary = CvaeSummary;
    const METRICS_FILE: &'static str = CVAE_METRICS_FILE;
    const SEEDS: StepSeeds = StepSeeds::PERTURBATION_SET;

    fn setup(run: &RunContext, resume_from: Option<&Path>) -> Result<(Self, LoopState)> {
        let (cfg, data, device) = (run.cfg, run.data, &run.device);
        let shape = image_shape(&data.train)?;
        let p = &cfg.perturbation;
        let arch = p.cvae_config(shape);
        arch.validate()?;
        write_atomic(
            &run.run_dir().join(CVAE_FILE),
            &serde_json::to_vec_pretty(&arch)?,
        )?;
        ballast_core::host_rng::seed_init(cfg.seed, device);
        let mut cvae: Cvae = ballast_core::host_rng::init_on_host(device, |d| arch.init(d));
        let mut optim = cfg.optimizer.init();
        let mut state = LoopState::default();
        if let Some(dir) = resume_from {
            (cvae, optim, state) = Checkpoints::load(dir, cvae, optim)?;
        }
        let eval_n = if p.eval_examples == 0 {
            data.test.len()
        } else {
            p.eval_examples.min(data.test.len())
        };
        let eval_pos: Vec<usize> = (0..eval_n).collect();
        let (eval_x, _) = gather(&data.test, &eval_pos);
        let eval_t = p.perturb_host(&eval_x, shape, cfg.seed ^ 0xE7A1_9A12)?;
        Ok((
            Self {
                cvae,
                optim,
                arch,
                eval_x,
                eval_t,
                reconstruction_sum: 0.0,
                kl_sum: 0.0,
                beta: 0.0,
            },
            state,
        ))
    }

    /// The pairs (x, x̃) of the step, [B, D] each.
    fn stage(run: &RunContext, at: &StepAt) -> Result<(Tensor<2>, Tensor<2>)> {
        let (data, device) = (&run.data.train, &run.device);
        let (x, _) = gather(data, at.positions);
        let x_tilde = run
            .cfg
            .perturbation
            .perturb_host(&x, image_shape(data)?, at.seed)?;
        let n = at.positions.len();
        let d = x.len() / n;
        Ok((
            Tensor::from_data(TensorData::new(x, [n, d]), device),
            Tensor::from_data(TensorData::new(x_tilde, [n, d]), device),
        ))
    }

    fn step(
        &mut self,
        run: &RunContext,
        _state: &mut LoopState,
        at: &StepAt,
        (xt, tt): (Tensor<2>, Tensor<2>),
    ) -> Result<Tensor<1>> {
        let p = &run.cfg.perturbation;
        self.beta = p.beta_at(at.step as f64 / run.steps_per_epoch as f64);
        ballast_core::host_rng::seed(at.seed ^ 0x401_5E);
        let cvae = self.cvae.clone();
        let out = cvae_step(
            cvae,
            &mut self.optim,
            xt,
            tt,
            self.arch.likelihood,
            self.beta,
            at.lr,
        );
        self.cvae = out.cvae;
        Ok(Tensor::cat(vec![out.reconstruction, out.kl], 0))
    }

    fn settle(
        &mut self,
        run: &RunContext,
        _state: &mut LoopState,
        at: &SettleAt,
        readings: &[f32],
    ) -> Result<StepLoss> {
        let (rec, kl) = (readings[0] as f64, readings[1] as f64);
        let beta = run
            .cfg
            .perturbation
            .beta_at(at.step as f64 / run.steps_per_epoch as f64);
        self.reconstruction_sum += rec;
        self.kl_sum += kl;
        Ok(StepLoss {
            value: rec + beta * kl,
            what: "CVAE loss",
            detail: format!("reconstruction {rec:.4}, KL {kl:.4}, beta {beta:.3}"),
        })
    }

    fn evaluate(
        &mut self,
        run: &RunContext,
        state: &mut LoopState,
        at: &EvalAt,
    ) -> Result<CvaeRecord> {
        let (cfg, p) = (run.cfg, &run.cfg.perturbation);
        let test = cvae_quality(
            &self.cvae.valid(),
            self.arch.likelihood,
            &self.eval_x,
            &self.eval_t,
            &p.eval_eps,
            p.approx_steps,
            p.approx_samples,
            cfg.budget.eval_batch_size,
            cfg.seed ^ 0xE7A1,
            &run.device.clone().inner(),
        );
        let count = state.loss_count.max(1) as f64;
        let record = CvaeRecord {
            step: at.step,
            epoch: at.step as f64 / run.steps_per_epoch as f64,
            lr: at.lr,
            beta: self.beta,
            train_reconstruction: self.reconstruction_sum / count,
            train_kl: self.kl_sum / count,
            test,
            elapsed_s: at.elapsed_s,
            steps_per_s: at.steps_per_s,
        };
        (self.reconstruction_sum, self.kl_sum) = (0.0, 0.0);
        Ok(record)
    }

    fn describe(record: &CvaeRecord) -> String {
        format!(
            "step {:>6}  epoch {:>5.2}  beta {:.3}  train recon {:.2} kl {:.2}  test recon {:.2} kl {:.2}  {}",
            record.step,
            record.epoch,
            record.beta,
            record.train_reconstruction,
            record.train_kl,
            record.test.reconstruction,
            record.test.kl,
            record
                .test
                .per_eps
                .iter()
                .map(|q| match &q.reference {
                    Some(r) => format!(
                        "ae@{} {:.4} (reference {:?} {:.4})",
                        q.eps, q.approximation_error, r.error, r.approximation_error
                    ),
                    None => format!("ae@{} {:.4}", q.eps, q.approximation_error),
                })
                .collect::<Vec<_>>()
                .join(" ")
        )
    }

    fn checkpoint(&self, run: &RunContext, state: &LoopState) -> Result<PathBuf> {
        run.ckpts.save_module(&self.cvae, &self.optim, state)
    }

    fn summary(
        &self,
        run: &RunContext,
        state: &LoopState,
        timing: &RunTiming,
        last: Option<CvaeRecord>,
        _metrics: &Path,
    ) -> Result<CvaeSummary> {
        Ok(CvaeSummary {
            method: run.cfg.method.name().to_string(),
            dataset: format!("{:?}", run.cfg.data.dataset),
            pairs: run.cfg.perturbation.pairs,
            seed: run.cfg.seed,
            steps: state.step,
            parameters: self.cvae.num_params(),
            final_record: last,
            wall_time_s: timing.wall_time_s,
            steps_per_s: timing.steps_per_s,
            device: run.opts.backend.to_string(),
            checkpoint: run.ckpts.latest()?,
        })
    }
}
