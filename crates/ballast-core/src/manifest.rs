//! The manifest of browser assets (`web/assets/manifest.json`): written by `ballast export`,
//! read by the page. It says how to rebuild each shipped model and what it scored natively.

use crate::error::CoreError;
use crate::models::{Classifier, InputSpec, ModelConfig};
use crate::perturbation::{CvaeConfig, PerturbationSet};
use burn::prelude::Device;
use serde::{Deserialize, Serialize};

pub const MANIFEST_FILE: &str = "manifest.json";

/// Robust accuracy of an exported model at one radius.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RobustEntry {
    pub norm: String,
    pub eps: f64,
    /// e.g. ["pgd-40x5 linf eps=0.3", "apgd-ce-100 linf eps=0.3", …]
    pub attacks: Vec<String>,
    pub worst_case_accuracy: f64,
    pub examples: usize,
}

/// One shipped model (`<name>.bpk`, burnpack).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub name: String,
    pub file: String,
    /// sha256 of the file, checked when the page decodes it.
    pub sha256: String,
    /// Content digest of the weights ([`crate::record::content_digest`]), checked when the
    /// page decodes the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_digest: Option<String>,
    pub bytes: u64,
    pub method: String,
    pub model: ModelConfig,
    pub input: InputSpec,
    pub dataset: String,
    /// The run config, as TOML.
    pub training_config: String,
    /// Clean accuracy on the test examples of the attack report (or, without one, on the
    /// run's whole test split), and how many examples that was.
    pub clean_test_accuracy: Option<f64>,
    pub clean_test_examples: Option<usize>,
    pub robust: Vec<RobustEntry>,
    /// Which checkpoint: "best" (validation-selected) or "latest".
    pub checkpoint: String,
    pub burn_version: String,
    pub ballast_version: String,
    /// The shipped perturbation set this model was trained or evaluated against (matched by
    /// the CVAE checkpoint its run names), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perturbation_set: Option<String>,
}

/// Quality of a shipped perturbation set at one radius (test pairs, MSE per pixel).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetQuality {
    pub eps: f64,
    pub approximation_error: f64,
    pub expected_approximation_error: f64,
}

/// One shipped learned perturbation set (`<name>.bpk`: the CVAE's prior and generator).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerturbationSetEntry {
    pub name: String,
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
    pub cvae: CvaeConfig,
    /// What the set was learned from, e.g. "rts: rotation ±45°, scale 0.7–1.3, translation ±7 px".
    pub perturbation: String,
    pub dataset: String,
    /// Latent dimensions ordered by how much a unit step along them changes the generated
    /// image (most first), and that change (mean squared per pixel over test digits).
    pub leading_dims: Vec<usize>,
    pub dim_effect: Vec<f64>,
    /// The set's quality as measured natively (empty without a quality report).
    pub quality: Vec<SetQuality>,
    /// sha256 of the CVAE checkpoint it was cut from (links classifiers to it).
    pub source_sha256: String,
    pub training_config: String,
    pub burn_version: String,
    pub ballast_version: String,
}

/// One shipped set of training curves (`<name>.curves.json`, see [`Curves`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurveEntry {
    pub name: String,
    pub file: String,
    pub method: String,
    pub dataset: String,
}

/// Per-evaluation robust curves of a native adversarial run, for the robust-overfitting panel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Curves {
    pub name: String,
    pub method: String,
    pub dataset: String,
    pub model: String,
    pub seed: u64,
    /// The evaluation attack, e.g. "pgd-10 linf eps=0.1".
    pub attack: String,
    /// How many test / validation / training examples each robust figure used.
    pub test_examples: usize,
    pub points: Vec<CurvePoint>,
    /// Epoch of the best robust validation accuracy (what early stopping keeps).
    pub selected_epoch: f64,
    pub training_config: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub epoch: f64,
    pub lr: f64,
    pub train_acc: f64,
    pub train_robust_acc: f64,
    pub val_acc: f64,
    pub val_robust_acc: f64,
    pub test_acc: f64,
    pub test_robust_acc: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub models: Vec<ModelEntry>,
    #[serde(default)]
    pub curves: Vec<CurveEntry>,
    #[serde(default)]
    pub perturbation_sets: Vec<PerturbationSetEntry>,
}

