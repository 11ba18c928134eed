//! Optimisers, learning-rate schedules and the plain (ERM) training step. Meta-methods
//! build on `weighted_step`.

use crate::batch::Batch;
use crate::error::CoreError;
use crate::loss::LossConfig;
use crate::models::{Classifier, Mode};
use burn::module::ParamGroup;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    Sgd,
    Adam,
}

/// Which parameters `optimizer.weight_decay` covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightDecayOn {
    /// Every parameter (PyTorch's `SGD(model.parameters(), weight_decay=…)`).
    #[default]
    All,
    /// The weights only: no bias and no BatchNorm scale or shift (Rice et al.'s code, which
    /// puts parameters named `bn` or `bias` in a group without decay).
    Weights,
}

impl WeightDecayOn {
    /// The parameters a decay on the weights only leaves alone, by path: biases and
    /// BatchNorm's gamma and beta.
    pub const EXEMPT: [&'static str; 3] = [".bias", ".gamma", ".beta"];
}

/// `[optimizer]` of a run config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    /// Base learning rate (the schedule multiplies it).
    pub lr: f64,
    /// SGD momentum (PyTorch convention: no dampening).
    pub momentum: f64,
    pub nesterov: bool,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Which parameters the penalty covers: `all` (default) or `weights` (no bias, no
    /// BatchNorm parameter).
    pub weight_decay_on: WeightDecayOn,
    /// Clip each parameter tensor's gradient to this ℓ2 norm before the step (per tensor, like
    /// Keras's `clipnorm`); none by default. A stabiliser for methods whose weights concentrate
    /// the batch on few examples (L2RW at high learning rates).
    pub clip_norm: Option<f64>,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Sgd,
            lr: 0.1,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
            weight_decay_on: WeightDecayOn::All,
            clip_norm: None,
        }
    }
}

impl OptimizerConfig {
    pub fn validate(&self) -> Result<(), CoreError> {
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(CoreError::Config(format!(
                "optimizer.lr must be positive, got {}",
                self.lr
            )));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(CoreError::Config(format!(
                "optimizer.momentum must be in [0, 1), got {}",
                self.momentum
            )));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(CoreError::Config(format!(
                "optimizer.weight_decay must be >= 0, got {}",
                self.weight_decay
            )));
        }
        if let Some(c) = self.clip_norm {
            if !(c > 0.0 && c.is_finite()) {
                return Err(CoreError::Config(format!(
                    "optimizer.clip_norm must be positive, got {c}"
                )));
            }
        }
        Ok(())
    }

    pub fn init(&self) -> ModuleOptimizer {
        let clip = self
            .clip_norm
            .map(|c| GradientClippingConfig::Norm(c as f32));
        let decay = |wd: f64| (wd > 0.0).then(|| WeightDecayConfig::new(wd as f32));
        // Biases and BatchNorm parameters in a group of their own without decay (the last
        // matching group wins).
        let exempt = (self.weight_decay > 0.0 && self.weight_decay_on == WeightDecayOn::Weights)
            .then(|| ParamGroup::from_any_predicates(WeightDecayOn::EXEMPT.to_vec()));
        let group_clip = clip.as_ref().map(|c| c.init());
        match self.kind {
            OptimizerKind::Sgd => {
                let momentum = (self.momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(self.momentum)
                        .with_dampening(0.0)
                        .with_nesterov(self.nesterov)
                });
                let config = |wd: f64| {
                    SgdConfig::new()
                        .with_momentum(momentum.clone())
                        .with_weight_decay(decay(wd))
                        .with_gradient_clipping(clip.clone())
                };
                let optim = config(self.weight_decay).init();
                match exempt {
                    Some(group) => optim.with_group(group, config(0.0).build(), group_clip),
                    None => optim,
                }
            }
            OptimizerKind::Adam => {
                let config = |wd: f64| {
                    AdamConfig::new()
                        .with_weight_decay(decay(wd))
                        .with_grad_clipping(clip.clone())
                };
                let optim = config(self.weight_decay).init();
                match exempt {
                    Some(group) => optim.with_group(group, config(0.0).build(), group_clip),
                    None => optim,
                }
            }
        }
    }
}

/// Learning-rate multiplier over training (`[schedule]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Schedule {
    // Empty braces (not unit variants) so unknown keys are rejected.
    Constant {},
    /// × gamma at each milestone step.
    Step {
        milestones: Vec<usize>,
        gamma: f64,
    },
    /// Half-cosine from 1 to 0 over the run.
    Cosine {},
    /// Linear up for `warmup` steps, then linear down to 0 at the end (one-cycle style).
    Triangle {
        warmup: usize,
    },
    /// × gamma at each fraction of the run in `at` (Rice et al.'s piecewise schedule:
    /// at = [0.5, 0.75], gamma = 0.1).
    Piecewise {
        #[serde(default = "piecewise_at")]
        at: Vec<f64>,
        #[serde(default = "piecewise_gamma")]
        gamma: f64,
    },
    /// Linear from 0 up to 1 at fraction `peak` of the run, then down to 0 at the end
    /// (Wong et al.'s cyclic schedule, peak 0.4).
    Cyclic {
        #[serde(default = "cyclic_peak")]
        peak: f64,
    },
}

