//! Ballast core: models, per-example losses, the hypergradient primitive and the per-step
//! logic of every method. No file I/O, threads or clocks here, so it builds for
//! `wasm32-unknown-unknown` and the browser runs exactly the code the native runner does.

pub mod adversarial;
pub mod attack;
pub mod batch;
pub mod device;
pub mod error;
pub mod host_rng;
pub mod hypergrad;
pub mod jvp;
pub mod kernels;
pub mod loss;
pub mod manifest;
pub mod meta_loss;
pub mod method;
pub mod models;
pub mod params;
pub mod perturbation;
pub mod record;
pub mod reweight;
pub mod seeds;
pub mod ssds;
pub mod step;
pub mod weight_net;

pub use batch::Batch;
pub use burn::prelude::Device;
pub use device::{Backend, DeviceError};
pub use error::CoreError;
pub use hypergrad::{DerivativeScheme, Direction, Perturbation};
pub use loss::LossConfig;
pub use method::{Method, MethodState};
pub use models::{Classifier, InputSpec, Mode, ModelConfig};
pub use seeds::StepSeeds;
