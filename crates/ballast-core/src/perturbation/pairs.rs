//! How observed perturbations are paired with clean images (`[perturbation]` of a run
//! config): random rotation–scale–translation or common corruptions, the CVAE that learns the
//! set, and the latent threat model of classifiers trained or evaluated against it.

use crate::attack::AttackConfig;
use crate::error::CoreError;
use crate::perturbation::{CvaeConfig, GeneratorKind, Likelihood};
use ballast_data::{CorruptionSet, RtsConfig};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Which real perturbations make the training pairs (x, x̃).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairKind {
    /// x̃ = T(x) for a random rotation, scale and translation (`perturbation.rts`).
    Rts,
    /// x̃ = a random corruption of x at a random severity (`perturbation.corruptions`).
    Corruptions,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PerturbationConfig {
    pub pairs: PairKind,
    pub rts: RtsConfig,
    /// Kinds and severities of the training pairs (default: all but the held-out kinds).
    pub corruptions: CorruptionSet,
    /// Out-of-distribution corruptions for evaluation (default: fog, pixelate, motion blur).
    pub held_out: CorruptionSet,
    /// Latent dimension of the CVAE.
    pub latent: usize,
    /// Channel multiplier of the CVAE.
    pub width: f64,
    /// Reconstruction likelihood; default Bernoulli for grey images, Gaussian for colour.
    pub likelihood: Option<Likelihood>,
    /// Generator: `affine` (a spatial transformer: z -> an affine warp of x) or `conv`;
    /// default affine for RTS pairs, conv for corruptions.
    pub generator: Option<GeneratorKind>,
    /// β of the KL term as a piecewise-linear function of the epoch: [[epoch, β], …]
    /// (flat outside the points).
    pub beta: Vec<[f64; 2]>,
    /// CVAE runs: radii of the per-epoch quality metrics, test pairs they use, descent steps
    /// of the approximation error and draws of the expected approximation error.
    pub eval_eps: Vec<f64>,
    pub eval_examples: usize,
    pub approx_steps: usize,
    pub approx_samples: usize,
    /// Run directory of a trained CVAE (`method = "cvae"`): the perturbation set of
    /// `latent-at`, `cvae-aug` and of latent evaluation. Relative paths are read from the
    /// working directory.
    pub cvae: Option<PathBuf>,
    /// `latent-at`: training radius ε in standardised latent units, steps and step size
    /// (default 2.5·ε/steps).
    pub eps: f64,
    pub steps: usize,
    pub step_size: Option<f64>,
    /// Steps of the per-epoch latent robust evaluation (at `eps`).
    pub eval_steps: usize,
}

impl Default for PerturbationConfig {
    fn default() -> Self {
        Self {
            pairs: PairKind::Rts,
            rts: RtsConfig::default(),
            corruptions: CorruptionSet::default(),
            held_out: CorruptionSet::held_out(),
            latent: 16,
            width: 1.0,
            likelihood: None,
            generator: None,
            beta: vec![[0.0, 0.0], [2.0, 0.01], [10.0, 1.0]],
            eval_eps: vec![1.0, 2.0, 4.0],
            eval_examples: 500,
            approx_steps: 50,
            approx_samples: 10,
            cvae: None,
            eps: 2.0,
            steps: 7,
            step_size: None,
            eval_steps: 20,
        }
    }
}

impl PerturbationConfig {
    /// β at a (fractional) epoch: linear interpolation between the points.
    pub fn beta_at(&self, epoch: f64) -> f64 {
        let pts = &self.beta;
        match pts.iter().position(|p| p[0] > epoch) {
            None => pts.last().map_or(1.0, |p| p[1]),
            Some(0) => pts[0][1],
            Some(i) => {
                let ([e0, b0], [e1, b1]) = (pts[i - 1], pts[i]);
                b0 + (b1 - b0) * (epoch - e0) / (e1 - e0)
            }
        }
    }

    /// The CVAE for images of `shape`.
    pub fn cvae_config(&self, shape: [usize; 3]) -> CvaeConfig {
        CvaeConfig {
            shape,
            latent: self.latent,
            width: self.width,
            likelihood: self.likelihood.unwrap_or(if shape[0] == 1 {
                Likelihood::Bernoulli
            } else {
                Likelihood::Gaussian
            }),
            generator: self.generator.unwrap_or(match self.pairs {
                PairKind::Rts => GeneratorKind::Affine,
                PairKind::Corruptions => GeneratorKind::Conv,
            }),
        }
    }

    /// The latent attack of `latent-at` training.
    pub fn training_attack(&self) -> AttackConfig {
        AttackConfig {
            step_size: self.step_size,
            ..AttackConfig::latent(self.eps, self.steps, 1)
        }
    }

    /// The latent attack of the per-epoch robust evaluation.
    pub fn eval_attack(&self) -> AttackConfig {
        AttackConfig::latent(self.eps, self.eval_steps, 1)
    }

    pub fn validate(&self) -> Result<(), CoreError> {
        self.rts
            .validate()
            .map_err(|e| CoreError::config(format!("perturbation.rts: {e}")))?;
        self.corruptions
            .validate()
            .map_err(|e| CoreError::config(format!("perturbation.corruptions: {e}")))?;
        self.held_out
            .validate()
            .map_err(|e| CoreError::config(format!("perturbation.held_out: {e}")))?;
        if self.latent == 0 {
            return Err(CoreError::config("perturbation.latent must be at least 1"));
        }
        if !(self.width > 0.0 && self.width.is_finite()) {
            return Err(CoreError::config(format!(
                "perturbation.width must be positive, got {}",
                self.width
            )));
        }
        if self.beta.is_empty() {
            return Err(CoreError::config(
                "perturbation.beta needs at least one [epoch, beta] point",
            ));
        }
        for w in self.beta.windows(2) {
            if !(w[1][0] > w[0][0]) {
                return Err(CoreError::config(format!(
                    "perturbation.beta epochs must increase, got {} then {}",
                    w[0][0], w[1][0]
                )));
            }
        }
        if self.beta.iter().any(|p| !(p[1] >= 0.0 && p[1].is_finite())) {
            return Err(CoreError::config("perturbation.beta values must be >= 0"));
        }
        if self.eval_eps.iter().any(|e| !(*e >= 0.0 && e.is_finite())) {
            return Err(CoreError::config(
                "perturbation.eval_eps radii must be >= 0",
            ));
        }
        if !(self.eps >= 0.0 && self.eps.is_finite()) {
            return Err(CoreError::config(format!(
                "perturbation.eps must be >= 0, got {}",
                self.eps
            )));
        }
        if self.steps == 0 || self.eval_steps == 0 || self.approx_samples == 0 {
            return Err(CoreError::config(
                "perturbation.steps, eval_steps and approx_samples must be at least 1",
            ));
        }
        if let Some(a) = self.step_size {
            if !(a > 0.0 && a.is_finite()) {
                return Err(CoreError::config(format!(
                    "perturbation.step_size must be positive, got {a}"
                )));
            }
        }
        Ok(())
    }

    /// Observed perturbations of a host batch `x` ([n, C·H·W]): one random draw per
    /// example from the stream of `seed`.
    pub fn perturb_host(
        &self,
        x: &[f32],
        shape: [usize; 3],
        seed: u64,
    ) -> Result<Vec<f32>, CoreError> {
        self.perturb_host_with(x, shape, seed, &self.corruptions)
    }

    /// As [`Self::perturb_host`] with the held-out corruptions (RTS pairs: the same RTS).
    pub fn perturb_host_held_out(
        &self,
        x: &[f32],
        shape: [usize; 3],
        seed: u64,
    ) -> Result<Vec<f32>, CoreError> {
        self.perturb_host_with(x, shape, seed, &self.held_out)
    }

    fn perturb_host_with(
        &self,
        x: &[f32],
        shape: [usize; 3],
        seed: u64,
        set: &CorruptionSet,
    ) -> Result<Vec<f32>, CoreError> {
        match self.pairs {
            PairKind::Rts => {
                let mut out = x.to_vec();
                ballast_data::rts_batch(&mut out, shape, &self.rts, seed);
                Ok(out)
            }
            PairKind::Corruptions => Ok(ballast_data::corrupt_batch(x, shape, set, seed)?.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_interpolates_between_points_and_is_flat_outside() {
        let p = PerturbationConfig {
            beta: vec![[1.0, 0.0], [3.0, 0.02], [5.0, 1.0]],
            ..Default::default()
        };
        assert_eq!(p.beta_at(0.0), 0.0);
        assert!((p.beta_at(2.0) - 0.01).abs() < 1e-12);
        assert!((p.beta_at(4.0) - 0.51).abs() < 1e-12);
        assert_eq!(p.beta_at(9.0), 1.0);
        let bad = PerturbationConfig {
            beta: vec![[2.0, 0.0], [1.0, 1.0]],
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("increase"));
    }

    #[test]
    fn pairs_differ_from_the_clean_images_and_are_reproducible() {
        let shape = [1, 8, 8];
        let x: Vec<f32> = (0..128).map(|i| ((i * 7) % 13) as f32 / 13.0).collect();
        for pairs in [PairKind::Rts, PairKind::Corruptions] {
            let p = PerturbationConfig {
                pairs,
                ..Default::default()
            };
            let a = p.perturb_host(&x, shape, 5).unwrap();
            assert_eq!(a, p.perturb_host(&x, shape, 5).unwrap());
            assert_ne!(a, x);
            assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }
}
