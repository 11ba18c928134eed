//! The ℓ2 ball of radius ε in the standardised latent space u = (z − μ_p) / σ_p, where a
//! perturbation set lives: S(x) = { g(μ_p(x) + σ_p(x) ⊙ u, x) : ‖u‖₂ ≤ ε }.

use burn::prelude::*;
use burn::tensor::Distribution;

/// ℓ2 norm of each row, [B, L] -> [B, 1].
pub fn row_norms(u: Tensor<2>) -> Tensor<2> {
    u.powi_scalar(2).sum_dim(1).sqrt()
}

/// Each row scaled back onto the ball when outside it: u · min(1, ε / ‖u‖₂).
pub fn project_ball(u: Tensor<2>, eps: f64) -> Tensor<2> {
    let scale = ((row_norms(u.clone()) + 1e-12).recip() * eps).clamp_max(1.0); // [B, 1]
    u * scale
}

/// Each row scaled to unit ℓ2 norm (zero rows stay zero).
pub fn normalize_rows(g: Tensor<2>) -> Tensor<2> {
    g.clone() / (row_norms(g) + 1e-12)
}

/// A random point of the ball: a Gaussian direction at radius ε·r, r ~ U(0, 1) (the
/// reference attack's start).
pub fn random_in_ball(batch: usize, latent: usize, eps: f64, device: &Device) -> Tensor<2> {
    let dir = normalize_rows(crate::host_rng::float(
        [batch, latent],
        Distribution::Normal(0.0, 1.0),
        device,
    ));
    let r = crate::host_rng::float([batch, 1], Distribution::Uniform(0.0, 1.0), device);
    dir * r * eps
}

/// N(0, I) draws projected onto the ball (the samples of the expected approximation error
/// and of the explorer's grid).
pub fn gaussian_in_ball(batch: usize, latent: usize, eps: f64, device: &Device) -> Tensor<2> {
    project_ball(
        crate::host_rng::float([batch, latent], Distribution::Normal(0.0, 1.0), device),
        eps,
    )
}
