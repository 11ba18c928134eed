//! Evasion attacks in [0, 1] pixel space: FGSM, PGD (ℓ∞ / ℓ2, random start, restarts keeping
//! each example's worst case, early stop on misclassified examples) and APGD-CE / APGD-DLR
//! (the step-size-free PGD of AutoAttack, Croce & Hein 2020).
//!
//! Every attack projects onto the ε-ball ∩ [0, 1] after every step and never touches the model:
//! pass `Mode::Eval` to evaluate (running BatchNorm statistics, no dropout). Training attacks
//! may use `Mode::Train` / `Mode::Probe` (Rice et al. attack with BatchNorm in train mode).
//! Random starts draw from the device RNG: seed the device first for reproducible attacks.

mod apgd;
mod apgd_t;
mod fab;
mod host_search;
mod hyperplane;
mod objective;
mod pgd;
mod robustness;
mod rounds;
mod square;
mod square_l2;

pub use apgd::apgd;
pub use apgd_t::{APGD_T_TARGETS, apgd_targeted};
pub use fab::{FAB_T_TARGETS, fab_minimal, fab_targeted, fab_untargeted, project_onto_hyperplane};
pub use objective::{Objective, dlr_loss, dlr_targeted_loss, margin};
pub use pgd::{pgd, pgd_from};
pub use robustness::{BatchRobustness, Schedule, batch_robustness, batch_robustness_with};
pub use square::{SQUARE_P_INIT, square, window_fraction, window_side};
pub use square_l2::{l2_window_side, pseudo_gaussian};

use crate::error::CoreError;
use crate::models::{Classifier, Mode};
use crate::perturbation::{PerturbationSet, latent_attack};
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};

/// The threat model's norm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Norm {
    Linf,
    L2,
}

impl Norm {
    pub fn name(self) -> &'static str {
        match self {
            Norm::Linf => "linf",
            Norm::L2 => "l2",
        }
    }
}

impl std::str::FromStr for Norm {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        match s {
            "linf" | "Linf" | "inf" => Ok(Norm::Linf),
            "l2" | "L2" => Ok(Norm::L2),
            other => Err(CoreError::Config(format!(
                "unknown norm `{other}`: expected linf or l2"
            ))),
        }
    }
}

/// Which attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttackKind {
    /// One signed (ℓ∞) or normalised (ℓ2) gradient step of size ε from the clean input.
    Fgsm,
    /// Projected gradient ascent on the cross-entropy.
    Pgd,
    /// APGD on the cross-entropy.
    ApgdCe,
    /// APGD on the difference-of-logits-ratio loss (needs at least 3 classes).
    ApgdDlr,
    /// APGD on the targeted DLR loss, once for each of the 9 highest wrong classes (needs at
    /// least 4 classes): AutoAttack's APGD-T.
    ApgdT,
    /// FAB-T: minimal-distortion boundary attack towards each of the 9 highest wrong classes;
    /// an example counts as broken when the closest point found lies within ε.
    FabT,
    /// Untargeted FAB (AutoAttack's "plus" suite): towards the closest linearised boundary of
    /// any class at each iterate, with random starts after the first restart.
    Fab,
    /// Square: gradient-free random search, `steps` queries per example (ℓ∞ and ℓ2).
    Square,
    /// PGD in the standardised latent space of a learned perturbation set (ℓ2 ball of radius
    /// ε in u; needs a CVAE: [`attack_with`]).
    Latent,
}

impl AttackKind {
    pub fn name(self) -> &'static str {
        match self {
            AttackKind::Fgsm => "fgsm",
            AttackKind::Pgd => "pgd",
            AttackKind::ApgdCe => "apgd-ce",
            AttackKind::ApgdDlr => "apgd-dlr",
            AttackKind::ApgdT => "apgd-t",
            AttackKind::FabT => "fab-t",
            AttackKind::Fab => "fab",
            AttackKind::Square => "square",
            AttackKind::Latent => "latent",
        }
    }
}

