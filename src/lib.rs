//! anirec: an experiment-tracking-first research harness and serving stack
//! for anime recommendation on MyAnimeList data.
//!
//! The library does the work; `src/bin/anirec.rs` and `src/bin/anirec-serve.rs`
//! only parse arguments, set up logging and turn an [`Error`] into its exit
//! code ([`error`] holds the one table).
//!
//! # The modules, in the order data flows through them
//!
//! ```text
//! experiment.yaml ─ config ─▶ Experiment (checked: file/key/allowed values)
//!   cli            one module per command group; calls the library
//!   pipeline       `anirec run`: a run's lifecycle around its stages
//!     data         ingest (polars) → process (clean, split, cache) → Dataset
//!     model::fit   Dataset → Engine: each model::kinds kind fits a part
//!                  (train/ for the burn models)
//!     eval         full-ranking metrics of an Engine (PROTOCOL.md)
//!     track        run store (source of truth) + Comet mirror (outbox)
//!     bundle       Engine + ids + catalogue → a verified folder
//!     report       plots and reports of runs and sweeps
//!   sweep          many runs from one config (grid, random, TPE, ASHA; k8s)
//!   compare        is a difference between runs real (paired tests)
//!   promote        best run → verified copy + PROMOTED.json + registry
//!   serve          bundle → HTTP API and page (anirec-serve)
//! ```
//!
//! `model` (scoring), `bundle`, `eval`, `config` and `sparse` are built for
//! both binaries; everything that needs polars, burn or the network is
//! behind the `train` feature, so `anirec-serve` never links them. Each
//! module's opening comment says what it owns; `docs/architecture.md` has
//! the longer tour, `docs/bundle-format.md` and `docs/protocol.md` the
//! formats.

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
