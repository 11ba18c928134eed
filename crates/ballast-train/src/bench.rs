//! `ballast bench`: time training steps of methods on a model and batch size with
//! synthetic inputs of the dataset's shape, on the chosen device. ERM is always timed in
//! the same run, so every method's cost is also reported as a ratio to one ERM step.

use crate::config::{AdversarialConfig, Method};
use anyhow::{Result, bail};
use ballast_core::adversarial::{Regularizers, latent_at_step, pgd_at_step, trades_step};
use ballast_core::attack::{AttackConfig, Objective, attack};
use ballast_core::hypergrad::DirectionalConfig;
use ballast_core::meta_loss::{LossHyper, meta_loss_update};
use ballast_core::models::{Mode, ModelOutput};
use ballast_core::perturbation::{CvaeConfig, Likelihood, PerturbationSet};
use ballast_core::reweight::{class_ratio_weights, l2rw_step, random_weights};
use ballast_core::ssds::{SsdsGlobals, ssds_step};
use ballast_core::step::{OptimizerConfig, erm_step, weighted_step};
use ballast_core::weight_net::{StateFeature, WeightNet, learned_weight_step, teacher_state};
use ballast_core::{Backend, Batch, Classifier, InputSpec, LossConfig, ModelConfig};
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::prelude::*;
use serde::Serialize;
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

/// Meta-Weight-Net reads the loss; the teacher the student's internal states.
fn bench_state_features(method: Method) -> &'static [StateFeature] {
    match method {
        Method::Mwn => &[StateFeature::Loss],
        _ => &StateFeature::INTERNAL,
    }
}

#[allow(clippy::too_many_arguments)]
fn one_step(
    adv: &AdversarialConfig,
    method: Method,
    model: Classifier,
    optim: &mut ModuleOptimizer,
    batch: &Batch,
    val: &Batch,
    freq: &[f32],
    net: &mut Option<(WeightNet, ModuleOptimizer)>,
    cvae: Option<&PerturbationSet>,
) -> (Classifier, Tensor<1>) {
    let loss = LossConfig::Ce {};
    let lr = 0.01;
    match method {
        Method::Erm | Method::TransformAug => erm_step(model, optim, batch, &loss, lr),
        Method::CvaeAug => {
            let c = cvae.expect("a CVAE");
            let moved = Batch {
                x: c.sample(batch.x.clone().inner()).autodiff(),
                y: batch.y.clone(),
            };
            erm_step(model, optim, &moved, &loss, lr)
        }
        Method::LatentAt => {
            let attack = AttackConfig::latent(2.0, 7, 1);
            let regs = Regularizers { l1: adv.l1 };
            let c = cvae.expect("a CVAE");
            let out = latent_at_step(model, optim, batch, c, &attack, adv.attack_bn, &regs, lr);
            (out.model, out.losses)
        }
        Method::Cvae => unreachable!("bench rejects method cvae"),
        Method::Random => {
            let w = random_weights(batch.len(), &batch.x.device());
            weighted_step(model, optim, batch, &loss, Some(w), lr)
        }
        Method::ClassRatio => {
            let w = class_ratio_weights(batch.y.clone(), freq);
            weighted_step(model, optim, batch, &loss, Some(w), lr)
        }
        Method::L2rw => {
            let (m, l, _) = l2rw_step(
                model,
                optim,
                batch,
                val,
                &loss,
                DirectionalConfig::default(),
                lr,
            );
            (m, l)
        }
        Method::MetaLoss => {
            let loss = LossConfig::Gce { q: 0.7 };
            let hyper = LossHyper::new(&loss, &batch.x.device());
            let mut hyper_optim = AdamConfig::new().init();
            let hyper =
                meta_loss_update(&model, hyper, &mut hyper_optim, batch, val, &loss, lr, 1e-3);
            let current = loss.with_hyper(&hyper.to_vec());
            weighted_step(model, optim, batch, &current, None, lr)
        }
        Method::PgdAt | Method::FgsmRs => {
            let attack = adv.training_attack(method);
            let regs = Regularizers { l1: adv.l1 };
            let out = pgd_at_step(model, optim, batch, &attack, adv.attack_bn, &regs, None, lr);
            (out.model, out.losses)
        }
        Method::Trades => {
            let attack = adv.training_attack(method);
            let regs = Regularizers { l1: adv.l1 };
            let out = trades_step(
                model,
                optim,
                batch,
                &attack,
                adv.attack_bn,
                adv.trades_beta,
                &regs,
                lr,
            );
            (out.model, out.losses)
        }
        Method::Ssds => {
            // A fresh state each step, so every step does the full work (λ > 0).
            let [b, d] = batch.x.dims();
            let device = batch.x.device().inner();
            let delta = Tensor::<2>::zeros([b, d], &device);
            let v = Tensor::<1>::ones([b], &device) * adv.ssds.v0;
            let mut globals = SsdsGlobals::new(&adv.ssds);
            let out = ssds_step(
                model,
                optim,
                batch,
                delta,
                v,
                &mut globals,
                &adv.ssds,
                adv.eps,
                adv.ssds.eta,
                lr,
            );
            (out.model, out.losses)
        }
        Method::Mwn | Method::Teacher => {
            let (net, net_optim) = net.as_mut().expect("a weighting network");
            let labels = batch.y.clone().inner();
            let features = bench_state_features(method);
            let states = |out: &ModelOutput, losses: &Tensor<1>| {
                teacher_state(out, losses, &labels, 0.5, features)
            };
            let out = learned_weight_step(
                model,
                optim,
                net.clone(),
                net_optim,
                batch,
                val,
                &loss,
                states,
                lr,
                1e-3,
                DirectionalConfig::default(),
            );
            *net = out.net;
            (out.model, out.losses)
        }
    }
}

