//! The settings methods read: the `[loss]`, `[hypergrad]`, `[meta]`, `[adversarial]` and
//! `[perturbation]` sections of a run config, and each method's own `[<name>]` table.

use crate::adversarial::AttackBatchNorm;
use crate::attack::{AttackConfig, Norm};
use crate::error::CoreError;
use crate::hypergrad::DirectionalConfig;
use crate::loss::LossConfig;
use crate::perturbation::PerturbationConfig;
use crate::ssds::SsdsConfig;
use crate::weight_net::StateFeature;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything a method's step may read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MethodConfig {
    pub loss: LossConfig,
    pub hypergrad: DirectionalConfig,
    pub meta: MetaConfig,
    pub adversarial: AdversarialConfig,
    pub perturbation: PerturbationConfig,
    /// The `[<method name>]` tables of the run config, as JSON objects by method name.
    pub options: BTreeMap<String, serde_json::Value>,
}

impl MethodConfig {
    /// The options of method `name` (its defaults when the config has no `[name]` table).
    pub fn options_for<O: MethodOptions>(&self, name: &str) -> Result<O, CoreError> {
        match self.options.get(name) {
            None => Ok(O::default()),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| CoreError::config(format!("[{name}]: {e}"))),
        }
    }
}

/// A method's own knobs (`[<name>]` in a run config). Unknown keys must be errors
/// (`#[serde(deny_unknown_fields)]`).
pub trait MethodOptions: Serialize + DeserializeOwned + Default {
    /// Range checks; the message names the key.
    fn validate(&self) -> Result<(), CoreError> {
        Ok(())
    }
}

/// The options of a method that has none: any key is an error.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

impl MethodOptions for NoOptions {}

/// `[meta]`: settings shared by the meta-methods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetaConfig {
    /// Clean validation examples per meta step (all of them when the split is smaller).
    pub val_batch_size: usize,
    /// Append every example's weight to `weights.csv` every this many steps (0 = never).
    pub export_weights_every: usize,
    /// Learning rate of the weighting network (Adam), and its L2 penalty.
    pub meta_lr: f64,
    pub meta_weight_decay: f64,
    /// Hidden units of the weighting network.
    pub hidden: usize,
    /// What the teacher reads: any of features, probs, loss, label, margin, progress.
    /// Internal states: ["features", "probs", "loss", "label", "progress"] (default);
    /// surface only: ["probs", "loss", "label", "margin", "progress"].
    pub teacher_states: Vec<StateFeature>,
    /// `meta-loss`: update the loss hyperparameters every this many steps.
    pub meta_every: usize,
    /// MW-Net and the teacher: the real step on (1/n) Σ wᵢ ℓᵢ like the virtual step (`mean`,
    /// the reference) or on weights normalised to sum 1 (`normalised`).
    pub real_step_weights: crate::weight_net::RealStepWeights,
    /// The teacher (and MW-Net): multiply each state input by a learned scale, starting at
    /// 1/std of that input over the first batch of states (`learned`), or not (`none`).
    pub input_scale: InputScale,
}

/// See [`MetaConfig::input_scale`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputScale {
    #[default]
    None,
    Learned,
}

impl Default for MetaConfig {
    fn default() -> Self {
        Self {
            val_batch_size: 100,
            export_weights_every: 0,
            meta_lr: 1e-3,
            meta_weight_decay: 1e-4,
            hidden: 100,
            teacher_states: StateFeature::INTERNAL.to_vec(),
            meta_every: 1,
            real_step_weights: crate::weight_net::RealStepWeights::Mean,
            input_scale: InputScale::None,
        }
    }
}

impl MetaConfig {
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.meta_every == 0 {
            return Err(CoreError::config("meta.meta_every must be at least 1"));
        }
        if self.val_batch_size == 0 {
            return Err(CoreError::config("meta.val_batch_size must be at least 1"));
        }
        if self.hidden == 0 {
            return Err(CoreError::config("meta.hidden must be at least 1"));
        }
        if !(self.meta_lr > 0.0 && self.meta_lr.is_finite()) {
            return Err(CoreError::config(format!(
                "meta.meta_lr must be positive, got {}",
                self.meta_lr
            )));
        }
        if !(self.meta_weight_decay >= 0.0 && self.meta_weight_decay.is_finite()) {
            return Err(CoreError::config(format!(
                "meta.meta_weight_decay must be >= 0, got {}",
                self.meta_weight_decay
            )));
        }
        Ok(())
    }
}

