//! The attack lab: natively trained MNIST models (standard, PGD-AT, MART, SSDS) under FGSM / PGD
//! attacks from the core crate, on shipped test digits or the user's own drawing.
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

/// The attack controls of the panel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabAttack {
    /// "fgsm" or "pgd".
    pub kind: AttackKind,
    pub norm: Norm,
    pub eps: f64,
    pub steps: usize,
    /// None: ε for FGSM, 2.5·ε/steps for PGD.
    pub step_size: Option<f64>,
    pub random_start: bool,
    pub seed: u64,
}

impl Default for LabAttack {
    fn default() -> Self {
        Self {
            kind: AttackKind::Pgd,
            norm: Norm::Linf,
            eps: 0.3,
            steps: 20,
            step_size: None,
            random_start: false,
            seed: 0,
        }
    }
}

impl LabAttack {
    pub fn config(&self) -> Result<AttackConfig, String> {
        let cfg = match self.kind {
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
            other => return Err(format!("the lab runs fgsm and pgd, not {}", other.name())),
        };
        if self.steps > 200 {
            return Err(format!(
                "steps must be at most 200 in the browser, got {}",
                self.steps
            ));
        }
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(cfg)
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

/// What one attack on one digit produced, queued on the device.
pub struct PendingAttack {
    adv: Tensor<2>,
    clean_probs: Tensor<2>,
    adv_probs: Tensor<2>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AttackOutcome {
    /// [784] adversarial image in [0, 1].
    pub adv: Vec<f32>,
    pub clean_probs: Vec<f32>,
    pub adv_probs: Vec<f32>,
    pub clean_pred: usize,
    pub adv_pred: usize,
    /// ‖δ‖∞ and ‖δ‖₂ actually used.
    pub linf: f32,
    pub l2: f32,
}

/// Counts on a batch of test digits, queued on the device.
pub struct PendingBatch {
    eps: f64,
    examples: usize,
    clean_correct: Tensor<1>,
    robust_correct: Tensor<1>,
    flipped: Tensor<1>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BatchOutcome {
    pub eps: f64,
    pub examples: usize,
    pub clean_correct: usize,
    pub robust_correct: usize,
    /// Digits whose prediction the attack changed.
    pub flipped: usize,
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f32::MIN), |b, (i, &x)| if x > b.1 { (i, x) } else { b })
        .0
}

impl PendingAttack {
    pub async fn read(self, x: &[f32]) -> Result<AttackOutcome, String> {
        let adv = read_f32(self.adv).await?;
        let clean_probs = read_f32(self.clean_probs).await?;
        let adv_probs = read_f32(self.adv_probs).await?;
        let (mut linf, mut l2) = (0.0f32, 0.0f32);
        for (a, b) in adv.iter().zip(x) {
            linf = linf.max((a - b).abs());
            l2 += (a - b) * (a - b);
        }
        Ok(AttackOutcome {
            clean_pred: argmax(&clean_probs),
            adv_pred: argmax(&adv_probs),
            adv,
            clean_probs,
            adv_probs,
            linf,
            l2: l2.sqrt(),
        })
    }
}

impl PendingBatch {
    pub async fn read(self) -> Result<BatchOutcome, String> {
        let n = |v: Vec<f32>| v.first().copied().unwrap_or(0.0).round() as usize;
        Ok(BatchOutcome {
            eps: self.eps,
            examples: self.examples,
            clean_correct: n(read_f32(self.clean_correct).await?),
            robust_correct: n(read_f32(self.robust_correct).await?),
            flipped: n(read_f32(self.flipped).await?),
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
        let cfg = lab.config()?;
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
        let adv = attack(model, x, &Objective::CrossEntropy(y), &cfg, Mode::Eval); // [1, D]
        let adv_logits = model.forward(adv.clone(), Mode::Eval);
        Ok(PendingAttack {
            adv,
            clean_probs: softmax(clean_logits, 1),
            adv_probs: softmax(adv_logits, 1),
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
        let cfg = LabAttack { eps, ..lab.clone() }.config()?;
        let clean = model
            .forward(x.clone(), Mode::Eval)
            .argmax(1)
            .squeeze_dim::<1>(1);
        ballast_core::host_rng::seed(lab.seed);
        let adv = if eps > 0.0 {
            attack(
                model,
                x,
                &Objective::CrossEntropy(y.clone()),
                &cfg,
                Mode::Eval,
            )
        } else {
            x
        };
        let robust = model.forward(adv, Mode::Eval).argmax(1).squeeze_dim::<1>(1);
        Ok(PendingBatch {
            eps,
            examples: n,
            clean_correct: clean.clone().equal(y.clone()).float().sum(),
            robust_correct: robust.clone().equal(y).float().sum(),
            flipped: robust.not_equal(clean).float().sum(),
        })
    }
}
