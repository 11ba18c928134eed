//! The WebGPU bundle of the page: every JavaScript entry point of `ballast-web`, compiled with
//! Burn's WebGPU backend. A separate crate so that the default (CPU) bundle stays small: the
//! WebGPU stack is most of the code (see docs/results/web.md).

#[cfg(target_arch = "wasm32")]
pub use ballast_web::*;
