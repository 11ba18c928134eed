//! The default bundle of the page: every JavaScript entry point of `ballast-web` on the CPU
//! backend only. Every visitor loads it; the WebGPU bundle (`web/gpu`) follows when the browser
//! offers an adapter.

#[cfg(target_arch = "wasm32")]
pub use ballast_web::*;
