//! Signs that an attack report measures its attacks' failure rather than the model's
//! robustness (gradient masking, Athalye et al. 2018; Croce & Hein 2020):
//!
//! - a gradient-free attack (Square) breaks examples that every gradient attack of the report
//!   left robust, more than 0.5 % of the evaluated examples;
//! - the worst-case accuracy rises with ε (a larger ball contains the smaller one);
//! - at ℓ∞ ε ≥ 0.5 every input can be moved to the uniform 0.5 image, so no example whose label
//!   differs from the model's prediction there can be robust: a worst case above that bound
//!   means the attacks missed a point that exists.

use crate::attack_report::RadiusResult;
use ballast_core::Classifier;
use ballast_core::attack::{AttackKind, Norm};
use ballast_core::models::Mode;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Share of the evaluated examples a gradient-free attack may break alone before the report
/// warns.
pub const GRADIENT_FREE_TOLERANCE: f64 = 0.005;

/// One warning of a report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaskingWarning {
    pub eps: f64,
    pub kind: MaskingSign,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaskingSign {
    GradientFreeBreaksMore,
    AccuracyRisesWithRadius,
    AboveTheUniformImageBound,
    /// A randomised model (input noise) attacked without EOT: single-draw gradients.
    RandomisedWithoutEot,
    /// EOT on a deterministic model: identical draws, wasted work (not masking).
    EotOnDeterministicModel,
}

fn gradient_free(kind: AttackKind) -> bool {
    kind == AttackKind::Square
}

/// The first two signs, from the results (sorted by ε or not).
pub fn report_warnings(results: &[RadiusResult]) -> Vec<MaskingWarning> {
    let mut warnings = Vec::new();
    for r in results {
        let attacks = &r.result.per_attack;
        if !attacks.iter().any(|a| !gradient_free(a.attack.kind)) {
            continue;
        }
        for a in attacks.iter().filter(|a| gradient_free(a.attack.kind)) {
            let share = a.only_this_attack_broke as f64 / r.result.examples.max(1) as f64;
            if share > GRADIENT_FREE_TOLERANCE {
                warnings.push(MaskingWarning {
                    eps: r.eps,
                    kind: MaskingSign::GradientFreeBreaksMore,
                    message: format!(
                        "possible gradient masking at eps {}: {} (gradient-free) broke {} of {} examples ({:.2} %) that every gradient attack left robust; the gradient attacks' figures overstate robustness",
                        r.eps,
                        a.name,
                        a.only_this_attack_broke,
                        r.result.examples,
                        100.0 * share
                    ),
                });
            }
        }
    }
    let mut by_eps: Vec<&RadiusResult> = results.iter().collect();
    by_eps.sort_by(|a, b| a.eps.total_cmp(&b.eps));
    for pair in by_eps.windows(2) {
        let (small, large) = (pair[0], pair[1]);
        let n = large.result.examples.max(1) as f64;
        if large.eps > small.eps
            && large.result.worst_case_accuracy > small.result.worst_case_accuracy + 0.5 / n
        {
            warnings.push(MaskingWarning {
                eps: large.eps,
                kind: MaskingSign::AccuracyRisesWithRadius,
                message: format!(
                    "possible gradient masking: the worst-case accuracy rises from {:.2} % at eps {} to {:.2} % at eps {}, though the larger ball contains the smaller",
                    100.0 * small.result.worst_case_accuracy,
                    small.eps,
                    100.0 * large.result.worst_case_accuracy,
                    large.eps
                ),
            });
        }
    }
    warnings
}

