//! The conditional VAE of a learned perturbation set (Wong & Kolter, ICLR 2021): a prior
//! network p(z | x), a recognition network q(z | x, x̃) and a generator g(z, x). Images are
//! flattened [B, C·H·W] in [0, 1]; latents are [B, L] diagonal Gaussians whose log-variance is
//! bounded to [ln 1e-3, ln 10] by a scaled tanh.
//!
//! Encoders: two 4×4 stride-2 convolutions (32, 64 channels; H -> H/4), FC 256, then two
//! linear heads (μ, log σ²). Generator: the same convolutions read x; z goes through a linear
//! map to a 64·(H/4)·(W/4) map; both are concatenated, convolved, upsampled twice (nearest,
//! each followed by a 3×3 convolution: 32 then 16 channels) and concatenated with x again
//! before the last 3×3 convolution, so the generator has a short path to "x plus a change".

use super::affine_generator::AffineGenerator;
use crate::error::CoreError;
use crate::models::layers::scaled;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};
use serde::{Deserialize, Serialize};

/// Bounds of every log-variance head (the reference code's `ScaledTanh`).
pub const LOGVAR_MIN: f64 = -6.907_755_278_982_137; // ln 1e-3
pub const LOGVAR_MAX: f64 = 2.302_585_092_994_046; // ln 10

/// Observation model of the reconstruction term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Likelihood {
    /// Binary cross-entropy summed over pixels (MNIST-like grey images).
    Bernoulli,
    /// Squared error summed over pixels (RGB; no 1/2σ² factor, as in the reference code).
    Gaussian,
}

/// Architecture of a CVAE (saved as `cvae.json` beside its checkpoints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CvaeConfig {
    /// Per-example image shape [C, H, W]; H and W must be multiples of 4.
    pub shape: [usize; 3],
    /// Latent dimension L.
    pub latent: usize,
    /// Channel / unit multiplier of every layer.
    pub width: f64,
    pub likelihood: Likelihood,
    #[serde(default)]
    pub generator: GeneratorKind,
}

impl CvaeConfig {
    pub fn features(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn validate(&self) -> Result<(), CoreError> {
        let [c, h, w] = self.shape;
        if c == 0 || h < 4 || w < 4 || h % 4 != 0 || w % 4 != 0 {
            return Err(CoreError::Config(format!(
                "the CVAE needs images [C, H, W] with H and W multiples of 4, got {:?}",
                self.shape
            )));
        }
        if self.latent == 0 {
            return Err(CoreError::Config(
                "perturbation.latent must be at least 1".into(),
            ));
        }
        if !(self.width > 0.0 && self.width.is_finite()) {
            return Err(CoreError::Config(format!(
                "perturbation.width must be positive, got {}",
                self.width
            )));
        }
        Ok(())
    }

    /// Builds the CVAE with all parameters initialised now.
    pub fn init(&self, device: &Device) -> Cvae {
        let [c, _, _] = self.shape;
        let cvae = Cvae {
            set: self.init_set(device),
            recognition: Encoder::new(2 * c, self, device),
        };
        cvae.visit(&mut crate::models::TouchParams);
        cvae
    }

    /// Only the perturbation set (prior and generator), e.g. to load a shipped one.
    pub fn init_set(&self, device: &Device) -> PerturbationSet {
        let set = PerturbationSet {
            prior: Encoder::new(self.shape[0], self, device),
            generator: Generator::new(self, device),
            shape: self.shape,
            latent: self.latent,
        };
        set.visit(&mut crate::models::TouchParams);
        set
    }
}

/// A diagonal Gaussian over the latent space, [B, L] each.
#[derive(Clone, Debug)]
pub struct Gaussian {
    pub mu: Tensor<2>,
    pub logvar: Tensor<2>,
}

impl Gaussian {
    /// σ = exp(½ log σ²), [B, L].
    pub fn sigma(&self) -> Tensor<2> {
        (self.logvar.clone() * 0.5).exp()
    }

    /// z = μ + σ ⊙ u for a standardised latent u [B, L].
    pub fn latent(&self, u: Tensor<2>) -> Tensor<2> {
        self.mu.clone() + self.sigma() * u
    }

    /// u = (z − μ) / σ: the standardised coordinates of z.
    pub fn standardize(&self, z: Tensor<2>) -> Tensor<2> {
        (z - self.mu.clone()) / self.sigma()
    }

    pub fn detach(self) -> Self {
        Self {
            mu: self.mu.detach(),
            logvar: self.logvar.detach(),
        }
    }

