//! Recommenders. A fitted model is an [`Engine`]: weighted parts (factor
//! embeddings, sparse item-item weights, content vectors, user neighbours,
//! a user-history autoencoder, popularity) over the users' rating
//! histories. The same engine is evaluated,
//! written to the bundle and served, so the numbers we report are the numbers
//! of the model we ship.
//!
//! Scoring (this module's `engine` and `parts`) needs neither burn nor polars;
//! fitting (`fit`) lives behind the `train` feature.

pub mod autoencoder;
pub mod engine;
#[cfg(feature = "train")]
pub mod fit;
pub mod kinds;
pub mod knn_index;
pub mod params;
pub mod parts;
pub mod spec;

pub use engine::{Engine, Member, UserCtx};
pub use parts::{Mat, Part};
