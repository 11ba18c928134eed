//! Per-example classification losses. Hyperparameters enter as tensors ([1], broadcast) so
//! meta-methods can differentiate a loss with respect to them.
//!
//! With p = softmax(logits) and y the label:
//! - CE        −log p_y
//! - GCE(q)    (1 − p_y^q) / q                        (Zhang & Sabuncu 2018)
//! - RCE       −Σ_k p_k log ŷ_k with log 0 := −4  =  4 (1 − p_y)
//! - SCE(α,β)  α·CE + β·RCE                          (Wang et al. 2019)
//! - NCE       −log p_y / Σ_k (−log p_k)             (Ma et al. 2020)
//! - NCE+RCE   α·NCE + β·RCE
//! - MAE       Σ_k |p_k − ŷ_k|  =  2 (1 − p_y)

use crate::error::CoreError;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

/// log(0) substitute of the reverse cross-entropy (the A of Wang et al.).
pub const RCE_LOG_ZERO: f64 = -4.0;

/// [B, K], [B] -> log p_y [B]
pub fn log_prob_of_label(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    log_softmax(logits, 1)
        .gather(1, labels.unsqueeze_dim(1))
        .squeeze_dim(1)
}

/// Cross-entropy per example: [B, K], [B] -> [B].
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    log_prob_of_label(logits, labels).neg()
}

/// Generalised cross-entropy; `q`: [1] in (0, 1].
pub fn gce(logits: Tensor<2>, labels: Tensor<1, Int>, q: Tensor<1>) -> Tensor<1> {
    let p_q = (log_prob_of_label(logits, labels) * q.clone()).exp(); // p_y^q
    (p_q.neg() + 1.0) / q
}

/// Reverse cross-entropy with log 0 := −4.
pub fn rce(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let p_y = log_prob_of_label(logits, labels).exp();
    (p_y.neg() + 1.0) * (-RCE_LOG_ZERO)
}

/// Symmetric cross-entropy α·CE + β·RCE; `alpha`, `beta`: [1].
pub fn sce(
    logits: Tensor<2>,
    labels: Tensor<1, Int>,
    alpha: Tensor<1>,
    beta: Tensor<1>,
) -> Tensor<1> {
    cross_entropy(logits.clone(), labels.clone()) * alpha + rce(logits, labels) * beta
}

/// Normalised cross-entropy −log p_y / Σ_k −log p_k.
pub fn nce(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let log_p = log_softmax(logits, 1); // [B, K]
    let num = log_p
        .clone()
        .gather(1, labels.unsqueeze_dim(1))
        .squeeze_dim::<1>(1);
    let den = log_p.sum_dim(1).squeeze_dim::<1>(1);
    num / den
}

/// α·NCE + β·RCE; `alpha`, `beta`: [1].
pub fn nce_rce(
    logits: Tensor<2>,
    labels: Tensor<1, Int>,
    alpha: Tensor<1>,
    beta: Tensor<1>,
) -> Tensor<1> {
    nce(logits.clone(), labels.clone()) * alpha + rce(logits, labels) * beta
}

/// Mean absolute error between softmax and one-hot: 2 (1 − p_y).
pub fn mae(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    (log_prob_of_label(logits, labels).exp().neg() + 1.0) * 2.0
}

/// A loss and its hyperparameters, as written in a config (`[loss]`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LossConfig {
    // Empty braces (not unit variants) so unknown keys are rejected.
    Ce {},
    Gce {
        #[serde(default = "default_q")]
        q: f64,
    },
    Sce {
        #[serde(default = "default_sce_alpha")]
        alpha: f64,
        #[serde(default = "default_one")]
        beta: f64,
    },
    NceRce {
        #[serde(default = "default_one")]
        alpha: f64,
        #[serde(default = "default_one")]
        beta: f64,
    },
    Mae {},
}

fn default_q() -> f64 {
    0.7
}
fn default_sce_alpha() -> f64 {
    0.1
}
fn default_one() -> f64 {
    1.0
}

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig::Ce {}
    }
}

impl LossConfig {
    /// The hyperparameters as a vector (empty for CE and MAE): GCE [q], SCE/NCE+RCE [α, β].
    pub fn hyper(&self) -> Vec<f64> {
        match *self {
            LossConfig::Ce {} | LossConfig::Mae {} => vec![],
            LossConfig::Gce { q } => vec![q],
            LossConfig::Sce { alpha, beta } | LossConfig::NceRce { alpha, beta } => {
                vec![alpha, beta]
            }
        }
    }

    /// Same loss with new hyperparameter values (in [`Self::hyper`] order).
    pub fn with_hyper(&self, h: &[f64]) -> Self {
        match *self {
            LossConfig::Gce { .. } => LossConfig::Gce { q: h[0] },
            LossConfig::Sce { .. } => LossConfig::Sce {
                alpha: h[0],
                beta: h[1],
            },
            LossConfig::NceRce { .. } => LossConfig::NceRce {
                alpha: h[0],
                beta: h[1],
            },
            other => other,
        }
    }

    /// Valid range of each hyperparameter (meta-updates project onto it).
    pub fn hyper_bounds(&self) -> Vec<(f64, f64)> {
        match self {
            LossConfig::Ce {} | LossConfig::Mae {} => vec![],
            LossConfig::Gce { .. } => vec![(0.01, 1.0)],
            LossConfig::Sce { .. } | LossConfig::NceRce { .. } => vec![(0.0, 10.0), (0.0, 10.0)],
        }
    }

    pub fn validate(&self) -> Result<(), CoreError> {
        for (v, (lo, hi)) in self.hyper().iter().zip(self.hyper_bounds()) {
            if !(lo..=hi).contains(v) {
                return Err(CoreError::Config(format!(
                    "loss hyperparameter {v} outside [{lo}, {hi}] for {self:?}"
                )));
            }
        }
        Ok(())
    }

