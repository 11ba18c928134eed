//! The learned-perturbation-set family (Wong & Kolter, ICLR 2021): `cvae` trains the set's
//! conditional VAE ([`cvae_step`]); `latent-at` trains a classifier against its latent attack;
//! `cvae-aug` (random draws from the set) and `transform-aug` (the real perturbations) are the
//! baselines.

use super::{
    Family, MethodConfig, MethodDef, MethodInfo, MethodSetup, MethodStep, NoOptions, StepContext,
    StepOutput, Trains, Uses,
};
use crate::adversarial::{AttackBatchNorm, Regularizers, latent_at_step};
use crate::batch::Batch;
use crate::error::CoreError;
use crate::loss::LossConfig;
use crate::models::Classifier;
use crate::perturbation::{Cvae, Likelihood, PerturbationConfig, PerturbationSet, elbo_terms};
use crate::step::erm_step;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;

const IMAGE_USES: Uses = Uses {
    images: true,
    ..Uses::NOTHING
};

/// One CVAE step's result; its losses stay on the device (the host reads them between
/// steps).
pub struct CvaeStep {
    pub cvae: Cvae,
    /// [1] batch means of the reconstruction term and of KL(q(z|x, x̃) ‖ p(z|x)).
    pub reconstruction: Tensor<1>,
    pub kl: Tensor<1>,
}

/// One optimiser step of the CVAE on pairs (x, x̃) ([B, D] each, autodiff device): the
/// negative ELBO reconstruction + β·KL(q(z|x, x̃) ‖ p(z|x)). Reads nothing on the host: a
/// non-finite loss is the caller's to notice in the returned means (the trainer stops the
/// run before its next checkpoint).
pub fn cvae_step(
    cvae: Cvae,
    optim: &mut ModuleOptimizer,
    x: Tensor<2>,
    x_tilde: Tensor<2>,
    likelihood: Likelihood,
    beta: f64,
    lr: f64,
) -> CvaeStep {
    let terms = elbo_terms(&cvae, x, x_tilde, likelihood);
    let reconstruction = terms.reconstruction.clone().detach().inner().mean();
    let kl = terms.kl.clone().detach().inner().mean();
    let grads = GradientsParams::from_grads(terms.loss(beta).backward(), &cvae);
    CvaeStep {
        cvae: optim.step(lr, cvae, grads),
        reconstruction,
        kl,
    }
}

/// `cvae`: its runs train a perturbation set with [`cvae_step`], not a classifier.
pub struct CvaeTraining;

impl MethodDef for CvaeTraining {
    const INFO: MethodInfo = MethodInfo {
        name: "cvae",
        label: "Learned perturbation set (CVAE)",
        family: Family::PerturbationSet,
        summary: "Trains the conditional VAE of a learned perturbation set (Wong & Kolter \
                  2021) on pairs (x, x̃) of [perturbation]; no classifier.",
        trains: Trains::PerturbationSet,
        uses: IMAGE_USES,
    };
    type Options = NoOptions;

    fn new(_cfg: &MethodConfig, _setup: &MethodSetup) -> Result<Self, CoreError> {
        Err(CoreError::config(
            "method cvae trains a perturbation set, not a classifier",
        ))
    }
}

impl MethodStep for CvaeTraining {
    fn step(
        &mut self,
        _model: Classifier,
        _optim: &mut ModuleOptimizer,
        _batch: &Batch,
        _ctx: &StepContext,
    ) -> Result<StepOutput, CoreError> {
        Err(CoreError::config(
            "method cvae trains a perturbation set, not a classifier",
        ))
    }
}

/// The trained set a method was given (checked by [`super::MethodState::new`]).
fn perturbation_set(setup: &MethodSetup, name: &'static str) -> Result<PerturbationSet, CoreError> {
    setup.perturbation_set.cloned().ok_or(CoreError::Missing {
        method: name,
        what: "a trained perturbation set (perturbation.cvae)",
    })
}

/// `latent-at`: per-example max(CE clean, CE at the latent attack's point).
pub struct LatentAt {
    set: PerturbationSet,
    perturbation: PerturbationConfig,
    attack_bn: AttackBatchNorm,
    l1: f64,
}

impl MethodDef for LatentAt {
    const INFO: MethodInfo = MethodInfo {
        name: "latent-at",
        label: "Latent adversarial training",
        family: Family::PerturbationSet,
        summary: "Adversarial training against the latent attack of a trained perturbation \
                  set (perturbation.cvae): per-example loss max(CE clean, CE adversarial).",
        trains: Trains::Classifier,
        uses: Uses {
            perturbation_set: true,
            ..IMAGE_USES
        },
    };
    type Options = NoOptions;

