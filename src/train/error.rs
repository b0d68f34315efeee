//! Why training failed, as one error type for both trainers and the
//! checkpoint file.

use std::fmt;
use std::path::Path;

/// Why training failed.
#[derive(Debug)]
pub enum TrainError {
    /// Reading or writing a checkpoint failed.
    Io(String),
    /// The input, the parameters or a checkpoint are not usable.
    Invalid(String),
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::Io(m) => write!(f, "training I/O error: {m}"),
            TrainError::Invalid(m) => write!(f, "invalid training setup: {m}"),
        }
    }
}

impl std::error::Error for TrainError {}

pub(crate) fn invalid(msg: impl Into<String>) -> TrainError {
    TrainError::Invalid(msg.into())
}

pub(crate) fn io_err(path: &Path, what: &str, e: impl fmt::Display) -> TrainError {
    TrainError::Io(format!("{what} {}: {e}", path.display()))
}
