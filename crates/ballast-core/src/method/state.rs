//! What every method shares: its description ([`MethodInfo`]), what its host gives it
//! ([`MethodSetup`], [`StepContext`], [`EpochCheck`]), what a step returns ([`StepOutput`]),
//! the two traits a method implements, and [`MethodState`], the one type hosts hold.

use super::{Method, MethodConfig, MethodOptions};
use crate::batch::Batch;
use crate::error::CoreError;
use crate::models::{Classifier, InputSpec};
use crate::perturbation::PerturbationSet;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use std::path::Path;

/// Groups of methods, as the docs and the page present them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// Plain training.
    Standard,
    /// Per-example weights for noisy or imbalanced data (L2RW, MW-Net, the teacher, the
    /// random and class-ratio baselines).
    Reweighting,
    /// Losses and corrections for noisy labels (meta-learned robust losses, GLC).
    NoisyLabels,
    /// Training against ℓp attacks.
    Adversarial,
    /// Learned perturbation sets and training against them.
    PerturbationSet,
}

impl Family {
    pub fn label(self) -> &'static str {
        match self {
            Family::Standard => "Standard training",
            Family::Reweighting => "Example reweighting",
            Family::NoisyLabels => "Noisy labels",
            Family::Adversarial => "Adversarial training",
            Family::PerturbationSet => "Learned perturbation sets",
        }
    }
}

/// What a method's run trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trains {
    /// A classifier, one [`MethodState::step`] at a time.
    Classifier,
    /// The conditional VAE of a learned perturbation set (its own step:
    /// [`crate::perturbation::cvae_step`]).
    PerturbationSet,
}

/// What a method reads besides its training batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Uses {
    /// The clean validation split (meta-gradients, trusted data), through
    /// [`StepContext::validation`] or [`MethodSetup::validation`].
    pub validation: bool,
    /// A trained perturbation set (`perturbation.cvae`), in [`MethodSetup::perturbation_set`].
    pub perturbation_set: bool,
    /// A loss with hyperparameters (`loss.kind` = gce, sce or nce-rce).
    pub loss_hyper: bool,
    /// Trains against the ℓp attack of `[adversarial]`; its runs evaluate robustness every
    /// epoch by default.
    pub attack: bool,
    /// Honours `adversarial.mixup_alpha`.
    pub mixup: bool,
    /// Needs image inputs [C, H, W].
    pub images: bool,
}

impl Uses {
    pub const NOTHING: Uses = Uses {
        validation: false,
        perturbation_set: false,
        loss_hyper: false,
        attack: false,
        mixup: false,
        images: false,
    };
}

/// A method as its file declares it.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct MethodInfo {
    /// The config name (`method = "…"`).
    pub name: &'static str,
    /// The name people know it by.
    pub label: &'static str,
    pub family: Family,
    /// One sentence: what the method does, with its reference.
    pub summary: &'static str,
    pub trains: Trains,
    pub uses: Uses,
}

/// Classifiers already trained on this run's training data, for methods that build on one.
/// Native runs name another run directory (which must have seen the same data); the page
/// trains one on the spot; the benchmark uses an untrained one (a step's cost does not
/// depend on its weights).
pub trait TrainedRuns {
    /// An ERM classifier of this run's data: the run in `dir` when given (plain device).
    fn classifier(&self, dir: Option<&Path>) -> Result<Classifier, CoreError>;
}

/// Everything a method may need when it starts.
pub struct MethodSetup<'a> {
    /// The student at initialisation (autodiff device).
    pub model: &'a Classifier,
    /// One or a few training examples (autodiff device), to size per-example states.
    pub probe: &'a Batch,
    pub input: &'a InputSpec,
    /// Training examples (per-example state is indexed by position in the training split).
    pub train_len: usize,
    /// Fraction of training examples per class, as labelled.
    pub class_freq: &'a [f32],
    /// The whole clean validation split (autodiff device), when there is one.
    pub validation: Option<&'a Batch>,
    /// The trained perturbation set of `perturbation.cvae` (plain device), when loaded.
    pub perturbation_set: Option<&'a PerturbationSet>,
    /// Other runs this run builds on.
    pub runs: &'a dyn TrainedRuns,
    /// The autodiff device of the run.
    pub device: &'a Device,
    /// The run seed. A method's own networks (weight network, teacher) draw their initial
    /// weights on the host under the first step's seed, `StepSeeds::CLASSIFIER.at(seed, 0)`:
    /// the stream Burn's lazy initialisation drew them from, on first use in step 1, before
    /// the host generator existed, so recorded runs reproduce bit for bit.
    pub seed: u64,
}

