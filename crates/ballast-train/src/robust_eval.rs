//! Robust accuracy of a model on a dataset under a list of attacks: clean accuracy, the
//! accuracy under each attack and the per-example worst case over all of them. The model runs
//! in inference mode; only clean-correct examples are attacked (the others count as errors
//! under every attack).

use crate::data::batch_of;
use ballast_core::attack::{AttackConfig, AttackKind, Objective, attack_with};
use ballast_core::perturbation::PerturbationSet;
use ballast_core::{Classifier, Mode};
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
    pub robust_accuracy: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RobustResult {
    pub examples: usize,
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
    batch_size: usize,
    seed: u64,
    device: &Device,
    cvae: Option<&PerturbationSet>,
) -> RobustResult {
    let n = positions.len();
    let mut clean = 0usize;
    let mut per_attack = vec![0usize; attacks.len()];
    let mut worst = 0usize;
    for (b, chunk) in positions.chunks(batch_size.max(1)).enumerate() {
        let batch = batch_of(data, chunk, device);
        let logits = model.forward(batch.x.clone(), Mode::Eval);
        let pred = logits.argmax(1).squeeze_dim::<1>(1);
        let ok: Vec<bool> = pred
            .equal(batch.y.clone())
            .into_data()
            .try_to_vec()
            .expect("bool data");
        let correct: Vec<usize> = chunk
            .iter()
            .zip(&ok)
            .filter(|(_, k)| **k)
            .map(|(p, _)| *p)
            .collect();
        clean += correct.len();
        if correct.is_empty() {
            continue;
        }
        let sub = batch_of(data, &correct, device);
        let objective = Objective::CrossEntropy(sub.y.clone());
        let mut robust_all = vec![true; correct.len()];
        for (a, cfg) in attacks.iter().enumerate() {
            device.seed(
                seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .wrapping_add((b * attacks.len() + a) as u64),
            );
            let adv = attack_with(model, sub.x.clone(), &objective, cfg, Mode::Eval, cvae);
            let pred = model.forward(adv, Mode::Eval).argmax(1).squeeze_dim::<1>(1);
            let ok: Vec<bool> = pred
                .equal(sub.y.clone())
                .into_data()
                .try_to_vec()
                .expect("bool data");
            per_attack[a] += ok.iter().filter(|k| **k).count();
            for (r, k) in robust_all.iter_mut().zip(&ok) {
                *r &= *k;
            }
        }
        worst += robust_all.iter().filter(|k| **k).count();
    }
    let frac = |k: usize| k as f64 / n.max(1) as f64;
    RobustResult {
        examples: n,
        clean_accuracy: frac(clean),
        per_attack: attacks
            .iter()
            .zip(&per_attack)
            .map(|(cfg, &k)| AttackAccuracy {
                attack: cfg.clone(),
                name: cfg.describe(),
                effective_step_size: matches!(
                    cfg.kind,
                    AttackKind::Fgsm | AttackKind::Pgd | AttackKind::Latent
                )
                .then(|| cfg.alpha()),
                robust_accuracy: frac(k),
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
