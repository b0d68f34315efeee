//! mf_bpr: matrix factorisation with item bias, trained with the BPR ranking
//! loss and sampled negatives, with atomic per-epoch checkpoints and resume.

mod net;
mod resume;
#[cfg(test)]
mod tests;
mod train;

use super::metrics::EpochMetrics;

pub use train::{train_mf_bpr, train_mf_bpr_probed};

/// Parameters of [`train_mf_bpr`].
#[derive(Debug, Clone)]
pub struct MfBprParams {
    /// Embedding size.
    pub factors: usize,
    /// Number of epochs (no early stopping).
    pub epochs: u32,
    /// (user, positive, negative) triples per mini-batch.
    pub batch_size: usize,
    /// Learning rate (constant unless `lr_schedule`).
    pub lr: f64,
    /// Per-epoch schedule replacing the constant `lr`.
    pub lr_schedule: Option<crate::config::LrSchedule>,
    /// L2 weight on ‖u‖² + ‖v_pos‖² + ‖v_neg‖² per triple.
    pub reg: f64,
    /// Seed of initial weights, shuffles and negative sampling.
    pub seed: u64,
    /// Train rows with a rating ≥ this are positives (use −∞ for all rows).
    pub min_rating: f32,
    /// Which optimizer steps (see [`crate::config::OptimizerKind`]).
    pub optimizer: crate::config::OptimizerKind,
    /// Its weight decay (0: none).
    pub weight_decay: f64,
    /// Adam moves only the rows a batch touched (see [`super::KerasAdam`]);
    /// `keras_adam` only.
    pub lazy_adam: bool,
}

/// The trained BPR model: `score(u, i) = user_emb[u]·item_emb[i] + item_bias[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MfBprModel {
    /// Embedding size.
    pub factors: usize,
    /// n_users × factors (not normalised).
    pub user_emb: Vec<f32>,
    /// n_items × factors (not normalised).
    pub item_emb: Vec<f32>,
    /// Per-item bias.
    pub item_bias: Vec<f32>,
    /// Per-epoch metrics: train_loss = BPR + reg objective; val_loss = BPR
    /// term on val positives with sampled negatives; val_mae/val_mse = NaN.
    pub history: Vec<EpochMetrics>,
}

impl MfBprModel {
    /// Ranking score of item `i` for user `u` (NaN for out-of-range indices).
    #[inline]
    pub fn score(&self, u: u32, i: u32) -> f32 {
        let d = self.factors;
        let (u, i) = (u as usize, i as usize);
        if (u + 1) * d > self.user_emb.len() || i >= self.item_bias.len() {
            return f32::NAN;
        }
        let a = &self.user_emb[u * d..(u + 1) * d];
        let b = &self.item_emb[i * d..(i + 1) * d];
        a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() + self.item_bias[i]
    }
}
