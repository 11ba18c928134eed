//! Per-example weights computed afresh every step: Learning to Reweight (`l2rw`, Ren et al.
//! 2018) and the baselines of its paper (`random`, `class-ratio`). The weights sum to 1 and
//! multiply the per-example losses of the real step; the maths is in [`crate::reweight`].

use super::{
    Family, MethodConfig, MethodDef, MethodInfo, MethodSetup, MethodStep, NoOptions, StepContext,
    StepOutput, Trains, Uses,
};
use crate::batch::Batch;
use crate::error::CoreError;
use crate::hypergrad::DirectionalConfig;
use crate::loss::LossConfig;
use crate::models::Classifier;
use crate::reweight::{class_ratio_weights, l2rw_step, random_weights};
use crate::step::weighted_step;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;

/// Learning to Reweight: w_i ∝ max(0, −∂L_val/∂ε_i) after one virtual step.
pub struct L2rw {
    loss: LossConfig,
    hypergrad: DirectionalConfig,
}

impl MethodDef for L2rw {
    const INFO: MethodInfo = MethodInfo {
        name: "l2rw",
        label: "L2RW",
        family: Family::Reweighting,
        summary: "Learning to Reweight (Ren et al. 2018): each step weights the batch by the \
                  meta-gradient of the clean validation loss after one virtual step.",
        trains: Trains::Classifier,
        uses: Uses {
            validation: true,
            ..Uses::NOTHING
        },
    };
    type Options = NoOptions;

    fn new(cfg: &MethodConfig, _setup: &MethodSetup) -> Result<Self, CoreError> {
        Ok(Self {
            loss: cfg.loss,
            hypergrad: cfg.hypergrad,
        })
    }
}

impl MethodStep for L2rw {
    fn step(
        &mut self,
        model: Classifier,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<StepOutput, CoreError> {
        let val = ctx.validation_batch(Self::INFO.name)?;
        let (model, losses, weights) = l2rw_step(
            model,
            optim,
            batch,
            &val,
            &self.loss,
            self.hypergrad,
            ctx.lr,
        );
        Ok(StepOutput {
            model,
            losses,
            weights: Some(weights),
            robust_correct: None,
        })
    }
}

/// One optimiser step on Σ w_i ℓ_i with given weights.
fn weighted(
    model: Classifier,
    optim: &mut ModuleOptimizer,
    batch: &Batch,
    loss: &LossConfig,
    weights: Tensor<1>,
    lr: f64,
) -> StepOutput {
    let (model, losses) = weighted_step(model, optim, batch, loss, Some(weights.clone()), lr);
    StepOutput {
        model,
        losses,
        weights: Some(weights),
        robust_correct: None,
    }
}

/// Baseline: random weights max(N(0, 1), 0), normalised.
pub struct RandomWeights {
    loss: LossConfig,
}

impl MethodDef for RandomWeights {
    const INFO: MethodInfo = MethodInfo {
        name: "random",
        label: "Random weights",
        family: Family::Reweighting,
        summary: "Baseline of the L2RW paper: random weights max(N(0, 1), 0), normalised.",
        trains: Trains::Classifier,
        uses: Uses::NOTHING,
    };
    type Options = NoOptions;

    fn new(cfg: &MethodConfig, _setup: &MethodSetup) -> Result<Self, CoreError> {
        Ok(Self { loss: cfg.loss })
    }
}

impl MethodStep for RandomWeights {
    fn step(
        &mut self,
        model: Classifier,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<StepOutput, CoreError> {
        let w = random_weights(batch.len(), &batch.x.device());
        Ok(weighted(model, optim, batch, &self.loss, w, ctx.lr))
    }
}

/// Baseline: inverse class-frequency weights.
pub struct ClassRatio {
    loss: LossConfig,
    class_freq: Vec<f32>,
}

impl MethodDef for ClassRatio {
    const INFO: MethodInfo = MethodInfo {
        name: "class-ratio",
        label: "Class ratio",
        family: Family::Reweighting,
        summary: "Baseline for class imbalance: each example weighted by the inverse frequency \
                  of its class in the training set, normalised over the batch.",
        trains: Trains::Classifier,
        uses: Uses::NOTHING,
    };
    type Options = NoOptions;

    fn new(cfg: &MethodConfig, setup: &MethodSetup) -> Result<Self, CoreError> {
        Ok(Self {
            loss: cfg.loss,
            class_freq: setup.class_freq.to_vec(),
        })
    }
}

impl MethodStep for ClassRatio {
    fn step(
        &mut self,
        model: Classifier,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<StepOutput, CoreError> {
        let w = class_ratio_weights(batch.y.clone(), &self.class_freq);
        Ok(weighted(model, optim, batch, &self.loss, w, ctx.lr))
    }
}
