//! The latent-space attack on a classifier (Wong & Kolter 2021, `CVAE_attack`): normalised
//! ℓ2 gradient-ascent steps on the classifier's loss in the standardised latent u, each
//! projected back onto ‖u‖₂ ≤ ε, from a random point of the ball. Only examples the model
//! still classifies correctly move (the reference's early stop). The CVAE and the classifier
//! are both run as given (pass plain modules and `Mode::Eval` to evaluate).

use super::ball::{normalize_rows, project_ball, random_in_ball};
use super::cvae::{Gaussian, PerturbationSet};
use crate::attack::{AttackConfig, Objective};
use crate::models::{Classifier, Mode};
use burn::prelude::*;

/// The adversarial images [B, D] and their latent coordinates u [B, L] (inner, detached).
#[derive(Clone, Debug)]
pub struct LatentAdversary {
    pub x_adv: Tensor<2>,
    pub u: Tensor<2>,
}

/// Gradient of Σ_i objective_i(f(g(μ + σ ⊙ u, x))) with respect to u, with the logits at u.
fn latent_gradient(
    model: &Classifier,
    cvae: &PerturbationSet,
    x: &Tensor<2>,
    prior: &Gaussian,
    u: Tensor<2>,
    objective: &Objective,
    mode: Mode,
) -> (Tensor<2>, Tensor<2>) {
    let ut = u.autodiff().require_grad();
    let image = cvae.generate(prior.latent(ut.clone()), x.clone()); // [B, D]
    let logits = model.forward(image, mode); // [B, K]
    let grads = objective.per_example(logits.clone()).sum().backward();
    let g = ut.grad(&grads).expect("u takes part in the forward pass");
    (g.inner(), logits.detach().inner())
}

/// Runs the latent attack of `cfg` (kind `Latent`, ε and α in standardised latent units).
/// x: [B, D] in [0, 1].
pub fn latent_attack(
    model: &Classifier,
    cvae: &PerturbationSet,
    x: Tensor<2>,
    objective: &Objective,
    cfg: &AttackConfig,
    mode: Mode,
) -> LatentAdversary {
    let x = x.detach().inner();
    let device = x.device();
    let [b, _] = x.dims();
    let prior = cvae.prior(x.clone()).detach().inner();
    let alpha = cfg.alpha();
    let mut best: Option<(LatentAdversary, Tensor<1, Bool>, Tensor<1>)> = None;
    for _ in 0..cfg.restarts {
        let mut u = if cfg.random_start {
            random_in_ball(b, cvae.latent_dim(), cfg.eps, &device)
        } else {
            Tensor::zeros([b, cvae.latent_dim()], &device)
        };
        for _ in 0..cfg.steps {
            let (g, logits) = latent_gradient(model, cvae, &x, &prior, u.clone(), objective, mode);
            let mut step = normalize_rows(g) * alpha; // [B, L]
            if cfg.early_stop {
                let active = objective
                    .fooled(&logits)
                    .bool_not()
                    .float()
                    .unsqueeze_dim(1);
                step = step * active; // [B, L]
            }
            u = project_ball(u + step, cfg.eps);
        }
        let x_adv = cvae
            .generate(prior.latent(u.clone()), x.clone())
            .detach()
            .inner();
        let run = LatentAdversary { x_adv, u };
        if cfg.restarts == 1 {
            return run;
        }
        let logits = model.forward(run.x_adv.clone(), mode).detach().inner();
        let values = objective.per_example(logits.clone()).inner();
        let fooled = objective.fooled(&logits);
        best = Some(match best {
            None => (run, fooled, values),
            Some((prev, pf, pv)) => {
                let take = fooled.clone().int().greater(pf.clone().int()).bool_or(
                    fooled
                        .clone()
                        .equal(pf.clone())
                        .bool_and(values.clone().greater_equal(pv.clone())),
                );
                let rows = |t: Tensor<2>| take.clone().unsqueeze_dim::<2>(1).expand(t.dims());
                (
                    LatentAdversary {
                        x_adv: prev.x_adv.clone().mask_where(rows(prev.x_adv), run.x_adv),
                        u: prev.u.clone().mask_where(rows(prev.u), run.u),
                    },
                    pf.bool_or(fooled),
                    pv.mask_where(take, values),
                )
            }
        });
    }
    best.expect("at least one restart").0
}
