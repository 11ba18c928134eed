//! Ballast in the browser. The page's four panels run the core crate's models, attacks and
//! method steps on Burn's WebGPU backend (CPU `flex` fallback):
//!
//! - [`playground`]: ERM vs a reweighting method, trained live on noisy 2-D or MNIST data;
//! - [`attack_lab`]: every attack of the core's suite (AutoAttack's included) on natively trained
//!   standard, PGD-AT, MART and SSDS checkpoints;
//! - the robust-overfitting curves, drawn by the page from a shipped JSON file;
//! - [`explorer`]: a learned perturbation set's ε-ball and its latent attack.
//!
//! [`bindings`] is the JavaScript surface, called from a Web Worker (web/js/engine-worker.js);
//! everything else is plain Rust, tested natively.

pub mod attack_lab;
pub mod backend;
pub mod bindings;
pub mod digit_input;
pub mod explorer;
pub mod playground;
pub mod read;
pub mod render;
pub mod shipped;