impl std::str::FromStr for AttackKind {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        match s {
            "fgsm" => Ok(AttackKind::Fgsm),
            "pgd" => Ok(AttackKind::Pgd),
            "apgd-ce" | "apgd" => Ok(AttackKind::ApgdCe),
            "apgd-dlr" => Ok(AttackKind::ApgdDlr),
            "apgd-t" => Ok(AttackKind::ApgdT),
            "fab-t" => Ok(AttackKind::FabT),
            "fab" => Ok(AttackKind::Fab),
            "square" => Ok(AttackKind::Square),
            "latent" => Ok(AttackKind::Latent),
            other => Err(CoreError::Config(format!(
                "unknown attack `{other}`: expected fgsm, pgd, apgd-ce, apgd-dlr, apgd-t, fab-t, fab, square or latent"
            ))),
        }
    }
}

/// Every knob of an attack (recorded in reports as is).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackConfig {
    pub kind: AttackKind,
    pub norm: Norm,
    /// Radius of the threat model, in [0, 1] pixel units.
    pub eps: f64,
    /// Gradient steps (FGSM: 1; APGD's default budget is 100, per target for APGD-T); Square:
    /// queries per example after the initial one (AutoAttack: 5 000).
    pub steps: usize,
    /// PGD / FGSM step size α; `None`: ε for FGSM, 2.5·ε/steps for PGD (Madry et al.'s rule,
    /// ε/4 at 10 steps as in Rice et al.). APGD adapts its own, starting at 2ε.
    pub step_size: Option<f64>,
    /// Independent runs; each example keeps its worst case (misclassified first, then the
    /// highest loss).
    pub restarts: usize,
    /// Start each run from a uniform point of the ℓ∞ ball (ℓ2: a Gaussian direction at a
    /// uniform radius), as in Madry / Rice. FGSM without it is the classic FGSM.
    pub random_start: bool,
    /// Stop moving an example once it is misclassified (evaluation only).
    pub early_stop: bool,
    /// APGD (CE, DLR, targeted): forward + backward passes averaged into each iterate's input
    /// gradient and objective, Expectation over Transformation against a randomised model
    /// (AutoAttack's `eot_iter`; its `rand` version uses 20). 1: one pass, the deterministic
    /// attack. The other attacks take one pass per step whatever this says.
    #[serde(default = "one_draw")]
    pub eot_draws: usize,
}

fn one_draw() -> usize {
    1
}

impl AttackConfig {
    /// PGD with the usual evaluation settings.
    pub fn pgd(norm: Norm, eps: f64, steps: usize, restarts: usize) -> Self {
        Self {
            kind: AttackKind::Pgd,
            norm,
            eps,
            steps,
            step_size: None,
            restarts,
            random_start: true,
            early_stop: false,
            eot_draws: 1,
        }
    }

    pub fn fgsm(norm: Norm, eps: f64) -> Self {
        Self {
            kind: AttackKind::Fgsm,
            steps: 1,
            random_start: false,
            ..Self::pgd(norm, eps, 1, 1)
        }
    }

    pub fn apgd(kind: AttackKind, norm: Norm, eps: f64, steps: usize, restarts: usize) -> Self {
        Self {
            kind,
            ..Self::pgd(norm, eps, steps, restarts)
        }
    }

    /// Square with `queries` queries per example and one restart (no random start: its search
    /// is random throughout).
    pub fn square(norm: Norm, eps: f64, queries: usize) -> Self {
        Self {
            kind: AttackKind::Square,
            random_start: false,
            ..Self::pgd(norm, eps, queries, 1)
        }
    }

    /// The latent attack of a learned perturbation set: ε and α in standardised latent units,
    /// a random start in the ball and the reference's early stop.
    pub fn latent(eps: f64, steps: usize, restarts: usize) -> Self {
        Self {
            kind: AttackKind::Latent,
            early_stop: true,
            ..Self::pgd(Norm::L2, eps, steps, restarts)
        }
    }

    /// α of a PGD / FGSM / latent step.
    pub fn alpha(&self) -> f64 {
        self.step_size.unwrap_or(match self.kind {
            AttackKind::Fgsm => self.eps,
            _ => 2.5 * self.eps / self.steps.max(1) as f64,
        })
    }

