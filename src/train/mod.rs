//! Training of the learnt models, on burn 0.21 (CPU `NdArray` backend with
//! reverse-mode `Autodiff`).
//!
//! * [`train_recommender_net`]: a faithful reproduction of the original Keras
//!   `RecommenderNet` (cosine of two embeddings → Dense(1) → BatchNorm →
//!   sigmoid, binary cross-entropy on min-max scaled ratings, Adam, per-epoch
//!   learning rate, early stopping that keeps the best weights), with atomic
//!   per-epoch checkpoints and resume (`recnet/`).
//! * [`train_mf_bpr`]: matrix factorisation with item bias trained with the BPR
//!   ranking loss and sampled negatives (`mf_bpr/`).
//! * [`train_feature_mf`]: LightFM's hybrid factorisation (items as sums of
//!   feature embeddings) with the WARP loss, a sequential host loop
//!   (`feature_mf/`).
//! * [`train_mult_vae`]: the Mult-VAE of Liang et al. (2018) in stock burn
//!   ops and burn's own optimizers (`optim`), no fused kernel (`mult_vae/`).
//!
//! mf_bpr, mult_vae and feature_mf share what happens between epochs
//! (`epochs`: the watcher, early stopping, history, atomic checkpoint and
//! resume); recommender_net keeps its own checkpoint metadata (so runs
//! checkpointed before keep resuming) and shares the watcher and the
//! early-stopping state with them.
//!
//! Speed: the model graphs are tiny but the tensors are not (a batch touches
//! 2 × 10 000 × 128 embedding floats and Adam updates every row of both
//! tables each step, as Keras does). Composed from stock burn pieces on
//! burn-ndarray (single-threaded, no SIMD in this feature set) one MAL-scale
//! batch costs ~70 ms (forward 21, backward 35, Adam 12–17): ~22 s an epoch,
//! twice the 10.3 s of the original Keras model (`benches/train.rs`).
//! burn's `Module`/`Param`/`Optimizer`/record machinery is kept; the hot
//! paths are replaced:
//! * gather + (normalised) dot is one custom autodiff op (`kernels`) whose
//!   forward and backward are rayon loops over the tables' host slices
//!   (zero-copy, `host`), with the row gradients scatter-added straight
//!   into the dense table gradient;
//! * the Dense(1) + BatchNorm head runs on 1-D tensors (see
//!   `recnet/net.rs`), avoiding burn-ndarray's row-by-row reduction of
//!   [batch, 1] broadcast gradients;
//! * Adam is [`KerasAdam`], a burn `SimpleOptimizer` doing the update in
//!   one parallel pass over buffers it takes over without copying;
//! * dense gradient buffers are recycled (`pool`) instead of re-mapped.
//!
//! Result at MAL scale (3.18 M rows, 4 200 × 17 000, dim 128, batch 10 000,
//! 2 cores): ~2.1–2.7 s an epoch (`benches/pipeline.rs`, `benches/train.rs`).
//!
//! Everything random (initial weights, shuffles, negatives) comes from
//! `rand_pcg` streams derived from the caller's seed and the epoch number
//! (`rng`), so a run is reproducible and resuming from a checkpoint
//! continues exactly.
//!
//! One concern per file: `error` (why training failed), `input` (what the
//! trainers read), `metrics` (what they report per epoch), `rng`, `host`
//! (backends and host access to tensors), `pool` (buffer recycling),
//! `kernels` (the fused autodiff ops), `adam`, `optim` (burn's stock
//! optimizers by name), `checkpoint` (the file
//! format), `early_stop` (on a metric other than the trainer's loss),
//! `epochs` (what mf_bpr, mult_vae and feature_mf share between epochs:
//! the watcher, early stopping, history, checkpoint and resume), then
//! one folder per model.

mod adam;
mod checkpoint;
mod early_stop;
mod epochs;
mod error;
mod feature_mf;
mod host;
mod input;
mod kernels;
mod metrics;
mod mf_bpr;
mod mult_vae;
mod optim;
mod pool;
mod positives;
mod recnet;
mod rng;
#[cfg(test)]
mod testutil;

pub use adam::KerasAdam;
pub use early_stop::{EarlyStop, Goal};
pub use epochs::{EpochRun, Trained, Verdict, Watcher};
pub use error::TrainError;
pub use feature_mf::{train_feature_mf, FeatureMfModel, FeatureMfParams};
pub use host::{EvalBackend, TrainBackend};
pub use input::{TrainInput, Triplets};
pub use metrics::EpochMetrics;
pub use mf_bpr::{train_mf_bpr, train_mf_bpr_probed, MfBprModel, MfBprParams};
pub use mult_vae::{train_mult_vae, MultVae, MultVaeModel};
pub use recnet::{train_recommender_net, train_recommender_net_probed, RecNetModel, RecNetParams};
