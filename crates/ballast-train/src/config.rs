//! Run configuration: one TOML file names method, model, dataset, noise, optimiser,
//! schedule, budget and seed. Unknown or ill-typed keys are errors that name the key;
//! `--set a.b=value` overrides any key before validation.

use anyhow::{Context, Result, anyhow, bail};
use ballast_core::adversarial::AttackBatchNorm;
use ballast_core::attack::{AttackConfig, AttackKind, Norm};
use ballast_core::hypergrad::DirectionalConfig;
use ballast_core::ssds::SsdsConfig;
use ballast_core::step::{OptimizerConfig, Schedule};
use ballast_core::weight_net::StateFeature;
use ballast_core::{LossConfig, ModelConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Training methods. Each is one `method = "…"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Empirical risk minimisation with the configured loss.
    Erm,
    /// Learning to Reweight (Ren et al. 2018): weights from the validation meta-gradient.
    L2rw,
    /// Baseline: random weights max(N(0, 1), 0), normalised.
    Random,
    /// Baseline: inverse class-frequency weights (class imbalance).
    ClassRatio,
    /// Meta-Weight-Net (Shu et al. 2019): a 1-hidden-layer network maps each loss to a weight.
    Mwn,
    /// Learning to reweight with deep interactions (Fan et al. 2021): a teacher network reads
    /// the student's internal states (`meta.teacher_states`).
    Teacher,
    /// Meta-learned robust-loss hyperparameters (Shu et al. 2020) of `[loss]`.
    MetaLoss,
    /// PGD adversarial training (Madry et al. 2018; Rice et al. 2020 settings) of `[adversarial]`.
    PgdAt,
    /// Fast adversarial training: one random-start FGSM step (Wong et al. 2020), with the
    /// catastrophic-overfitting check.
    FgsmRs,
    /// TRADES (Zhang et al. 2019): CE + β·KL to the KL-maximising point.
    Trades,
    /// SSDS (Esfandiari et al.): alternating descent–ascent with persistent per-example
    /// perturbations and dual variables (`[adversarial.ssds]`).
    Ssds,
    /// Trains the conditional VAE of a learned perturbation set (Wong & Kolter 2021) on pairs
    /// (x, x̃) of `[perturbation]`; no classifier.
    Cvae,
    /// Adversarial training against the latent attack of a trained CVAE
    /// (`perturbation.cvae`): per-example loss max(CE clean, CE adversarial).
    LatentAt,
    /// Baseline: training on random draws from the CVAE's prior, g(μ_p + σ_p ⊙ N(0, I), x).
    CvaeAug,
    /// Baseline: data augmentation with the real perturbations of `[perturbation]`.
    TransformAug,
}

impl Method {
    /// The config name (`method = "…"`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Erm => "erm",
            Method::L2rw => "l2rw",
            Method::Random => "random",
            Method::ClassRatio => "class-ratio",
            Method::Mwn => "mwn",
            Method::Teacher => "teacher",
            Method::MetaLoss => "meta-loss",
            Method::PgdAt => "pgd-at",
            Method::FgsmRs => "fgsm-rs",
            Method::Trades => "trades",
            Method::Ssds => "ssds",
            Method::Cvae => "cvae",
            Method::LatentAt => "latent-at",
            Method::CvaeAug => "cvae-aug",
            Method::TransformAug => "transform-aug",
        }
    }

    /// Whether the method trains against an attack (and so evaluates robustness each epoch).
    pub fn is_adversarial(self) -> bool {
        matches!(
            self,
            Method::PgdAt | Method::FgsmRs | Method::Trades | Method::Ssds
        )
    }

    /// Whether the method needs a trained CVAE (`perturbation.cvae`).
    pub fn needs_cvae(self) -> bool {
        matches!(self, Method::LatentAt | Method::CvaeAug)
    }

    /// Whether the method reads the clean validation split every step.
    pub fn needs_validation(self) -> bool {
        matches!(
            self,
            Method::L2rw | Method::Mwn | Method::Teacher | Method::MetaLoss
        )
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
    /// ℓ1 penalty on every parameter (the ℓ2 penalty is optimizer.weight_decay).
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
    /// The attack that training uses for `method`.
    pub fn training_attack(&self, method: Method) -> AttackConfig {
        match method {
            Method::FgsmRs => AttackConfig {
                kind: AttackKind::Fgsm,
                step_size: Some(self.step_size.unwrap_or(1.25 * self.eps)),
                random_start: true,
                ..AttackConfig::pgd(self.norm, self.eps, 1, 1)
            },
            _ => AttackConfig {
                step_size: self.step_size,
                ..AttackConfig::pgd(self.norm, self.eps, self.steps, 1)
            },
        }
    }

    /// Training radius at `step` (0-based) under the warm-up ramp.
    pub fn training_eps(&self, step: usize, steps_per_epoch: usize) -> f64 {
        let ramp = self.eps_warmup_epochs * steps_per_epoch as f64;
        if ramp <= 0.0 {
            self.eps
        } else {
            self.eps * ((step + 1) as f64 / ramp).min(1.0)
        }
    }

    /// The training attack at `step`: radius (and an explicit step size) scaled by the ramp.
    pub fn training_attack_at(
        &self,
        method: Method,
        step: usize,
        steps_per_epoch: usize,
    ) -> AttackConfig {
        let full = self.training_attack(method);
        let eps = self.training_eps(step, steps_per_epoch);
        let scale = if self.eps > 0.0 { eps / self.eps } else { 1.0 };
        AttackConfig {
            eps,
            step_size: full.step_size.map(|a| a * scale),
            ..full
        }
    }

    /// The PGD of the per-epoch robust evaluation.
    pub fn eval_attack(&self) -> AttackConfig {
        AttackConfig::pgd(self.norm, self.eps, self.eval_steps, self.eval_restarts)
    }

    pub fn validate(&self, method: Method) -> Result<()> {
        if !(self.eps >= 0.0 && self.eps.is_finite()) {
            bail!("adversarial.eps must be >= 0, got {}", self.eps);
        }
        if method.is_adversarial() && self.eps == 0.0 {
            bail!("method {} needs adversarial.eps > 0", method.name());
        }
        if self.steps == 0 || self.eval_steps == 0 || self.eval_restarts == 0 {
            bail!("adversarial.steps, eval_steps and eval_restarts must be at least 1");
        }
        if let Some(a) = self.step_size {
            if !(a > 0.0 && a.is_finite()) {
                bail!("adversarial.step_size must be positive, got {a}");
            }
        }
        if !(self.eps_warmup_epochs >= 0.0 && self.eps_warmup_epochs.is_finite()) {
            bail!("adversarial.eps_warmup_epochs must be >= 0");
        }
        if !(self.trades_beta >= 0.0) {
            bail!("adversarial.trades_beta must be >= 0");
        }
        if !(self.l1 >= 0.0) || !(self.mixup_alpha >= 0.0) {
            bail!("adversarial.l1 and mixup_alpha must be >= 0");
        }
        if !(0.0..=1.0).contains(&self.overfit_drop) {
            bail!("adversarial.overfit_drop must be in [0, 1]");
        }
        if method == Method::Ssds && self.norm != Norm::Linf {
            bail!("ssds is implemented for the linf threat model (adversarial.norm = \"linf\")");
        }
        if self.mixup_alpha > 0.0 && !matches!(method, Method::PgdAt | Method::FgsmRs) {
            bail!("adversarial.mixup_alpha is supported by pgd-at and fgsm-rs");
        }
        self.ssds.validate().map_err(|e| anyhow!(e))
    }
}

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
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    Mnist,
    FashionMnist,
    Cifar10,
    Moons,
    Spirals,
    Blobs,
}

impl DatasetName {
    pub fn is_toy(self) -> bool {
        matches!(
            self,
            DatasetName::Moons | DatasetName::Spirals | DatasetName::Blobs
        )
    }
}

/// `[data.noise]`: label noise on the training split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseConfig {
    /// uniform | background | unif | flip | symmetric_exact | pair_exact
    pub kind: ballast_data::NoiseKind,
    pub rate: f64,
    /// Noise seed; defaults to the run seed.
    pub seed: Option<u64>,
}

/// `[data.imbalance]`: a two-class subset with a given majority proportion
/// (the L2RW MNIST protocol: classes [4, 9], 5000 images, proportion 0.995).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImbalanceConfig {
    /// [minority, majority] original class ids; they become labels 0 and 1.
    pub classes: [u32; 2],
    pub majority_proportion: f64,
    pub train_size: usize,
    /// Balanced test subset size (0 = every test image of the two classes).
    #[serde(default)]
    pub test_size: usize,
}

/// `[data]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    pub dataset: DatasetName,
    /// Folder with the standard files; default: the Ballast cache (fetched on demand).
    pub dir: Option<PathBuf>,
    /// Use only this many training images (0 = all), after the validation split.
    pub train_size: usize,
    /// Size of the clean validation split carved from the training set.
    pub val_size: usize,
    /// Same number of validation examples per class.
    pub val_balanced: bool,
    /// Evaluate on at most this many test examples (0 = all).
    pub test_size: usize,
    /// Toy sets: number of points per split and noise level.
    pub toy_points: usize,
    pub toy_noise: f64,
    pub noise: Option<NoiseConfig>,
    pub imbalance: Option<ImbalanceConfig>,
    /// Training-batch augmentation in pixel space: none | crop | flip | crop-flip (the CIFAR
    /// recipe: random crop of the zero-padded image, then a random horizontal flip).
    pub augment: ballast_data::Augment,
    /// Padding on each side before the random crop.
    pub augment_padding: usize,
    /// zero (torchvision) or reflect (the cifar10-fast pipeline of Rice et al.).
    pub augment_pad_mode: ballast_data::PadMode,
    /// Cutout (DeVries & Taylor): zero a random square of this side in every training image
    /// (0 = off; Rice et al. use 14 on CIFAR-10).
    pub cutout: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dataset: DatasetName::Mnist,
            dir: None,
            train_size: 0,
            val_size: 1000,
            val_balanced: true,
            test_size: 0,
            toy_points: 1000,
            toy_noise: 0.1,
            noise: None,
            imbalance: None,
            augment: ballast_data::Augment::None,
            augment_padding: 4,
            augment_pad_mode: ballast_data::PadMode::Zero,
            cutout: 0,
        }
    }
}

