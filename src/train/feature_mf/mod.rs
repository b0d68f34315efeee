//! feature_mf: LightFM's hybrid factorisation (Kula, 2015) trained with the
//! WARP ranking loss. An item is the weighted sum of the embeddings of its
//! features — its own id plus its genres, type, studios and synopsis terms —
//! and a user is an id embedding; `score(u, i) = p_u · q_i + b_i`. An anime
//! nobody has rated still has a vector from its features (cold start).
//!
//! Why not burn: WARP draws negatives for one positive until one scores
//! within the margin, and the number of draws *is* the loss weight
//! (`ln ⌊(n − 1) / draws⌋`), so each step depends on the scores the previous
//! step left. That is a sequential host loop (as LightFM's own Cython is),
//! not a batched graph; per-parameter AdaGrad, as LightFM uses, keeps it
//! stable at one learning rate across feature rows of very different
//! frequency (an id seen twice, a genre seen 30,000 times).
//!
//! One thread: the updates are applied in a seeded order, so the same
//! config and seed give the same bits (LightFM's Hogwild threads do not).

mod resume;
#[cfg(test)]
mod tests;
mod users;
mod warp;

use std::borrow::Cow;

use super::metrics::EpochMetrics;
use crate::sparse::Csr;

pub use warp::train_feature_mf;

/// Parameters of [`train_feature_mf`].
#[derive(Debug, Clone)]
pub struct FeatureMfParams {
    /// Embedding size.
    pub factors: usize,
    /// Passes over the train positives.
    pub epochs: u32,
    /// AdaGrad base learning rate (constant unless `lr_schedule`).
    pub lr: f64,
    /// Per-epoch schedule replacing the constant `lr`.
    pub lr_schedule: Option<crate::config::LrSchedule>,
    /// Most negatives drawn per positive before giving up on it.
    pub max_sampled: u32,
    /// L2 weight on the rows an update touches (LightFM's
    /// `item_alpha`/`user_alpha`).
    pub reg: f64,
    /// Train rows rated at least this are positives.
    pub min_rating: f32,
    /// A user is their id plus the tags of the anime they liked (LightFM's
    /// user features; see the `users` module), not their id alone.
    pub user_features: bool,
    /// Seed of initial weights, shuffles and negatives.
    pub seed: u64,
}

/// A trained feature_mf: user id embeddings and one embedding and bias per
/// item feature, with AdaGrad's accumulators (an early-stopping snapshot
/// carries them, so training could continue from it).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMfModel {
    /// Embedding size.
    pub factors: usize,
    /// User-side feature embeddings, one row per column of the user feature
    /// matrix: n_users × factors (the ids), then one row per tag with user
    /// features. A user's vector is [`FeatureMfModel::users`].
    pub user_emb: Vec<f32>,
    /// n_features × factors.
    pub feat_emb: Vec<f32>,
    /// One bias per feature.
    pub feat_bias: Vec<f32>,
    user_acc: Vec<f32>,
    feat_acc: Vec<f32>,
    bias_acc: Vec<f32>,
    /// The user × user-feature weights with user features; `None`: each
    /// user is their id row alone.
    user_rows: Option<Csr>,
    /// Per-epoch metrics: train_loss = mean WARP weight per positive,
    /// val_loss = the same on the val positives (no update).
    pub history: Vec<EpochMetrics>,
}

impl FeatureMfModel {
    /// Item vectors (n_items × factors, row-major) and biases: each item's
    /// weighted sum of its features' embeddings and biases.
    pub fn items(&self, features: &Csr) -> (Vec<f32>, Vec<f32>) {
        let d = self.factors;
        let mut vecs = vec![0f32; features.n_rows * d];
        let mut bias = vec![0f32; features.n_rows];
        for (i, (v, b)) in vecs.chunks_exact_mut(d).zip(&mut bias).enumerate() {
            *b = self.item_into(features, i, v);
        }
        (vecs, bias)
    }

    /// User vectors (n_users × factors, row-major): each user's weighted sum
    /// of their features' embeddings (their id row without user features).
    /// Borrowed without user features (the id rows are the vectors).
    pub fn users(&self) -> Cow<'_, [f32]> {
        let d = self.factors;
        match &self.user_rows {
            None => Cow::Borrowed(&self.user_emb),
            Some(rows) => {
                let mut out = vec![0f32; rows.n_rows * d];
                for (u, v) in out.chunks_exact_mut(d).enumerate() {
                    self.user_into(u, v);
                }
                Cow::Owned(out)
            }
        }
    }

    /// Writes user `u`'s vector into `out`.
    #[inline]
    fn user_into(&self, u: usize, out: &mut [f32]) {
        let d = self.factors;
        let Some(rows) = &self.user_rows else {
            out.copy_from_slice(&self.user_emb[u * d..(u + 1) * d]);
            return;
        };
        out.fill(0.0);
        let (cols, ws) = rows.row(u);
        for (&c, &w) in cols.iter().zip(ws) {
            let c = c as usize;
            for (o, e) in out.iter_mut().zip(&self.user_emb[c * d..(c + 1) * d]) {
                *o += w * e;
            }
        }
    }

    /// Writes item `i`'s vector into `out` and returns its bias.
    #[inline]
    fn item_into(&self, features: &Csr, i: usize, out: &mut [f32]) -> f32 {
        let d = self.factors;
        out.fill(0.0);
        let mut b = 0.0;
        let (fs, ws) = features.row(i);
        for (&f, &w) in fs.iter().zip(ws) {
            let f = f as usize;
            for (o, e) in out.iter_mut().zip(&self.feat_emb[f * d..(f + 1) * d]) {
                *o += w * e;
            }
            b += w * self.feat_bias[f];
        }
        b
    }
}