/// `[adversarial]`: the threat model of adversarial training, the per-epoch robust
/// evaluation (also available to `erm` runs) and the remedies of the robust-overfitting study.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdversarialConfig {
    pub norm: Norm,
    /// Radius in [0, 1] pixel units.
    pub eps: f64,
    /// Ramp the training radius linearly from 0 to `eps` over this many epochs (0 = none).
    /// PGD-AT at ε = 0.3 on MNIST from scratch can stay at chance for thousands of steps;
    /// a short ramp avoids that. Evaluation always uses the full `eps`.
    pub eps_warmup_epochs: f64,
    /// Training attack steps (pgd-at, trades).
    pub steps: usize,
    /// Training attack step size; default 2.5·ε/steps (ε/4 at 10 steps, Rice et al.) for
    /// pgd-at and trades, 1.25·ε for fgsm-rs (Wong et al.).
    pub step_size: Option<f64>,
    /// BatchNorm during the training attack: train (Rice et al.), probe or eval.
    pub attack_bn: AttackBatchNorm,
    /// TRADES β.
    pub trades_beta: f64,
    /// Robust evaluation at every evaluation point: PGD with these steps / restarts (step
    /// size 2.5·ε/steps) at the same ε, in inference mode. Default: on for the adversarial
    /// methods; `eval = true` adds it to any run (e.g. an `erm` baseline), `false` drops it.
    pub eval: Option<bool>,
    pub eval_steps: usize,
    pub eval_restarts: usize,
    /// Examples of the test and training splits evaluated each time (0 = the whole split);
    /// the validation split is always used whole.
    pub eval_test_examples: usize,
    pub eval_train_examples: usize,
    /// fgsm-rs: after every epoch run PGD-5 on the first training batch and stop, keeping the
    /// previous epoch's weights, when its robust accuracy falls by more than `overfit_drop`.
    pub overfit_check: bool,
    pub overfit_drop: f64,
    /// ℓ1 penalty on the weights: no bias or BatchNorm parameter, as Rice et al.'s parameter
    /// groups (`adversarial::l1_norm`; the ℓ2 penalty is optimizer.weight_decay).
    pub l1: f64,
    /// Mixup with λ ~ Beta(α, α) when α > 0 (attack and loss on the mixed batch).
    pub mixup_alpha: f64,
    pub ssds: SsdsConfig,
}

impl Default for AdversarialConfig {
    fn default() -> Self {
        Self {
            norm: Norm::Linf,
            eps: 8.0 / 255.0,
            eps_warmup_epochs: 0.0,
            steps: 10,
            step_size: None,
            attack_bn: AttackBatchNorm::Train,
            trades_beta: 6.0,
            eval: None,
            eval_steps: 10,
            eval_restarts: 1,
            eval_test_examples: 1000,
            eval_train_examples: 1000,
            overfit_check: true,
            overfit_drop: 0.2,
            l1: 0.0,
            mixup_alpha: 0.0,
            ssds: SsdsConfig::default(),
        }
    }
}

impl AdversarialConfig {
    /// Training radius at `step` (0-based) under the warm-up ramp.
    pub fn training_eps(&self, step: usize, steps_per_epoch: usize) -> f64 {
        let ramp = self.eps_warmup_epochs * steps_per_epoch as f64;
        if ramp <= 0.0 {
            self.eps
        } else {
            self.eps * ((step + 1) as f64 / ramp).min(1.0)
        }
    }

    /// `attack` (built for the full ε) at `step`: radius and an explicit step size scaled by
    /// the warm-up ramp.
    pub fn ramped(
        &self,
        attack: AttackConfig,
        step: usize,
        steps_per_epoch: usize,
    ) -> AttackConfig {
        let eps = self.training_eps(step, steps_per_epoch);
        let scale = if self.eps > 0.0 { eps / self.eps } else { 1.0 };
        AttackConfig {
            eps,
            step_size: attack.step_size.map(|a| a * scale),
            ..attack
        }
    }

    /// The PGD of the per-epoch robust evaluation.
    pub fn eval_attack(&self) -> AttackConfig {
        AttackConfig::pgd(self.norm, self.eps, self.eval_steps, self.eval_restarts)
    }

    pub fn validate(&self) -> Result<(), CoreError> {
        let err = |m: String| Err(CoreError::config(m));
        if !(self.eps >= 0.0 && self.eps.is_finite()) {
            return err(format!("adversarial.eps must be >= 0, got {}", self.eps));
        }
        if self.norm == Norm::Linf && self.eps > 1.0 {
            return err(format!(
                "adversarial.eps = {} is larger than the pixel range [0, 1]: an l-inf ball that wide holds every image (write 8/255, not 8)",
                self.eps
            ));
        }
        if self.steps == 0 || self.eval_steps == 0 || self.eval_restarts == 0 {
            return err(
                "adversarial.steps, eval_steps and eval_restarts must be at least 1".into(),
            );
        }
        if let Some(a) = self.step_size {
            if !(a > 0.0 && a.is_finite()) {
                return err(format!("adversarial.step_size must be positive, got {a}"));
            }
        }
        if !(self.eps_warmup_epochs >= 0.0 && self.eps_warmup_epochs.is_finite()) {
            return err("adversarial.eps_warmup_epochs must be >= 0".into());
        }
        if !(self.trades_beta >= 0.0) {
            return err("adversarial.trades_beta must be >= 0".into());
        }
        if !(self.l1 >= 0.0) || !(self.mixup_alpha >= 0.0) {
            return err("adversarial.l1 and mixup_alpha must be >= 0".into());
        }
        if !(0.0..=1.0).contains(&self.overfit_drop) {
            return err("adversarial.overfit_drop must be in [0, 1]".into());
        }
        self.ssds.validate()
    }
}