/// `[budget]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// Passes over the training split (used when `steps` is 0).
    pub epochs: usize,
    /// Total optimiser steps (overrides `epochs` when > 0).
    pub steps: usize,
    pub batch_size: usize,
    /// Evaluate every this many steps (0 = once per epoch).
    pub eval_every: usize,
    pub eval_batch_size: usize,
    /// Write a checkpoint every this many steps (0 = at each evaluation).
    pub checkpoint_every: usize,
    /// "+FT" baselines: plain steps on the clean validation split after the main budget
    /// (batches of `meta.val_batch_size`), at `finetune_lr` (default 0.1 × optimizer.lr).
    pub finetune_steps: usize,
    pub finetune_lr: Option<f64>,
}

impl BudgetConfig {
    /// (evaluate every, checkpoint every) in steps: an epoch and "at each evaluation" when 0.
    pub fn intervals(&self, per_epoch: usize) -> (usize, usize) {
        let eval = if self.eval_every > 0 {
            self.eval_every
        } else {
            per_epoch
        };
        let ckpt = if self.checkpoint_every > 0 {
            self.checkpoint_every
        } else {
            eval
        };
        (eval, ckpt)
    }
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            epochs: 1,
            steps: 0,
            batch_size: 128,
            eval_every: 0,
            eval_batch_size: 1000,
            checkpoint_every: 0,
            finetune_steps: 0,
            finetune_lr: None,
        }
    }
}

