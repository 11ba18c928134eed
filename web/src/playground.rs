//! The reweighting playground: two classifiers trained live side by side on the same noisy,
//! imbalanced data from the same initialisation, plain ERM on the left and a reweighting or
//! meta-learning method on the right, with the core crate's method steps.
//!
//! Every step is synchronous (on WebGPU it only enqueues work); everything the page shows is
//! read back by [`Playground::snapshot`] + [`PendingView::read`], whose reads are async so the
//! browser's WebGPU backend never blocks.

use ballast_core::loss::LossConfig;
use ballast_core::method::{
    Family, Method, MethodConfig, MethodInfo, MethodSetup, MethodState, StepContext, TrainedRuns,
    Trains,
};
use ballast_core::models::{Classifier, InputSpec, Mode, ModelConfig};
use ballast_core::step::{OptimizerConfig, erm_step};
use ballast_core::{Batch, CoreError, StepSeeds};
use ballast_data::{Dataset, NoiseKind, corrupt_labels};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::read::{read_f32, read_scalar};
use crate::render::heatmap_rgba;

/// Side of the decision-boundary grid (GRID × GRID probes).
pub const GRID: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataKind {
    Moons,
    Spirals,
    Blobs,
    Mnist,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseChoice {
    /// A flipped label goes to a uniformly random other class.
    Symmetric,
    /// A flipped label goes to the next class (k → k+1 mod K).
    Pair,
}

/// The methods the playground trains live: the core's reweighting and noisy-label methods
/// (classifier methods on any input; ERM is always the left model).
pub fn playground_methods() -> Vec<&'static MethodInfo> {
    Method::ALL
        .iter()
        .map(|m| m.info())
        .filter(|i| {
            matches!(i.family, Family::Reweighting | Family::NoisyLabels)
                && i.trains == Trains::Classifier
                && !i.uses.images
                && !i.uses.perturbation_set
        })
        .collect()
}

/// Steps over which the teacher's "progress" state goes from 0 to 1.
const PROGRESS_STEPS: usize = 2000;

/// Every control of the panel (the page keeps it in the URL hash).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlaygroundConfig {
    pub dataset: DataKind,
    /// Training examples before imbalance (2-D sets; MNIST uses its shipped subset).
    pub points: usize,
    /// Fraction of training labels flipped.
    pub noise_rate: f64,
    pub noise_kind: NoiseChoice,
    /// Size of class 0 relative to the others, in (0, 1]: 1 = balanced.
    pub imbalance: f64,
    /// Clean validation examples the meta-methods may look at.
    pub val_size: usize,
    pub method: Method,
    /// SGD (momentum 0.9) learning rate of both students.
    pub lr: f64,
    /// Units in each of the two hidden layers of the 2-D students (MNIST: one layer of 100).
    pub hidden: usize,
    /// Where a run pauses: by then the method's lesson shows (the visitor may run on).
    pub steps: usize,
    pub seed: u64,
    /// 2-D sets: points the visitor placed, `[x, y, class]`, appended to the training set with
    /// that class as their true label.
    pub added: Vec<[f32; 3]>,
    /// Training positions (after imbalance and the added points) whose observed label the visitor
    /// moved to the next class, `k → k+1 mod K`; a position listed twice moves twice.
    pub flips: Vec<usize>,
}

impl Default for PlaygroundConfig {
    /// The page's first view: L2RW's teaching state.
    fn default() -> Self {
        Self::teaching(Method::L2rw)
    }
}

