//! `ballast bench`: time training steps of methods on a model and batch size with
//! synthetic inputs of the dataset's shape, on the chosen device. ERM is always timed in
//! the same run, so every method's cost is also reported as a ratio to one ERM step.

use crate::config::{AdversarialConfig, Method};
use crate::error::{Result, bail};
use ballast_core::attack::{AttackConfig, Objective, attack};
use ballast_core::hypergrad::DirectionalConfig;
use ballast_core::method::{
    MethodConfig, MethodSetup, MethodState, StepContext, StepOutput, TrainedRuns, Trains,
};
use ballast_core::models::Mode;
use ballast_core::perturbation::{CvaeConfig, Likelihood, PerturbationConfig};
use ballast_core::step::OptimizerConfig;
use ballast_core::{
    Backend, Batch, Classifier, CoreError, InputSpec, LossConfig, ModelConfig, host_rng,
};
use burn::optim::ModuleOptimizer;
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
    /// Device memory the allocator held after this method's steps (its pools were emptied
    /// before the method started): the method's peak footprint plus pool slack. Reported on
    /// GPU backends; Burn's CPU backend exposes no allocator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_memory_bytes: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub model: ModelConfig,
    pub input_shape: Vec<usize>,
    pub batch_size: usize,
    pub val_batch_size: usize,
    pub hypergrad: DirectionalConfig,
    pub device: String,
    /// The adapter the backend opened (GPU backends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
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

/// What every method of a spec steps on, built once on the spec's device: a synthetic batch
/// and validation batch drawn on the host, the probe example and, for methods that need one,
/// an untrained perturbation set.
struct Workload<'a> {
    device: Device,
    batch: Batch,
    val: Batch,
    probe: Batch,
    freq: Vec<f32>,
    cvae: Option<ballast_core::perturbation::PerturbationSet>,
    positions: Vec<usize>,
    runs: UntrainedRuns<'a>,
}

impl<'a> Workload<'a> {
    fn new(spec: &BenchSpec<'a>) -> Result<Self> {
        spec.model.validate(spec.input)?;
        if let Some(m) = spec
            .methods
            .iter()
            .find(|m| m.info().trains != Trains::Classifier)
        {
            bail!(
                "bench times classifier training steps; method {m} trains a perturbation set (its run reports steps/s)"
            );
        }
        let device = spec.backend.device()?.autodiff();
        host_rng::seed(spec.seed);
        let batch = Batch::random(spec.batch_size, spec.input, &device);
        let val = Batch::random(spec.val_batch_size, spec.input, &device);
        let freq = vec![1.0 / spec.input.num_classes as f32; spec.input.num_classes];
        // latent-at / cvae-aug: an untrained perturbation set of the input's shape, shaped
        // like configs/cvae-mnist-rts.toml (affine generator, 8 latents, half width); the cost
        // does not depend on its weights.
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
                host_rng::seed_init(spec.seed ^ 0xCAE, &device);
                let plain = device.clone().inner();
                Some(host_rng::init_on_host(&plain, |d| arch.init_set(d)))
            }
            _ if spec.methods.iter().any(|m| m.needs_perturbation_set()) => {
                bail!("methods with a perturbation set need image inputs")
            }
            _ => None,
        };
        let probe = Batch {
            x: batch.x.clone().slice(0..1),
            y: batch.y.clone().slice(0..1),
        };
        Ok(Self {
            runs: UntrainedRuns {
                model: spec.model,
                input: spec.input,
                device: device.clone().inner(),
            },
            device,
            batch,
            val,
            probe,
            freq,
            cvae,
            positions: (0..spec.batch_size).collect(),
        })
    }

    /// `method`'s classifier (initial weights from the host generator seeded with the spec's
    /// seed, so every backend starts from the same weights), optimiser and state.
    fn start(
        &self,
        spec: &BenchSpec,
        method: Method,
    ) -> Result<(Classifier, ModuleOptimizer, MethodState)> {
        host_rng::seed_init(spec.seed, &self.device);
        let model = host_rng::init_on_host(&self.device, |d| spec.model.init(spec.input, d));
        let optim = OptimizerConfig::default().init();
        let cfg = bench_config(method, spec.adversarial);
        method.resolve(&cfg)?;
        let state = MethodState::new(
            method,
            &cfg,
            &MethodSetup {
                model: &model,
                probe: &self.probe,
                input: spec.input,
                train_len: spec.batch_size,
                class_freq: &self.freq,
                validation: Some(&self.val),
                perturbation_set: self.cvae.as_ref(),
                runs: &self.runs,
                device: &self.device,
                seed: spec.seed,
            },
        )?;
        Ok((model, optim, state))
    }

    /// Step `step` of a method, its draws seeded as a training run seeds them.
    fn step(
        &self,
        spec: &BenchSpec,
        state: &mut MethodState,
        model: Classifier,
        optim: &mut ModuleOptimizer,
        step: usize,
        total: usize,
    ) -> Result<StepOutput> {
        let seed = spec.seed.wrapping_add(step as u64);
        host_rng::seed(seed);
        let validation = || self.val.clone();
        Ok(state.step(
            model,
            optim,
            &self.batch,
            &StepContext {
                step,
                total,
                steps_per_epoch: total,
                lr: 0.01,
                seed,
                positions: &self.positions,
                validation: Some(&validation),
            },
        )?)
    }
}

