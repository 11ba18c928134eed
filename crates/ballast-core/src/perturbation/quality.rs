//! How well a learned perturbation set covers observed perturbations (Wong & Kolter 2021,
//! `eval.py`), per example:
//! - encoding error: the generator at the posterior mean, standardised by the prior and
//!   clipped onto the ε-ball, u₀ = Π((μ_q − μ_p) / σ_p) (σ_p = exp(½ log σ²_p); the reference
//!   code divides by the log-variance here, a bug);
//! - approximation error: min over ‖u‖₂ ≤ ε of the error between g(x, u) and x̃, by projected
//!   normalised gradient descent from u₀;
//! - expected approximation error: the mean error over random latent draws.
//!
//! Two protocols ([`ErrorProtocol`]): the reference's (per-pixel binary cross-entropy for a
//! Bernoulli generator and squared error for a Gaussian one, the descent's last iterate, draws
//! from N(0, I) truncated per coordinate to [−ε, ε] whenever a draw of the batch leaves the
//! ball), whose numbers compare with the paper's tables; and Ballast's (squared error for every
//! generator, each example's best iterate, draws projected onto the ℓ2 ball, so that every
//! point scored lies in the set S(x)).

use super::ball::{gaussian_in_ball, normalize_rows, project_ball, row_norms};
use super::cvae::{Cvae, Gaussian, Likelihood};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::softplus;
use serde::{Deserialize, Serialize};

/// Per-pixel error between a generated image and the observed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PixelError {
    /// Mean squared error per pixel.
    Mse,
    /// Mean binary cross-entropy per pixel of x̃ under the generator's Bernoulli means
    /// (PyTorch's `binary_cross_entropy`, computed from the logits).
    Bce,
}

impl PixelError {
    /// The reference's error for a generator's likelihood.
    pub fn of(likelihood: Likelihood) -> Self {
        match likelihood {
            Likelihood::Bernoulli => Self::Bce,
            Likelihood::Gaussian => Self::Mse,
        }
    }

    /// Per-example error [B] of generator `logits` [B, D] against `target` [B, D].
    pub fn per_example(self, logits: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
        let per_pixel = match self {
            Self::Mse => (burn::tensor::activation::sigmoid(logits) - target).powi_scalar(2),
            // −[t log σ(l) + (1 − t) log(1 − σ(l))] = softplus(l) − t·l
            Self::Bce => softplus(logits.clone(), 1.0) - target * logits,
        };
        per_pixel.mean_dim(1).squeeze_dim(1)
    }
}

/// Which iterate of the descent the approximation error reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Iterate {
    /// The point after the last step (the reference).
    Last,
    /// Each example's lowest error over the start and every step.
    Best,
}

/// How the expected approximation error draws its latent points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LatentSampling {
    /// N(0, I); when any row of a draw is outside the ε-ball, the whole draw is replaced by
    /// N(0, I) truncated per coordinate to [−ε, ε] (the reference's `torch_truncnorm`). With a
    /// latent of dimension L ≫ ε², the points lie far outside the ball.
    TruncatedPerCoordinate,
    /// N(0, I) projected onto the ε-ball: every point lies in the set.
    Ball,
}

/// A set of choices for the three errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorProtocol {
    pub error: PixelError,
    pub iterate: Iterate,
    pub sampling: LatentSampling,
}

impl ErrorProtocol {
    /// Wong & Kolter's `eval.py`.
    pub fn reference(likelihood: Likelihood) -> Self {
        Self {
            error: PixelError::of(likelihood),
            iterate: Iterate::Last,
            sampling: LatentSampling::TruncatedPerCoordinate,
        }
    }

    /// Ballast's: squared error, best iterate, points in the ball.
    pub const BALLAST: Self = Self {
        error: PixelError::Mse,
        iterate: Iterate::Best,
        sampling: LatentSampling::Ball,
    };
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
    /// The reported u [B, L] (last or best iterate).
    pub u: Tensor<2>,
}

