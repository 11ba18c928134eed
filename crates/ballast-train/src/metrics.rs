//! The records of `metrics.jsonl` (one JSON object per evaluation) and `summary.json`.

use crate::error::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// One evaluation point.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    pub step: usize,
    pub epoch: f64,
    pub lr: f64,
    /// Mean training loss since the previous record.
    pub train_loss: f64,
    pub val_loss: Option<f64>,
    pub val_acc: Option<f64>,
    pub test_loss: f64,
    pub test_acc: f64,
    /// Current loss hyperparameters of a `meta-loss` run (`LossConfig::hyper` order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_hyper: Option<Vec<f64>>,
    pub elapsed_s: f64,
    pub steps_per_s: f64,
    /// Adversarial runs: accuracy of the training batches at their adversarial points since
    /// the previous record (the training attack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_adv_acc: Option<f64>,
    /// Clean and robust (the `[adversarial]` evaluation PGD) accuracy on a fixed training
    /// subset, and robust accuracy on the validation and test splits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_acc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_robust_acc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_robust_acc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_robust_acc: Option<f64>,
}

/// The run's final report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub method: String,
    pub model: String,
    pub dataset: String,
    pub seed: u64,
    pub steps: usize,
    pub final_record: Option<EvalRecord>,
    /// The best model-selection score: validation accuracy, or robust validation accuracy
    /// when the run evaluates robustness (see `robust`).
    #[serde(alias = "best_val_acc")]
    pub best_val_score: Option<f64>,
    pub best_step: Option<usize>,
    pub test_acc_at_best_val: Option<f64>,
    pub wall_time_s: f64,
    pub steps_per_s: f64,
    pub examples_per_s: f64,
    pub device: String,
    pub checkpoint: Option<PathBuf>,
    pub label_noise: Option<serde_json::Value>,
    /// Adversarial runs: the robust evaluation attack, robust test accuracy at the best
    /// validation point, the best robust test accuracy seen (an oracle) and the final one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub robust: Option<RobustSummary>,
    /// Why training stopped before its budget (fgsm-rs's catastrophic-overfitting check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    /// What the method learned or estimated (SSDS's λ and t, GLC's corruption matrix, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method_state: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RobustSummary {
    pub attack: ballast_core::attack::AttackConfig,
    /// Test examples the per-epoch robust evaluation used.
    pub test_examples: usize,
    pub best_epoch: Option<f64>,
    pub test_robust_at_best_val: Option<f64>,
    pub test_clean_at_best_val: Option<f64>,
    pub best_test_robust: Option<f64>,
    pub best_test_robust_epoch: Option<f64>,
    pub final_test_robust: Option<f64>,
    pub final_test_clean: Option<f64>,
    /// The best-by-validation model (`best/model.bpk`).
    pub best_checkpoint: Option<PathBuf>,
}

/// The records of a `metrics.jsonl` (written through [`crate::run_log::RunLog`]).
pub fn read_records(path: &Path) -> Result<Vec<EvalRecord>> {
    read_jsonl(path)
}

/// One `T` per non-empty line of a JSON-lines file.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    BufReader::new(file)
        .lines()
        .enumerate()
        .filter(|(_, l)| l.as_ref().map(|l| !l.trim().is_empty()).unwrap_or(true))
        .map(|(i, l)| {
            let l = l?;
            serde_json::from_str(&l)
                .with_context(|| format!("{}:{}: malformed record", path.display(), i + 1))
        })
        .collect()
}
