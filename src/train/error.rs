//! Why training failed, as one error type for both trainers and the
//! checkpoint file.

use std::fmt;
use std::path::Path;

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading or writing a checkpoint failed.
    #[error("training I/O error: {0}")]
    Io(String),
    /// The input, the parameters or a checkpoint are not usable.
    #[error("invalid training setup: {0}")]
    Invalid(String),
    /// A checkpoint was written by a run on other data or with other
    /// parameters: resuming from it would mix two runs, so it is refused
    /// (and left as it is).
    #[error(
        "checkpoint {path} belongs to another run ({why}); delete it or use another run directory"
    )]
    OtherRun {
        /// The checkpoint file.
        path: std::path::PathBuf,
        /// What differs.
        why: String,
    },
}

pub(crate) fn invalid(msg: impl Into<String>) -> TrainError {
    TrainError::Invalid(msg.into())
}

pub(crate) fn io_err(path: &Path, what: &str, e: impl fmt::Display) -> TrainError {
    TrainError::Io(format!("{what} {}: {e}", path.display()))
}
