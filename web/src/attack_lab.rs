//! The attack lab: natively trained MNIST models (standard, PGD-AT, MART, SSDS) under every ℓp
//! attack of the core crate (FGSM, PGD, APGD-CE / -DLR / -T, FAB-T, FAB, Square) or AutoAttack's
//! standard suite, on shipped test digits or the user's own drawing.
//!
//! Each model is attacked white-box with its own gradients, always in `Mode::Eval`. A digit
//! without a known label (a drawing) is attacked away from the model's own clean prediction.

use ballast_core::attack::{AttackConfig, AttackKind, Norm, Objective, attack};
use ballast_core::manifest::{Manifest, ModelEntry, decode_model};
use ballast_core::models::{Classifier, Mode};
use ballast_data::Dataset;
use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use crate::read::read_f32;

/// Which attack the lab runs: one of the core's ℓp attacks (by the core's name: "pgd",
/// "square", …), or a suite ("aa-standard").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LabKind {
    Single(AttackKind),
    Suite(LabSuite),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabSuite {
    /// APGD-CE, APGD-T, FAB-T and Square (Croce and Hein's standard version).
    AaStandard,
}

/// The attack controls of the panel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabAttack {
    pub kind: LabKind,
    pub norm: Norm,
    pub eps: f64,
    /// Gradient steps of PGD, APGD (per target for APGD-T) and FAB.
    pub steps: usize,
    /// PGD / FGSM: None = ε for FGSM, 2.5·ε/steps for PGD. APGD and FAB adapt their own.
    pub step_size: Option<f64>,
    /// PGD / FGSM only (APGD starts at a random point of the ball; Square searches at random).
    pub random_start: bool,
    /// Square's queries per digit (AutoAttack: 5 000).
    pub queries: usize,
    pub seed: u64,
}

impl Default for LabAttack {
    fn default() -> Self {
        Self {
            kind: LabKind::Single(AttackKind::Pgd),
            norm: Norm::Linf,
            eps: 0.3,
            steps: 20,
            step_size: None,
            random_start: false,
            queries: 5_000,
            seed: 0,
        }
    }
}

/// The browser's budgets: beyond them one digit takes minutes on the CPU bundle.
const MAX_STEPS: usize = 200;
const MAX_QUERIES: usize = 10_000;

impl LabAttack {
    /// The attacks to run, in order (one, or the suite's four).
    pub fn configs(&self) -> Result<Vec<AttackConfig>, String> {
        if self.steps > MAX_STEPS {
            return Err(format!(
                "steps must be at most {MAX_STEPS} in the browser, got {}",
                self.steps
            ));
        }
        if self.queries > MAX_QUERIES {
            return Err(format!(
                "queries must be at most {MAX_QUERIES} in the browser, got {}",
                self.queries
            ));
        }
        let one = |kind: AttackKind| match kind {
            AttackKind::Fgsm => AttackConfig {
                step_size: self.step_size,
                random_start: self.random_start,
                ..AttackConfig::fgsm(self.norm, self.eps)
            },
            AttackKind::Pgd => AttackConfig {
                step_size: self.step_size,
                random_start: self.random_start,
                ..AttackConfig::pgd(self.norm, self.eps, self.steps, 1)
            },
            AttackKind::Square => AttackConfig::square(self.norm, self.eps, self.queries),
            apgd_or_fab => AttackConfig::apgd(apgd_or_fab, self.norm, self.eps, self.steps, 1),
        };
        let configs: Vec<AttackConfig> = match self.kind {
            LabKind::Single(AttackKind::Latent) => {
                return Err(
                    "the lab runs the ℓp attacks; the latent attack needs a perturbation set (the explorer panel)"
                        .into(),
                );
            }
            LabKind::Single(kind) => vec![one(kind)],
            LabKind::Suite(LabSuite::AaStandard) => [
                AttackKind::ApgdCe,
                AttackKind::ApgdT,
                AttackKind::FabT,
                AttackKind::Square,
            ]
            .map(one)
            .to_vec(),
        };
        for cfg in &configs {
            cfg.validate().map_err(|e| e.to_string())?;
        }
        Ok(configs)
    }
}

pub struct LabModel {
    pub entry: ModelEntry,
    pub model: Classifier,
}

pub struct AttackLab {
    pub device: Device,
    pub models: Vec<LabModel>,
    /// Real MNIST test digits shipped with the page.
    pub digits: Dataset,
}

/// What the attacks on one digit produced, queued on the device.
pub struct PendingAttack {
    /// Per attack, in order: its name, adversarial image [1, D] and probabilities [1, K].
    runs: Vec<(String, Tensor<2>, Tensor<2>)>,
    clean_probs: Tensor<2>,
    /// The class the attacks push away from: the label, or the clean prediction.
    label: Option<u32>,
}

