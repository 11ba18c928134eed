//! Quality of a learned perturbation set on held pairs (x, x̃): reconstruction, KL and the
//! negative ELBO, and per radius ε the encoding, approximation and expected approximation
//! errors (Wong & Kolter 2021, `eval.py`) under two protocols: the reference's (BCE per pixel
//! for a Bernoulli generator, the last iterate, per-coordinate truncated draws), comparable
//! with the paper's tables, and Ballast's (MSE per pixel, the best iterate, draws in the ball).

use ballast_core::perturbation::quality::approximation_error;
use ballast_core::perturbation::{
    Cvae, ErrorProtocol, Likelihood, PixelError, elbo_terms, expected_approximation_error,
};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// The three errors at one radius under Ballast's protocol (MSE per pixel, the best iterate,
/// draws projected onto the ball), and under the reference's in `reference`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityAtEps {
    pub eps: f64,
    pub encoding_error: f64,
    pub approximation_error: f64,
    pub expected_approximation_error: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<ReferenceErrors>,
}

/// The errors as the reference's `eval.py` computes them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReferenceErrors {
    /// `bce` for a Bernoulli generator, `mse` for a Gaussian one.
    pub error: PixelError,
    pub encoding_error: f64,
    /// At the descent's last iterate.
    pub approximation_error: f64,
    /// Over N(0, I) draws truncated per coordinate to [−ε, ε] when a draw leaves the ball.
    pub expected_approximation_error: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvaeQuality {
    pub examples: usize,
    /// Mean per example: reconstruction negative log-likelihood (summed over pixels), KL(q‖p)
    /// and their sum (the negative ELBO at β = 1).
    pub reconstruction: f64,
    pub kl: f64,
    pub neg_elbo: f64,
    /// Mean squared error per pixel between x and x̃ (how far the observed perturbations
    /// move an image: the scale of the errors below).
    #[serde(default)]
    pub pair_mse: f64,
    /// Norms ‖(μ_q − μ_p)/σ_p‖₂ of the pairs' encodings (unclipped) at the 10th, 50th, 90th and
    /// 99th percentile: which latent radius holds how many observed perturbations.
    #[serde(default)]
    pub encoding_norm_percentiles: [f64; 4],
    pub per_eps: Vec<QualityAtEps>,
    /// Descent steps and step size of the approximation error, draws of the expected error.
    pub approx_steps: usize,
    pub approx_samples: usize,
}

fn mean(t: Tensor<1>) -> f64 {
    t.mean().into_scalar::<f32>() as f64
}

/// Evaluates `cvae` (plain) on pairs `x`, `x_tilde` ([n·D] host rows) in batches.
/// Seeds the device RNG with `seed` first (ELBO noise, expected-error draws).
#[allow(clippy::too_many_arguments)]
pub fn cvae_quality(
    cvae: &Cvae,
    likelihood: Likelihood,
    x: &[f32],
    x_tilde: &[f32],
    eps: &[f64],
    approx_steps: usize,
    approx_samples: usize,
    batch: usize,
    seed: u64,
    device: &Device,
) -> CvaeQuality {
    let d: usize = cvae.shape().iter().product();
    let n = x.len() / d;
    ballast_core::host_rng::seed(seed);
    let (mut rec, mut kl) = (0.0, 0.0);
    let pair_mse = x
        .iter()
        .zip(x_tilde)
        .map(|(a, b)| ((a - b) * (a - b)) as f64)
        .sum::<f64>()
        / x.len().max(1) as f64;
    let mut per_eps = vec![[0.0f64; 6]; eps.len()];
    let protocols = [ErrorProtocol::BALLAST, ErrorProtocol::reference(likelihood)];
    let mut norms: Vec<f32> = Vec::with_capacity(n);
    for start in (0..n).step_by(batch.max(1)) {
        let m = batch.min(n - start);
        let rows = |v: &[f32]| {
            Tensor::<2>::from_data(
                TensorData::new(v[start * d..(start + m) * d].to_vec(), [m, d]),
                device,
            )
        };
        let (xb, tb) = (rows(x), rows(x_tilde));
        let prior = cvae.prior(xb.clone());
        let u = prior.standardize(cvae.recognition(xb.clone(), tb.clone()).mu);
        norms.extend(
            u.powi_scalar(2)
                .sum_dim(1)
                .sqrt()
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .expect("f32 data"),
        );
        let terms = elbo_terms(cvae, xb.clone(), tb.clone(), likelihood);
        rec += mean(terms.reconstruction) * m as f64;
        kl += mean(terms.kl) * m as f64;
        for (acc, &e) in per_eps.iter_mut().zip(eps) {
            let alpha = 2.5 * e / approx_steps.max(1) as f64;
            for (k, &protocol) in protocols.iter().enumerate() {
                let (xb, tb) = (xb.clone(), tb.clone());
                let a = approximation_error(
                    cvae,
                    xb.clone(),
                    tb.clone(),
                    e,
                    approx_steps,
                    alpha,
                    protocol,
                );
                let exp = expected_approximation_error(cvae, xb, tb, e, approx_samples, protocol);
                acc[3 * k] += mean(a.encoding_error) * m as f64;
                acc[3 * k + 1] += mean(a.approximation_error) * m as f64;
                acc[3 * k + 2] += mean(exp) * m as f64;
            }
        }
    }
    let nf = n.max(1) as f64;
    norms.sort_by(|a, b| a.total_cmp(b));
    let pct = |q: f64| {
        norms
            .get(((q * norms.len() as f64) as usize).min(norms.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0) as f64
    };
    CvaeQuality {
        examples: n,
        reconstruction: rec / nf,
        kl: kl / nf,
        neg_elbo: (rec + kl) / nf,
        pair_mse,
        encoding_norm_percentiles: [pct(0.1), pct(0.5), pct(0.9), pct(0.99)],
        per_eps: eps
            .iter()
            .zip(&per_eps)
            .map(|(&e, a)| QualityAtEps {
                eps: e,
                encoding_error: a[0] / nf,
                approximation_error: a[1] / nf,
                expected_approximation_error: a[2] / nf,
                reference: Some(ReferenceErrors {
                    error: protocols[1].error,
                    encoding_error: a[3] / nf,
                    approximation_error: a[4] / nf,
                    expected_approximation_error: a[5] / nf,
                }),
            })
            .collect(),
        approx_steps,
        approx_samples,
    }
}