/// A method's first steps from the seeded initial weights: what the backend-parity check
/// compares across devices.
#[derive(Clone, Debug)]
pub struct FirstSteps {
    /// Every float tensor of the classifier before the first step (the seeded initial weights).
    pub initial: Vec<f32>,
    /// Every float tensor of the classifier after the last step
    /// ([`ballast_core::params::flat_values`]).
    pub params: Vec<f32>,
    /// [B] per-example training losses of the last step.
    pub losses: Vec<f32>,
    /// [B] the example weights of the last step, for a reweighting method.
    pub weights: Option<Vec<f32>>,
}

/// `steps` steps of `method` on `spec`'s backend, batch and seeded initial weights.
pub fn first_steps(spec: &BenchSpec, method: Method, steps: usize) -> Result<FirstSteps> {
    let work = Workload::new(spec)?;
    let (mut model, mut optim, mut state) = work.start(spec, method)?;
    let initial = ballast_core::params::flat_values(&model);
    let read =
        |t: Tensor<1>| -> Vec<f32> { t.into_data().convert::<f32>().try_to_vec().expect("f32") };
    let (mut losses, mut weights) = (Vec::new(), None);
    for step in 0..steps {
        let out = work.step(spec, &mut state, model, &mut optim, step, steps)?;
        model = out.model;
        losses = read(out.losses);
        weights = out.weights.map(read);
    }
    Ok(FirstSteps {
        initial,
        params: ballast_core::params::flat_values(&model),
        losses,
        weights,
    })
}

pub fn bench(spec: &BenchSpec) -> Result<BenchReport> {
    let work = Workload::new(spec)?;
    let device = &work.device;
    let mut methods = vec![Method::Erm];
    methods.extend(spec.methods.iter().copied().filter(|m| *m != Method::Erm));
    let total = spec.warmup + spec.steps;
    let mut timings = Vec::new();
    for &method in &methods {
        ballast_core::device::release_memory(device);
        let (mut model, mut optim, mut state) = work.start(spec, method)?;
        let mut step = 0;
        let mut run = |n: usize| -> Result<f64> {
            let t = Instant::now();
            for _ in 0..n {
                let out = work.step(spec, &mut state, model.clone(), &mut optim, step, total)?;
                model = out.model;
                step += 1;
                // Reading the loss waits for the device, so the time is the step's own.
                let _ = out.losses.mean().into_scalar::<f32>();
            }
            Ok(t.elapsed().as_secs_f64())
        };
        run(spec.warmup)?;
        let per = run(spec.steps)? / spec.steps.max(1) as f64;
        timings.push((method, per, ballast_core::device::reserved_memory(device)));
    }
    let erm = timings[0].1;
    let any_adversarial = spec.methods.iter().any(|m| m.is_adversarial());
    let attack_timing = any_adversarial.then(|| {
        host_rng::seed_init(spec.seed, device);
        let model = host_rng::init_on_host(device, |d| spec.model.init(spec.input, d)).valid();
        let cfg = AttackConfig::pgd(spec.adversarial.norm, spec.adversarial.eps, 10, 1);
        let x = work.batch.x.clone().inner();
        let objective = Objective::CrossEntropy(work.batch.y.clone().inner());
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
        adapter: ballast_core::device::adapter_name(device),
        warmup_steps: spec.warmup,
        steps: spec.steps,
        seed: spec.seed,
        results: timings
            .into_iter()
            .filter(|(m, _, _)| spec.methods.contains(m))
            .map(|(m, per, memory)| MethodTiming {
                method: m.name().to_string(),
                ms_per_step: per * 1e3,
                steps_per_s: 1.0 / per,
                examples_per_s: spec.batch_size as f64 / per,
                ratio_to_erm: per / erm,
                device_memory_bytes: memory,
            })
            .collect(),
        adversarial: any_adversarial.then(|| spec.adversarial.clone()),
        attack: attack_timing,
    })
}
