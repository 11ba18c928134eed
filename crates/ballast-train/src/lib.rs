//! Native runner for Ballast: run configs, data preparation, the training loop with
//! checkpoints and resume, metrics, plots, evaluation and benchmarks.

pub mod attack_report;
pub mod bench;
pub mod checkpoint;
pub mod compare;
pub mod config;
pub mod cvae_quality;
pub mod cvae_run;
pub mod data;
pub mod eval;
pub mod export;
pub mod metrics;
pub mod perturbation;
pub mod perturbation_report;
pub mod plot;
pub mod robust_eval;
pub mod run;
pub mod weights;

pub use config::RunConfig;

/// The Burn release every crate is pinned to (recorded in reports and the browser manifest).
pub const BURN_VERSION: &str = "0.22.1";