impl PlaygroundConfig {
    /// The state in which `method`'s lesson shows within its `steps`: on 200 moons with 30 %
    /// of the labels flipped, full-batch SGD at lr 0.05 lets ERM's 32-32 network memorise the
    /// flips (its clean test accuracy falls from ~88 % at step 500 to ~82 % at step 1 000)
    /// while the methods that consult the clean validation set hold ~90 %. Class-ratio
    /// weighting corrects imbalance, not noise: its state keeps 10 % of class 0 and flips
    /// nothing. `random` weights are the control: the same state as L2RW, and no lesson of
    /// their own beyond "uninformed weights do not help". Checked over 5 seeds by
    /// `web/tests/engines.rs`.
    pub fn teaching(method: Method) -> Self {
        let base = Self {
            dataset: DataKind::Moons,
            points: 200,
            noise_rate: 0.3,
            noise_kind: NoiseChoice::Symmetric,
            imbalance: 1.0,
            val_size: 20,
            method,
            // Full-batch SGD with momentum 0.9; at 0.1 the 2-D students oscillate and the
            // one-step L2RW weights flip between steps.
            lr: 0.05,
            hidden: 32,
            steps: 1000,
            seed: 1,
            added: Vec::new(),
            flips: Vec::new(),
        };
        match method {
            // The learned GCE q needs longer to pull away from ERM.
            Method::MetaLoss => Self {
                steps: 1500,
                ..base
            },
            Method::ClassRatio => Self {
                noise_rate: 0.0,
                imbalance: 0.1,
                steps: 300,
                ..base
            },
            _ => base,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.method == Method::Erm {
            return Err("method: ERM is always the left model; pick a reweighting method".into());
        }
        if !playground_methods()
            .iter()
            .any(|i| i.name == self.method.name())
        {
            return Err(format!(
                "method: {} does not train in the playground (choose one of {})",
                self.method,
                playground_methods()
                    .iter()
                    .map(|i| i.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !(20..=2000).contains(&self.points) {
            return Err(format!("points must be in 20..=2000, got {}", self.points));
        }
        if !(0.0..=0.8).contains(&self.noise_rate) {
            return Err(format!(
                "noise_rate must be in [0, 0.8], got {}",
                self.noise_rate
            ));
        }
        if !(self.imbalance > 0.0 && self.imbalance <= 1.0) {
            return Err(format!(
                "imbalance must be in (0, 1], got {}",
                self.imbalance
            ));
        }
        if !(2..=500).contains(&self.val_size) {
            return Err(format!(
                "val_size must be in 2..=500, got {}",
                self.val_size
            ));
        }
        if !(self.lr > 0.0 && self.lr <= 2.0) {
            return Err(format!("lr must be in (0, 2], got {}", self.lr));
        }
        if !(2..=256).contains(&self.hidden) {
            return Err(format!("hidden must be in 2..=256, got {}", self.hidden));
        }
        if !(1..=100_000).contains(&self.steps) {
            return Err(format!("steps must be in 1..=100000, got {}", self.steps));
        }
        if !self.added.is_empty() && !self.is_2d() {
            return Err("added: points can be placed on the 2-D data sets only".into());
        }
        if self.added.len() > 2000 {
            return Err(format!(
                "added: at most 2000 placed points, got {}",
                self.added.len()
            ));
        }
        if let Some(p) = self.added.iter().find(|p| !p.iter().all(|v| v.is_finite())) {
            return Err(format!("added: a point is not finite: {p:?}"));
        }
        Ok(())
    }

    fn is_2d(&self) -> bool {
        self.dataset != DataKind::Mnist
    }
}

/// The data of a playground, on the host (the page draws it).
#[derive(Clone, Debug, Serialize)]
pub struct PlaygroundData {
    pub num_classes: usize,
    pub example_shape: Vec<usize>,
    /// Training inputs (flattened rows) and their observed (possibly flipped) labels.
    #[serde(skip)]
    pub train_x: Vec<f32>,
    pub train_labels: Vec<u32>,
    pub true_labels: Vec<u32>,
    pub noisy: Vec<bool>,
    pub val_size: usize,
    pub test_size: usize,
    /// 2-D sets: [x_min, x_max, y_min, y_max] of the heatmap.
    pub bounds: Option<[f32; 4]>,
    pub grid: usize,
    pub batch_size: usize,
}

/// The examples of a 2-D or MNIST playground: (train with noise, clean validation, clean test).
fn build_data(
    cfg: &PlaygroundConfig,
    mnist: Option<&(Dataset, Dataset)>,
) -> Result<(Dataset, NoisyInfo, Dataset, Dataset), String> {
    let err = |e: ballast_data::DataError| e.to_string();
    let (train, val, test) = match cfg.dataset {
        DataKind::Mnist => {
            let (train, test) = mnist.ok_or("the MNIST subset is not loaded")?;
            if cfg.val_size >= train.len() {
                return Err(format!(
                    "val_size {} leaves no training digits",
                    cfg.val_size
                ));
            }
            let positions: Vec<usize> = (0..train.len()).collect();
            let (val_pos, train_pos) = positions.split_at(cfg.val_size);
            (train.subset(train_pos), train.subset(val_pos), test.clone())
        }
        kind => {
            let make = |n: usize, seed: u64| match kind {
                DataKind::Moons => ballast_data::moons(n, 0.15, seed),
                DataKind::Spirals => ballast_data::spirals(n, 3, 0.04, seed),
                _ => ballast_data::blobs(n, 4, 0.9, seed),
            };
            let s = cfg.seed.wrapping_mul(3);
            (
                make(cfg.points, s).map_err(err)?,
                make(cfg.val_size, s + 1).map_err(err)?,
                make(1000, s + 2).map_err(err)?,
            )
        }
    };
    let mut train = imbalance(&train, cfg.imbalance);
    for &[x, y, class] in &cfg.added {
        if class < 0.0 || class.fract() != 0.0 || class as usize >= train.num_classes {
            return Err(format!(
                "added: class {class} of point ({x}, {y}) is not one of the {} classes",
                train.num_classes
            ));
        }
        train.x.extend([x, y]);
        train.labels.push(class as u32);
        train.index.push(u32::MAX);
    }
    let kind = match cfg.noise_kind {
        NoiseChoice::Symmetric => NoiseKind::SymmetricExact,
        NoiseChoice::Pair => NoiseKind::PairExact,
    };
    let noisy = corrupt_labels(
        &train.labels,
        train.num_classes,
        kind,
        cfg.noise_rate,
        cfg.seed,
    )
    .map_err(err)?;
    let mut labels = noisy.labels;
    let k = train.num_classes as u32;
    for &i in &cfg.flips {
        let l = labels.get_mut(i).ok_or_else(|| {
            format!(
                "flips: position {i} is not a training point (there are {})",
                train.len()
            )
        })?;
        *l = (*l + 1) % k;
    }
    let info = NoisyInfo {
        noisy: labels
            .iter()
            .zip(&train.labels)
            .map(|(a, b)| a != b)
            .collect(),
        true_labels: train.labels.clone(),
        labels: labels.clone(),
    };
    let mut observed = train;
    observed.labels = labels;
    Ok((observed, info, val, test))
}

struct NoisyInfo {
    true_labels: Vec<u32>,
    labels: Vec<u32>,
    noisy: Vec<bool>,
}

/// Keeps the first ⌈ratio · n₀⌉ examples of class 0 (at least 2) and every other example.
fn imbalance(data: &Dataset, ratio: f64) -> Dataset {
    if ratio >= 1.0 {
        return data.clone();
    }
    let n0 = data.labels.iter().filter(|&&l| l == 0).count();
    let keep0 = ((ratio * n0 as f64).ceil() as usize).clamp(2.min(n0), n0);
    let mut seen = 0;
    let positions: Vec<usize> = (0..data.len())
        .filter(|&i| {
            if data.labels[i] != 0 {
                return true;
            }
            seen += 1;
            seen <= keep0
        })
        .collect();
    data.subset(&positions)
}

/// Per-feature mean and std, for the model's input normalisation.
fn input_spec(data: &Dataset) -> InputSpec {
    let d = data.example_len();
    if data.example_shape.len() == 3 {
        return InputSpec {
            shape: data.example_shape.clone(),
            num_classes: data.num_classes,
            mean: vec![data.feature_mean() as f32],
            std: vec![data.feature_std().max(1e-3) as f32],
        };
    }
    let n = data.len() as f32;
    let mean: Vec<f32> = (0..d)
        .map(|j| (0..data.len()).map(|i| data.x[i * d + j]).sum::<f32>() / n)
        .collect();
    let std = (0..d)
        .map(|j| {
            let v = (0..data.len())
                .map(|i| (data.x[i * d + j] - mean[j]).powi(2))
                .sum::<f32>()
                / n;
            v.sqrt().max(1e-3)
        })
        .collect();
    InputSpec {
        shape: data.example_shape.clone(),
        num_classes: data.num_classes,
        mean,
        std,
    }
}

fn to_batch(data: &Dataset, labels: &[u32], device: &Device) -> Batch {
    Batch::from_host(&data.x, labels, device)
}

/// One side of the panel.
struct Learner {
    method: MethodState,
    model: Classifier,
    optim: ModuleOptimizer,
    /// [n_train] the latest weight of every training example × batch size (1 = uniform).
    weights: Tensor<1>,
    /// [1] mean training loss of the latest step.
    last_loss: Tensor<1>,
}

/// The settings of a playground method: the core's defaults, GCE (q = 0.5) and a faster
/// meta learning rate (1e-2) for methods that learn loss hyperparameters.
fn method_config(method: Method) -> MethodConfig {
    let mut cfg = MethodConfig::default();
    if method.info().uses.loss_hyper {
        cfg.loss = LossConfig::Gce { q: 0.5 };
        cfg.meta.meta_lr = 1e-2;
    }
    cfg
}

/// Classifiers a method builds on, trained here: ERM for [`ESTIMATOR_STEPS`] steps on the
/// playground's (noisy) training batch from the students' initialisation.
struct TrainedHere<'a> {
    init: &'a Classifier,
    train: &'a Batch,
    lr: f64,
}

const ESTIMATOR_STEPS: usize = 300;

impl TrainedRuns for TrainedHere<'_> {
    fn classifier(&self, _dir: Option<&Path>) -> Result<Classifier, CoreError> {
        let mut model = self.init.clone();
        let mut optim = OptimizerConfig::default().init();
        for _ in 0..ESTIMATOR_STEPS {
            model = erm_step(model, &mut optim, self.train, &LossConfig::Ce {}, self.lr).0;
        }
        Ok(model.valid())
    }
}

impl Learner {
    fn new(
        method: Method,
        model: Classifier,
        setup: &MethodSetup,
        n_train: usize,
    ) -> Result<Self, String> {
        let cfg = method_config(method);
        method.resolve(&cfg).map_err(|e| e.to_string())?;
        let state = MethodState::new(method, &cfg, setup).map_err(|e| e.to_string())?;
        let plain = setup.device.clone().inner();
        Ok(Self {
            method: state,
            model,
            optim: OptimizerConfig::default().init(),
            weights: Tensor::ones([n_train], &plain),
            last_loss: Tensor::zeros([1], &plain),
        })
    }

    /// One training step on rows `rows` of the training set (batch `batch`).
    fn step(
        &mut self,
        batch: &Batch,
        val: &Batch,
        rows: std::ops::Range<usize>,
        lr: f64,
        step: usize,
        seed: u64,
    ) -> Result<(), String> {
        let b = batch.len() as f32;
        let positions: Vec<usize> = rows.clone().collect();
        let validation = || val.clone();
        ballast_core::host_rng::seed(seed);
        let out = self
            .method
            .step(
                self.model.clone(),
                &mut self.optim,
                batch,
                &StepContext {
                    step,
                    total: PROGRESS_STEPS,
                    steps_per_epoch: PROGRESS_STEPS,
                    lr,
                    seed,
                    positions: &positions,
                    validation: Some(&validation),
                },
            )
            .map_err(|e| format!("{}: {e}", self.method.method().label()))?;
        self.model = out.model;
        self.last_loss = out.losses.mean();
        if let Some(w) = out.weights {
            let w = w.detach().inner().to_device(&self.weights.device()) * b; // [B], mean 1
            self.weights = self.weights.clone().slice_assign([rows], w);
        }
        Ok(())
    }
}

/// A running playground.
pub struct Playground {
    pub cfg: PlaygroundConfig,
    pub data: PlaygroundData,
    learners: [Learner; 2],
    train: Batch,
    val: Batch,
    test: Batch,
    grid: Option<Tensor<2>>,
    step: usize,
}

impl Playground {
    /// Builds both students from the same seeded initialisation. `mnist`: the shipped subset
    /// (train, test), needed for the MNIST data set only.
    pub fn new(
        cfg: PlaygroundConfig,
        mnist: Option<&(Dataset, Dataset)>,
        device: &Device,
    ) -> Result<Self, String> {
        cfg.validate()?;
        let (train, info, val, test) = build_data(&cfg, mnist)?;
        let plain = device.clone().inner();
        let ad = plain.clone().autodiff();
        let input = input_spec(&train);
        let arch = if cfg.is_2d() {
            ModelConfig::mlp(&[cfg.hidden, cfg.hidden])
        } else {
            ModelConfig::mlp(&[100])
        };
        ballast_core::host_rng::seed_init(cfg.seed, &ad);
        let model = ballast_core::host_rng::init_on_host(&ad, |d| arch.init(&input, d));
        let train_b = to_batch(&train, &info.labels, &ad);
        let val_b = to_batch(&val, &val.labels, &ad);
        let test_b = to_batch(&test, &test.labels, &plain);
        let probe = Batch {
            x: train_b.x.clone().slice(0..1),
            y: train_b.y.clone().slice(0..1),
        };
        let n = train.len();
        let mut counts = vec![0usize; train.num_classes];
        for &l in &info.labels {
            counts[l as usize] += 1;
        }
        let class_freq: Vec<f32> = counts.iter().map(|&c| c as f32 / n as f32).collect();
        let runs = TrainedHere {
            init: &model,
            train: &train_b,
            lr: cfg.lr,
        };
        let setup = MethodSetup {
            model: &model,
            probe: &probe,
            input: &input,
            train_len: n,
            class_freq: &class_freq,
            validation: Some(&val_b),
            perturbation_set: None,
            runs: &runs,
            device: &ad,
            seed: cfg.seed,
        };
        let learners = [
            Learner::new(Method::Erm, model.clone(), &setup, n)?,
            Learner::new(cfg.method, model.clone(), &setup, n)?,
        ];
        let bounds = cfg.is_2d().then(|| {
            let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
            for p in train.x.chunks(2).chain(test.x.chunks(2)) {
                for j in 0..2 {
                    lo[j] = lo[j].min(p[j]);
                    hi[j] = hi[j].max(p[j]);
                }
            }
            let pad = [(hi[0] - lo[0]) * 0.08, (hi[1] - lo[1]) * 0.08];
            [
                lo[0] - pad[0],
                hi[0] + pad[0],
                lo[1] - pad[1],
                hi[1] + pad[1],
            ]
        });
        let grid = bounds.map(|[x0, x1, y0, y1]| {
            let mut pts = Vec::with_capacity(GRID * GRID * 2);
            for r in 0..GRID {
                // Row 0 is the top of the picture (largest y).
                let y = y1 - (r as f32 + 0.5) / GRID as f32 * (y1 - y0);
                for c in 0..GRID {
                    pts.push(x0 + (c as f32 + 0.5) / GRID as f32 * (x1 - x0));
                    pts.push(y);
                }
            }
            Tensor::<2>::from_data(TensorData::new(pts, [GRID * GRID, 2]), &plain)
        });
        let data = PlaygroundData {
            num_classes: train.num_classes,
            example_shape: train.example_shape.clone(),
            train_x: train.x.clone(),
            train_labels: info.labels,
            true_labels: info.true_labels,
            noisy: info.noisy,
            val_size: val.len(),
            test_size: test.len(),
            bounds,
            grid: GRID,
            batch_size: if cfg.is_2d() { n } else { 100.min(n) },
        };
        Ok(Self {
            cfg,
            data,
            learners,
            train: train_b,
            val: val_b,
            test: test_b,
            grid,
            step: 0,
        })
    }

    /// The inputs of training point `i` (2 values on the 2-D sets).
    pub fn train_x_of(&self, i: usize) -> Vec<f32> {
        let d = self.data.train_x.len() / self.data.train_labels.len().max(1);
        self.data.train_x[i * d..(i + 1) * d].to_vec()
    }

    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// `k` training steps of both students (full batch on 2-D sets, batches of 100 in order
    /// on MNIST).
    pub fn step(&mut self, k: usize) -> Result<(), String> {
        let n = self.train.len();
        let b = self.data.batch_size;
        for _ in 0..k {
            let start = (self.step * b) % n;
            let rows = start..(start + b).min(n);
            let batch = if rows.len() == n {
                self.train.clone()
            } else {
                Batch {
                    x: self.train.x.clone().slice(rows.clone()),
                    y: self.train.y.clone().slice(rows.clone()),
                }
            };
            let seed = StepSeeds::CLASSIFIER.at(self.cfg.seed, self.step);
            for learner in &mut self.learners {
                learner.step(
                    &batch,
                    &self.val,
                    rows.clone(),
                    self.cfg.lr,
                    self.step,
                    seed,
                )?;
            }
            self.step += 1;
        }
        Ok(())
    }

    /// Queues everything the page shows; read it with [`PendingView::read`].
    pub fn snapshot(&self) -> PendingView {
        let learners = self
            .learners
            .iter()
            .map(|l| {
                let model = l.model.valid();
                let logits = model.forward(self.test.x.clone(), Mode::Eval);
                let pred = logits.argmax(1).squeeze_dim::<1>(1);
                let correct = pred.equal(self.test.y.clone()).float().mean(); // [1]
                let grid = self.grid.as_ref().map(|g| {
                    burn::tensor::activation::softmax(model.forward(g.clone(), Mode::Eval), 1)
                });
                PendingLearner {
                    method: l.method.method(),
                    test_acc: correct,
                    loss: l.last_loss.clone(),
                    weights: l.weights.clone(),
                    grid,
                    hyper: l.method.loss_hyper(),
                }
            })
            .collect();
        PendingView {
            step: self.step,
            num_classes: self.data.num_classes,
            noisy: self.data.noisy.clone(),
            learners,
        }
    }
}

struct PendingLearner {
    method: Method,
    test_acc: Tensor<1>,
    loss: Tensor<1>,
    weights: Tensor<1>,
    grid: Option<Tensor<2>>,
    hyper: Option<Tensor<1>>,
}

/// Tensors queued by [`Playground::snapshot`], owned so reading them borrows nothing.
pub struct PendingView {
    step: usize,
    num_classes: usize,
    noisy: Vec<bool>,
    learners: Vec<PendingLearner>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LearnerView {
    pub method: Method,
    pub label: String,
    pub test_acc: f64,
    pub loss: f64,
    /// Per training example, × batch size (1 = a uniform weight).
    pub weights: Vec<f32>,
    pub mean_weight_clean: f64,
    pub mean_weight_noisy: Option<f64>,
    /// Meta-loss: the current GCE q.
    pub hyper: Option<Vec<f32>>,
    /// GRID × GRID RGBA picture of the class probabilities (2-D sets).
    #[serde(skip)]
    pub heatmap: Option<Vec<u8>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlaygroundView {
    pub step: usize,
    pub learners: Vec<LearnerView>,
}

impl PendingView {
    pub async fn read(self) -> Result<PlaygroundView, String> {
        let mut learners = Vec::new();
        for l in self.learners {
            let weights = read_f32(l.weights).await?;
            let mean = |noisy: bool| {
                let (s, c) = weights
                    .iter()
                    .zip(&self.noisy)
                    .filter(|(_, n)| **n == noisy)
                    .fold((0.0, 0usize), |(s, c), (w, _)| (s + *w as f64, c + 1));
                (c > 0).then(|| s / c as f64)
            };
            let heatmap = match l.grid {
                Some(g) => Some(heatmap_rgba(&read_f32(g).await?, GRID, self.num_classes)),
                None => None,
            };
            let hyper = match l.hyper {
                Some(h) => Some(read_f32(h).await?),
                None => None,
            };
            let loss = read_scalar(l.loss).await?;
            if !loss.is_finite() {
                return Err(format!(
                    "{}: the training loss is {loss}; lower the learning rate",
                    l.method.label()
                ));
            }
            learners.push(LearnerView {
                method: l.method,
                label: l.method.label().to_string(),
                test_acc: read_scalar(l.test_acc).await?,
                loss,
                mean_weight_clean: mean(false).unwrap_or(0.0),
                mean_weight_noisy: mean(true),
                weights,
                hyper,
                heatmap,
            });
        }
        Ok(PlaygroundView {
            step: self.step,
            learners,
        })
    }
}
