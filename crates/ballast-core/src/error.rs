//! The core crate's error type: what a caller gets back from configs, method setup, state
//! files and shipped assets. Messages name the setting, file or method concerned.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CoreError {
    /// A setting is out of range or inconsistent; the message names the key.
    #[error("{0}")]
    Config(String),
    /// A method needs something its host (trainer, benchmark, page) did not provide.
    #[error("method {method} needs {what}")]
    Missing {
        method: &'static str,
        what: &'static str,
    },
    /// Bytes that should hold a module, an optimiser state or a method's state do not.
    #[error("{what}: {reason}")]
    Decode { what: String, reason: String },
    /// Encoding a module or optimiser state failed.
    #[error("cannot encode {what}: {reason}")]
    Encode { what: String, reason: String },
    /// A data operation (corruptions, transforms) refused its input.
    #[error(transparent)]
    Data(#[from] ballast_data::DataError),
}

impl CoreError {
    /// A configuration error with its message.
    pub fn config(msg: impl Into<String>) -> Self {
        CoreError::Config(msg.into())
    }
}
