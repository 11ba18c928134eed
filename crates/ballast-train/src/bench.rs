//! `ballast bench`: time training steps of methods on a model and batch size with
//! synthetic inputs of the dataset's shape, on the chosen device. ERM is always timed in
//! the same run, so every method's cost is also reported as a ratio to one ERM step.

use crate::config::{AdversarialConfig, Method};
use crate::error::{Result, bail};
use ballast_core::attack::{AttackConfig, Objective, attack};
use ballast_core::hypergrad::DirectionalConfig;
use ballast_core::method::{
    MethodConfig, MethodSetup, MethodState, StepContext, TrainedRuns, Trains,
};
use ballast_core::models::Mode;
use ballast_core::perturbation::{CvaeConfig, Likelihood, PerturbationConfig};
use ballast_core::step::OptimizerConfig;
use ballast_core::{Backend, Batch, Classifier, CoreError, InputSpec, LossConfig, ModelConfig};
use burn::prelude::*;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct MethodTiming {
    pub method: String,
    pub ms_per_step: f64,
    pub steps_per_s: f64,
    pub examples_per_s: f64,
    /// Time of one step of this method / time of one ERM step, same run.
    pub ratio_to_erm: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub model: ModelConfig,
    pub input_shape: Vec<usize>,
    pub batch_size: usize,
    pub val_batch_size: usize,
    pub hypergrad: DirectionalConfig,
    pub device: String,
    pub warmup_steps: usize,
    pub steps: usize,
    pub seed: u64,
    pub results: Vec<MethodTiming>,
    /// The threat model of the adversarial methods and of the attack timing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adversarial: Option<AdversarialConfig>,
    /// PGD-10 in inference mode on the batch (when an adversarial method is timed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attack: Option<AttackTiming>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AttackTiming {
    pub attack: AttackConfig,
    pub name: String,
    pub ms_per_batch: f64,
    pub examples_per_s: f64,
    /// Time of one attack on the batch / time of one ERM step, same run.
    pub ratio_to_erm: f64,
}

/// The input shape of a benchmark's synthetic data, with the dataset's normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyntheticShape {
    /// 1×28×28, 10 classes.
    Mnist,
    /// 3×32×32, 10 classes.
    Cifar10,
}

impl SyntheticShape {
    pub fn input_spec(self) -> InputSpec {
        let (shape, mean, std) = match self {
            SyntheticShape::Mnist => (vec![1, 28, 28], vec![0.1307], vec![0.3081]),
            SyntheticShape::Cifar10 => (
                vec![3, 32, 32],
                vec![0.4914, 0.4822, 0.4465],
                vec![0.2470, 0.2435, 0.2616],
            ),
        };
        InputSpec {
            shape,
            num_classes: 10,
            mean,
            std,
        }
    }
}

pub struct BenchSpec<'a> {
    pub methods: &'a [Method],
    pub model: &'a ModelConfig,
    pub input: &'a InputSpec,
    pub batch_size: usize,
    pub val_batch_size: usize,
    pub warmup: usize,
    pub steps: usize,
    pub backend: Backend,
    pub seed: u64,
    pub adversarial: &'a AdversarialConfig,
}

/// Untrained classifiers stand in for the runs a method builds on: a step's cost does not
/// depend on their weights.
struct UntrainedRuns<'a> {
    model: &'a ModelConfig,
    input: &'a InputSpec,
    device: Device,
}

impl TrainedRuns for UntrainedRuns<'_> {
    fn classifier(&self, _dir: Option<&Path>) -> Result<Classifier, CoreError> {
        Ok(self.model.init(self.input, &self.device))
    }
}

/// The settings a benchmarked method reads: defaults, the threat model of the spec, GCE (q =
/// 0.7) for methods that learn loss hyperparameters, and the 7-step latent attack of
/// configs/latent-at-mnist-rts.toml.
fn bench_config(method: Method, adversarial: &AdversarialConfig) -> MethodConfig {
    MethodConfig {
        loss: if method.info().uses.loss_hyper {
            LossConfig::Gce { q: 0.7 }
        } else {
            LossConfig::Ce {}
        },
        adversarial: adversarial.clone(),
        perturbation: PerturbationConfig {
            eps: 2.0,
            steps: 7,
            ..Default::default()
        },
        ..Default::default()
    }
}

