//! mult_vae: the multinomial variational autoencoder of Liang et al.
//! (2018), "Variational Autoencoders for Collaborative Filtering", written in
//! stock burn ops (`Linear`, `tanh`, `log_softmax`, burn's optimizers): no
//! fused kernel, the path any new burn model starts on.
//!
//! A user is the binarised row of their positives, L2-normalised, with
//! input dropout; encoder n_items → hidden (tanh) → 2·latent (mean and
//! log-variance); a sample of the latent goes through the decoder latent →
//! hidden (tanh) → n_items logits; the loss is the multinomial negative
//! log-likelihood of the positives plus β·KL, β annealed linearly per step
//! to `beta_max` over `anneal_epochs` (Liang et al.'s `total_anneal_steps`).

mod batch;
mod net;
mod resume;
#[cfg(test)]
mod tests;
mod train;

pub use train::train_mult_vae;

/// The model's settings are its YAML keys, read once (`model::kinds`).
pub use crate::model::kinds::mult_vae::MultVae;

use super::metrics::EpochMetrics;

/// The trained network's weights for serving: every matrix row-major
/// `[inputs, outputs]` except the output layer, stored item-major.
#[derive(Debug, Clone, PartialEq)]
pub struct MultVaeModel {
    /// n_items × hidden, hidden.
    pub enc: (Vec<f32>, Vec<f32>),
    /// hidden × latent, latent: the mean half of the encoder's last layer
    /// (serving encodes to the mean; the variance only matters in training).
    pub mu: (Vec<f32>, Vec<f32>),
    /// latent × hidden, hidden.
    pub dec: (Vec<f32>, Vec<f32>),
    /// n_items × hidden (transposed), n_items.
    pub out: (Vec<f32>, Vec<f32>),
    /// Per-epoch metrics: train_loss = NLL + β·KL per user; val_loss =
    /// held-out multinomial NLL per validation user; val_mae/val_mse = NaN.
    pub history: Vec<EpochMetrics>,
}