/// The third sign: for ℓ∞ radii of at least 0.5, the share of the examples (labels [n]) whose
/// label is the model's prediction on the uniform 0.5 image bounds the robust accuracy.
pub fn uniform_image_warnings(
    model: &Classifier,
    norm: Norm,
    labels: &[u32],
    features: usize,
    results: &[RadiusResult],
    device: &Device,
) -> Vec<MaskingWarning> {
    if norm != Norm::Linf || labels.is_empty() || results.iter().all(|r| r.eps < 0.5) {
        return Vec::new();
    }
    let gray = Tensor::<2>::full([1, features], 0.5, device);
    let predicted = model
        .forward(gray, Mode::Eval)
        .argmax(1)
        .into_scalar::<i64>() as u32;
    let bound = labels.iter().filter(|&&y| y == predicted).count() as f64 / labels.len() as f64;
    results
        .iter()
        .filter(|r| r.eps >= 0.5 && r.result.worst_case_accuracy > bound + 0.5 / labels.len() as f64)
        .map(|r| MaskingWarning {
            eps: r.eps,
            kind: MaskingSign::AboveTheUniformImageBound,
            message: format!(
                "possible gradient masking at eps {}: the worst-case accuracy {:.2} % exceeds {:.2} %, the share of examples labelled {predicted} (the model's class for the uniform 0.5 image, which every input can reach at this radius)",
                r.eps,
                100.0 * r.result.worst_case_accuracy,
                100.0 * bound
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::robust_eval::{AttackAccuracy, RobustResult};
    use ballast_core::attack::{AttackConfig, Schedule};
    use ballast_core::models::{InputSpec, ModelConfig};

    fn radius(eps: f64, worst: f64, only: &[(AttackKind, usize)]) -> RadiusResult {
        RadiusResult {
            eps,
            result: RobustResult {
                examples: 1000,
                schedule: Schedule::Sequence,
                clean_accuracy: 0.99,
                per_attack: only
                    .iter()
                    .map(|&(kind, k)| {
                        let attack = match kind {
                            AttackKind::Square => AttackConfig::square(Norm::Linf, eps, 5000),
                            _ => AttackConfig::apgd(kind, Norm::Linf, eps, 100, 1),
                        };
                        AttackAccuracy {
                            name: attack.describe(),
                            attack,
                            effective_step_size: None,
                            robust_accuracy: worst,
                            only_this_attack_broke: k,
                            wall_time_s: 0.0,
                        }
                    })
                    .collect(),
                worst_case_accuracy: worst,
            },
        }
    }

    #[test]
    fn square_breaking_what_gradients_left_robust_warns_above_half_a_percent() {
        let quiet = radius(
            0.3,
            0.9,
            &[(AttackKind::ApgdCe, 80), (AttackKind::Square, 5)],
        );
        assert!(report_warnings(&[quiet]).is_empty());
        let masked = radius(
            0.3,
            0.88,
            &[(AttackKind::ApgdCe, 80), (AttackKind::Square, 6)],
        );
        let w = report_warnings(&[masked]);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].kind, MaskingSign::GradientFreeBreaksMore);
        assert!(w[0].message.contains("square-5000"), "{}", w[0].message);
        // Square alone has nothing to be compared with.
        let alone = radius(0.3, 0.5, &[(AttackKind::Square, 400)]);
        assert!(report_warnings(&[alone]).is_empty());
    }

    #[test]
    fn accuracy_rising_with_the_radius_warns() {
        let falling = [
            radius(0.1, 0.95, &[(AttackKind::ApgdCe, 0)]),
            radius(0.3, 0.9, &[(AttackKind::ApgdCe, 0)]),
        ];
        assert!(report_warnings(&falling).is_empty());
        let rising = [
            radius(0.3, 0.9, &[(AttackKind::ApgdCe, 0)]),
            radius(0.1, 0.85, &[(AttackKind::ApgdCe, 0)]),
        ];
        let w = report_warnings(&rising);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].kind, MaskingSign::AccuracyRisesWithRadius);
        assert_eq!(w[0].eps, 0.3);
    }

    #[test]
    fn robust_accuracy_above_the_uniform_image_bound_warns() {
        let device = Device::flex();
        let input = InputSpec {
            shape: vec![8],
            num_classes: 3,
            mean: vec![0.5],
            std: vec![0.3],
        };
        let model = ModelConfig::mlp(&[4]).init(&input, &device);
        let gray_class = model
            .forward(Tensor::<2>::full([1, 8], 0.5, &device), Mode::Eval)
            .argmax(1)
            .into_scalar::<i64>() as u32;
        // 10 examples, 3 labelled with the gray image's class: at most 30 % can be robust.
        let labels: Vec<u32> = (0..10)
            .map(|i| {
                if i < 3 {
                    gray_class
                } else {
                    (gray_class + 1) % 3
                }
            })
            .collect();
        let check = |worst: f64, eps: f64| {
            uniform_image_warnings(
                &model,
                Norm::Linf,
                &labels,
                8,
                &[radius(eps, worst, &[(AttackKind::ApgdCe, 0)])],
                &device,
            )
        };
        assert!(check(0.3, 0.5).is_empty());
        assert_eq!(
            check(0.4, 0.5)[0].kind,
            MaskingSign::AboveTheUniformImageBound
        );
        assert!(check(0.9, 0.3).is_empty(), "no bound below eps 0.5");
    }
}
