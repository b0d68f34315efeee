//! The library's top-level error and its stable exit codes.

use crate::config::ConfigError;
#[cfg(feature = "train")]
use crate::data::DataError;

/// Any failure of an anirec command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad experiment file or override.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Bad or missing input data.
    #[cfg(feature = "train")]
    #[error(transparent)]
    Data(#[from] DataError),
    /// Model fitting or scoring failed.
    #[error("model: {0}")]
    Model(String),
    /// A run directory, bundle or output problem.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A command-line request that cannot be served.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// Exit code, stable across releases (scripts and Jenkins rely on them):
    /// 2 usage/config, 3 data, 4 model, 5 I/O.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Usage(_) => 2,
            #[cfg(feature = "train")]
            Error::Data(_) => 3,
            Error::Model(_) => 4,
            Error::Io(_) => 5,
        }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
