//! The classifiers. Every model takes flattened inputs in [0, 1] ([B, C·H·W]), normalises
//! inside, and returns both penultimate features and logits (the teacher of the
//! deep-interaction method reads the features).

mod batch_norm;
pub(crate) mod layers;
mod lenet;
mod mlp;
mod normalize;
mod preact_resnet;
mod resnet_cifar;
mod small_cnn;
mod wide_resnet;

pub(crate) use small_cnn::{Activations, WindowedSmallCnn};

pub use batch_norm::{BatchNorm, Mode};
pub use lenet::LeNet;
pub use mlp::Mlp;
pub use normalize::Normalize;
pub use preact_resnet::PreActResNet18;
pub use resnet_cifar::ResNetCifar;
pub use small_cnn::SmallCnn;
pub use wide_resnet::WideResNet;

use crate::error::CoreError;
use crate::jvp::{Dual, Tangents};
use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// What the data looks like to a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Per-example shape: [C, H, W] for images, [D] for vectors.
    pub shape: Vec<usize>,
    pub num_classes: usize,
    /// Per-channel mean and std used by the in-model normalisation.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl InputSpec {
    pub fn features(&self) -> usize {
        self.shape.iter().product()
    }

    /// [C, H, W]; a vector [D] is seen as a D-channel 1×1 image.
    pub fn image_shape(&self) -> [usize; 3] {
        match self.shape.as_slice() {
            [c, h, w] => [*c, *h, *w],
            [d] => [*d, 1, 1],
            other => panic!("unsupported input shape {other:?}"),
        }
    }

    fn normalize(&self, device: &Device) -> Normalize {
        let per_channel = self.features() / self.mean.len().max(1);
        Normalize::new(&self.mean, &self.std, per_channel, device)
    }

    /// Checks the spec is usable with `arch`; a message names the problem.
    pub fn validate(&self, arch: Arch) -> Result<(), CoreError> {
        if self.num_classes < 2 {
            return Err(CoreError::Config(format!(
                "num_classes must be at least 2, got {}",
                self.num_classes
            )));
        }
        if self.features() == 0 {
            return Err(CoreError::Config(format!(
                "input shape {:?} has no features",
                self.shape
            )));
        }
        let channels = if self.shape.len() == 3 {
            self.shape[0]
        } else {
            1
        };
        if self.mean.len() != self.std.len()
            || (self.mean.len() != channels && self.mean.len() != self.features())
        {
            return Err(CoreError::Config(format!(
                "normalisation needs one mean/std per channel ({channels}), got {} / {}",
                self.mean.len(),
                self.std.len()
            )));
        }
        if self.std.iter().any(|s| !(*s > 0.0)) {
            return Err(CoreError::Config(
                "normalisation std must be positive".into(),
            ));
        }
        if arch != Arch::Mlp && self.shape.len() != 3 {
            return Err(CoreError::Config(format!(
                "{arch:?} needs image inputs [C, H, W], got {:?}",
                self.shape
            )));
        }
        Ok(())
    }
}

/// Model families.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    Mlp,
    Lenet,
    /// The small MNIST CNN of Wong et al. (2020): conv 16/32 4×4 stride 2, FC 100.
    SmallCnn,
    PreactResnet18,
    WideResnet,
    ResnetCifar,
}

/// Model choice and size, as written in a run config (`[model]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    pub arch: Arch,
    /// Channel/unit multiplier applied to every layer (width sweeps).
    pub width: f64,
    /// MLP hidden sizes.
    pub hidden: Vec<usize>,
    /// WideResNet depth (6n + 4) or CIFAR ResNet depth (6n + 2).
    pub depth: usize,
    /// WideResNet widening factor k.
    pub widen: usize,
    /// WideResNet dropout between the block convolutions.
    pub dropout: f64,
    /// Round every input to this many grey levels before the network (0: off). A step function
    /// has a zero gradient almost everywhere, so gradient attacks stall on such a model while
    /// it stays as breakable as before: the textbook case of gradient masking (Athalye et al.
    /// 2018), for showing what the attack reports' masking warning catches. Not a defence.
    #[serde(default)]
    pub input_levels: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            arch: Arch::Lenet,
            width: 1.0,
            hidden: vec![256, 256],
            depth: 0,
            widen: 10,
            dropout: 0.0,
            input_levels: 0,
        }
    }
}

