//! Robust accuracy of a model on a dataset under a list of attacks: clean accuracy, the
//! accuracy under each attack and the per-example worst case over all of them. The model runs
//! in inference mode; only clean-correct examples are attacked (the others count as errors
//! under every attack). Attacks run independently, or as a sequence (AutoAttack's way: each
//! attack on the examples every earlier one left robust).

use crate::data::batch_of;
use ballast_core::Classifier;
use ballast_core::attack::{AttackConfig, AttackKind, Schedule, batch_robustness_with};
use ballast_core::perturbation::PerturbationSet;
use ballast_data::Dataset;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Accuracy under one attack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackAccuracy {
    pub attack: AttackConfig,
    pub name: String,
    /// The step size the attack used (PGD / FGSM: `step_size` or its default); APGD adapts
    /// its own from 2ε, recorded as None.
    pub effective_step_size: Option<f64>,
    /// Independent runs: accuracy under this attack alone. A sequence: under this attack and
    /// every earlier one (AutoAttack's running figure).
    pub robust_accuracy: f64,
    /// Examples this attack broke that no other attack broke (independent), or that every
    /// earlier attack had left robust (a sequence).
    pub only_this_attack_broke: usize,
    /// The attack's wall time over every batch, seconds (0 in reports written before it was
    /// recorded).
    #[serde(default)]
    pub wall_time_s: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RobustResult {
    pub examples: usize,
    pub schedule: Schedule,
    pub clean_accuracy: f64,
    pub per_attack: Vec<AttackAccuracy>,
    /// Correct under every attack (and clean).
    pub worst_case_accuracy: f64,
}

/// Evaluates `model` (plain: `model.valid()`) on the examples at `positions` of `data`.
/// Attacks draw their random starts from the device RNG seeded with `seed` and the batch
/// index, so a report is reproducible. `cvae` is the perturbation set of latent attacks.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_robust(
    model: &Classifier,
    data: &Dataset,
    positions: &[usize],
    attacks: &[AttackConfig],
    schedule: Schedule,
    batch_size: usize,
    seed: u64,
    device: &Device,
    cvae: Option<&PerturbationSet>,
) -> RobustResult {
    let n = positions.len();
    let mut clean = 0usize;
    let mut per_attack = vec![0usize; attacks.len()];
    let mut only = vec![0usize; attacks.len()];
    let mut seconds = vec![0.0f64; attacks.len()];
    let mut worst = 0usize;
    for (b, chunk) in positions.chunks(batch_size.max(1)).enumerate() {
        let r = batch_robustness_with(
            model,
            &batch_of(data, chunk, device),
            attacks,
            schedule,
            seed,
            b,
            cvae,
        );
        clean += r.clean;
        for (total, k) in per_attack.iter_mut().zip(&r.per_attack) {
            *total += k;
        }
        for (total, k) in only.iter_mut().zip(&r.only) {
            *total += k;
        }
        for (total, s) in seconds.iter_mut().zip(&r.seconds) {
            *total += s;
        }
        worst += r.worst;
    }
    let frac = |k: usize| k as f64 / n.max(1) as f64;
    RobustResult {
        examples: n,
        schedule,
        clean_accuracy: frac(clean),
        per_attack: attacks
            .iter()
            .zip(per_attack.iter().zip(&only).zip(&seconds))
            .map(|(cfg, ((&k, &only), &wall_time_s))| AttackAccuracy {
                attack: cfg.clone(),
                name: cfg.describe(),
                effective_step_size: matches!(
                    cfg.kind,
                    AttackKind::Fgsm | AttackKind::Pgd | AttackKind::Latent
                )
                .then(|| cfg.alpha()),
                robust_accuracy: frac(k),
                only_this_attack_broke: only,
                wall_time_s,
            })
            .collect(),
        worst_case_accuracy: if attacks.is_empty() {
            frac(clean)
        } else {
            frac(worst)
        },
    }
}

/// The first `limit` positions of a split (all of them when `limit` is 0 or larger).
pub fn first_positions(len: usize, limit: usize) -> Vec<usize> {
    let n = if limit == 0 { len } else { limit.min(len) };
    (0..n).collect()
}