    pub fn inner(self) -> Self {
        Self {
            mu: self.mu.inner(),
            logvar: self.logvar.inner(),
        }
    }
}

/// 4×4 stride-2 convolution with padding 1: H -> H/2.
fn down(c_in: usize, c_out: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [4, 4])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

fn conv3x3(c_in: usize, c_out: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

/// Nearest-neighbour ×2 upsampling, [B, C, H, W] -> [B, C, 2H, 2W].
fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .expand([b, c, h, 2, w, 2])
        .reshape([b, c, 2 * h, 2 * w])
}

/// Image(s) -> diagonal Gaussian over the latent space.
#[derive(Module, Debug)]
pub struct Encoder {
    convs: Vec<Conv2d>,
    fc: Linear,
    mu: Linear,
    logvar: Linear,
    /// [C_in, H, W] of the (possibly concatenated) input.
    shape: [usize; 3],
}

impl Encoder {
    fn new(c_in: usize, cfg: &CvaeConfig, device: &Device) -> Self {
        let [_, h, w] = cfg.shape;
        let ch = [c_in, scaled(32, cfg.width), scaled(64, cfg.width)];
        let hidden = scaled(256, cfg.width);
        Self {
            convs: vec![down(ch[0], ch[1], device), down(ch[1], ch[2], device)],
            fc: LinearConfig::new(ch[2] * (h / 4) * (w / 4), hidden).init(device),
            mu: LinearConfig::new(hidden, cfg.latent).init(device),
            logvar: LinearConfig::new(hidden, cfg.latent).init(device),
            shape: [c_in, h, w],
        }
    }

    /// x: [B, C_in·H·W] -> N(μ, diag σ²), [B, L] each.
    pub fn forward(&self, x: Tensor<2>) -> Gaussian {
        let [b, _] = x.dims();
        let [c, h, w] = self.shape;
        let mut t = x.reshape([b, c, h, w]);
        for conv in &self.convs {
            t = relu(conv.forward(t)); // [B, C', H/2, W/2]
        }
        let t = relu(self.fc.forward(t.flatten(1, 3))); // [B, 256]
        Gaussian {
            mu: self.mu.forward(t.clone()),
            logvar: bounded_logvar(self.logvar.forward(t)),
        }
    }
}

/// Scaled tanh onto [LOGVAR_MIN, LOGVAR_MAX] (0 maps to the middle of the range).
fn bounded_logvar(raw: Tensor<2>) -> Tensor<2> {
    let half = 0.5 * (LOGVAR_MAX - LOGVAR_MIN);
    raw.tanh() * half + (LOGVAR_MIN + half)
}

/// Which generator a CVAE uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GeneratorKind {
    /// Convolutional (appearance changes: corruptions).
    #[default]
    Conv,
    /// Spatial transformer: z -> an affine warp of x (geometric changes: RTS).
    Affine,
}

/// (z, x) -> logits of the perturbed image.
#[derive(Module, Debug)]
pub enum Generator {
    Conv(ConvGenerator),
    Affine(AffineGenerator),
}

impl Generator {
    fn new(cfg: &CvaeConfig, device: &Device) -> Self {
        match cfg.generator {
            GeneratorKind::Conv => Generator::Conv(ConvGenerator::new(cfg, device)),
            GeneratorKind::Affine => Generator::Affine(AffineGenerator::new(
                cfg.shape,
                cfg.latent,
                scaled(64, cfg.width),
                device,
            )),
        }
    }

    /// z: [B, L], x: [B, C·H·W] -> logits [B, C·H·W] (the image is their sigmoid).
    pub fn forward(&self, z: Tensor<2>, x: Tensor<2>) -> Tensor<2> {
        match self {
            Generator::Conv(g) => g.forward(z, x),
            Generator::Affine(g) => g.forward(z, x),
        }
    }
}

/// The convolutional generator: x features and a z map, upsampled, with x concatenated again
/// before the last convolution.
#[derive(Module, Debug)]
pub struct ConvGenerator {
    x_convs: Vec<Conv2d>,
    z_fc: Linear,
    mid: Conv2d,
    up: Vec<Conv2d>,
    out: Conv2d,
    shape: [usize; 3],
    /// Channels of the z map at H/4 × W/4.
    z_channels: usize,
}

