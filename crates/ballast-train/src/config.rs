//! Run configuration: one TOML file names method, model, dataset, noise, optimiser,
//! schedule, budget and seed. Unknown or ill-typed keys are errors that name the key;
//! `--set a.b=value` overrides any key before validation.

use crate::error::{Context, Result, TrainError, bail};
use ballast_core::hypergrad::DirectionalConfig;
pub use ballast_core::method::{AdversarialConfig, MetaConfig, Method, MethodConfig, Trains};
use ballast_core::perturbation::PerturbationConfig;
use ballast_core::step::{OptimizerConfig, Schedule};
use ballast_core::{LossConfig, ModelConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `data.dataset`. MNIST and Fashion-MNIST are fetched on first use; CIFAR-10, CIFAR-100
/// and SVHN are read from `data.dir` or from the cache folder `ballast data fetch` fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    Mnist,
    FashionMnist,
    Cifar10,
    /// CIFAR-100 with `data.cifar100_labels` (fine: 100 classes, coarse: 20).
    Cifar100,
    /// SVHN cropped digits (train split, plus `extra` with `data.svhn_extra`).
    Svhn,
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
    /// CIFAR-100 labels: fine (100 classes, the benchmark) or coarse (20 superclasses).
    pub cifar100_labels: ballast_data::Cifar100Labels,
    /// SVHN: add the 531 131 `extra` images to the training split (fetch them with
    /// `ballast data fetch svhn --extra`).
    pub svhn_extra: bool,
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
            cifar100_labels: ballast_data::Cifar100Labels::Fine,
            svhn_extra: false,
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
    /// Checkpoints kept in `checkpoints/`, the newest included (older ones are deleted as new
    /// ones are written). The step-0 checkpoint counts like any other.
    pub keep_checkpoints: usize,
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
            keep_checkpoints: crate::checkpoint::DEFAULT_KEEP,
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
    pub perturbation: PerturbationConfig,
    /// The `[<method name>]` tables: a method's own knobs (see [`MethodConfig::options`]),
    /// defaults filled in for the run's method.
    #[serde(skip)]
    pub options: BTreeMap<String, serde_json::Value>,
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
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| TrainError::msg(format!("{e}")))?;
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        // `[<method name>]` tables hold that method's own knobs.
        let mut options = BTreeMap::new();
        for m in Method::ALL {
            if let Some(t) = table.remove(m.name()) {
                if !t.is_table() {
                    bail!(
                        "`{}` must be a table of method {} options",
                        m.name(),
                        m.name()
                    );
                }
                options.insert(m.name().to_string(), serde_json::to_value(&t)?);
            }
        }
        let mut cfg: RunConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| TrainError::msg(format!("{}", e.to_string().trim())))?;
        cfg.options = options;
        cfg.validate()?;
        // Record every knob: the run's method options with their defaults.
        let resolved = cfg.method.resolve(&cfg.method_config())?;
        if resolved.as_object().is_some_and(|o| !o.is_empty()) {
            cfg.options.insert(cfg.method.name().to_string(), resolved);
        }
        Ok(cfg)
    }

    pub fn to_toml(&self) -> String {
        let toml::Value::Table(mut table) = toml::Value::try_from(self).expect("config serialises")
        else {
            unreachable!("a run config serialises to a table")
        };
        for (name, value) in &self.options {
            table.insert(name.clone(), json_to_toml(value));
        }
        toml::to_string_pretty(&table).expect("config serialises")
    }

    /// The settings the run's method reads.
    pub fn method_config(&self) -> MethodConfig {
        MethodConfig {
            loss: self.loss,
            hypergrad: self.hypergrad,
            meta: self.meta.clone(),
            adversarial: self.adversarial.clone(),
            perturbation: self.perturbation.clone(),
            options: self.options.clone(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        let uses_trains = self.method.info().trains;
        let b = &self.budget;
        if b.batch_size == 0 {
            bail!("budget.batch_size must be at least 1");
        }
        if b.eval_batch_size == 0 {
            bail!("budget.eval_batch_size must be at least 1");
        }
        if b.keep_checkpoints == 0 {
            bail!(
                "budget.keep_checkpoints must be at least 1 (the newest checkpoint is always kept)"
            );
        }
        if b.steps == 0 && b.epochs == 0 {
            bail!("budget: set epochs or steps to at least 1");
        }
        self.optimizer.validate()?;
        self.loss.validate()?;
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
        if self.budget.finetune_steps > 0 && uses_trains != Trains::Classifier {
            bail!(
                "budget.finetune_steps fine-tunes a classifier; method {} trains a perturbation set",
                self.method
            );
        }
        if self.budget.finetune_lr.is_some_and(|lr| !(lr > 0.0)) {
            bail!("budget.finetune_lr must be positive");
        }
        let uses = self.method.info().uses;
        if uses.validation && self.data.val_size == 0 {
            bail!(
                "method {} needs a clean validation split: set data.val_size > 0",
                self.method
            );
        }
        self.adversarial.validate()?;
        if uses.attack && self.adversarial.eps == 0.0 {
            bail!("method {} needs adversarial.eps > 0", self.method);
        }
        self.meta.validate()?;
        // Each `[<method>]` table is checked by its method (typos are errors even in the
        // tables of other methods).
        for name in self.options.keys() {
            let m: Method = name.parse()?;
            if m != self.method {
                let mut only = self.method_config();
                only.options.retain(|k, _| k == name);
                m.resolve(&only)
                    .with_context(|| format!("the [{name}] table"))?;
            }
        }
        if (uses.attack || self.adversarial.eval == Some(true)) && self.data.dataset.is_toy() {
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
        self.method.resolve(&self.method_config())?;
        if uses.perturbation_set && self.perturbation.cvae.is_none() {
            bail!(
                "method {} needs a trained CVAE: set perturbation.cvae to the run directory of a `method = \"cvae\"` run",
                self.method.name()
            );
        }
        if uses.images && self.data.dataset.is_toy() {
            bail!(
                "method {} works on images; {:?} is a 2-D toy set",
                self.method.name(),
                self.data.dataset
            );
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

/// A method's options as TOML; unset optional knobs (JSON null) are left out.
fn json_to_toml(value: &serde_json::Value) -> toml::Value {
    use serde_json::Value as J;
    match value {
        J::Object(map) => toml::Value::Table(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), json_to_toml(v)))
                .collect(),
        ),
        J::Array(items) => toml::Value::Array(
            items
                .iter()
                .filter(|v| !v.is_null())
                .map(json_to_toml)
                .collect(),
        ),
        J::Bool(b) => toml::Value::Boolean(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => toml::Value::String(s.clone()),
        J::Null => toml::Value::Table(toml::Table::new()),
    }
}

/// `a.b.c=value`: the value is read as TOML (number, bool, array, quoted string) and
/// otherwise taken as a bare string.
fn apply_override(table: &mut toml::Table, item: &str) -> Result<()> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| TrainError::msg(format!("--set expects key=value, got `{item}`")))?;
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
            .ok_or_else(|| TrainError::msg(format!("--set {key}: `{p}` is not a table")))?;
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
    fn method_tables_are_checked_recorded_with_defaults_and_round_trip() {
        let mart = BASE.replace("\"moons\"", "\"mnist\"");
        let cfg = RunConfig::parse(&mart, &["method=mart".into()]).unwrap();
        assert_eq!(cfg.options["mart"], serde_json::json!({ "beta": 6.0 }));
        assert!(
            cfg.to_toml().contains("[mart]\nbeta = 6.0"),
            "{}",
            cfg.to_toml()
        );
        let cfg = RunConfig::parse(&mart, &["method=mart".into(), "mart.beta=2.5".into()]).unwrap();
        assert_eq!(cfg, RunConfig::parse(&cfg.to_toml(), &[]).unwrap());
        // A typo, in the run's method table or another one, names the key.
        for set in ["mart.bta=1", "erm.x=1"] {
            let err = RunConfig::parse(&mart, &["method=mart".into(), set.into()]).unwrap_err();
            let err = err.report();
            let key = set.split(['.', '=']).nth(1).unwrap();
            assert!(err.contains(key), "{set}: {err}");
        }
        let err =
            RunConfig::parse(&mart, &["method=mart".into(), "mart.beta=-1".into()]).unwrap_err();
        assert!(err.report().contains("beta"), "{}", err.report());
        // A method table must be a table.
        assert!(RunConfig::parse(&mart, &["mart=3".into()]).is_err());
    }

    #[test]
    fn bad_method_is_an_error() {
        let err = RunConfig::parse(&BASE.replace("\"erm\"", "\"magic\""), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("magic"), "{err}");
    }
}

#[cfg(test)]
mod reference_presets {
    use super::*;

    fn preset(name: &str) -> RunConfig {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../configs")
            .join(name);
        RunConfig::load(&path, &[]).unwrap()
    }

    #[test]
    fn the_l2rw_mnist_protocol_halves_the_learning_rate_at_the_midpoint() {
        let cfg = preset("l2rw-mnist-imbalance.toml");
        let total = cfg.budget.steps;
        assert_eq!(total, 4000);
        assert_eq!(cfg.schedule.factor(total / 2 - 1, total), 1.0);
        assert_eq!(cfg.schedule.factor(total / 2, total), 0.5);
        assert_eq!(cfg.schedule.factor(total - 1, total), 0.5);
    }

    #[test]
    fn reference_presets_use_the_references_optimiser_settings() {
        use ballast_core::step::WeightDecayOn;
        assert!(!preset("mwn-cifar10-resnet32.toml").optimizer.nesterov);
        for name in [
            "rice-cifar10-prn18-linf.toml",
            "rice-cifar10-prn18-l2.toml",
            "rice-cifar10-wrn34.toml",
            "rice-cifar100-prn18-linf.toml",
            "rice-svhn-prn18-linf.toml",
            "robust-overfitting-fashion.toml",
        ] {
            assert_eq!(
                preset(name).optimizer.weight_decay_on,
                WeightDecayOn::Weights,
                "{name}"
            );
        }
    }

    /// The SSDS preset is the reference's MNIST run: `config.json`'s settings, the reference's
    /// algorithm (the SSDS defaults), 500 epochs at batch 128, no warm-up, constant η.
    #[test]
    fn the_ssds_reference_preset_is_the_reference_run() {
        use ballast_core::ssds::{SsdsAscent, SsdsConfig, SsdsGradient, SsdsSubgradient};
        let cfg = preset("ssds-reference-mnist.toml");
        let ssds = &cfg.adversarial.ssds;
        assert_eq!(
            *ssds,
            SsdsConfig {
                noise: true,
                eta_decay_every: 0,
                ..SsdsConfig::default()
            }
        );
        let d = SsdsConfig::default();
        assert_eq!(
            (d.ascent, d.gradient, d.subgradient, d.eps_warmup),
            (
                SsdsAscent::BatchMean,
                SsdsGradient::ThroughClamp,
                SsdsSubgradient::Sign,
                false
            )
        );
        assert_eq!(
            (d.eta, d.c1, d.c2, d.lambda0, d.v0, d.t0),
            (2.0, 100.0, 100.0, 4.0, 1.0, 1.0)
        );
        assert_eq!((cfg.budget.epochs, cfg.budget.batch_size), (500, 128));
        let o = &cfg.optimizer;
        assert_eq!(
            (o.lr, o.momentum, o.weight_decay, o.nesterov),
            (0.01, 0.9, 2e-4, false)
        );
        assert_eq!(cfg.adversarial.eps, 0.3);
    }
}
