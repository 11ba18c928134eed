//! `meta-loss`: meta-learned robust-loss hyperparameters (Shu et al., arXiv 2002.06482). The
//! loss's λ (GCE q, SCE α/β, NCE+RCE α/β) follows the hypergradient of the clean validation
//! loss after one virtual step ([`crate::meta_loss`]), every `meta.meta_every` steps; the
//! real step uses the current λ, read on the device (no host read, so the page's WebGPU
//! backend runs the same step).

use super::learned_weighting::{NET_FILE, NET_OPTIMIZER_FILE};
use super::{
    Family, MethodConfig, MethodDef, MethodInfo, MethodSetup, MethodStep, NoOptions, StateFile,
    StepContext, StepOutput, Trains, Uses,
};
use crate::batch::Batch;
use crate::error::CoreError;
use crate::loss::LossConfig;
use crate::meta_loss::{LossHyper, meta_loss_update};
use crate::models::{Classifier, Mode};
use crate::record::{load_module, load_optimizer, module_bytes, optimizer_bytes};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

pub struct MetaLoss {
    loss: LossConfig,
    hyper: Option<LossHyper>,
    hyper_optim: ModuleOptimizer,
    meta_lr: f64,
    meta_every: usize,
}

impl MetaLoss {
    fn hyper(&self) -> &LossHyper {
        self.hyper
            .as_ref()
            .expect("the hyperparameters are present between steps")
    }
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
            hyper: Some(LossHyper::new(&cfg.loss, setup.device)),
            hyper_optim: AdamConfig::new().init(),
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
        let mut hyper = self.hyper.take().expect("the loss hyperparameters");
        if ctx.step % self.meta_every == 0 {
            let val = ctx.validation_batch(Self::INFO.name)?;
            hyper = meta_loss_update(
                &model,
                hyper,
                &mut self.hyper_optim,
                batch,
                &val,
                &self.loss,
                ctx.lr,
                self.meta_lr,
            );
        }
        let logits = model.forward(batch.x.clone(), Mode::Train); // [B, K]
        let losses = hyper.per_example(&self.loss, logits, batch.y.clone()); // [B]
        let grads = GradientsParams::from_grads(losses.clone().mean().backward(), &model);
        let model = optim.step(ctx.lr, model, grads);
        self.hyper = Some(hyper);
        Ok(StepOutput {
            model,
            losses: losses.detach().inner(),
            weights: None,
            robust_correct: None,
        })
    }

    fn save(&self) -> Result<Vec<StateFile>, CoreError> {
        Ok(vec![
            StateFile {
                name: NET_FILE,
                bytes: module_bytes(self.hyper())?,
            },
            StateFile {
                name: NET_OPTIMIZER_FILE,
                bytes: optimizer_bytes(&self.hyper_optim)?,
            },
        ])
    }

    fn restore(&mut self, file: &dyn Fn(&'static str) -> Option<Vec<u8>>) -> Result<(), CoreError> {
        let hyper = self.hyper.take().expect("the loss hyperparameters");
        self.hyper = Some(load_module(hyper, NET_FILE, file)?);
        let optim = std::mem::replace(&mut self.hyper_optim, AdamConfig::new().init());
        self.hyper_optim = load_optimizer(optim, NET_OPTIMIZER_FILE, file)?;
        Ok(())
    }

    fn loss_hyper(&self) -> Option<Tensor<1>> {
        Some(self.hyper().values.val().inner())
    }
}
