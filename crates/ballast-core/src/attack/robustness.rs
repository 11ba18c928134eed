//! Robust accuracy of one batch: clean predictions, then the attacks on the clean-correct
//! examples, and the per-example worst case over the attacks. Robust evaluation (native
//! reports, the per-epoch evaluation, fgsm-rs's check) sums it over batches.
//!
//! Attacks run either independently (each on every clean-correct example: per-attack
//! accuracies, and the examples only one attack broke) or as a sequence (AutoAttack's way:
//! each attack only on the examples every earlier one left robust, so the batch shrinks).

use super::{AttackConfig, Objective, attack_with, correct_flags};
use crate::batch::Batch;
use crate::models::{Classifier, Mode};
use crate::perturbation::PerturbationSet;
use burn::prelude::*;

/// How a list of attacks is run on a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// Every attack on every clean-correct example.
    #[default]
    Independent,
    /// Each attack on the examples every earlier attack left correctly classified.
    Sequence,
}

/// Correct predictions on one batch, clean and under the attacks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchRobustness {
    pub examples: usize,
    pub clean: usize,
    /// Correct under each attack: alone ([`Schedule::Independent`]), or under it and every
    /// earlier one ([`Schedule::Sequence`]).
    pub per_attack: Vec<usize>,
    /// Examples each attack broke that no other attack broke (independent), or that every
    /// earlier attack had left robust (sequence).
    pub only: Vec<usize>,
    /// Wall time of each attack on this batch (its run and the check of its points), seconds.
    pub seconds: Vec<f64>,
    /// Correct under every attack (and clean).
    pub worst: usize,
}

/// Correct predictions of `model` (plain, inference mode) on `batch` (plain): clean, then
/// under each attack run independently on the clean-correct examples only (the others count
/// as errors under every attack). Attack `a` draws its randomness from the host generator
/// seeded with `seed` and `batch_index · attacks + a`, so a report is reproducible. A
/// randomised model ([`Classifier::set_input_noise`]) is judged by one forward per example,
/// clean and after each attack (as AutoAttack does), its clean draw from a stream of its own.
pub fn batch_robustness(
    model: &Classifier,
    batch: &Batch,
    attacks: &[AttackConfig],
    seed: u64,
    batch_index: usize,
    cvae: Option<&PerturbationSet>,
) -> BatchRobustness {
    batch_robustness_with(
        model,
        batch,
        attacks,
        Schedule::Independent,
        seed,
        batch_index,
        cvae,
    )
}

/// [`batch_robustness`] with the attacks run on `schedule`.
pub fn batch_robustness_with(
    model: &Classifier,
    batch: &Batch,
    attacks: &[AttackConfig],
    schedule: Schedule,
    seed: u64,
    batch_index: usize,
    cvae: Option<&PerturbationSet>,
) -> BatchRobustness {
    let device = batch.x.device();
    let correct_mask =
        |x: Tensor<2>, y: &Tensor<1, Int>| correct_flags(model.forward(x, Mode::Eval), y);
    if model.input_noise() > 0.0 {
        // Only a randomised model draws here; a deterministic one leaves the generator alone.
        crate::host_rng::seed(
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_sub(1 + batch_index as u64),
        );
    }
    let ok = correct_mask(batch.x.clone(), &batch.y);
    let n = ok.len();
    let mut result = BatchRobustness {
        examples: batch.len(),
        clean: ok.iter().filter(|k| **k).count(),
        per_attack: vec![0; attacks.len()],
        only: vec![0; attacks.len()],
        seconds: vec![0.0; attacks.len()],
        worst: 0,
    };
    // robust[i]: example i is clean-correct and no attack run so far broke it;
    // broken[i][a]: attack a broke example i.
    let mut robust = ok.clone();
    let mut broken = vec![vec![false; attacks.len()]; n];
    for (a, cfg) in attacks.iter().enumerate() {
        let attacked = match schedule {
            Schedule::Independent => &ok,
            Schedule::Sequence => &robust,
        };
        let rows = super::rows_where(attacked);
        if !rows.is_empty() {
            crate::host_rng::seed(
                seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .wrapping_add((batch_index * attacks.len() + a) as u64),
            );
            let idx =
                Tensor::<1, Int>::from_data(TensorData::new(rows.clone(), [rows.len()]), &device);
            let x = batch.x.clone().select(0, idx.clone());
            let y = batch.y.clone().select(0, idx);
            let objective = Objective::CrossEntropy(y.clone());
            let started = web_time::Instant::now();
            let adv = attack_with(model, x, &objective, cfg, Mode::Eval, cvae);
            for (&r, still) in rows.iter().zip(correct_mask(adv, &y)) {
                if !still {
                    broken[r as usize][a] = true;
                    robust[r as usize] = false;
                }
            }
            result.seconds[a] = started.elapsed().as_secs_f64();
        }
        result.per_attack[a] = match schedule {
            Schedule::Independent => (0..n).filter(|&i| ok[i] && !broken[i][a]).count(),
            Schedule::Sequence => robust.iter().filter(|k| **k).count(),
        };
    }
    for flags in &broken {
        let mut by = flags.iter().enumerate().filter(|(_, b)| **b);
        if let (Some((a, _)), None) = (by.next(), by.next()) {
            result.only[a] += 1;
        }
    }
    result.worst = robust.iter().filter(|k| **k).count();
    result
}