/// Encoding and approximation errors of pairs (x, x̃) at radius ε with `steps` descent steps
/// of size `alpha` on `protocol.error` (inner device, detached). `cvae` should be a plain
/// module.
pub fn approximation_error(
    cvae: &Cvae,
    x: Tensor<2>,
    x_tilde: Tensor<2>,
    eps: f64,
    steps: usize,
    alpha: f64,
    protocol: ErrorProtocol,
) -> Approximation {
    let (x, x_tilde) = (x.detach().inner(), x_tilde.detach().inner());
    let prior = cvae.prior(x.clone()).detach().inner();
    let mut u = encoding(cvae, &x, &x_tilde, &prior, eps);
    let error_at = |u: Tensor<2>| {
        protocol.error.per_example(
            cvae.generate_logits(prior.latent(u), x.clone()),
            x_tilde.clone(),
        )
    };
    let mut encoding_error = None;
    let (mut best_u, mut best) = (u.clone(), None::<Tensor<1>>);
    // Each pass scores the current u (keeping each example's best) and takes a step from it;
    // the point after the last step is scored once more.
    for k in 0..=steps {
        let ut = u.clone().autodiff().require_grad();
        let err = error_at(ut.clone()); // [B]
        let now = err.clone().detach().inner();
        match (best.take(), protocol.iterate) {
            (None, _) => {
                encoding_error = Some(now.clone());
                best = Some(now);
            }
            (Some(_), Iterate::Last) => {
                best_u = u.clone();
                best = Some(now);
            }
            (Some(b), Iterate::Best) => {
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

/// N(0, 1) draws [B, L] truncated to [−bound, bound] per coordinate, by redrawing the
/// coordinates outside until none is left (all 0 at bound 0, the radius-0 set).
pub fn truncated_gaussian(batch: usize, latent: usize, bound: f64, device: &Device) -> Tensor<2> {
    if bound <= 0.0 {
        return Tensor::zeros([batch, latent], device);
    }
    let normal = || crate::host_rng::float([batch, latent], Distribution::Normal(0.0, 1.0), device);
    let mut u = normal();
    loop {
        let outside = u.clone().abs().greater_elem(bound);
        if !outside.clone().any().into_scalar::<bool>() {
            return u;
        }
        u = u.mask_where(outside, normal());
    }
}

/// One draw of the expected error's latent points [B, L] under `sampling`.
pub fn latent_draw(
    sampling: LatentSampling,
    batch: usize,
    latent: usize,
    eps: f64,
    device: &Device,
) -> Tensor<2> {
    match sampling {
        LatentSampling::Ball => gaussian_in_ball(batch, latent, eps, device),
        LatentSampling::TruncatedPerCoordinate => {
            let u = crate::host_rng::float([batch, latent], Distribution::Normal(0.0, 1.0), device);
            let outside = row_norms(u.clone())
                .greater_elem(eps)
                .any()
                .into_scalar::<bool>();
            if outside {
                truncated_gaussian(batch, latent, eps, device)
            } else {
                u
            }
        }
    }
}

/// Expected approximation error over `samples` latent draws: the mean over draws of the
/// per-pixel error of g(x, u) against x̃, [B].
pub fn expected_approximation_error(
    cvae: &Cvae,
    x: Tensor<2>,
    x_tilde: Tensor<2>,
    eps: f64,
    samples: usize,
    protocol: ErrorProtocol,
) -> Tensor<1> {
    let (x, x_tilde) = (x.detach().inner(), x_tilde.detach().inner());
    let [b, _] = x.dims();
    let prior = cvae.prior(x.clone()).detach().inner();
    let mut total = Tensor::<1>::zeros([b], &x.device());
    for _ in 0..samples.max(1) {
        let u = latent_draw(protocol.sampling, b, cvae.latent_dim(), eps, &x.device());
        let logits = cvae.generate_logits(prior.latent(u), x.clone());
        total = total
            + protocol
                .error
                .per_example(logits, x_tilde.clone())
                .detach()
                .inner();
    }
    total / samples.max(1) as f64
}
