//! The CVAE's training objective: reconstruction of x̃ from z ~ q(z | x, x̃) plus β times
//! KL(q ‖ p), per example (summed over pixels and latent dimensions).

use super::cvae::{Cvae, Gaussian, Likelihood};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{sigmoid, softplus};

/// KL(q ‖ p) of two diagonal Gaussians, per example: [B, L] each -> [B].
/// ½ Σ_j [ σ_q²/σ_p² + (μ_p − μ_q)²/σ_p² − 1 + log σ_p² − log σ_q² ].
pub fn kl_divergence(q: &Gaussian, p: &Gaussian) -> Tensor<1> {
    let inv_var_p = (-p.logvar.clone()).exp(); // [B, L]
    let ratio = (q.logvar.clone() - p.logvar.clone()).exp();
    let mean = (p.mu.clone() - q.mu.clone()).powi_scalar(2) * inv_var_p;
    ((ratio + mean - 1.0 + p.logvar.clone() - q.logvar.clone()).sum_dim(1) * 0.5).squeeze_dim(1)
}

/// Negative log-likelihood of `target` [B, D] under the generator's `logits` [B, D], per
/// example [B]: Bernoulli cross-entropy (stable in the logits) or the squared error of the
/// sigmoid mean.
pub fn reconstruction_error(
    logits: Tensor<2>,
    target: Tensor<2>,
    likelihood: Likelihood,
) -> Tensor<1> {
    let per_pixel = match likelihood {
        // −[t log σ(l) + (1 − t) log(1 − σ(l))] = softplus(l) − t·l
        Likelihood::Bernoulli => softplus(logits.clone(), 1.0) - target * logits,
        Likelihood::Gaussian => (sigmoid(logits) - target).powi_scalar(2),
    };
    per_pixel.sum_dim(1).squeeze_dim(1)
}

/// The per-example terms of one ELBO evaluation, [B] each.
#[derive(Clone, Debug)]
pub struct ElboTerms {
    pub reconstruction: Tensor<1>,
    pub kl: Tensor<1>,
}

impl ElboTerms {
    /// Mean over the batch of reconstruction + β·KL (the training loss).
    pub fn loss(&self, beta: f64) -> Tensor<1> {
        (self.reconstruction.clone() + self.kl.clone() * beta).mean()
    }
}

/// ELBO terms for pairs (x, x̃) with the reparameterisation z = μ_q + σ_q ⊙ `noise`
/// (`noise` [B, L], fixed by the caller: tests and finite differences).
pub fn elbo_terms_with_noise(
    cvae: &Cvae,
    x: Tensor<2>,
    x_tilde: Tensor<2>,
    noise: Tensor<2>,
    likelihood: Likelihood,
) -> ElboTerms {
    let prior = cvae.prior(x.clone());
    let posterior = cvae.recognition(x.clone(), x_tilde.clone());
    terms_from(cvae, x, x_tilde, &prior, &posterior, noise, likelihood)
}

/// The ELBO terms given the two latent Gaussians (the reparameterised path
/// z = μ_q + exp(½ log σ²_q) ⊙ noise is differentiable in μ_q and log σ²_q).
pub fn terms_from(
    cvae: &Cvae,
    x: Tensor<2>,
    x_tilde: Tensor<2>,
    prior: &Gaussian,
    posterior: &Gaussian,
    noise: Tensor<2>,
    likelihood: Likelihood,
) -> ElboTerms {
    let z = posterior.latent(noise); // [B, L]
    let logits = cvae.generate_logits(z, x);
    ElboTerms {
        reconstruction: reconstruction_error(logits, x_tilde, likelihood),
        kl: kl_divergence(posterior, prior),
    }
}

/// ELBO terms with fresh N(0, I) noise from the device RNG.
pub fn elbo_terms(
    cvae: &Cvae,
    x: Tensor<2>,
    x_tilde: Tensor<2>,
    likelihood: Likelihood,
) -> ElboTerms {
    let [b, _] = x.dims();
    let noise = crate::host_rng::float(
        [b, cvae.latent_dim()],
        Distribution::Normal(0.0, 1.0),
        &x.device(),
    );
    elbo_terms_with_noise(cvae, x, x_tilde, noise, likelihood)
}