    pub fn validate(&self) -> Result<(), CoreError> {
        if !(self.eps >= 0.0 && self.eps.is_finite()) {
            return Err(CoreError::Config(format!(
                "attack eps must be >= 0, got {}",
                self.eps
            )));
        }
        if self.norm == Norm::Linf && self.eps > 1.0 {
            return Err(CoreError::Config(format!(
                "attack eps {} is larger than the pixel range [0, 1]: an l-inf ball that wide holds every image (write 8/255, not 8)",
                self.eps
            )));
        }
        if self.steps == 0 {
            return Err(CoreError::Config("attack steps must be at least 1".into()));
        }
        if self.restarts == 0 {
            return Err(CoreError::Config(
                "attack restarts must be at least 1".into(),
            ));
        }
        if self.eot_draws == 0 {
            return Err(CoreError::Config(
                "attack eot_draws must be at least 1".into(),
            ));
        }
        if let Some(a) = self.step_size {
            if !(a > 0.0 && a.is_finite()) {
                return Err(CoreError::Config(format!(
                    "attack step size must be positive, got {a}"
                )));
            }
        }
        if self.kind == AttackKind::Latent && self.norm != Norm::L2 {
            return Err(CoreError::config(
                "the latent attack works in the l2 ball of the CVAE's standardised latent space: use norm l2",
            ));
        }
        Ok(())
    }

    /// A short name for tables, e.g. `pgd-40x5 linf eps=0.3`.
    pub fn describe(&self) -> String {
        let budget = match self.kind {
            AttackKind::Fgsm if !self.random_start => String::new(),
            AttackKind::Fgsm => "-rs".into(),
            _ => format!("-{}", self.steps),
        };
        let restarts = if self.restarts > 1 {
            format!("x{}", self.restarts)
        } else {
            String::new()
        };
        let eot = if self.eot_draws > 1 {
            format!("-eot{}", self.eot_draws)
        } else {
            String::new()
        };
        format!(
            "{}{budget}{restarts}{eot} {} eps={}",
            self.kind.name(),
            self.norm.name(),
            self.eps
        )
    }
}

/// Runs the attack of `cfg` on `x` ([B, D] in [0, 1]) and returns the adversarial inputs
/// ([B, D], detached, inner device). `model` may be plain (`model.valid()`, only the input is
/// tracked) or the training model (needed for BatchNorm `Mode::Train`). The ℓp attacks only;
/// the latent attack needs its perturbation set: [`attack_with`].
pub fn attack(
    model: &Classifier,
    x: Tensor<2>,
    objective: &Objective,
    cfg: &AttackConfig,
    mode: Mode,
) -> Tensor<2> {
    attack_with(model, x, objective, cfg, mode, None)
}

/// [`attack`] for every kind: `cvae` is the learned perturbation set of `AttackKind::Latent`
/// (a plain module; panics when it is missing, which callers check up front).
pub fn attack_with(
    model: &Classifier,
    x: Tensor<2>,
    objective: &Objective,
    cfg: &AttackConfig,
    mode: Mode,
    cvae: Option<&PerturbationSet>,
) -> Tensor<2> {
    match cfg.kind {
        AttackKind::Fgsm | AttackKind::Pgd => pgd(model, x, objective, cfg, mode),
        AttackKind::ApgdCe => apgd(model, x, objective, cfg, mode),
        AttackKind::ApgdDlr => {
            let dlr = objective.as_dlr().expect("APGD-DLR needs labels");
            apgd(model, x, &dlr, cfg, mode)
        }
        AttackKind::ApgdT => {
            let y = objective.labels().expect("APGD-T needs labels").clone();
            apgd_targeted(model, x, y, cfg, mode)
        }
        AttackKind::FabT => {
            let y = objective.labels().expect("FAB-T needs labels").clone();
            fab_targeted(model, x, y, cfg, mode)
        }
        AttackKind::Fab => {
            let y = objective.labels().expect("FAB needs labels").clone();
            fab_untargeted(model, x, y, cfg, mode)
        }
        AttackKind::Square => {
            let y = objective.labels().expect("Square needs labels").clone();
            square(model, x, y, cfg, mode)
        }
        AttackKind::Latent => {
            let cvae = cvae.expect("the latent attack needs a CVAE (a learned perturbation set)");
            latent_attack(model, cvae, x, objective, cfg, mode).x_adv
        }
    }
}

