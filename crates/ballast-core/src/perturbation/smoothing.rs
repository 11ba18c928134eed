//! Randomized smoothing in the latent space (Cohen, Rosenfeld & Kolter 2019, applied to a
//! learned perturbation set as in Wong & Kolter 2021): the smoothed classifier predicts the
//! class most likely under u ~ N(0, σ² I), h(x) = argmax_c P[f(g(μ_p + σ_p ⊙ u, x)) = c].
//! CERTIFY draws n₀ samples to guess the class, n more to bound its probability below by a
//! one-sided Clopper–Pearson interval at level α, and certifies the ℓ2 radius σ·Φ⁻¹(p_A) in
//! u (abstaining when p_A ≤ ½). Counting reads predictions back to the host: native only.

use super::cvae::PerturbationSet;
use crate::error::CoreError;
use crate::models::{Classifier, Mode};
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};
use statrs::distribution::{Beta, ContinuousCDF, Normal};

/// Every knob of a certification (recorded in reports as is).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmoothingConfig {
    /// Noise level σ of u, in standardised latent units.
    pub sigma: f64,
    /// Samples to pick the class.
    pub n0: usize,
    /// Samples to bound its probability.
    pub n: usize,
    /// Failure probability of the certificate.
    pub alpha: f64,
    /// Samples per forward pass.
    pub batch: usize,
}

impl SmoothingConfig {
    pub fn validate(&self) -> Result<(), CoreError> {
        if !(self.sigma > 0.0 && self.sigma.is_finite()) {
            return Err(CoreError::Config(format!(
                "smoothing sigma must be positive, got {}",
                self.sigma
            )));
        }
        if self.n0 == 0 || self.n == 0 || self.batch == 0 {
            return Err(CoreError::Config(
                "smoothing n0, n and batch must be at least 1".into(),
            ));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(CoreError::Config(format!(
                "smoothing alpha must be in (0, 1), got {}",
                self.alpha
            )));
        }
        Ok(())
    }
}

/// The outcome for one input.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Certificate {
    /// The lower bound on the top class's probability is not above ½.
    Abstain { p_lower: f64 },
    /// The smoothed classifier predicts `class` for every u' with ‖u' − u‖₂ < radius.
    Certified {
        class: usize,
        radius: f64,
        p_lower: f64,
    },
}

impl Certificate {
    /// Certified radius for the true label `label` (0 when wrong or abstaining).
    pub fn radius_for(&self, label: usize) -> f64 {
        match *self {
            Certificate::Certified { class, radius, .. } if class == label => radius,
            _ => 0.0,
        }
    }

    pub fn predicts(&self, label: usize) -> bool {
        matches!(*self, Certificate::Certified { class, .. } if class == label)
    }
}

/// One-sided (1 − α) Clopper–Pearson lower bound on a binomial proportion after `k`
/// successes in `n` trials: the α quantile of Beta(k, n − k + 1) (0 when k = 0).
pub fn lower_confidence_bound(k: u64, n: u64, alpha: f64) -> f64 {
    assert!(
        k <= n && n > 0,
        "need 0 <= k <= n, n > 0 (k = {k}, n = {n})"
    );
    if k == 0 {
        return 0.0;
    }
    Beta::new(k as f64, (n - k + 1) as f64)
        .expect("positive shape parameters")
        .inverse_cdf(alpha)
}

/// CERTIFY from counts: the guessed class `class`, `k` of `n` samples agreeing with it.
pub fn certify_from_counts(class: usize, k: u64, n: u64, sigma: f64, alpha: f64) -> Certificate {
    let p_lower = lower_confidence_bound(k, n, alpha);
    if p_lower <= 0.5 {
        return Certificate::Abstain { p_lower };
    }
    let phi_inv = Normal::standard().inverse_cdf(p_lower);
    Certificate::Certified {
        class,
        radius: sigma * phi_inv,
        p_lower,
    }
}

/// Class counts of f(g(μ_p + σ_p ⊙ u, x)) over `n` draws u ~ N(0, σ² I) for one input
/// x [1, D]. `model` and `cvae` should be plain modules.
pub fn smoothed_counts(
    model: &Classifier,
    cvae: &PerturbationSet,
    x: &Tensor<2>,
    num_classes: usize,
    sigma: f64,
    n: usize,
    batch: usize,
) -> Vec<u64> {
    let device = x.device();
    let [_, d] = x.dims();
    let prior = cvae.prior(x.clone());
    let mut counts = vec![0u64; num_classes];
    let mut left = n;
    while left > 0 {
        let m = left.min(batch.max(1));
        left -= m;
        let u = crate::host_rng::float(
            [m, cvae.latent_dim()],
            Distribution::Normal(0.0, sigma),
            &device,
        );
        let z = prior.mu.clone().expand([m, cvae.latent_dim()])
            + prior.sigma().expand([m, cvae.latent_dim()]) * u; // [m, L]
        let images = cvae.generate(z, x.clone().expand([m, d])); // [m, D]
        let pred = model.forward(images, Mode::Eval).argmax(1).reshape([m]);
        for c in pred
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .expect("int data")
        {
            counts[c as usize] += 1;
        }
    }
    counts
}

/// Cohen et al.'s CERTIFY for one input x [1, D] (device RNG: seed it for reproducibility).
pub fn certify(
    model: &Classifier,
    cvae: &PerturbationSet,
    x: &Tensor<2>,
    num_classes: usize,
    cfg: &SmoothingConfig,
) -> Certificate {
    let guess = smoothed_counts(model, cvae, x, num_classes, cfg.sigma, cfg.n0, cfg.batch);
    let class = argmax(&guess);
    let counts = smoothed_counts(model, cvae, x, num_classes, cfg.sigma, cfg.n, cfg.batch);
    certify_from_counts(class, counts[class], cfg.n as u64, cfg.sigma, cfg.alpha)
}

fn argmax(counts: &[u64]) -> usize {
    counts
        .iter()
        .enumerate()
        .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
        .map(|(i, _)| i)
        .unwrap_or(0)
}
