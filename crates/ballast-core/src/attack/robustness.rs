//! Robust accuracy of one batch: clean predictions, then each attack on the clean-correct
//! examples, and the per-example worst case over the attacks. Robust evaluation (native
//! reports, the per-epoch evaluation, fgsm-rs's check) sums it over batches.

use super::{AttackConfig, Objective, attack_with};
use crate::batch::Batch;
use crate::models::{Classifier, Mode};
use crate::perturbation::PerturbationSet;
use burn::prelude::*;

/// Correct predictions on one batch, clean and under each attack (and under all of them).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchRobustness {
    pub examples: usize,
    pub clean: usize,
    pub per_attack: Vec<usize>,
    pub worst: usize,
}

/// Correct predictions of `model` (plain, inference mode) on `batch` (plain): clean, then
/// under each attack run on the clean-correct examples only (the others count as errors
/// under every attack). Attack `a` draws its random start from the device RNG seeded with
/// `seed` and `batch_index · attacks + a`, so a report is reproducible.
pub fn batch_robustness(
    model: &Classifier,
    batch: &Batch,
    attacks: &[AttackConfig],
    seed: u64,
    batch_index: usize,
    cvae: Option<&PerturbationSet>,
) -> BatchRobustness {
    let device = batch.x.device();
    let correct_mask = |x: Tensor<2>, y: &Tensor<1, Int>| -> Vec<bool> {
        let pred = model.forward(x, Mode::Eval).argmax(1).squeeze_dim::<1>(1);
        pred.equal(y.clone())
            .into_data()
            .try_to_vec()
            .expect("bool data")
    };
    let ok = correct_mask(batch.x.clone(), &batch.y);
    let correct: Vec<i32> = (0..ok.len() as i32).filter(|&i| ok[i as usize]).collect();
    let mut result = BatchRobustness {
        examples: batch.len(),
        clean: correct.len(),
        per_attack: vec![0; attacks.len()],
        worst: 0,
    };
    if correct.is_empty() {
        return result;
    }
    let idx =
        Tensor::<1, Int>::from_data(TensorData::new(correct.clone(), [correct.len()]), &device);
    let x = batch.x.clone().select(0, idx.clone());
    let y = batch.y.clone().select(0, idx);
    let objective = Objective::CrossEntropy(y.clone());
    let mut robust_all = vec![true; correct.len()];
    for (a, cfg) in attacks.iter().enumerate() {
        crate::host_rng::seed(
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add((batch_index * attacks.len() + a) as u64),
        );
        let adv = attack_with(model, x.clone(), &objective, cfg, Mode::Eval, cvae);
        let ok = correct_mask(adv, &y);
        result.per_attack[a] += ok.iter().filter(|k| **k).count();
        for (r, k) in robust_all.iter_mut().zip(&ok) {
            *r &= *k;
        }
    }
    result.worst = robust_all.iter().filter(|k| **k).count();
    result
}
