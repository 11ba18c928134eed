//! How well a learned perturbation set covers observed perturbations (Wong & Kolter 2021,
//! `eval.py`), per example, as mean squared error per pixel:
//! - encoding error: the generator at the posterior mean, standardised by the prior and
//!   clipped onto the ε-ball, u₀ = Π((μ_q − μ_p) / σ_p) (σ_p = exp(½ log σ²_p); the reference
//!   code divides by the log-variance here, a bug);
//! - approximation error: min over ‖u‖₂ ≤ ε of ‖g(x, u) − x̃‖² by projected normalised
//!   gradient descent from u₀, keeping each example's best point;
//! - expected approximation error: the mean over N(0, I) draws projected onto the ball.

use super::ball::{gaussian_in_ball, normalize_rows, project_ball};
use super::cvae::{Cvae, Gaussian};
use burn::prelude::*;

/// Mean squared error per pixel, [B, D] × [B, D] -> [B].
pub fn mse(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    (a - b).powi_scalar(2).mean_dim(1).squeeze_dim(1)
}

/// Π((μ_q − μ_p) / σ_p): the observed pair's encoding in standardised, clipped coordinates.
pub fn encoding(
    cvae: &Cvae,
    x: &Tensor<2>,
    x_tilde: &Tensor<2>,
    prior: &Gaussian,
    eps: f64,
) -> Tensor<2> {
    let posterior = cvae
        .recognition(x.clone(), x_tilde.clone())
        .detach()
        .inner();
    project_ball(prior.standardize(posterior.mu), eps)
}

/// Per-example errors [B] of one evaluation.
#[derive(Clone, Debug)]
pub struct Approximation {
    pub encoding_error: Tensor<1>,
    pub approximation_error: Tensor<1>,
    /// The minimising u [B, L].
    pub u: Tensor<2>,
}

/// Encoding and approximation errors of pairs (x, x̃) at radius ε with `steps` descent steps
/// of size `alpha` (inner device, detached). `cvae` should be a plain module.
pub fn approximation_error(
    cvae: &Cvae,
    x: Tensor<2>,
    x_tilde: Tensor<2>,
    eps: f64,
    steps: usize,
    alpha: f64,
) -> Approximation {
    let (x, x_tilde) = (x.detach().inner(), x_tilde.detach().inner());
    let prior = cvae.prior(x.clone()).detach().inner();
    let mut u = encoding(cvae, &x, &x_tilde, &prior, eps);
    let error_at = |u: Tensor<2>| mse(cvae.generate(prior.latent(u), x.clone()), x_tilde.clone());
    let mut encoding_error = None;
    let (mut best_u, mut best) = (u.clone(), None::<Tensor<1>>);
    // Each pass scores the current u (keeping each example's best) and takes a step from it;
    // the point after the last step is scored once more.
    for k in 0..=steps {
        let ut = u.clone().autodiff().require_grad();
        let err = error_at(ut.clone()); // [B]
        let now = err.clone().detach().inner();
        match best.take() {
            None => {
                encoding_error = Some(now.clone());
                best = Some(now);
            }
            Some(b) => {
                let better = now.clone().lower(b.clone()); // [B]
                let rows = better.clone().unsqueeze_dim::<2>(1).expand(u.dims());
                best_u = best_u.mask_where(rows, u.clone());
                best = Some(b.mask_where(better, now));
            }
        }
        if k == steps {
            break;
        }
        let g = ut.grad(&err.sum().backward()).expect("u is used").inner();
        u = project_ball(u - normalize_rows(g) * alpha, eps);
    }
    let (encoding_error, best) = (encoding_error.expect("scored"), best.expect("scored"));
    Approximation {
        encoding_error,
        approximation_error: best,
        u: best_u,
    }
}

/// Expected approximation error over `samples` draws of u ~ N(0, I) projected onto the ball:
/// mean over draws of ‖g(x, u) − x̃‖² per pixel, [B].
pub fn expected_approximation_error(
    cvae: &Cvae,
    x: Tensor<2>,
    x_tilde: Tensor<2>,
    eps: f64,
    samples: usize,
) -> Tensor<1> {
    let (x, x_tilde) = (x.detach().inner(), x_tilde.detach().inner());
    let [b, _] = x.dims();
    let prior = cvae.prior(x.clone()).detach().inner();
    let mut total = Tensor::<1>::zeros([b], &x.device());
    for _ in 0..samples.max(1) {
        let u = gaussian_in_ball(b, cvae.latent_dim(), eps, &x.device());
        total = total
            + mse(cvae.generate(prior.latent(u), x.clone()), x_tilde.clone())
                .detach()
                .inner();
    }
    total / samples.max(1) as f64
}