/// Where a step is in the run.
pub struct StepContext<'a> {
    /// 0-based step.
    pub step: usize,
    /// Steps of the main budget.
    pub total: usize,
    pub steps_per_epoch: usize,
    /// This step's learning rate.
    pub lr: f64,
    /// This step's seed: the caller seeded the host generator ([`crate::host_rng::seed`]) with
    /// it before the call, and host-side draws of the step derive from it.
    pub seed: u64,
    /// Positions of the batch's examples in the training split.
    pub positions: &'a [usize],
    /// The clean validation batch of this step (autodiff device), for methods that read one.
    pub validation: Option<&'a dyn Fn() -> Batch>,
}

impl StepContext<'_> {
    /// 0-based epoch of the step.
    pub fn epoch(&self) -> usize {
        self.step / self.steps_per_epoch.max(1)
    }

    /// step / total, in [0, 1).
    pub fn progress(&self) -> f64 {
        self.step as f64 / self.total.max(1) as f64
    }

    /// This step's validation batch; an error when the host has none.
    pub fn validation_batch(&self, method: &'static str) -> Result<Batch, CoreError> {
        self.validation.map(|v| v()).ok_or(CoreError::Missing {
            method,
            what: "a clean validation split (data.val_size > 0)",
        })
    }
}

/// What one step did. Everything stays on the device: a step never reads a value back to
/// the host (that would stall a GPU's queue every step); the host reads what it needs in
/// batches, between steps.
pub struct StepOutput {
    pub model: Classifier,
    /// [B] per-example training loss (detached, plain device).
    pub losses: Tensor<1>,
    /// [B] reweighting methods: each example's factor in the step's objective Σᵢ wᵢ ℓᵢ
    /// (ERM's is 1/B; L2RW's sum to 1; MW-Net's and the teacher's are their network's outputs
    /// / B), so B · wᵢ = 1 is ERM's weight.
    pub weights: Option<Tensor<1>>,
    /// [1] training examples classified correctly at their adversarial point.
    pub robust_correct: Option<Tensor<1, Int>>,
}

impl StepOutput {
    /// A step that weighted every example alike and ran no attack.
    pub fn plain(model: Classifier, losses: Tensor<1>) -> Self {
        Self {
            model,
            losses,
            weights: None,
            robust_correct: None,
        }
    }
}

impl From<crate::adversarial::AdversarialStep> for StepOutput {
    fn from(out: crate::adversarial::AdversarialStep) -> Self {
        Self {
            model: out.model,
            losses: out.losses,
            weights: None,
            robust_correct: Some(out.robust_correct),
        }
    }
}

/// What an epoch-end check sees.
pub struct EpochCheck<'a> {
    /// Epochs completed.
    pub epoch: usize,
    /// The first training batch (plain device).
    pub first_batch: &'a Batch,
    /// The run seed.
    pub seed: u64,
}

/// What an epoch-end check decided.
pub enum EpochVerdict {
    Continue(Classifier),
    /// End training with `model` (possibly earlier weights), for `reason`.
    Stop {
        model: Classifier,
        reason: String,
    },
}

/// One file of a method's checkpointed state.
pub struct StateFile {
    pub name: &'static str,
    pub bytes: Vec<u8>,
}

