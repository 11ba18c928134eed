//! The runner's error type. Every message names what it is about — the file, the config key,
//! the step, the run directory — and wrapped errors keep their cause as the error source
//! (print the whole chain with [`TrainError::report`] or an `{:#}` of `anyhow`).

use ballast_core::{CoreError, DeviceError};
use ballast_data::DataError;
use std::fmt::Display;
use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TrainError {
    /// A condition the message describes in full.
    #[error("{0}")]
    Message(String),
    /// Reading or writing a file.
    #[error("cannot {action} {}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Context around a cause.
    #[error("{context}")]
    Context {
        context: String,
        #[source]
        source: Box<TrainError>,
    },
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Fetch(#[from] ballast_data::FetchError),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

impl TrainError {
    pub fn msg(message: impl Into<String>) -> Self {
        TrainError::Message(message.into())
    }

    /// The message and every cause, joined by ": ".
    pub fn report(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    }
}

/// Adds context to an error (or turns a missing value into one), keeping the cause.
pub trait Context<T> {
    fn context<C: Display>(self, context: C) -> Result<T>;
    fn with_context<C: Display, F: FnOnce() -> C>(self, context: F) -> Result<T>;
}

impl<T, E: Into<TrainError>> Context<T> for std::result::Result<T, E> {
    fn context<C: Display>(self, context: C) -> Result<T> {
        self.map_err(|e| TrainError::Context {
            context: context.to_string(),
            source: Box::new(e.into()),
        })
    }

    fn with_context<C: Display, F: FnOnce() -> C>(self, context: F) -> Result<T> {
        self.map_err(|e| TrainError::Context {
            context: context().to_string(),
            source: Box::new(e.into()),
        })
    }
}

impl<T> Context<T> for Option<T> {
    fn context<C: Display>(self, context: C) -> Result<T> {
        self.ok_or_else(|| TrainError::msg(context.to_string()))
    }

    fn with_context<C: Display, F: FnOnce() -> C>(self, context: F) -> Result<T> {
        self.ok_or_else(|| TrainError::msg(context().to_string()))
    }
}

/// Returns early with a [`TrainError::Message`] built like `format!`.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::TrainError::msg(format!($($arg)*)))
    };
}
pub(crate) use bail;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_cause_and_report_prints_the_chain_once() {
        let inner: Result<()> = Err(TrainError::msg("unknown field `bta`"));
        let err = inner.context("the [mart] table").unwrap_err();
        assert_eq!(err.to_string(), "the [mart] table");
        assert_eq!(err.report(), "the [mart] table: unknown field `bta`");
        let none: Option<u8> = None;
        assert_eq!(
            none.context("no checkpoint").unwrap_err().report(),
            "no checkpoint"
        );
    }
}