impl Manifest {
    pub fn model(&self, name: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The models of the page's attack lab: classifiers of 28×28 grey digits attacked in
    /// pixel space (not the classifiers of a perturbation set), in manifest order.
    pub fn attack_lab_models(&self) -> Vec<&ModelEntry> {
        self.models
            .iter()
            .filter(|m| m.perturbation_set.is_none() && m.input.shape == [1, 28, 28])
            .collect()
    }

    pub fn perturbation_set(&self, name: &str) -> Option<&PerturbationSetEntry> {
        self.perturbation_sets.iter().find(|m| m.name == name)
    }
}

pub use crate::record::load_model_bytes;

/// Rebuilds a shipped model from its manifest entry and file bytes on `device`.
pub fn decode_model(
    entry: &ModelEntry,
    bytes: &[u8],
    device: &Device,
) -> Result<Classifier, CoreError> {
    check_size(&entry.file, bytes, entry.bytes)?;
    check_sha256(&entry.file, bytes, &entry.sha256)?;
    if let Some(want) = &entry.content_digest {
        let got = crate::record::content_digest(bytes, &entry.file)?;
        if &got != want {
            return Err(CoreError::Decode {
                what: entry.file.clone(),
                reason: format!(
                    "its weights do not match the manifest's content digest ({want}, found {got})"
                ),
            });
        }
    }
    entry
        .model
        .validate(&entry.input)
        .map_err(|e| CoreError::Config(format!("{}: {e}", entry.name)))?;
    let model = entry.model.init(&entry.input, device);
    load_model_bytes(model, bytes, &entry.file)
}

/// Rebuilds a shipped perturbation set from its manifest entry and file bytes on `device`.
pub fn decode_set(
    entry: &PerturbationSetEntry,
    bytes: &[u8],
    device: &Device,
) -> Result<PerturbationSet, CoreError> {
    check_size(&entry.file, bytes, entry.bytes)?;
    check_sha256(&entry.file, bytes, &entry.sha256)?;
    entry
        .cvae
        .validate()
        .map_err(|e| CoreError::Config(format!("{}: {e}", entry.name)))?;
    let set = entry.cvae.init_set(device);
    load_model_bytes(set, bytes, &entry.file)
}

/// A shipped file has the sha256 its manifest entry records.
fn check_sha256(file: &str, bytes: &[u8], want: &str) -> Result<(), CoreError> {
    let got = ballast_data::sha256_hex(bytes);
    if got != want {
        return Err(CoreError::Decode {
            what: file.to_string(),
            reason: format!(
                "its sha256 is {got}, the manifest says {want}: the file is damaged or not the one the manifest describes"
            ),
        });
    }
    Ok(())
}

/// A shipped file has the size its manifest entry records.
fn check_size(file: &str, bytes: &[u8], want: u64) -> Result<(), CoreError> {
    if bytes.len() as u64 != want {
        return Err(CoreError::Decode {
            what: file.to_string(),
            reason: format!("{} bytes, the manifest says {want}", bytes.len()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{content_digest, module_bytes};

    fn entry(bytes: &[u8]) -> ModelEntry {
        let digest = if bytes.is_empty() {
            None
        } else {
            Some(content_digest(bytes, "m.bpk").unwrap())
        };
        let input = InputSpec {
            shape: vec![4],
            num_classes: 2,
            mean: vec![0.5],
            std: vec![0.25],
        };
        ModelEntry {
            name: "m".into(),
            file: "m.bpk".into(),
            sha256: ballast_data::sha256_hex(bytes),
            content_digest: digest,
            bytes: bytes.len() as u64,
            method: "erm".into(),
            model: ModelConfig::mlp(&[3]),
            input,
            dataset: "blobs".into(),
            training_config: String::new(),
            clean_test_accuracy: None,
            clean_test_examples: None,
            robust: Vec::new(),
            checkpoint: "latest".into(),
            burn_version: String::new(),
            ballast_version: String::new(),
            perturbation_set: None,
        }
    }

    #[test]
    fn the_page_refuses_a_file_that_is_not_the_one_its_manifest_describes() {
        let device = Device::flex();
        let e = entry(&[]);
        let bytes = module_bytes(&e.model.init(&e.input, &device)).unwrap();
        let e = entry(&bytes);
        decode_model(&e, &bytes, &device).expect("the file the manifest describes");
        // One flipped bit in the weights, same size: the sha256 check refuses it.
        let mut damaged = bytes.clone();
        let n = damaged.len();
        damaged[n - 5] ^= 0x10;
        let err = decode_model(&e, &damaged, &device).unwrap_err().to_string();
        assert!(err.contains("m.bpk") && err.contains("sha256"), "{err}");
        // With a sha256 that matches the damaged file, the content digest still refuses it.
        let forged = ModelEntry {
            sha256: ballast_data::sha256_hex(&damaged),
            ..e.clone()
        };
        let err = decode_model(&forged, &damaged, &device)
            .unwrap_err()
            .to_string();
        assert!(err.contains("content digest"), "{err}");
    }
}