/// One attack's verdict on one digit.
#[derive(Clone, Debug, Serialize)]
pub struct AttackMark {
    pub attack: String,
    pub adv_pred: usize,
    /// The attack found an image in the ball that the model misclassifies.
    pub broke: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct AttackOutcome {
    /// [784] the adversarial image shown, in [0, 1]: the first attack's that broke the digit
    /// (AutoAttack's order), else the first attack's best try.
    pub adv: Vec<f32>,
    pub clean_probs: Vec<f32>,
    pub adv_probs: Vec<f32>,
    pub clean_pred: usize,
    pub adv_pred: usize,
    /// ‖δ‖∞ and ‖δ‖₂ of the image shown.
    pub linf: f32,
    pub l2: f32,
    /// Every attack's verdict ("broken by" marks), in order.
    pub attacks: Vec<AttackMark>,
}

/// Counts on a batch of test digits, queued on the device.
pub struct PendingBatch {
    eps: f64,
    examples: usize,
    clean_correct: Tensor<1>,
    /// Per attack: digits still correct under it and every earlier one.
    running: Vec<(String, Tensor<1>)>,
    flipped: Tensor<1>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BatchOutcome {
    pub eps: f64,
    pub examples: usize,
    pub clean_correct: usize,
    /// Correct under every attack.
    pub robust_correct: usize,
    /// Digits whose prediction some attack changed.
    pub flipped: usize,
    /// (attack, digits correct under it and every earlier one): AutoAttack's running figure.
    pub running: Vec<(String, usize)>,
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f32::MIN), |b, (i, &x)| if x > b.1 { (i, x) } else { b })
        .0
}

impl PendingAttack {
    pub async fn read(self, x: &[f32]) -> Result<AttackOutcome, String> {
        let clean_probs = read_f32(self.clean_probs).await?;
        let clean_pred = argmax(&clean_probs);
        let target = self.label.map_or(clean_pred, |l| l as usize);
        let mut runs = Vec::with_capacity(self.runs.len());
        for (name, adv, probs) in self.runs {
            let probs = read_f32(probs).await?;
            let pred = argmax(&probs);
            runs.push((name, adv, probs, pred));
        }
        let shown = runs.iter().position(|r| r.3 != target).unwrap_or(0);
        let attacks = runs
            .iter()
            .map(|r| AttackMark {
                attack: r.0.clone(),
                adv_pred: r.3,
                broke: r.3 != target,
            })
            .collect();
        let (_, adv, adv_probs, adv_pred) = runs.swap_remove(shown);
        let adv = read_f32(adv).await?;
        let (mut linf, mut l2) = (0.0f32, 0.0f32);
        for (a, b) in adv.iter().zip(x) {
            linf = linf.max((a - b).abs());
            l2 += (a - b) * (a - b);
        }
        Ok(AttackOutcome {
            clean_pred,
            adv_pred,
            adv,
            clean_probs,
            adv_probs,
            linf,
            l2: l2.sqrt(),
            attacks,
        })
    }
}

impl PendingBatch {
    pub async fn read(self) -> Result<BatchOutcome, String> {
        async fn count(t: Tensor<1>) -> Result<usize, String> {
            Ok(read_f32(t).await?.first().copied().unwrap_or(0.0).round() as usize)
        }
        let mut running = Vec::with_capacity(self.running.len());
        for (name, t) in self.running {
            running.push((name, count(t).await?));
        }
        Ok(BatchOutcome {
            eps: self.eps,
            examples: self.examples,
            clean_correct: count(self.clean_correct).await?,
            robust_correct: running.last().map_or(0, |r| r.1),
            flipped: count(self.flipped).await?,
            running,
        })
    }
}

impl AttackLab {
    /// Decodes the manifest's models from their file bytes (`files`: name -> bytes) onto
    /// `device` (plain). Checks each file's size and sha256 against the manifest.
    pub fn new(
        device: &Device,
        manifest: &Manifest,
        files: Vec<(String, Vec<u8>)>,
        digits: Dataset,
    ) -> Result<Self, String> {
        let mut models = Vec::new();
        for (name, bytes) in files {
            let entry = manifest
                .model(&name)
                .ok_or_else(|| format!("model `{name}` is not in the manifest"))?;
            let hash = ballast_data::sha256_hex(&bytes);
            if hash != entry.sha256 {
                return Err(format!(
                    "{}: sha256 {hash} does not match the manifest",
                    entry.file
                ));
            }
            if entry.input.features() != digits.example_len() {
                return Err(format!(
                    "{} takes {} inputs, the shipped digits have {}",
                    entry.name,
                    entry.input.features(),
                    digits.example_len()
                ));
            }
            let model = decode_model(entry, &bytes, device).map_err(|e| e.to_string())?;
            models.push(LabModel {
                entry: entry.clone(),
                model,
            });
        }
        if models.is_empty() {
            return Err("no models to attack".into());
        }
        Ok(Self {
            device: device.clone(),
            models,
            digits,
        })
    }

