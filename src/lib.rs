//! anirec: an experiment-tracking-first research harness and serving stack
//! for anime recommendation on MyAnimeList data.
//!
//! The library does the work; `src/bin/anirec.rs` only parses arguments and
//! maps [`Error`] to exit codes. See DESIGN.md for the data flow.

pub mod bundle;
#[cfg(feature = "train")]
pub mod cli;
pub mod config;
pub mod data;
mod error;
pub mod eval;
pub mod model;
pub mod pipeline;
pub(crate) mod progress;
pub mod track;
#[cfg(feature = "train")]
pub mod train;
pub(crate) mod util;

pub use error::{Error, Result};