    /// Per-example loss with the configured (constant) hyperparameters: [B, K], [B] -> [B].
    pub fn per_example(&self, logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
        let device = logits.device();
        let hyper: Vec<Tensor<1>> = self
            .hyper()
            .iter()
            .map(|&v| Tensor::<1>::from_floats([v as f32], &device))
            .collect();
        self.per_example_with(logits, labels, &hyper)
    }

    /// Per-example loss with hyperparameters given as [1] tensors (possibly tracked).
    pub fn per_example_with(
        &self,
        logits: Tensor<2>,
        labels: Tensor<1, Int>,
        hyper: &[Tensor<1>],
    ) -> Tensor<1> {
        match self {
            LossConfig::Ce {} => cross_entropy(logits, labels),
            LossConfig::Mae {} => mae(logits, labels),
            LossConfig::Gce { .. } => gce(logits, labels, hyper[0].clone()),
            LossConfig::Sce { .. } => sce(logits, labels, hyper[0].clone(), hyper[1].clone()),
            LossConfig::NceRce { .. } => {
                nce_rce(logits, labels, hyper[0].clone(), hyper[1].clone())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Device {
        Device::flex()
    }

    fn values(t: Tensor<1>) -> Vec<f32> {
        t.try_into_vec_as::<f32>().unwrap()
    }

    /// Logits chosen so p = softmax is easy to write down: [ln 1, ln 2, ln 1] -> p = [¼, ½, ¼].
    fn fixture() -> (Tensor<2>, Tensor<1, Int>) {
        let l2 = 2f32.ln();
        let logits = Tensor::<2>::from_floats([[0.0, l2, 0.0], [0.0, l2, 0.0]], &dev());
        let labels = Tensor::<1, Int>::from_ints([1, 0], &dev());
        (logits, labels)
    }

    fn close(a: &[f32], b: &[f64]) {
        close_within(a, b, 1e-5)
    }

    fn close_within(a: &[f32], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((*x as f64 - y).abs() < tol, "{a:?} vs {b:?}");
        }
    }

    fn scalar(v: f64) -> Tensor<1> {
        Tensor::<1>::from_floats([v as f32], &dev())
    }

    #[test]
    fn cross_entropy_matches_hand_values() {
        let (l, y) = fixture();
        close(&values(cross_entropy(l, y)), &[2f64.ln(), 4f64.ln()]);
    }

    #[test]
    fn gce_matches_hand_values() {
        let (l, y) = fixture();
        let q = 0.7;
        let expect = |p: f64| (1.0 - p.powf(q)) / q;
        close(&values(gce(l, y, scalar(q))), &[expect(0.5), expect(0.25)]);
    }

    #[test]
    fn gce_tends_to_ce_as_q_shrinks() {
        let (l, y) = fixture();
        // (1 − p^q)/q = −ln p − q ln²p / 2 + O(q²); f32 limits how small q can go.
        close_within(
            &values(gce(l, y, scalar(1e-3))),
            &[-(0.5f64.ln()), -(0.25f64.ln())],
            2e-3,
        );
    }

    #[test]
    fn sce_matches_hand_values() {
        let (l, y) = fixture();
        let (a, b) = (0.1, 1.0);
        let expect = |p: f64| a * -p.ln() + b * 4.0 * (1.0 - p);
        close(
            &values(sce(l, y, scalar(a), scalar(b))),
            &[expect(0.5), expect(0.25)],
        );
    }

    #[test]
    fn nce_rce_matches_hand_values() {
        let (l, y) = fixture();
        let denom = -(0.25f64.ln() * 2.0 + 0.5f64.ln());
        let expect = |p: f64| 2.0 * (-p.ln() / denom) + 0.5 * 4.0 * (1.0 - p);
        close(
            &values(nce_rce(l, y, scalar(2.0), scalar(0.5))),
            &[expect(0.5), expect(0.25)],
        );
    }

    #[test]
    fn mae_matches_hand_values() {
        let (l, y) = fixture();
        // |p − onehot| summed: label 1 -> .25 + .5 + .25 = 1; label 0 -> .75 + .5 + .25 = 1.5
        close(&values(mae(l, y)), &[1.0, 1.5]);
    }

    #[test]
    fn config_uses_its_hyperparameters() {
        let (l, y) = fixture();
        let cfg = LossConfig::Gce { q: 0.5 };
        let direct = values(gce(l.clone(), y.clone(), scalar(0.5)));
        close(
            &values(cfg.per_example(l, y)),
            &direct.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        );
        assert!(LossConfig::Gce { q: 1.5 }.validate().is_err());
        assert_eq!(cfg.with_hyper(&[0.3]), LossConfig::Gce { q: 0.3 });
    }

    #[test]
    fn gce_gradient_in_q_matches_finite_difference() {
        let ad = dev().autodiff();
        let (l, y) = fixture();
        let (l, y) = (l.to_device(&ad), y.to_device(&ad));
        let q0 = 0.6;
        let q = Tensor::<1>::from_floats([q0 as f32], &ad).require_grad();
        let loss = gce(l.clone(), y.clone(), q.clone()).sum();
        let grads = loss.backward();
        let dq: f32 = q.grad(&grads).unwrap().into_scalar();
        let f = |q: f64| {
            let p = [0.5f64, 0.25];
            p.iter().map(|p| (1.0 - p.powf(q)) / q).sum::<f64>()
        };
        let fd = (f(q0 + 1e-5) - f(q0 - 1e-5)) / 2e-5;
        assert!((dq as f64 - fd).abs() < 1e-4, "{dq} vs {fd}");
    }
}
