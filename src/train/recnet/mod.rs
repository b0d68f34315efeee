//! recommender_net: a faithful reproduction of the original Keras
//! `RecommenderNet` (cosine of two embeddings → Dense(1) → BatchNorm →
//! sigmoid, binary cross-entropy on min-max scaled ratings, Adam, per-epoch
//! learning rate, early stopping that keeps the best weights), with atomic
//! per-epoch checkpoints and resume.

mod net;
mod resume;
#[cfg(test)]
mod tests;
mod train;

use std::path::PathBuf;

use super::metrics::EpochMetrics;

pub use train::{train_recommender_net, train_recommender_net_probed};

/// Parameters of [`train_recommender_net`].
#[derive(Debug, Clone)]
pub struct RecNetParams {
    /// Embedding size (the original uses 128).
    pub dim: usize,
    /// Maximum number of epochs.
    pub epochs: u32,
    /// Rows per mini-batch (the original uses 10 000).
    pub batch_size: usize,
    /// Stop after this many epochs without a val_loss improvement (Keras
    /// `EarlyStopping(patience)`); `None` trains all epochs.
    pub patience: Option<u32>,
    /// Seed of initial weights and per-epoch shuffles.
    pub seed: u64,
    /// Which optimizer steps (`KerasAdam`, as the original, by default).
    pub optimizer: crate::config::OptimizerKind,
    /// Its weight decay (0: none).
    pub weight_decay: f64,
    /// Where to keep the resumable per-epoch checkpoint; `None` keeps none.
    pub checkpoint_dir: Option<PathBuf>,
}

/// The trained recommender_net, as plain numbers (no burn needed to serve).
///
/// Scoring note: the rating is sigmoid(γ·(w·cos + b − μ)/√(σ²+ε) + β), a
/// monotone function of the cosine `user_emb[u]·item_emb[i]` that is
/// increasing only if `w·γ > 0`. Ranking by the raw dot product is therefore
/// only valid when [`RecNetModel::head_increasing`] holds; [`RecNetModel::predict`]
/// is the truth.
#[derive(Debug, Clone, PartialEq)]
pub struct RecNetModel {
    /// Embedding size.
    pub dim: usize,
    /// n_users × dim, rows L2-normalised (as the model sees them).
    pub user_emb: Vec<f32>,
    /// n_items × dim, rows L2-normalised.
    pub item_emb: Vec<f32>,
    /// Dense(1) weight.
    pub dense_w: f32,
    /// Dense(1) bias.
    pub dense_b: f32,
    /// BatchNorm running (moving) mean.
    pub bn_mean: f32,
    /// BatchNorm running (moving) variance.
    pub bn_var: f32,
    /// BatchNorm scale γ.
    pub bn_gamma: f32,
    /// BatchNorm shift β.
    pub bn_beta: f32,
    /// BatchNorm epsilon.
    pub bn_eps: f32,
    /// Metrics of every epoch run (including ones before a resume).
    pub history: Vec<EpochMetrics>,
    /// 0-based epoch whose weights these are (lowest val_loss).
    pub best_epoch: u32,
}

impl RecNetModel {
    /// Predicted rating on the original scale for (user, item):
    /// sigmoid(bn(w · dot + b)) · (max − min) + min, computed on the CPU from
    /// the exported numbers (serving uses this). Out-of-range indices give NaN.
    pub fn predict(&self, u: u32, i: u32, rating_min: f32, rating_max: f32) -> f32 {
        let d = self.dim;
        let (u, i) = (u as usize, i as usize);
        if (u + 1) * d > self.user_emb.len() || (i + 1) * d > self.item_emb.len() {
            return f32::NAN;
        }
        let a = &self.user_emb[u * d..(u + 1) * d];
        let b = &self.item_emb[i * d..(i + 1) * d];
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        self.rating_from_dot(dot, rating_min, rating_max)
    }

    /// The rating head applied to a dot product (cosine) of the exported rows.
    pub fn rating_from_dot(&self, dot: f32, rating_min: f32, rating_max: f32) -> f32 {
        let z = self.dense_w * dot + self.dense_b;
        let z =
            (z - self.bn_mean) / (self.bn_var + self.bn_eps).sqrt() * self.bn_gamma + self.bn_beta;
        let p = 1.0 / (1.0 + (-z).exp());
        p * (rating_max - rating_min) + rating_min
    }

    /// True when the rating increases with the dot product (w·γ > 0), i.e.
    /// when ranking items by `user_emb[u]·item_emb[i]` equals ranking by
    /// [`predict`](Self::predict).
    pub fn head_increasing(&self) -> bool {
        self.dense_w * self.bn_gamma > 0.0
    }
}
