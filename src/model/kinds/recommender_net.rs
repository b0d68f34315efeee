//! The original project's neural model (burn, `train::recnet`): cosine of
//! user and anime embeddings through a dense + batch-norm rating head,
//! trained on ratings with `train.*` (epochs, batch size, lr schedule,
//! early stopping, checkpoints).

use crate::config::OptimizerKind;
use crate::model::params::{self, ParamError};
use crate::model::spec::ModelKeys;
use serde::{Deserialize, Serialize};

/// The `recommender_net` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecommenderNet {
    /// Embedding size.
    pub embedding_dim: usize,
    /// `keras_adam` (the default, as the Keras original), or burn's `adam`,
    /// `adamw` or `sgd`.
    pub optimizer: OptimizerKind,
    /// Weight decay (L2 for adam/keras_adam/sgd, decoupled for adamw; 0:
    /// none).
    pub weight_decay: f64,
}

impl Default for RecommenderNet {
    fn default() -> Self {
        Self {
            embedding_dim: 128,
            optimizer: OptimizerKind::KerasAdam,
            weight_decay: 0.0,
        }
    }
}

impl ModelKeys for RecommenderNet {
    const KIND: &'static str = "recommender_net";
    fn check(&self) -> Result<(), ParamError> {
        params::int("embedding_dim", self.embedding_dim as u64, 1, 4096)?;
        params::float("weight_decay", self.weight_decay, 0.0, false, 10.0)
    }
    fn trains(&self) -> bool {
        true
    }
    #[cfg(feature = "train")]
    fn fit(
        &self,
        ctx: &mut crate::model::fit::FitContext,
    ) -> Result<crate::model::Part, crate::model::fit::FitError> {
        crate::model::fit::learned::recommender_net(ctx, self)
    }
}