/// Gradient of Σ_i objective_i with respect to the input at `x`, with the per-example
/// objective [B] and the logits [B, K] of that forward pass (all detached, inner device).
pub fn input_gradient(
    model: &Classifier,
    x: Tensor<2>,
    objective: &Objective,
    mode: Mode,
) -> (Tensor<2>, Tensor<1>, Tensor<2>) {
    let xt = x.inner().autodiff().require_grad();
    let logits = model.forward(xt.clone(), mode); // [B, K]
    let values = objective.per_example(logits.clone()); // [B]
    let grads = values.clone().sum().backward();
    let g = xt
        .grad(&grads)
        .expect("the input takes part in the forward pass");
    (g.inner(), values.detach().inner(), logits.detach().inner())
}

/// [`input_gradient`] averaged over `draws` forward + backward passes at the same `x`:
/// Expectation over Transformation (Athalye et al. 2018) against a randomised model, whose
/// every forward draws its own randomness (input noise: [`Classifier::set_input_noise`]).
/// Returns ḡ = (1/n)·Σ_j ∇ₓ Σ_i f_i(x; ω_j) [B, D], the mean objective f̄_i = (1/n)·Σ_j
/// f_i(x; ω_j) [B] and the logits [B, K] of the last draw (AutoAttack's APGD takes the
/// prediction from its last draw too; for the objective it keeps the last draw's value, the
/// mean here is the less noisy estimate of the same expectation). Draws are made in order
/// j = 1..n from the host generator. `draws` = 1 is exactly [`input_gradient`].
pub fn eot_input_gradient(
    model: &Classifier,
    x: Tensor<2>,
    objective: &Objective,
    mode: Mode,
    draws: usize,
) -> (Tensor<2>, Tensor<1>, Tensor<2>) {
    let (mut g, mut values, mut logits) = input_gradient(model, x.clone(), objective, mode);
    if draws <= 1 {
        return (g, values, logits);
    }
    for _ in 1..draws {
        let (gj, vj, lj) = input_gradient(model, x.clone(), objective, mode);
        g = g + gj;
        values = values + vj;
        logits = lj;
    }
    let n = draws as f64;
    (g.div_scalar(n), values.div_scalar(n), logits)
}

/// ℓ2 norm of each row, [B, D] -> [B, 1].
pub(crate) fn row_norms(t: Tensor<2>) -> Tensor<2> {
    t.powi_scalar(2).sum_dim(1).sqrt()
}

/// The ascent direction of a step: sign(g) for ℓ∞, g/‖g‖₂ per example for ℓ2.
pub(crate) fn steepest(g: Tensor<2>, norm: Norm) -> Tensor<2> {
    match norm {
        Norm::Linf => g.sign(),
        Norm::L2 => g.clone() / (row_norms(g) + 1e-12),
    }
}

/// Projects `x_adv` onto {x + δ : ‖δ‖ ≤ ε} ∩ [0, 1]^D (per example). For ℓ2 the radius is
/// cut first and the box clamp after it, which only moves coordinates towards `x`, so both
/// constraints hold on return.
pub fn project(x: &Tensor<2>, x_adv: Tensor<2>, norm: Norm, eps: f64) -> Tensor<2> {
    let delta = x_adv - x.clone();
    let delta = match norm {
        Norm::Linf => delta.clamp(-eps, eps),
        Norm::L2 => {
            let n = row_norms(delta.clone()); // [B, 1]
            let scale = ((n + 1e-12).recip() * eps).clamp_max(1.0); // min(1, ε/‖δ‖)
            delta * scale
        }
    };
    (x.clone() + delta).clamp(0.0, 1.0)
}

/// A random point of the ε-ball around `x` (then projected onto the box): uniform in the ℓ∞
/// cube; for ℓ2 a Gaussian direction at radius r·ε with r ~ U(0, 1) (Rice et al.).
pub fn random_start(x: &Tensor<2>, norm: Norm, eps: f64) -> Tensor<2> {
    let device = x.device();
    let [b, d] = x.dims();
    let delta = match norm {
        Norm::Linf => crate::host_rng::float([b, d], Distribution::Uniform(-eps, eps), &device),
        Norm::L2 => {
            let g = crate::host_rng::float([b, d], Distribution::Normal(0.0, 1.0), &device);
            let r = crate::host_rng::float([b, 1], Distribution::Uniform(0.0, 1.0), &device);
            g.clone() / (row_norms(g) + 1e-12) * r * eps
        }
    };
    project(x, x.clone() + delta, norm, eps)
}