fn piecewise_at() -> Vec<f64> {
    vec![0.5, 0.75]
}
fn piecewise_gamma() -> f64 {
    0.1
}
fn cyclic_peak() -> f64 {
    0.4
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::Constant {}
    }
}

impl Schedule {
    /// Multiplier at `step` (0-based) of `total` steps.
    pub fn factor(&self, step: usize, total: usize) -> f64 {
        match self {
            Schedule::Constant {} => 1.0,
            Schedule::Step { milestones, gamma } => {
                gamma.powi(milestones.iter().filter(|&&m| step >= m).count() as i32)
            }
            Schedule::Cosine {} => {
                let t = step as f64 / total.max(1) as f64;
                0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
            Schedule::Triangle { warmup } => {
                let (s, w, t) = (step as f64, *warmup as f64, total.max(1) as f64);
                if s < w {
                    (s + 1.0) / w
                } else {
                    ((t - s) / (t - w).max(1.0)).max(0.0)
                }
            }
            Schedule::Piecewise { at, gamma } => {
                let t = step as f64 / total.max(1) as f64;
                gamma.powi(at.iter().filter(|&&a| t >= a).count() as i32)
            }
            Schedule::Cyclic { peak } => {
                // Evaluated mid-step, so neither the first nor the last step has lr 0.
                let t = (step as f64 + 0.5) / total.max(1) as f64;
                if t < *peak {
                    t / peak
                } else {
                    ((1.0 - t) / (1.0 - peak).max(1e-12)).max(0.0)
                }
            }
        }
    }
}

/// One optimiser step on Σ_i w_i ℓ_i (weights summing to 1), or on the mean loss when
/// `weights` is None. Returns the updated model and the detached per-example losses [B].
pub fn weighted_step(
    model: Classifier,
    optim: &mut ModuleOptimizer,
    batch: &Batch,
    loss: &LossConfig,
    weights: Option<Tensor<1>>,
    lr: f64,
) -> (Classifier, Tensor<1>) {
    let logits = model.forward(batch.x.clone(), Mode::Train);
    let losses = loss.per_example(logits, batch.y.clone()); // [B]
    let model = step_on_losses(model, optim, losses.clone(), weights, lr);
    (model, losses.detach().inner())
}

/// One optimiser step on Σ_i w_i ℓ_i (weights held constant), or on the mean loss when
/// `weights` is None, for per-example losses [B] tracked by `model`'s graph (which the
/// backward consumes): the end of every step that already has its forward.
pub fn step_on_losses(
    model: Classifier,
    optim: &mut ModuleOptimizer,
    losses: Tensor<1>,
    weights: Option<Tensor<1>>,
    lr: f64,
) -> Classifier {
    let objective = match weights {
        Some(w) => (losses * w.detach()).sum(),
        None => losses.mean(),
    };
    let grads = GradientsParams::from_grads(objective.backward(), &model);
    optim.step(lr, model, grads)
}

/// Plain empirical-risk-minimisation step.
pub fn erm_step(
    model: Classifier,
    optim: &mut ModuleOptimizer,
    batch: &Batch,
    loss: &LossConfig,
    lr: f64,
) -> (Classifier, Tensor<1>) {
    weighted_step(model, optim, batch, loss, None, lr)
}

/// Number of correct predictions in a batch, left on the device: logits [B, K], labels [B]
/// -> [1] count. Training steps report this (a host read would stall a GPU queue).
pub fn correct_count(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1, Int> {
    let pred = logits.argmax(1).squeeze_dim::<1>(1);
    pred.equal(labels).int().sum()
}

/// Number of correct predictions in a batch, read on the host: logits [B, K], labels [B].
pub fn correct(logits: Tensor<2>, labels: Tensor<1, Int>) -> usize {
    correct_count(logits, labels).into_scalar::<i64>() as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{InputSpec, ModelConfig};

    #[test]
    fn schedules_follow_their_definitions() {
        let s = Schedule::Step {
            milestones: vec![10, 20],
            gamma: 0.1,
        };
        assert_eq!(s.factor(9, 30), 1.0);
        assert!((s.factor(10, 30) - 0.1).abs() < 1e-12);
        assert!((s.factor(25, 30) - 0.01).abs() < 1e-12);
        assert!((Schedule::Cosine {}.factor(50, 100) - 0.5).abs() < 1e-12);
        let p = Schedule::Piecewise {
            at: vec![0.5, 0.75],
            gamma: 0.1,
        };
        assert_eq!(p.factor(49, 100), 1.0);
        assert!((p.factor(50, 100) - 0.1).abs() < 1e-12);
        assert!((p.factor(80, 100) - 0.01).abs() < 1e-12);
        let c = Schedule::Cyclic { peak: 0.4 };
        assert!((c.factor(31, 80) - 1.0).abs() < 0.02);
        assert!(c.factor(0, 80) < 0.02 && c.factor(79, 80) < 0.02);
        assert!((c.factor(55, 80) - 0.5).abs() < 0.02);
        let t = Schedule::Triangle { warmup: 10 };
        assert!((t.factor(9, 110) - 1.0).abs() < 1e-12);
        assert!((t.factor(60, 110) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn erm_steps_reduce_the_loss_on_a_fixed_batch() {
        let ad = Device::flex().autodiff();
        ad.seed(3);
        crate::host_rng::seed(3);
        let (input, batch) = tiny_problem(&ad);
        let mut model = ModelConfig::mlp(&[16]).init(&input, &ad);
        let mut optim = OptimizerConfig {
            kind: OptimizerKind::Adam,
            lr: 1e-2,
            ..Default::default()
        }
        .init();
        let mut first = None;
        let mut last = 0.0;
        for _ in 0..50 {
            let (m, losses) = erm_step(model, &mut optim, &batch, &LossConfig::Ce {}, 1e-2);
            model = m;
            last = losses.mean().into_scalar::<f32>();
            first.get_or_insert(last);
        }
        assert!(last < 0.5 * first.unwrap(), "{first:?} -> {last}");
    }

    #[test]
    fn weight_decay_on_weights_leaves_biases_alone() {
        let ad = Device::flex().autodiff();
        ad.seed(6);
        crate::host_rng::seed(6);
        let (input, batch) = tiny_problem(&ad);
        // One plain SGD step at lr 1: each tensor ends at θ - g - λθ where it is decayed.
        let after = |weight_decay: f64, on: WeightDecayOn| -> Vec<Vec<f32>> {
            ad.seed(7);
            crate::host_rng::seed(7);
            let model = ModelConfig::mlp(&[16]).init(&input, &ad);
            let mut optim = OptimizerConfig {
                momentum: 0.0,
                weight_decay,
                weight_decay_on: on,
                ..Default::default()
            }
            .init();
            let (model, _) = erm_step(model, &mut optim, &batch, &LossConfig::Ce {}, 1.0);
            flat_params(&model)
                .into_iter()
                .map(|t| t.into_data().try_to_vec::<f32>().unwrap())
                .collect()
        };
        let none = after(0.0, WeightDecayOn::All);
        let all = after(0.5, WeightDecayOn::All);
        let weights = after(0.5, WeightDecayOn::Weights);
        let same = |a: &Vec<f32>, b: &Vec<f32>| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        let mut decayed = 0;
        let mut exempt = 0;
        for ((w, a), n) in weights.iter().zip(&all).zip(&none) {
            assert!(!same(a, n), "decay moves every tensor when it covers all");
            if same(w, a) {
                decayed += 1;
            } else {
                assert!(same(w, n), "a tensor is either decayed or left alone");
                // Biases: one value per unit of the hidden layer or per class.
                assert!(w.len() == 16 || w.len() == input.num_classes, "{}", w.len());
                exempt += 1;
            }
        }
        assert_eq!((decayed, exempt), (2, 2));
    }

    #[test]
    fn clip_norm_bounds_each_tensor_update() {
        let ad = Device::flex().autodiff();
        ad.seed(4);
        crate::host_rng::seed(4);
        let (input, batch) = tiny_problem(&ad);
        // Plain SGD: each tensor moves by lr · (clipped) gradient.
        let moves = |clip: Option<f64>| -> Vec<f64> {
            ad.seed(5);
            crate::host_rng::seed(5);
            let model = ModelConfig::mlp(&[16]).init(&input, &ad);
            let before: Vec<Tensor<1>> = flat_params(&model);
            let mut optim = OptimizerConfig {
                momentum: 0.0,
                clip_norm: clip,
                ..Default::default()
            }
            .init();
            let (model, _) = erm_step(model, &mut optim, &batch, &LossConfig::Ce {}, 1.0);
            flat_params(&model)
                .into_iter()
                .zip(before)
                .map(|(a, b)| (a - b).powi_scalar(2).sum().into_scalar::<f32>().sqrt() as f64)
                .collect()
        };
        let free = moves(None);
        let clipped = moves(Some(1e-3));
        assert!(free.iter().any(|&m| m > 1e-2), "{free:?}");
        for (f, c) in free.iter().zip(&clipped) {
            assert!(*c <= 1e-3 * (1.0 + 1e-4), "clipped move {c} (free {f})");
            assert!(
                *c >= f.min(1e-3) * (1.0 - 1e-3),
                "clipped move {c} (free {f})"
            );
        }
    }

    /// 10 features in [0, 1], 3 classes, a random batch of 32.
    fn tiny_problem(ad: &Device) -> (InputSpec, Batch) {
        let input = InputSpec {
            shape: vec![10],
            num_classes: 3,
            mean: vec![0.5],
            std: vec![0.3],
        };
        let batch = Batch::random(32, &input, ad);
        (input, batch)
    }

    fn flat_params(model: &Classifier) -> Vec<Tensor<1>> {
        struct Collect(Vec<Tensor<1>>);
        impl burn::module::ModuleVisitor for Collect {
            fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
                let t = p.val().inner();
                let n = t.shape().num_elements();
                self.0.push(t.reshape([n]));
            }
        }
        let mut c = Collect(Vec::new());
        model.visit(&mut c);
        c.0
    }
}
