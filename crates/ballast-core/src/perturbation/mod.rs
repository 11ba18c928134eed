//! Learned perturbation sets (Wong & Kolter, ICLR 2021): a conditional VAE whose prior
//! defines, for each input x, the set S(x) = { g(μ_p(x) + σ_p(x) ⊙ u, x) : ‖u‖₂ ≤ ε }; the
//! ELBO that trains it; the latent attack (also reachable through [`crate::attack::attack_with`]
//! as `AttackKind::Latent`); the quality metrics of the set; and randomized smoothing in u.

pub mod affine_generator;
pub mod ball;
pub mod cvae;
pub mod elbo;
pub mod latent_attack;
pub mod pairs;
pub mod quality;
pub mod smoothing;

pub use cvae::{Cvae, CvaeConfig, Gaussian, GeneratorKind, Likelihood, PerturbationSet};
pub use elbo::{ElboTerms, elbo_terms, elbo_terms_with_noise, kl_divergence, reconstruction_error};
pub use latent_attack::{LatentAdversary, latent_attack};
pub use pairs::{PairKind, PerturbationConfig};
pub use quality::{
    Approximation, ErrorProtocol, Iterate, LatentSampling, PixelError, approximation_error,
    expected_approximation_error,
};
pub use smoothing::{
    Certificate, SmoothingConfig, certify, certify_from_counts, lower_confidence_bound,
};

#[cfg(test)]
mod tests;