/// Merges a new run into the per-example worst case so far: an example takes the new point
/// when it is misclassified there and was not before, or when both agree on misclassification
/// and the new objective is at least as high. Returns (points, fooled, objective).
pub(crate) fn keep_worst(
    best: (Tensor<2>, Tensor<1, Bool>, Tensor<1>),
    new: (Tensor<2>, Tensor<1, Bool>, Tensor<1>),
) -> (Tensor<2>, Tensor<1, Bool>, Tensor<1>) {
    let (bx, bf, bl) = best;
    let (nx, nf, nl) = new;
    let newly_fooled = nf.clone().int().greater(bf.clone().int()); // [B]
    let same = nf.clone().equal(bf.clone());
    let higher = nl.clone().greater_equal(bl.clone());
    let take = newly_fooled.bool_or(same.bool_and(higher)); // [B]
    let take2 = take.clone().unsqueeze_dim::<2>(1).expand(bx.dims());
    (
        bx.mask_where(take2, nx),
        bf.bool_or(nf),
        bl.mask_where(take, nl),
    )
}

/// Per-example objective and misclassification at `x` (no gradient).
pub(crate) fn score(
    model: &Classifier,
    x: Tensor<2>,
    objective: &Objective,
    mode: Mode,
) -> (Tensor<1, Bool>, Tensor<1>) {
    let logits = model.forward(x, mode).detach().inner();
    let values = objective.per_example(logits.clone()).inner();
    (objective.fooled(&logits), values)
}

#[cfg(test)]
mod tests;

/// Per-example flags as a [B, D] mask (each row all true or all false).
pub(crate) fn row_mask(flags: &[bool], d: usize, device: &Device) -> Tensor<2, Bool> {
    let ints: Vec<i32> = flags.iter().map(|&f| f as i32).collect();
    Tensor::<1, Int>::from_data(TensorData::new(ints, [flags.len()]), device)
        .bool()
        .unsqueeze_dim::<2>(1)
        .expand([flags.len(), d])
}

/// Whether each row of `logits` [B, K] predicts its label [B].
pub(crate) fn correct_flags(logits: Tensor<2>, labels: &Tensor<1, Int>) -> Vec<bool> {
    logits
        .argmax(1)
        .squeeze_dim::<1>(1)
        .equal(labels.clone())
        .into_data()
        .try_to_vec()
        .expect("bool data")
}

/// Indices of the true flags, as the i32 row indices `select` takes.
pub(crate) fn rows_where(flags: &[bool]) -> Vec<i32> {
    (0..flags.len() as i32)
        .filter(|&i| flags[i as usize])
        .collect()
}

/// `full` [B, D] with row `rows[j]` replaced by row j of `values` [n, D] wherever `take[j]`
/// (rows distinct; the others keep their values).
pub(crate) fn put_rows(
    full: Tensor<2>,
    rows: &[i32],
    values: Tensor<2>,
    take: &[bool],
) -> Tensor<2> {
    if !take.iter().any(|&t| t) {
        return full;
    }
    let device = full.device();
    let [b, d] = full.dims();
    let idx = Tensor::<1, Int>::from_data(TensorData::new(rows.to_vec(), [rows.len()]), &device);
    // Scatter the values and the take-flags into [B, D] / [B] (rows are distinct, so adding
    // into zeros places them).
    let placed = Tensor::<2>::zeros([b, d], &device).select_assign(
        0,
        idx.clone(),
        values,
        burn::tensor::IndexingUpdateOp::Add,
    );
    let flags: Vec<f32> = take.iter().map(|&t| t as i32 as f32).collect();
    let chosen = Tensor::<1>::zeros([b], &device)
        .select_assign(
            0,
            idx,
            Tensor::from_data(TensorData::new(flags, [take.len()]), &device),
            burn::tensor::IndexingUpdateOp::Add,
        )
        .greater_elem(0.5)
        .unsqueeze_dim::<2>(1)
        .expand([b, d]);
    full.mask_where(chosen, placed)
}

#[cfg(test)]
mod autoattack_tests;

#[cfg(test)]
mod eot_tests;