/// A whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub method: Method,
    /// Free-text name of this variant in `ballast compare` tables (default: the method),
    /// e.g. "teacher-surface" or "meta-loss-gce".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default)]
    pub data: DataConfig,
    #[serde(default)]
    pub model: ModelConfig,
    #[serde(default)]
    pub loss: LossConfig,
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    #[serde(default)]
    pub schedule: Schedule,
    #[serde(default)]
    pub budget: BudgetConfig,
    /// Finite-difference settings of the hypergradient primitive (meta-methods).
    #[serde(default)]
    pub hypergrad: DirectionalConfig,
    #[serde(default)]
    pub meta: MetaConfig,
    #[serde(default)]
    pub adversarial: AdversarialConfig,
    /// Learned perturbation sets: pairs, CVAE, latent threat model.
    #[serde(default)]
    pub perturbation: crate::perturbation::PerturbationConfig,
}

fn default_seed() -> u64 {
    1
}

impl RunConfig {
    /// Reads a TOML file, applies `key=value` overrides, validates.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        Self::parse(&text, overrides).with_context(|| format!("invalid config {}", path.display()))
    }

    pub fn parse(text: &str, overrides: &[String]) -> Result<Self> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| anyhow!("{e}"))?;
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        let cfg: RunConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| anyhow!("{}", e.to_string().trim()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }

    pub fn validate(&self) -> Result<()> {
        let b = &self.budget;
        if b.batch_size == 0 {
            bail!("budget.batch_size must be at least 1");
        }
        if b.eval_batch_size == 0 {
            bail!("budget.eval_batch_size must be at least 1");
        }
        if b.steps == 0 && b.epochs == 0 {
            bail!("budget: set epochs or steps to at least 1");
        }
        self.optimizer.validate().map_err(|e| anyhow!(e))?;
        self.loss.validate().map_err(|e| anyhow!(e))?;
        if let Some(n) = &self.data.noise {
            if !(0.0..=1.0).contains(&n.rate) {
                bail!("data.noise.rate must be in [0, 1], got {}", n.rate);
            }
        }
        if !self.data.augment.is_none() && self.data.dataset.is_toy() {
            bail!(
                "data.augment = {:?} needs image data; {:?} is a 2-D toy set",
                self.data.augment,
                self.data.dataset
            );
        }
        if let Some(i) = &self.data.imbalance {
            if !(0.5..1.0).contains(&i.majority_proportion) {
                bail!(
                    "data.imbalance.majority_proportion must be in [0.5, 1), got {}",
                    i.majority_proportion
                );
            }
            if i.classes[0] == i.classes[1] {
                bail!("data.imbalance.classes must be two different classes");
            }
        }
        if self.budget.finetune_steps > 0 && self.data.val_size == 0 {
            bail!(
                "budget.finetune_steps fine-tunes on the clean validation split: set data.val_size > 0"
            );
        }
        if self.budget.finetune_lr.is_some_and(|lr| !(lr > 0.0)) {
            bail!("budget.finetune_lr must be positive");
        }
        if self.method.needs_validation() && self.data.val_size == 0 {
            bail!(
                "method {:?} needs a clean validation split: set data.val_size > 0",
                self.method
            );
        }
        if self.method == Method::Teacher && self.meta.teacher_states.is_empty() {
            bail!("meta.teacher_states must name at least one state feature");
        }
        if self.method == Method::MetaLoss && self.loss.hyper().is_empty() {
            bail!(
                "method meta-loss needs a loss with hyperparameters: loss.kind = gce, sce or nce-rce"
            );
        }
        self.adversarial.validate(self.method)?;
        if (self.method.is_adversarial() || self.adversarial.eval == Some(true))
            && self.data.dataset.is_toy()
        {
            bail!(
                "adversarial training and robust evaluation work on images in [0, 1]; {:?} is a 2-D toy set of raw coordinates",
                self.data.dataset
            );
        }
        if self.data.cutout > 0 && self.data.dataset.is_toy() {
            bail!(
                "data.cutout needs image data; {:?} is a 2-D toy set",
                self.data.dataset
            );
        }
        self.perturbation.validate()?;
        if self.method.needs_cvae() && self.perturbation.cvae.is_none() {
            bail!(
                "method {} needs a trained CVAE: set perturbation.cvae to the run directory of a `method = \"cvae\"` run",
                self.method.name()
            );
        }
        if matches!(
            self.method,
            Method::Cvae | Method::LatentAt | Method::CvaeAug | Method::TransformAug
        ) && self.data.dataset.is_toy()
        {
            bail!(
                "method {} works on images; {:?} is a 2-D toy set",
                self.method.name(),
                self.data.dataset
            );
        }
        if self.meta.meta_every == 0 {
            bail!("meta.meta_every must be at least 1");
        }
        if self.meta.val_batch_size == 0 {
            bail!("meta.val_batch_size must be at least 1");
        }
        if !(self.hypergrad.rel_step > 0.0) {
            bail!("hypergrad.rel_step must be positive");
        }
        match &self.schedule {
            Schedule::Step { gamma, .. } | Schedule::Piecewise { gamma, .. } if !(*gamma > 0.0) => {
                bail!("schedule.gamma must be positive")
            }
            Schedule::Piecewise { at, .. } if at.iter().any(|a| !(0.0..=1.0).contains(a)) => {
                bail!("schedule.at holds fractions of the run in [0, 1], got {at:?}")
            }
            Schedule::Cyclic { peak } if !(*peak > 0.0 && *peak < 1.0) => {
                bail!("schedule.peak must be in (0, 1), got {peak}")
            }
            _ => {}
        }
        Ok(())
    }
}

