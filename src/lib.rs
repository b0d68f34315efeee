//! anirec: an experiment-tracking-first research harness and serving stack
//! for anime recommendation on MyAnimeList data.
//!
//! The library does the work; `src/bin/anirec.rs` only parses arguments and
//! maps [`Error`] to exit codes. The data flow and the module map are in
//! `docs/architecture.md`; the evaluation protocol in `docs/protocol.md`; the
//! model bundle in `docs/bundle-format.md`.

// Always built (the serving side needs them): no burn, no polars.
pub mod bundle;
pub mod config;
pub mod error;
pub mod eval;
pub mod logging;
pub mod model;
#[cfg(feature = "serve")]
pub mod serve;
pub mod sparse;
#[doc(hidden)]
pub mod testdata;
pub(crate) mod util;

// The research side: data pipeline (polars), training (burn, faer), runs.
#[cfg(feature = "train")]
pub mod cli;
#[cfg(feature = "train")]
pub mod compare;
#[cfg(feature = "train")]
pub mod data;
#[cfg(feature = "train")]
pub(crate) mod net;
#[cfg(feature = "train")]
pub mod pipeline;
#[cfg(feature = "train")]
pub(crate) mod progress;
#[cfg(feature = "train")]
pub mod promote;
#[cfg(feature = "train")]
pub mod report;
#[cfg(feature = "train")]
pub mod sweep;
#[cfg(feature = "train")]
pub mod track;
#[cfg(feature = "train")]
pub mod train;

pub use error::{Error, Result};