pub fn bench(spec: &BenchSpec) -> Result<BenchReport> {
    spec.model.validate(spec.input)?;
    let device = spec.backend.device()?.autodiff();
    device.seed(spec.seed);
    let batch = Batch::random(spec.batch_size, spec.input, &device);
    let val = Batch::random(spec.val_batch_size, spec.input, &device);
    let freq = vec![1.0 / spec.input.num_classes as f32; spec.input.num_classes];
    if let Some(m) = spec
        .methods
        .iter()
        .find(|m| m.info().trains != Trains::Classifier)
    {
        bail!(
            "bench times classifier training steps; method {m} trains a perturbation set (its run reports steps/s)"
        );
    }
    // latent-at / cvae-aug: an untrained perturbation set of the input's shape, shaped like
    // configs/cvae-mnist-rts.toml (affine generator, 8 latents, half width); the cost does
    // not depend on its weights.
    let cvae = match spec.input.shape.as_slice() {
        [c, h, w] if spec.methods.iter().any(|m| m.needs_perturbation_set()) => {
            let arch = CvaeConfig {
                shape: [*c, *h, *w],
                latent: 8,
                width: 0.5,
                likelihood: Likelihood::Bernoulli,
                generator: ballast_core::perturbation::GeneratorKind::Affine,
            };
            arch.validate()?;
            Some(arch.init_set(&device.clone().inner()))
        }
        _ if spec.methods.iter().any(|m| m.needs_perturbation_set()) => {
            bail!("methods with a perturbation set need image inputs")
        }
        _ => None,
    };
    let mut methods = vec![Method::Erm];
    methods.extend(spec.methods.iter().copied().filter(|m| *m != Method::Erm));
    let positions: Vec<usize> = (0..spec.batch_size).collect();
    let probe = Batch {
        x: batch.x.clone().slice(0..1),
        y: batch.y.clone().slice(0..1),
    };
    let runs = UntrainedRuns {
        model: spec.model,
        input: spec.input,
        device: device.clone().inner(),
    };
    let total = spec.warmup + spec.steps;
    let mut timings = Vec::new();
    for &method in &methods {
        let mut model = spec.model.init(spec.input, &device);
        let mut optim = OptimizerConfig::default().init();
        let cfg = bench_config(method, spec.adversarial);
        method.resolve(&cfg)?;
        let mut state = MethodState::new(
            method,
            &cfg,
            &MethodSetup {
                model: &model,
                probe: &probe,
                input: spec.input,
                train_len: spec.batch_size,
                class_freq: &freq,
                validation: Some(&val),
                perturbation_set: cvae.as_ref(),
                runs: &runs,
                device: &device,
            },
        )?;
        let validation = || val.clone();
        let mut step = 0;
        let mut run = |n: usize| -> Result<f64> {
            let t = Instant::now();
            for _ in 0..n {
                let out = state.step(
                    model.clone(),
                    &mut optim,
                    &batch,
                    &StepContext {
                        step,
                        total,
                        steps_per_epoch: total,
                        lr: 0.01,
                        seed: spec.seed.wrapping_add(step as u64),
                        positions: &positions,
                        validation: Some(&validation),
                    },
                )?;
                model = out.model;
                step += 1;
                // Reading the loss synchronises the device, as a training loop does.
                let _ = out.losses.mean().into_scalar::<f32>();
            }
            Ok(t.elapsed().as_secs_f64())
        };
        run(spec.warmup)?;
        let per = run(spec.steps)? / spec.steps.max(1) as f64;
        timings.push((method, per));
    }
    let erm = timings[0].1;
    let any_adversarial = spec.methods.iter().any(|m| m.is_adversarial());
    let attack_timing = any_adversarial.then(|| {
        let model = spec.model.init(spec.input, &device).valid();
        let cfg = AttackConfig::pgd(spec.adversarial.norm, spec.adversarial.eps, 10, 1);
        let x = batch.x.clone().inner();
        let objective = Objective::CrossEntropy(batch.y.clone().inner());
        let time = |n: usize| {
            let t = Instant::now();
            for _ in 0..n {
                let adv = attack(&model, x.clone(), &objective, &cfg, Mode::Eval);
                let _ = adv.sum().into_scalar::<f32>();
            }
            t.elapsed().as_secs_f64()
        };
        time(spec.warmup.min(2));
        let n = spec.steps.div_ceil(5).max(1);
        let per = time(n) / n as f64;
        AttackTiming {
            name: cfg.describe(),
            attack: cfg,
            ms_per_batch: per * 1e3,
            examples_per_s: spec.batch_size as f64 / per,
            ratio_to_erm: per / erm,
        }
    });
    Ok(BenchReport {
        model: spec.model.clone(),
        input_shape: spec.input.shape.clone(),
        batch_size: spec.batch_size,
        val_batch_size: spec.val_batch_size,
        hypergrad: DirectionalConfig::default(),
        device: spec.backend.to_string(),
        warmup_steps: spec.warmup,
        steps: spec.steps,
        seed: spec.seed,
        results: timings
            .into_iter()
            .filter(|(m, _)| spec.methods.contains(m))
            .map(|(m, per)| MethodTiming {
                method: m.name().to_string(),
                ms_per_step: per * 1e3,
                steps_per_s: 1.0 / per,
                examples_per_s: spec.batch_size as f64 / per,
                ratio_to_erm: per / erm,
            })
            .collect(),
        adversarial: any_adversarial.then(|| spec.adversarial.clone()),
        attack: attack_timing,
    })
}