impl ConvGenerator {
    fn new(cfg: &CvaeConfig, device: &Device) -> Self {
        let [c, h, w] = cfg.shape;
        let (c16, c32, c64) = (
            scaled(16, cfg.width),
            scaled(32, cfg.width),
            scaled(64, cfg.width),
        );
        Self {
            x_convs: vec![down(c, c32, device), down(c32, c64, device)],
            z_fc: LinearConfig::new(cfg.latent, c64 * (h / 4) * (w / 4)).init(device),
            mid: conv3x3(2 * c64, c64, device),
            up: vec![conv3x3(c64, c32, device), conv3x3(c32, c16, device)],
            out: conv3x3(c16 + c, c, device),
            shape: cfg.shape,
            z_channels: c64,
        }
    }

    /// z: [B, L], x: [B, C·H·W] -> logits [B, C·H·W] (the image is their sigmoid).
    pub fn forward(&self, z: Tensor<2>, x: Tensor<2>) -> Tensor<2> {
        let [b, _] = x.dims();
        let [c, h, w] = self.shape;
        let image = x.reshape([b, c, h, w]);
        let mut fx = image.clone();
        for conv in &self.x_convs {
            fx = relu(conv.forward(fx)); // [B, C', H/2, W/2]
        }
        let fz = relu(self.z_fc.forward(z)).reshape([b, self.z_channels, h / 4, w / 4]);
        let mut t = relu(self.mid.forward(Tensor::cat(vec![fx, fz], 1))); // [B, 64, H/4, W/4]
        for conv in &self.up {
            t = relu(conv.forward(upsample2(t))); // [B, 32 | 16, 2h, 2w]
        }
        self.out
            .forward(Tensor::cat(vec![t, image], 1)) // [B, C, H, W]
            .flatten(1, 3)
    }
}

/// The perturbation set itself: the prior p(z | x) and the generator g(z, x), i.e. everything
/// needed to sample, attack and certify (what the demo page ships).
#[derive(Module, Debug)]
pub struct PerturbationSet {
    pub prior: Encoder,
    pub generator: Generator,
    shape: [usize; 3],
    latent: usize,
}

impl PerturbationSet {
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    pub fn latent_dim(&self) -> usize {
        self.latent
    }

    /// p(z | x), x: [B, D].
    pub fn prior(&self, x: Tensor<2>) -> Gaussian {
        self.prior.forward(x)
    }

    /// Generator logits, [B, D].
    pub fn generate_logits(&self, z: Tensor<2>, x: Tensor<2>) -> Tensor<2> {
        self.generator.forward(z, x)
    }

    /// The generated image g(z, x) in [0, 1], [B, D].
    pub fn generate(&self, z: Tensor<2>, x: Tensor<2>) -> Tensor<2> {
        sigmoid(self.generate_logits(z, x))
    }

    /// A point of the set: g(μ_p(x) + σ_p(x) ⊙ u, x) for standardised u [B, L].
    pub fn perturb(&self, x: Tensor<2>, u: Tensor<2>) -> Tensor<2> {
        let prior = self.prior(x.clone());
        self.generate(prior.latent(u), x)
    }

    /// A random draw from the prior: g(μ_p + σ_p ⊙ N(0, I), x) (the `cvae-aug` baseline).
    pub fn sample(&self, x: Tensor<2>) -> Tensor<2> {
        let [b, _] = x.dims();
        let u = crate::host_rng::float(
            [b, self.latent],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &x.device(),
        );
        self.perturb(x, u)
    }
}

/// The whole CVAE: the perturbation set plus the recognition network q(z | x, x̃) that only
/// training and the quality metrics use.
#[derive(Module, Debug)]
pub struct Cvae {
    pub set: PerturbationSet,
    pub recognition: Encoder,
}

impl Cvae {
    pub fn shape(&self) -> [usize; 3] {
        self.set.shape()
    }

    pub fn latent_dim(&self) -> usize {
        self.set.latent_dim()
    }

    /// p(z | x), x: [B, D].
    pub fn prior(&self, x: Tensor<2>) -> Gaussian {
        self.set.prior(x)
    }

    /// q(z | x, x̃), both [B, D].
    pub fn recognition(&self, x: Tensor<2>, x_tilde: Tensor<2>) -> Gaussian {
        self.recognition.forward(Tensor::cat(vec![x, x_tilde], 1))
    }

    pub fn generate_logits(&self, z: Tensor<2>, x: Tensor<2>) -> Tensor<2> {
        self.set.generate_logits(z, x)
    }

    pub fn generate(&self, z: Tensor<2>, x: Tensor<2>) -> Tensor<2> {
        self.set.generate(z, x)
    }

    pub fn perturb(&self, x: Tensor<2>, u: Tensor<2>) -> Tensor<2> {
        self.set.perturb(x, u)
    }

    pub fn sample(&self, x: Tensor<2>) -> Tensor<2> {
        self.set.sample(x)
    }
}
