//! The multinomial variational autoencoder of Liang et al. (2018), trained
//! in burn (`train::mult_vae`) and served as an autoencoder part: a user —
//! known or new — is their liked list folded through the encoder.

use crate::config::OptimizerKind;
use crate::model::params::{self, ParamError};
use crate::model::spec::ModelKeys;
use serde::{Deserialize, Serialize};

/// The `mult_vae` section. Defaults are the paper's (600-200, dropout 0.5,
/// Adam 1e-3, batches of 500 users, β capped at 0.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultVae {
    /// Hidden layer width of encoder and decoder.
    pub hidden: usize,
    /// Latent dimensions.
    pub latent: usize,
    /// Passes over the users.
    pub epochs: u32,
    /// Users per mini-batch.
    pub batch_size: usize,
    /// Learning rate (constant unless `lr_schedule` is set).
    pub lr: f64,
    /// A schedule over the epochs (the keys of `train.lr_schedule`), which
    /// replaces the constant `lr` when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr_schedule: Option<crate::config::LrSchedule>,
    /// `adam`, `adamw` or `sgd` (burn's own), or `keras_adam`.
    pub optimizer: OptimizerKind,
    /// Weight decay (L2 for adam/sgd, decoupled for adamw; 0: none).
    pub weight_decay: f64,
    /// Input dropout probability.
    pub dropout: f64,
    /// Cap of the KL weight β.
    pub beta_max: f64,
    /// β rises linearly per step, reaching 1 after this many epochs (so
    /// `beta_max` after `beta_max × anneal_epochs`).
    pub anneal_epochs: u32,
    /// Train rows rated at least this are the user's input and targets (0:
    /// every rated row; 7 on MAL's 1–10 scale keeps what the user liked).
    pub min_rating: f32,
}

impl Default for MultVae {
    fn default() -> Self {
        Self {
            hidden: 600,
            latent: 200,
            epochs: 100,
            batch_size: 500,
            lr: 1e-3,
            lr_schedule: None,
            optimizer: OptimizerKind::Adam,
            weight_decay: 0.0,
            dropout: 0.5,
            beta_max: 0.2,
            anneal_epochs: 50,
            min_rating: 0.0,
        }
    }
}

impl ModelKeys for MultVae {
    const KIND: &'static str = "mult_vae";
    fn check(&self) -> Result<(), ParamError> {
        use params::{float, int};
        int("hidden", self.hidden as u64, 1, 8192)?;
        int("latent", self.latent as u64, 1, 4096)?;
        params::training(self.epochs, self.lr, self.lr_schedule.as_ref())?;
        int("batch_size", self.batch_size as u64, 1, 1 << 20)?;
        int("anneal_epochs", u64::from(self.anneal_epochs), 0, 100_000)?;
        float("weight_decay", self.weight_decay, 0.0, false, 10.0)?;
        float("dropout", self.dropout, 0.0, false, 0.95)?;
        float("beta_max", self.beta_max, 0.0, false, 10.0)?;
        float("min_rating", f64::from(self.min_rating), 0.0, false, 1e6)
    }
    fn trains(&self) -> bool {
        true
    }
    #[cfg(feature = "train")]
    fn fit(
        &self,
        ctx: &mut crate::model::fit::FitContext,
    ) -> Result<crate::model::Part, crate::model::fit::FitError> {
        crate::model::fit::learned::mult_vae(ctx, self)
    }
}
