//! The meta-learned module of a method — Meta-Weight-Net's or the teacher's weighting
//! network, meta-loss's hyperparameters — with its Adam optimiser, checkpointed as
//! `meta.bpk` and `meta_optimizer.bpk`.

use super::StateFile;
use crate::error::CoreError;
use crate::record::{load_module, load_optimizer, module_bytes, optimizer_bytes};
use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, ModuleOptimizer};

/// Checkpoint files of the module and of its optimiser.
pub const MODULE_FILE: &str = "meta.bpk";
pub const OPTIMIZER_FILE: &str = "meta_optimizer.bpk";

pub struct MetaModule<M: Module> {
    /// Present between steps; a step takes it and puts the updated one back.
    module: Option<M>,
    pub optim: ModuleOptimizer,
}

impl<M: Module> MetaModule<M> {
    /// `module` with Adam (an L2 penalty of `weight_decay` when positive).
    pub fn new(module: M, weight_decay: f64) -> Self {
        let decay = (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32));
        Self {
            module: Some(module),
            optim: AdamConfig::new().with_weight_decay(decay).init(),
        }
    }

    pub fn get(&self) -> &M {
        self.module
            .as_ref()
            .expect("the meta-learned module is present between steps")
    }

    /// Takes the module for a step (put the updated one back with [`Self::put`]).
    pub fn take(&mut self) -> M {
        self.module
            .take()
            .expect("the meta-learned module is present between steps")
    }

    pub fn put(&mut self, module: M) {
        self.module = Some(module);
    }

    pub fn save(&self) -> Result<Vec<StateFile>, CoreError> {
        Ok(vec![
            StateFile {
                name: MODULE_FILE,
                bytes: module_bytes(self.get())?,
            },
            StateFile {
                name: OPTIMIZER_FILE,
                bytes: optimizer_bytes(&self.optim)?,
            },
        ])
    }

    pub fn restore(
        &mut self,
        file: &dyn Fn(&'static str) -> Option<Vec<u8>>,
    ) -> Result<(), CoreError> {
        let module = self.take();
        self.module = Some(load_module(module, MODULE_FILE, file)?);
        let optim = std::mem::replace(&mut self.optim, AdamConfig::new().init());
        self.optim = load_optimizer(optim, OPTIMIZER_FILE, file)?;
        Ok(())
    }
}
