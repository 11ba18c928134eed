//! `meta-loss`: meta-learned robust-loss hyperparameters (Shu et al., arXiv 2002.06482). The
//! loss's λ (GCE q, SCE α/β, NCE+RCE α/β) follows the hypergradient of the clean validation
//! loss after one virtual step ([`crate::meta_loss`]), every `meta.meta_every` steps; the
//! real step uses the current λ, read on the device (no host read, so the page's WebGPU
//! backend runs the same step).

use super::meta_module::MetaModule;
use super::{
    Family, MethodConfig, MethodDef, MethodInfo, MethodSetup, MethodStep, NoOptions, StateFile,
    StepContext, StepOutput, Trains, Uses,
};
use crate::batch::Batch;
use crate::error::CoreError;
use crate::loss::LossConfig;
use crate::meta_loss::{LossHyper, meta_loss_update};
use crate::models::{Classifier, Mode};
use crate::step::step_on_losses;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;

pub struct MetaLoss {
    loss: LossConfig,
    /// λ and its Adam optimiser.
    hyper: MetaModule<LossHyper>,
    meta_lr: f64,
    meta_every: usize,
}

impl MethodDef for MetaLoss {
    const INFO: MethodInfo = MethodInfo {
        name: "meta-loss",
        label: "Meta-learned robust loss",
        family: Family::NoisyLabels,
        summary: "Meta-learned robust-loss hyperparameters (Shu et al. 2020): the q of GCE \
                  (or α, β of SCE / NCE+RCE) follows the clean validation hypergradient.",
        trains: Trains::Classifier,
        uses: Uses {
            validation: true,
            loss_hyper: true,
            ..Uses::NOTHING
        },
    };
    type Options = NoOptions;

    fn new(cfg: &MethodConfig, setup: &MethodSetup) -> Result<Self, CoreError> {
        Ok(Self {
            loss: cfg.loss,
            hyper: MetaModule::new(LossHyper::new(&cfg.loss, setup.device), 0.0),
            meta_lr: cfg.meta.meta_lr,
            meta_every: cfg.meta.meta_every,
        })
    }
}

impl MethodStep for MetaLoss {
    /// Meta update of λ (every `meta_every` steps), then one step on mean ℓ(θ; λ) with λ
    /// held constant: [B, D] -> losses [B].
    fn step(
        &mut self,
        model: Classifier,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<StepOutput, CoreError> {
        let mut hyper = self.hyper.take();
        // The step's logits at θ [B, K]: the meta update's dual forward when there is one.
        let logits = if ctx.step % self.meta_every == 0 {
            let val = ctx.validation_batch(Self::INFO.name)?;
            let (updated, logits) = meta_loss_update(
                &model,
                hyper,
                &mut self.hyper.optim,
                batch,
                &val,
                &self.loss,
                ctx.lr,
                self.meta_lr,
            );
            hyper = updated;
            logits
        } else {
            model.forward(batch.x.clone(), Mode::Train)
        };
        let losses = hyper.per_example(&self.loss, logits, batch.y.clone()); // [B]
        let model = step_on_losses(model, optim, losses.clone(), None, ctx.lr);
        self.hyper.put(hyper);
        Ok(StepOutput::plain(model, losses.detach().inner()))
    }

    fn save(&self) -> Result<Vec<StateFile>, CoreError> {
        self.hyper.save()
    }

    fn restore(&mut self, file: &dyn Fn(&'static str) -> Option<Vec<u8>>) -> Result<(), CoreError> {
        self.hyper.restore(file)
    }

    fn loss_hyper(&self) -> Option<Tensor<1>> {
        Some(self.hyper.get().values.val().inner())
    }
}
