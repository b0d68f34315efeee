//! Most-rated items first: the baseline every model must beat.

use crate::model::params::ParamError;
use crate::model::spec::{Checked, ModelKeys};
use serde::{Deserialize, Serialize};

/// `kind: popularity` has no keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Popularity {}

impl Popularity {
    /// Checked already: there is nothing to check.
    pub(crate) fn checked() -> Checked<Self> {
        Checked(Self {})
    }
}

impl ModelKeys for Popularity {
    const KIND: &'static str = "popularity";
    fn check(&self) -> Result<(), ParamError> {
        Ok(())
    }
    #[cfg(feature = "train")]
    fn fit(
        &self,
        ctx: &mut crate::model::fit::FitContext,
    ) -> Result<crate::model::Part, crate::model::fit::FitError> {
        Ok(crate::model::Part::Popularity {
            scores: scores(&ctx.data.train),
        })
    }
}

/// ln(1 + train ratings per item): the popularity prior.
#[cfg(feature = "train")]
pub fn scores(train: &crate::sparse::Csr) -> Vec<f32> {
    train
        .col_counts()
        .iter()
        .map(|&c| (1.0 + c as f32).ln())
        .collect()
}