/// `a.b.c=value`: the value is read as TOML (number, bool, array, quoted string) and
/// otherwise taken as a bare string.
fn apply_override(table: &mut toml::Table, item: &str) -> Result<()> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| anyhow!("--set expects key=value, got `{item}`"))?;
    let key = key.trim();
    let raw = raw.trim();
    if key.is_empty() {
        bail!("--set `{item}`: empty key");
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = table;
    for p in &parts[..parts.len() - 1] {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry
            .as_table_mut()
            .ok_or_else(|| anyhow!("--set {key}: `{p}` is not a table"))?;
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
method = "erm"
seed = 3
[data]
dataset = "moons"
[model]
arch = "mlp"
hidden = [16]
[optimizer]
kind = "adam"
lr = 0.01
[budget]
steps = 10
batch_size = 32
"#;

    #[test]
    fn parses_and_round_trips() {
        let cfg = RunConfig::parse(BASE, &[]).unwrap();
        assert_eq!(cfg.seed, 3);
        assert_eq!(cfg.budget.steps, 10);
        let again = RunConfig::parse(&cfg.to_toml(), &[]).unwrap();
        assert_eq!(cfg, again);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = RunConfig::parse(
            &format!("{BASE}\n[schedule]\nkind = \"cosine\"\nwarmpu = 3\n"),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("warmpu"), "{err}");
        let err = RunConfig::parse(&BASE.replace("batch_size", "batchsize"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("batchsize"), "{err}");
    }

    #[test]
    fn ill_typed_key_is_named() {
        let err = RunConfig::parse(BASE, &["budget.steps=ten".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("steps"), "{err}");
    }

    #[test]
    fn overrides_apply_before_validation() {
        let cfg = RunConfig::parse(
            BASE,
            &[
                "optimizer.lr=0.5".into(),
                "model.hidden=[8, 8]".into(),
                "data.dataset=spirals".into(),
            ],
        )
        .unwrap();
        assert_eq!(cfg.optimizer.lr, 0.5);
        assert_eq!(cfg.model.hidden, vec![8, 8]);
        assert_eq!(cfg.data.dataset, DatasetName::Spirals);
        assert!(RunConfig::parse(BASE, &["optimizer.lr=-1".into()]).is_err());
        assert!(RunConfig::parse(BASE, &["nokey".into()]).is_err());
    }

    #[test]
    fn bad_method_is_an_error() {
        let err = RunConfig::parse(&BASE.replace("\"erm\"", "\"magic\""), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("magic"), "{err}");
    }
}