pub fn bench(spec: &BenchSpec) -> Result<BenchReport> {
    spec.model
        .validate(spec.input)
        .map_err(anyhow::Error::msg)?;
    let device = spec.backend.device()?.autodiff();
    device.seed(spec.seed);
    let batch = Batch::random(spec.batch_size, spec.input, &device);
    let val = Batch::random(spec.val_batch_size, spec.input, &device);
    let freq = vec![1.0 / spec.input.num_classes as f32; spec.input.num_classes];
    if spec.methods.contains(&Method::Cvae) {
        bail!(
            "bench times classifier training steps; method cvae trains a CVAE (its run reports steps/s)"
        );
    }
    // latent-at / cvae-aug: an untrained perturbation set of the input's shape, shaped like
    // configs/cvae-mnist-rts.toml (affine generator, 8 latents, half width); the cost does
    // not depend on its weights.
    let cvae = match spec.input.shape.as_slice() {
        [c, h, w] if spec.methods.iter().any(|m| m.needs_cvae()) => {
            let arch = CvaeConfig {
                shape: [*c, *h, *w],
                latent: 8,
                width: 0.5,
                likelihood: Likelihood::Bernoulli,
                generator: ballast_core::perturbation::GeneratorKind::Affine,
            };
            arch.validate().map_err(anyhow::Error::msg)?;
            Some(arch.init_set(&device.clone().inner()))
        }
        _ if spec.methods.iter().any(|m| m.needs_cvae()) => {
            bail!("latent-at and cvae-aug need image inputs")
        }
        _ => None,
    };
    let mut methods = vec![Method::Erm];
    methods.extend(spec.methods.iter().copied().filter(|m| *m != Method::Erm));
    let mut timings = Vec::new();
    for &method in &methods {
        let mut model = spec.model.init(spec.input, &device);
        let mut optim = OptimizerConfig::default().init();
        let state_dim = match method {
            Method::Mwn | Method::Teacher => {
                let out = model
                    .valid()
                    .forward_output(batch.x.clone().inner(), Mode::Probe);
                let y = batch.y.clone().inner();
                let losses = LossConfig::Ce {}.per_example(out.logits.clone(), y.clone());
                teacher_state(&out, &losses, &y, 0.5, bench_state_features(method)).dims()[1]
            }
            _ => 0,
        };
        let mut net = (state_dim > 0).then(|| {
            (
                WeightNet::new(state_dim, 100, &device),
                AdamConfig::new().init(),
            )
        });
        let mut run = |n: usize| -> f64 {
            let t = Instant::now();
            for _ in 0..n {
                let (next, losses) = one_step(
                    spec.adversarial,
                    method,
                    model.clone(),
                    &mut optim,
                    &batch,
                    &val,
                    &freq,
                    &mut net,
                    cvae.as_ref(),
                );
                model = next;
                // Reading the loss synchronises the device, as a training loop does.
                let _ = losses.mean().into_scalar::<f32>();
            }
            t.elapsed().as_secs_f64()
        };
        run(spec.warmup);
        let per = run(spec.steps) / spec.steps.max(1) as f64;
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