    pub fn digit(&self, i: usize) -> Option<(&[f32], u32)> {
        (i < self.digits.len()).then(|| (self.digits.example(i), self.digits.labels[i]))
    }

    fn model(&self, m: usize) -> Result<&Classifier, String> {
        self.models
            .get(m)
            .map(|m| &m.model)
            .ok_or_else(|| format!("no model {m}"))
    }

    /// Attacks model `m` on one image `x` ([784] in [0, 1]); `label` None attacks the model's
    /// own clean prediction.
    pub fn attack(
        &self,
        m: usize,
        x: &[f32],
        label: Option<u32>,
        lab: &LabAttack,
    ) -> Result<PendingAttack, String> {
        let model = self.model(m)?;
        let configs = lab.configs()?;
        let d = self.digits.example_len();
        if x.len() != d || x.iter().any(|v| !(0.0..=1.0).contains(v)) {
            return Err(format!("an image must be {d} values in [0, 1]"));
        }
        let x = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [1, d]), &self.device);
        let clean_logits = model.forward(x.clone(), Mode::Eval); // [1, K]
        let y = match label {
            Some(l) => {
                Tensor::<1, Int>::from_data(TensorData::new(vec![l as i32], [1]), &self.device)
            }
            None => clean_logits.clone().argmax(1).squeeze_dim::<1>(1),
        };
        ballast_core::host_rng::seed(lab.seed);
        let objective = Objective::CrossEntropy(y);
        let runs = configs
            .iter()
            .map(|cfg| {
                let adv = attack(model, x.clone(), &objective, cfg, Mode::Eval); // [1, D]
                let probs = softmax(model.forward(adv.clone(), Mode::Eval), 1);
                (cfg.kind.name().to_string(), adv, probs)
            })
            .collect();
        Ok(PendingAttack {
            runs,
            clean_probs: softmax(clean_logits, 1),
            label,
        })
    }

    /// Attacks model `m` on shipped test digits `start..start + count` at radius `eps` (the
    /// other knobs from `lab`); counts clean-correct, robust-correct and flipped digits.
    pub fn attack_batch(
        &self,
        m: usize,
        lab: &LabAttack,
        eps: f64,
        start: usize,
        count: usize,
    ) -> Result<PendingBatch, String> {
        let model = self.model(m)?;
        let end = (start + count).min(self.digits.len());
        if start >= end {
            return Err(format!(
                "digits {start}..{end}: none of the {} shipped",
                self.digits.len()
            ));
        }
        let d = self.digits.example_len();
        let n = end - start;
        let x = Tensor::<2>::from_data(
            TensorData::new(self.digits.x[start * d..end * d].to_vec(), [n, d]),
            &self.device,
        );
        let labels: Vec<i32> = self.digits.labels[start..end]
            .iter()
            .map(|&l| l as i32)
            .collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), &self.device);
        let configs = LabAttack { eps, ..lab.clone() }.configs()?;
        let clean = model
            .forward(x.clone(), Mode::Eval)
            .argmax(1)
            .squeeze_dim::<1>(1);
        let clean_correct = clean.clone().equal(y.clone()).float(); // [n]
        ballast_core::host_rng::seed(lab.seed);
        let objective = Objective::CrossEntropy(y.clone());
        // Every attack runs on every digit; "still correct" accumulates in AutoAttack's order.
        let mut correct = clean_correct.clone();
        let mut changed = Tensor::<1>::zeros([n], &self.device);
        let mut running = Vec::with_capacity(configs.len());
        for cfg in &configs {
            let adv = if eps > 0.0 {
                attack(model, x.clone(), &objective, cfg, Mode::Eval)
            } else {
                x.clone()
            };
            let pred = model.forward(adv, Mode::Eval).argmax(1).squeeze_dim::<1>(1);
            correct = correct * pred.clone().equal(y.clone()).float();
            changed = changed.max_pair(pred.not_equal(clean.clone()).float());
            running.push((cfg.kind.name().to_string(), correct.clone().sum()));
        }
        Ok(PendingBatch {
            eps,
            examples: n,
            clean_correct: clean_correct.sum(),
            running,
            flipped: changed.sum(),
        })
    }
}
