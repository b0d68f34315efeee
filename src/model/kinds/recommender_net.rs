//! The original project's neural model (burn, `train::recnet`): cosine of
//! user and anime embeddings through a dense + batch-norm rating head,
//! trained on ratings with `train.*` (epochs, batch size, lr schedule,
//! early stopping, checkpoints).

use crate::model::params::{self, ParamError};
use crate::model::spec::ModelKeys;
use serde::{Deserialize, Serialize};

/// The `recommender_net` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecommenderNet {
    /// Embedding size.
    pub embedding_dim: usize,
}

impl Default for RecommenderNet {
    fn default() -> Self {
        Self { embedding_dim: 128 }
    }
}

impl ModelKeys for RecommenderNet {
    const KIND: &'static str = "recommender_net";
    fn check(&self) -> Result<(), ParamError> {
        params::int("embedding_dim", self.embedding_dim as u64, 1, 4096)
    }
    fn trains(&self) -> bool {
        true
    }
    #[cfg(feature = "train")]
    fn fit(
        &self,
        ctx: &mut crate::model::fit::FitContext,
    ) -> Result<crate::model::Part, crate::model::fit::FitError> {
        crate::model::fit::learned::recommender_net(ctx, self.embedding_dim)
    }
}
