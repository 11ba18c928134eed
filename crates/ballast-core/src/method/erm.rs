//! `erm`: empirical risk minimisation with the configured loss.

use super::{
    Family, MethodConfig, MethodDef, MethodInfo, MethodSetup, MethodStep, NoOptions, StepContext,
    StepOutput, Trains, Uses,
};
use crate::batch::Batch;
use crate::error::CoreError;
use crate::loss::LossConfig;
use crate::models::Classifier;
use crate::step::erm_step;
use burn::optim::ModuleOptimizer;

pub struct Erm {
    loss: LossConfig,
}

impl MethodDef for Erm {
    const INFO: MethodInfo = MethodInfo {
        name: "erm",
        label: "ERM",
        family: Family::Standard,
        summary: "Empirical risk minimisation: one optimiser step on the mean loss of the batch.",
        trains: Trains::Classifier,
        uses: Uses::NOTHING,
    };
    type Options = NoOptions;

    fn new(cfg: &MethodConfig, _setup: &MethodSetup) -> Result<Self, CoreError> {
        Ok(Self { loss: cfg.loss })
    }
}

impl MethodStep for Erm {
    fn step(
        &mut self,
        model: Classifier,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<StepOutput, CoreError> {
        let (model, losses) = erm_step(model, optim, batch, &self.loss, ctx.lr);
        Ok(StepOutput::plain(model, losses))
    }
}