/// A running method (object-safe: hosts hold it as [`MethodState`]).
pub trait MethodStep {
    /// One training step on `batch` (autodiff device) with the student's optimiser.
    fn step(
        &mut self,
        model: Classifier,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<StepOutput, CoreError>;

    /// Called after each completed epoch of the main budget.
    fn end_of_epoch(&mut self, model: Classifier, _check: &EpochCheck) -> EpochVerdict {
        EpochVerdict::Continue(model)
    }

    /// The method's state to checkpoint beside the student.
    fn save(&self) -> Result<Vec<StateFile>, CoreError> {
        Ok(Vec::new())
    }

    /// Restores what [`MethodStep::save`] wrote; `file(name)` reads one file of the checkpoint.
    fn restore(
        &mut self,
        _file: &dyn Fn(&'static str) -> Option<Vec<u8>>,
    ) -> Result<(), CoreError> {
        Ok(())
    }

    /// Current loss hyperparameters ([H], plain device), for methods that learn them.
    fn loss_hyper(&self) -> Option<Tensor<1>> {
        None
    }

    /// What the method learned or estimated, for the run's summary.
    fn report(&self) -> Option<serde_json::Value> {
        None
    }
}

/// A method's declaration: the description, its options and how it starts.
pub trait MethodDef: MethodStep + Sized + 'static {
    const INFO: MethodInfo;
    /// The `[<name>]` table of the run config ([`super::NoOptions`] when there is none).
    type Options: MethodOptions;

    /// Checks the shared settings the method reads (beyond what [`Uses`] declares).
    fn check(_cfg: &MethodConfig) -> Result<(), CoreError> {
        Ok(())
    }

    fn new(cfg: &MethodConfig, setup: &MethodSetup) -> Result<Self, CoreError>;
}

/// Checks `cfg` for method `D` and returns its options with defaults filled in.
pub(super) fn resolve<D: MethodDef>(cfg: &MethodConfig) -> Result<serde_json::Value, CoreError> {
    let info = &D::INFO;
    let options: D::Options = cfg.options_for(info.name)?;
    options
        .validate()
        .map_err(|e| CoreError::config(format!("[{}] {e}", info.name)))?;
    if info.uses.loss_hyper && cfg.loss.hyper().is_empty() {
        return Err(CoreError::config(format!(
            "method {} needs a loss with hyperparameters: loss.kind = gce, sce or nce-rce",
            info.name
        )));
    }
    if cfg.adversarial.mixup_alpha > 0.0 && !info.uses.mixup {
        return Err(CoreError::config(format!(
            "adversarial.mixup_alpha is not used by method {} (methods with mixup: {})",
            info.name,
            Method::ALL
                .iter()
                .filter(|m| m.info().uses.mixup)
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    D::check(cfg)?;
    Ok(serde_json::to_value(&options).expect("options serialise"))
}

/// A method with its state: what hosts hold and step.
pub struct MethodState {
    method: Method,
    inner: Box<dyn MethodStep>,
}

impl MethodState {
    /// Starts `method` with the settings of `cfg` (checked with [`Method::resolve`]).
    pub fn new(method: Method, cfg: &MethodConfig, setup: &MethodSetup) -> Result<Self, CoreError> {
        if method.info().trains != Trains::Classifier {
            return Err(CoreError::config(format!(
                "method {method} trains a perturbation set, not a classifier"
            )));
        }
        if method.needs_perturbation_set() && setup.perturbation_set.is_none() {
            return Err(CoreError::Missing {
                method: method.name(),
                what: "a trained perturbation set (perturbation.cvae)",
            });
        }
        Ok(Self {
            method,
            inner: method.build(cfg, setup)?,
        })
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// One training step: see [`MethodStep::step`].
    pub fn step(
        &mut self,
        model: Classifier,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<StepOutput, CoreError> {
        self.inner.step(model, optim, batch, ctx)
    }

    pub fn end_of_epoch(&mut self, model: Classifier, check: &EpochCheck) -> EpochVerdict {
        self.inner.end_of_epoch(model, check)
    }

    pub fn save(&self) -> Result<Vec<StateFile>, CoreError> {
        self.inner.save()
    }

    pub fn restore(
        &mut self,
        file: &dyn Fn(&'static str) -> Option<Vec<u8>>,
    ) -> Result<(), CoreError> {
        self.inner.restore(file)
    }

    pub fn loss_hyper(&self) -> Option<Tensor<1>> {
        self.inner.loss_hyper()
    }

    pub fn report(&self) -> Option<serde_json::Value> {
        self.inner.report()
    }
}
