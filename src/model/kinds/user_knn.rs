//! User-based collaborative filtering: a user's score for an anime is the
//! similarity-weighted share of their nearest neighbours who liked it. The
//! neighbours by rating similarity are found once at fit time for every
//! known user (see [`crate::model::knn_index`]) and searched per request for
//! a new one; by embedding similarity (user vectors learnt by `mf_bpr`) they
//! are found at scoring time.

use crate::model::params::{self, ParamError, MAX_COUNT};
use crate::model::spec::ModelKeys;
use serde::{Deserialize, Serialize};

/// Where user_knn measures user similarity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Similarity {
    /// Cosine of the users' (mean-centred) rating vectors.
    #[default]
    Ratings,
    /// Cosine of user embeddings learnt by a matrix-factorisation model.
    Embeddings,
}

/// The `user_knn` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserKnn {
    /// Neighbours per user.
    pub neighbors: usize,
    /// What similarity is computed on.
    pub similarity: Similarity,
    /// A neighbour's item counts as liked at or above this quantile of their ratings.
    pub like_quantile: f32,
    /// Embedding size when `similarity: embeddings`.
    pub factors: usize,
}

impl Default for UserKnn {
    fn default() -> Self {
        Self {
            neighbors: 50,
            similarity: Similarity::Ratings,
            like_quantile: 0.75,
            factors: 64,
        }
    }
}

impl ModelKeys for UserKnn {
    const KIND: &'static str = "user_knn";
    fn check(&self) -> Result<(), ParamError> {
        params::int("neighbors", self.neighbors as u64, 1, MAX_COUNT)?;
        params::int("factors", self.factors as u64, 1, 4096)?;
        params::float(
            "like_quantile",
            f64::from(self.like_quantile),
            0.0,
            false,
            1.0,
        )
    }
    fn trains(&self) -> bool {
        self.similarity == Similarity::Embeddings
    }
    #[cfg(feature = "train")]
    fn fit(
        &self,
        ctx: &mut crate::model::fit::FitContext,
    ) -> Result<crate::model::Part, crate::model::fit::FitError> {
        let n_users = ctx.data.train.n_rows;
        let entries = n_users.saturating_mul(self.neighbors.min(n_users));
        let index = if self.similarity == Similarity::Ratings {
            if entries <= crate::model::knn_index::MAX_ENTRIES {
                Some(crate::model::knn_index::build(
                    &ctx.data.train,
                    self.neighbors,
                ))
            } else {
                tracing::warn!(
                    n_users,
                    neighbors = self.neighbors,
                    "user_knn: the neighbour index would hold {entries} entries; neighbours are searched per user at scoring time instead"
                );
                None
            }
        } else {
            None
        };
        let user_vectors = if self.similarity == Similarity::Embeddings {
            // Neighbours by cosine of BPR user embeddings, mf_bpr's defaults.
            let bpr = super::mf_bpr::MfBpr {
                factors: self.factors,
                ..Default::default()
            };
            let mut v = crate::model::fit::learned::bpr(ctx, &bpr)?.user;
            v.normalize_rows();
            Some(v)
        } else {
            None
        };
        Ok(crate::model::Part::UserKnn {
            neighbors: self.neighbors,
            like_quantile: self.like_quantile,
            user_vectors,
            index,
        })
    }
}
