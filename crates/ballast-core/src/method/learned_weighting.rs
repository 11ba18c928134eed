//! Learned example weighting: Meta-Weight-Net (`mwn`, Shu et al. 2019) maps each example's
//! loss to a weight; the deep-interaction teacher (`teacher`, Fan et al. 2021) reads the
//! student's internal states. Both keep a weighting network and its Adam optimiser, trained
//! by the validation meta-gradient ([`crate::weight_net`]).

use super::InputScale;
use super::meta_module::MetaModule;
use super::{
    Family, MethodConfig, MethodDef, MethodInfo, MethodSetup, MethodStep, NoOptions, StateFile,
    StepContext, StepOutput, Trains, Uses,
};
use crate::batch::Batch;
use crate::error::CoreError;
use crate::hypergrad::DirectionalConfig;
use crate::loss::LossConfig;
use crate::models::{Classifier, Mode, ModelOutput};
use crate::weight_net::{
    StateFeature, WeightNet, learned_weight_step, teacher_state, unit_spread_scale,
};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;

/// Which states a weighting network reads: Meta-Weight-Net's loss or the teacher's choice.
pub trait WeightingInputs: 'static {
    const INFO: MethodInfo;
    fn features(cfg: &MethodConfig) -> Vec<StateFeature>;
    fn check(_cfg: &MethodConfig) -> Result<(), CoreError> {
        Ok(())
    }
}

/// Meta-Weight-Net: the network reads each example's loss.
pub struct LossInput;

impl WeightingInputs for LossInput {
    const INFO: MethodInfo = MethodInfo {
        name: "mwn",
        label: "MW-Net",
        family: Family::Reweighting,
        summary: "Meta-Weight-Net (Shu et al. 2019): a one-hidden-layer network maps each \
                  loss to a weight and learns from the clean validation meta-gradient.",
        trains: Trains::Classifier,
        uses: Uses {
            validation: true,
            ..Uses::NOTHING
        },
    };

    fn features(_cfg: &MethodConfig) -> Vec<StateFeature> {
        vec![StateFeature::Loss]
    }
}

/// The deep-interaction teacher: the network reads `meta.teacher_states`.
pub struct StudentStates;

impl WeightingInputs for StudentStates {
    const INFO: MethodInfo = MethodInfo {
        name: "teacher",
        label: "Teacher (deep interactions)",
        family: Family::Reweighting,
        summary: "Learning to reweight with deep interactions (Fan et al. 2021): a teacher \
                  network reads the student's internal states (meta.teacher_states) and \
                  outputs each example's weight.",
        trains: Trains::Classifier,
        uses: Uses {
            validation: true,
            ..Uses::NOTHING
        },
    };

    fn features(cfg: &MethodConfig) -> Vec<StateFeature> {
        cfg.meta.teacher_states.clone()
    }

    fn check(cfg: &MethodConfig) -> Result<(), CoreError> {
        if cfg.meta.teacher_states.is_empty() {
            return Err(CoreError::config(
                "meta.teacher_states must name at least one state feature",
            ));
        }
        Ok(())
    }
}

pub type Mwn = LearnedWeighting<LossInput>;
pub type Teacher = LearnedWeighting<StudentStates>;

/// A weighting network over the `I` states of each example, and its optimiser.
pub struct LearnedWeighting<I: WeightingInputs> {
    features: Vec<StateFeature>,
    net: MetaModule<WeightNet>,
    loss: LossConfig,
    hypergrad: DirectionalConfig,
    meta_lr: f64,
    real_step: crate::weight_net::RealStepWeights,
    /// The network has a learned input scale, set from the states of the first step's batch
    /// (a run resumed later restores the learned one).
    learned_scale: bool,
    inputs: std::marker::PhantomData<I>,
}

impl<I: WeightingInputs> MethodDef for LearnedWeighting<I> {
    const INFO: MethodInfo = I::INFO;
    type Options = NoOptions;

    fn check(cfg: &MethodConfig) -> Result<(), CoreError> {
        I::check(cfg)
    }

    fn new(cfg: &MethodConfig, setup: &MethodSetup) -> Result<Self, CoreError> {
        let features = I::features(cfg);
        // The network's input width: the state of a probe example.
        let probe_x = setup.probe.x.clone().inner();
        let probe_y = setup.probe.y.clone().inner();
        let out = setup.model.valid().forward_output(probe_x, Mode::Probe);
        let losses = cfg.loss.per_example(out.logits.clone(), probe_y.clone());
        let state_dim = teacher_state(&out, &losses, &probe_y, 0.0, &features).dims()[1];
        crate::host_rng::seed_init(crate::StepSeeds::CLASSIFIER.at(setup.seed, 0), setup.device);
        let learned_scale = cfg.meta.input_scale == InputScale::Learned;
        let net = crate::host_rng::init_on_host(setup.device, |d| {
            let net = WeightNet::new(state_dim, cfg.meta.hidden, d);
            if learned_scale {
                net.with_input_scale(state_dim, d)
            } else {
                net
            }
        });
        Ok(Self {
            features,
            net: MetaModule::new(net, cfg.meta.meta_weight_decay),
            loss: cfg.loss,
            hypergrad: cfg.hypergrad,
            meta_lr: cfg.meta.meta_lr,
            real_step: cfg.meta.real_step_weights,
            learned_scale,
            inputs: std::marker::PhantomData,
        })
    }
}

impl<I: WeightingInputs> MethodStep for LearnedWeighting<I> {
    fn step(
        &mut self,
        model: Classifier,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<StepOutput, CoreError> {
        let val = ctx.validation_batch(I::INFO.name)?;
        let labels = batch.y.clone().inner();
        let progress = ctx.progress();
        let features = &self.features;
        let states = |out: &ModelOutput, losses: &Tensor<1>| {
            teacher_state(out, losses, &labels, progress, features)
        };
        let mut net = self.net.take();
        if self.learned_scale && ctx.step == 0 {
            // Every input starts at unit spread over the first batch, at θ.
            let x = batch.x.clone().inner();
            let out = model.valid().forward_output(x, Mode::Probe);
            let losses = self.loss.per_example(out.logits.clone(), labels.clone());
            net = net.set_input_scale(unit_spread_scale(states(&out, &losses)));
        }
        let out = learned_weight_step(
            model,
            optim,
            net,
            &mut self.net.optim,
            batch,
            &val,
            &self.loss,
            states,
            ctx.lr,
            self.meta_lr,
            self.hypergrad,
            self.real_step,
        );
        self.net.put(out.net);
        Ok(StepOutput {
            model: out.model,
            losses: out.losses,
            weights: Some(out.weights),
            robust_correct: None,
        })
    }

    fn save(&self) -> Result<Vec<StateFile>, CoreError> {
        self.net.save()
    }

    fn restore(&mut self, file: &dyn Fn(&'static str) -> Option<Vec<u8>>) -> Result<(), CoreError> {
        self.net.restore(file)
    }
}