    fn new(cfg: &MethodConfig, setup: &MethodSetup) -> Result<Self, CoreError> {
        Ok(Self {
            set: perturbation_set(setup, Self::INFO.name)?,
            perturbation: cfg.perturbation.clone(),
            attack_bn: cfg.adversarial.attack_bn,
            l1: cfg.adversarial.l1,
        })
    }
}

impl MethodStep for LatentAt {
    fn step(
        &mut self,
        model: Classifier,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<StepOutput, CoreError> {
        let out = latent_at_step(
            model,
            optim,
            batch,
            &self.set,
            &self.perturbation.training_attack(),
            self.attack_bn,
            &Regularizers { l1: self.l1 },
            ctx.lr,
        );
        Ok(out.into())
    }
}

/// `cvae-aug`: ERM on random draws g(μ_p + σ_p ⊙ N(0, I), x) from the set's prior.
pub struct CvaeAug {
    set: PerturbationSet,
    loss: LossConfig,
}

impl MethodDef for CvaeAug {
    const INFO: MethodInfo = MethodInfo {
        name: "cvae-aug",
        label: "CVAE augmentation",
        family: Family::PerturbationSet,
        summary: "Baseline: training on random draws from the trained perturbation set's \
                  prior, g(μ_p + σ_p ⊙ N(0, I), x).",
        trains: Trains::Classifier,
        uses: Uses {
            perturbation_set: true,
            ..IMAGE_USES
        },
    };
    type Options = NoOptions;

    fn new(cfg: &MethodConfig, setup: &MethodSetup) -> Result<Self, CoreError> {
        Ok(Self {
            set: perturbation_set(setup, Self::INFO.name)?,
            loss: cfg.loss,
        })
    }
}

impl MethodStep for CvaeAug {
    fn step(
        &mut self,
        model: Classifier,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<StepOutput, CoreError> {
        // The draws have their own stream; the step itself continues from the step's seed.
        crate::host_rng::seed(ctx.seed ^ 0xCAE);
        let moved = Batch {
            x: self.set.sample(batch.x.clone().inner()).autodiff(),
            y: batch.y.clone(),
        };
        crate::host_rng::seed(ctx.seed);
        let (model, losses) = erm_step(model, optim, &moved, &self.loss, ctx.lr);
        Ok(StepOutput::plain(model, losses))
    }
}

/// `transform-aug`: ERM on the real perturbations of `[perturbation]`, drawn on the host.
pub struct TransformAug {
    perturbation: PerturbationConfig,
    loss: LossConfig,
    shape: [usize; 3],
}

impl MethodDef for TransformAug {
    const INFO: MethodInfo = MethodInfo {
        name: "transform-aug",
        label: "Transform augmentation",
        family: Family::PerturbationSet,
        summary: "Baseline: data augmentation with the real perturbations of [perturbation] \
                  (random rotations, scalings and translations, or common corruptions).",
        trains: Trains::Classifier,
        uses: IMAGE_USES,
    };
    type Options = NoOptions;

    fn new(cfg: &MethodConfig, setup: &MethodSetup) -> Result<Self, CoreError> {
        let shape = setup.input.shape.as_slice().try_into().map_err(|_| {
            CoreError::config(format!(
                "transform-aug needs [C, H, W] images, got inputs of shape {:?}",
                setup.input.shape
            ))
        })?;
        Ok(Self {
            perturbation: cfg.perturbation.clone(),
            loss: cfg.loss,
            shape,
        })
    }
}

impl MethodStep for TransformAug {
    fn step(
        &mut self,
        model: Classifier,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<StepOutput, CoreError> {
        let [n, d] = batch.x.dims();
        let host: Vec<f32> = batch
            .x
            .clone()
            .into_data()
            .convert::<f32>()
            .try_to_vec()
            .expect("f32 data");
        let moved = self
            .perturbation
            .perturb_host(&host, self.shape, ctx.seed ^ 0x7EA1)?;
        let moved = Batch {
            x: Tensor::from_data(TensorData::new(moved, [n, d]), &batch.x.device()),
            y: batch.y.clone(),
        };
        let (model, losses) = erm_step(model, optim, &moved, &self.loss, ctx.lr);
        Ok(StepOutput::plain(model, losses))
    }
}