impl ModelConfig {
    pub fn mlp(hidden: &[usize]) -> Self {
        Self {
            arch: Arch::Mlp,
            hidden: hidden.to_vec(),
            ..Self::default()
        }
    }

    pub fn of(arch: Arch) -> Self {
        Self {
            arch,
            ..Self::default()
        }
    }

    /// Depth with the family default when 0 (WRN-28, ResNet-32).
    fn depth_or_default(&self) -> usize {
        match (self.arch, self.depth) {
            (Arch::WideResnet, 0) => 28,
            (Arch::ResnetCifar, 0) => 32,
            (_, d) => d,
        }
    }

    pub fn validate(&self, input: &InputSpec) -> Result<(), CoreError> {
        input.validate(self.arch)?;
        if !(self.width > 0.0 && self.width.is_finite()) {
            return Err(CoreError::Config(format!(
                "model.width must be positive, got {}",
                self.width
            )));
        }
        if self.input_levels == 1 {
            return Err(CoreError::Config(
                "model.input_levels must be 0 (no quantiser) or at least 2, got 1".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(CoreError::Config(format!(
                "model.dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        let d = self.depth_or_default();
        match self.arch {
            Arch::WideResnet if d < 10 || (d - 4) % 6 != 0 => Err(CoreError::Config(format!(
                "wide-resnet depth must be 6n + 4 (e.g. 16, 28, 34), got {d}"
            ))),
            Arch::ResnetCifar if d < 8 || (d - 2) % 6 != 0 => Err(CoreError::Config(format!(
                "resnet-cifar depth must be 6n + 2 (e.g. 20, 32, 56), got {d}"
            ))),
            Arch::WideResnet if self.widen == 0 => {
                Err(CoreError::Config("model.widen must be at least 1".into()))
            }
            Arch::Mlp if self.hidden.contains(&0) => {
                Err(CoreError::Config("model.hidden sizes must be > 0".into()))
            }
            Arch::Lenet
            | Arch::SmallCnn
            | Arch::PreactResnet18
            | Arch::WideResnet
            | Arch::ResnetCifar
                if input.shape.len() == 3 && (input.shape[1] < 4 || input.shape[2] < 4) =>
            {
                Err(CoreError::Config(format!(
                    "images of {:?} are too small for {:?}",
                    input.shape, self.arch
                )))
            }
            _ => Ok(()),
        }
    }

    /// Builds the model with all parameters initialised now (lazy init would make the
    /// random stream depend on the order parameters are first read).
    pub fn init(&self, input: &InputSpec, device: &Device) -> Classifier {
        let w = self.width;
        let mut model = match self.arch {
            Arch::Mlp => Classifier::Mlp(Mlp::new(input, &self.hidden, w, device)),
            Arch::Lenet => Classifier::LeNet(LeNet::new(input, w, device)),
            Arch::SmallCnn => Classifier::SmallCnn(SmallCnn::new(input, w, device)),
            Arch::PreactResnet18 => {
                Classifier::PreActResNet18(PreActResNet18::new(input, w, device))
            }
            Arch::WideResnet => Classifier::WideResNet(WideResNet::new(
                input,
                self.depth_or_default(),
                self.widen,
                self.dropout,
                w,
                device,
            )),
            Arch::ResnetCifar => {
                Classifier::ResNetCifar(ResNetCifar::new(input, self.depth_or_default(), w, device))
            }
        };
        model.input_normalize_mut().set_levels(self.input_levels);
        model.visit(&mut TouchParams);
        model
    }
}

pub(crate) struct TouchParams;
impl ModuleVisitor for TouchParams {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// Penultimate features and logits with their tangents along a parameter direction.
#[derive(Clone, Debug)]
pub struct DualOutput {
    /// [B, F]
    pub features: Dual<2>,
    /// [B, K]
    pub logits: Dual<2>,
}

/// Penultimate features and logits of a batch.
#[derive(Clone, Debug)]
pub struct ModelOutput {
    /// [B, F]
    pub features: Tensor<2>,
    /// [B, K]
    pub logits: Tensor<2>,
}

#[derive(Module, Debug)]
pub enum Classifier {
    Mlp(Mlp),
    LeNet(LeNet),
    SmallCnn(SmallCnn),
    PreActResNet18(PreActResNet18),
    WideResNet(WideResNet),
    ResNetCifar(ResNetCifar),
}

/// Test hook: while `ON` is set on a thread, a forward of an input on an autodiff device panics
/// there, so a test can show that an attack never differentiates the model (with the model on a
/// plain device, a gradient needs an autodiff input, and so such a forward).
#[cfg(test)]
pub(crate) mod forbid_differentiable_forwards {
    use std::cell::Cell;
    thread_local! {
        pub(crate) static ON: Cell<bool> = const { Cell::new(false) };
    }
}

impl Classifier {
    /// Forward pass that also carries tangents along the parameter direction `v`
    /// (`None`: the ordinary forward). x: [B, D] in [0, 1].
    pub fn forward_dual(&self, x: Dual<2>, mode: Mode, v: Option<Tangents>) -> DualOutput {
        #[cfg(test)]
        assert!(
            !(forbid_differentiable_forwards::ON.get() && x.p.is_autodiff()),
            "a differentiable forward (the first step of any gradient) under forbid_differentiable_forwards"
        );
        match self {
            Classifier::Mlp(m) => m.forward_dual(x, v),
            Classifier::LeNet(m) => m.forward_dual(x, v),
            Classifier::SmallCnn(m) => m.forward_dual(x, v),
            Classifier::PreActResNet18(m) => m.forward_dual(x, mode, v),
            Classifier::WideResNet(m) => m.forward_dual(x, mode, v),
            Classifier::ResNetCifar(m) => m.forward_dual(x, mode, v),
        }
    }

    /// The input standardisation (and quantiser) in front of the network.
    fn input_normalize_mut(&mut self) -> &mut Normalize {
        match self {
            Classifier::Mlp(m) => &mut m.norm,
            Classifier::LeNet(m) => &mut m.norm,
            Classifier::SmallCnn(m) => &mut m.norm,
            Classifier::PreActResNet18(m) => &mut m.norm,
            Classifier::WideResNet(m) => &mut m.norm,
            Classifier::ResNetCifar(m) => &mut m.norm,
        }
    }

    /// Switches the randomised defence on: every forward adds σ·N(0, I) to its input x in
    /// [0, 1] before the normalisation (a fresh draw each time, in every mode; σ = 0 switches
    /// it off). See [`Normalize::set_input_noise`]. Evaluate such a model with EOT
    /// (`AttackConfig::eot_draws`).
    pub fn set_input_noise(&mut self, sigma: f64) {
        self.input_normalize_mut().set_input_noise(sigma);
    }

    /// The σ of [`Classifier::set_input_noise`] (0: deterministic).
    pub fn input_noise(&self) -> f64 {
        match self {
            Classifier::Mlp(m) => m.norm.input_noise(),
            Classifier::LeNet(m) => m.norm.input_noise(),
            Classifier::SmallCnn(m) => m.norm.input_noise(),
            Classifier::PreActResNet18(m) => m.norm.input_noise(),
            Classifier::WideResNet(m) => m.norm.input_noise(),
            Classifier::ResNetCifar(m) => m.norm.input_noise(),
        }
    }

    /// x: [B, D] in [0, 1] -> features and logits.
    pub fn forward_output(&self, x: Tensor<2>, mode: Mode) -> ModelOutput {
        let out = self.forward_dual(Dual::constant(x), mode, None);
        ModelOutput {
            features: out.features.p,
            logits: out.logits.p,
        }
    }

    /// x: [B, D] in [0, 1] -> logits [B, K].
    pub fn forward(&self, x: Tensor<2>, mode: Mode) -> Tensor<2> {
        self.forward_output(x, mode).logits
    }

    /// The model's forward on the host that re-evaluates only a changed input window, where
    /// it has one (the small CNN without an input quantiser).
    pub(crate) fn windowed_forward(&self) -> Option<WindowedSmallCnn> {
        match self {
            Classifier::SmallCnn(m) => WindowedSmallCnn::new(m),
            _ => None,
        }
    }

    /// The input as an image [C, H, W] (an MLP's D features: [1, 1, D]).
    pub fn image_shape(&self) -> [usize; 3] {
        match self {
            Classifier::Mlp(m) => [1, 1, m.input_features()],
            Classifier::LeNet(m) => m.image_shape(),
            Classifier::SmallCnn(m) => m.image_shape(),
            Classifier::PreActResNet18(m) => m.image_shape(),
            Classifier::WideResNet(m) => m.image_shape(),
            Classifier::ResNetCifar(m) => m.image_shape(),
        }
    }

    /// Whether a forward pass in `Mode::Train` updates BatchNorm running statistics.
    pub fn has_batch_norm(&self) -> bool {
        matches!(
            self,
            Classifier::PreActResNet18(_) | Classifier::WideResNet(_) | Classifier::ResNetCifar(_)
        )
    }

    /// Number of scalar parameters.
    pub fn num_scalars(&self) -> usize {
        self.num_params()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn cifar_like() -> InputSpec {
        InputSpec {
            shape: vec![3, 16, 16],
            num_classes: 10,
            mean: vec![0.5; 3],
            std: vec![0.25; 3],
        }
    }

    fn check_shapes(cfg: ModelConfig, input: &InputSpec, features: usize) {
        let device = Device::flex();
        cfg.validate(input).unwrap();
        let model = cfg.init(input, &device);
        let x = Tensor::<2>::random(
            [3, input.features()],
            Distribution::Uniform(0.0, 1.0),
            &device,
        );
        for mode in [Mode::Train, Mode::Probe, Mode::Eval] {
            let out = model.forward_output(x.clone(), mode);
            assert_eq!(out.logits.dims(), [3, input.num_classes], "{cfg:?}");
            assert_eq!(out.features.dims(), [3, features], "{cfg:?}");
        }
    }

    /// Behind the quantiser the model sees round(x·(L−1))/(L−1), and the input gradient is zero.
    #[test]
    fn input_quantiser_rounds_inputs_and_has_zero_input_gradient() {
        let input = InputSpec {
            shape: vec![1, 6, 6],
            num_classes: 3,
            mean: vec![0.4],
            std: vec![0.3],
        };
        let device = Device::flex();
        device.seed(5);
        let plain = ModelConfig::of(Arch::SmallCnn).init(&input, &device);
        let mut quantised = plain.clone();
        quantised.input_normalize_mut().set_levels(4);
        let x = Tensor::<2>::random([5, 36], Distribution::Uniform(0.0, 1.0), &device);
        let rounded = x.clone().mul_scalar(3.0).round().div_scalar(3.0);
        let a = quantised.forward(x.clone(), Mode::Eval);
        let b = plain.forward(rounded, Mode::Eval);
        let gap = (a - b).abs().max().into_scalar::<f32>();
        assert!(gap < 1e-6, "{gap}");
        let xt = x.autodiff().require_grad();
        let grads = quantised.forward(xt.clone(), Mode::Eval).sum().backward();
        let g = xt.grad(&grads).expect("input gradient");
        assert_eq!(g.abs().max().into_scalar::<f32>(), 0.0);
        let bad = ModelConfig {
            input_levels: 1,
            ..ModelConfig::of(Arch::SmallCnn)
        };
        assert!(
            bad.validate(&input)
                .unwrap_err()
                .to_string()
                .contains("input_levels")
        );
    }

    #[test]
    fn every_architecture_maps_inputs_to_logits_and_features() {
        let mnist = InputSpec {
            shape: vec![1, 28, 28],
            num_classes: 10,
            mean: vec![0.13],
            std: vec![0.31],
        };
        check_shapes(ModelConfig::mlp(&[64, 32]), &mnist, 32);
        check_shapes(ModelConfig::of(Arch::Lenet), &mnist, 100);
        check_shapes(ModelConfig::of(Arch::SmallCnn), &mnist, 100);
        let mut preact = ModelConfig::of(Arch::PreactResnet18);
        preact.width = 0.125;
        check_shapes(preact, &cifar_like(), 64);
        let mut wrn = ModelConfig::of(Arch::WideResnet);
        (wrn.depth, wrn.widen, wrn.dropout) = (10, 2, 0.3);
        check_shapes(wrn, &cifar_like(), 128);
        let mut resnet = ModelConfig::of(Arch::ResnetCifar);
        resnet.depth = 14;
        check_shapes(resnet, &cifar_like(), 64);
    }

    #[test]
    fn width_multiplier_scales_parameter_count() {
        let input = InputSpec {
            shape: vec![1, 28, 28],
            num_classes: 10,
            mean: vec![0.13],
            std: vec![0.31],
        };
        let count = |w: f64| {
            let mut cfg = ModelConfig::of(Arch::Lenet);
            cfg.width = w;
            cfg.init(&input, &Device::flex()).num_params()
        };
        // 5x5 convolutions dominate: roughly quadratic in width.
        assert!(
            count(2.0) > 3 * count(1.0),
            "{} vs {}",
            count(2.0),
            count(1.0)
        );
        assert!(count(0.5) < count(1.0));
    }

    #[test]
    fn batch_norm_modes_are_explicit() {
        let device = Device::flex().autodiff();
        let mut cfg = ModelConfig::of(Arch::ResnetCifar);
        cfg.depth = 8;
        cfg.width = 0.25;
        let input = cifar_like();
        let model = cfg.init(&input, &device);
        let x = Tensor::<2>::random(
            [8, input.features()],
            Distribution::Uniform(0.0, 1.0),
            &device,
        );
        let eval = |m: &Classifier| m.forward(x.clone(), Mode::Eval).into_data();
        let before = eval(&model);
        // Probe uses batch statistics but leaves the running statistics alone.
        let probe = model.forward(x.clone(), Mode::Probe).into_data();
        assert_ne!(probe, before, "probe must use batch statistics");
        assert_eq!(
            eval(&model),
            before,
            "probe must not update running statistics"
        );
        // Train updates them.
        let _ = model.forward(x.clone(), Mode::Train);
        assert_ne!(eval(&model), before, "train must update running statistics");
        // A plain (inference) copy keeps train mode available on demand too.
        let plain = model.valid();
        let a = plain.forward(x.clone().inner(), Mode::Probe).into_data();
        let b = plain.forward(x.clone().inner(), Mode::Probe).into_data();
        assert_eq!(a, b);
    }

    #[test]
    fn invalid_configs_are_rejected_with_a_reason() {
        let input = cifar_like();
        let mut wrn = ModelConfig::of(Arch::WideResnet);
        wrn.depth = 27;
        assert!(
            wrn.validate(&input)
                .unwrap_err()
                .to_string()
                .contains("6n + 4")
        );
        let mut lenet = ModelConfig::of(Arch::Lenet);
        lenet.width = 0.0;
        assert!(
            lenet
                .validate(&input)
                .unwrap_err()
                .to_string()
                .contains("width")
        );
        let vector = InputSpec {
            shape: vec![2],
            num_classes: 2,
            mean: vec![0.0],
            std: vec![1.0],
        };
        assert!(ModelConfig::of(Arch::Lenet).validate(&vector).is_err());
        assert!(ModelConfig::mlp(&[8]).validate(&vector).is_ok());
    }
}

/// Small models for tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::{Arch, InputSpec, ModelConfig};

    /// A CIFAR ResNet-8 at a quarter of the width on 3×8×8 inputs with 3 classes: BatchNorm
    /// and residual blocks in a few milliseconds.
    pub fn resnet8() -> (ModelConfig, InputSpec) {
        let mut cfg = ModelConfig::of(Arch::ResnetCifar);
        cfg.depth = 8;
        cfg.width = 0.25;
        let input = InputSpec {
            shape: vec![3, 8, 8],
            num_classes: 3,
            mean: vec![0.5; 3],
            std: vec![0.25; 3],
        };
        (cfg, input)
    }
}
