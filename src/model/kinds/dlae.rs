//! DLAE and EDLAE (Steck, "Autoencoders that don't overfit towards the
//! identity", NeurIPS 2020): EASE's closed form with the penalty that
//! dropout of input items with probability `p` induces,
//!
//! ```text
//! Λ = p/(1−p) · diag(XᵀX) + λ I,     P = (XᵀX + Λ)⁻¹
//! DLAE:  B = I − P Λ                  (B[j,i] = −P[j,i]·Λ_ii, j ≠ i)
//! EDLAE: B = I − P diag(1/diag(P))    (EASE's zero-diagonal form)
//! ```
//!
//! A popular item's own column is penalised in proportion to its
//! popularity, which is what keeps the dense solution from overfitting on
//! few users. DLAE's diagonal `1 − P_ii Λ_ii` only scores items a user has
//! already rated (never recommended), so it is dropped like EASE's. Both
//! share EASE's Gram, Cholesky and export (`fit/ease.rs`).

use crate::model::params::{self, ParamError};
use crate::model::spec::ModelKeys;
use serde::{Deserialize, Serialize};

/// The `dlae` section (and, inside [`Edlae`], the `edlae` one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dlae {
    /// Constant L2 penalty λ added to every item.
    pub l2: f64,
    /// Dropout probability `p` whose expected effect is the diagonal penalty.
    pub dropout: f64,
    /// Keep this many strongest weights per item (0 = all).
    pub prune_top_k: usize,
    /// Fit on ratings at or above this only, and score from such history
    /// items only (a "liked" co-occurrence model; unset: every rating).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_rating: Option<f64>,
}

impl Default for Dlae {
    fn default() -> Self {
        Self {
            l2: 100.0,
            dropout: 0.3,
            prune_top_k: 0,
            min_rating: None,
        }
    }
}

impl ModelKeys for Dlae {
    const KIND: &'static str = "dlae";
    fn check(&self) -> Result<(), ParamError> {
        params::float("l2", self.l2, 0.0, true, 1e9)?;
        params::float("dropout", self.dropout, 0.0, false, 0.95)?;
        params::int("prune_top_k", self.prune_top_k as u64, 0, params::MAX_COUNT)?;
        params::min_rating(self.min_rating)?;
        Ok(())
    }
    #[cfg(feature = "train")]
    fn fit(
        &self,
        ctx: &mut crate::model::fit::FitContext,
    ) -> Result<crate::model::Part, crate::model::fit::FitError> {
        crate::model::fit::liked_only(&ctx.data.train, self.min_rating, |x| {
            closed_form::fit(x, self, Variant::Dlae)
        })
    }
}

/// The `edlae` section: DLAE's keys, EASE's zero-diagonal solution.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Edlae(pub Dlae);

impl ModelKeys for Edlae {
    const KIND: &'static str = "edlae";
    fn check(&self) -> Result<(), ParamError> {
        self.0.check()
    }
    #[cfg(feature = "train")]
    fn fit(
        &self,
        ctx: &mut crate::model::fit::FitContext,
    ) -> Result<crate::model::Part, crate::model::fit::FitError> {
        crate::model::fit::liked_only(&ctx.data.train, self.0.min_rating, |x| {
            closed_form::fit(x, &self.0, Variant::Edlae)
        })
    }
}

/// Which of the two closed forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Dropout-regularised linear autoencoder.
    Dlae,
    /// Emphasised denoising: EASE's zero-diagonal solution with Λ.
    Edlae,
}

#[cfg(feature = "train")]
mod closed_form {
    use super::{Dlae, Variant};
    use crate::model::fit::FitError;
    use crate::model::kinds::ease;
    use crate::model::parts::Part;
    use crate::sparse::Csr;

    /// Fits DLAE or EDLAE on the binarised `train`.
    pub(crate) fn fit(train: &Csr, p: &Dlae, variant: Variant) -> Result<Part, FitError> {
        let model = match variant {
            Variant::Dlae => "dlae",
            Variant::Edlae => "edlae",
        };
        let g = ease::gram(train);
        let ratio = p.dropout / (1.0 - p.dropout);
        let lambda: Vec<f64> = (0..g.nrows()).map(|i| ratio * g[(i, i)] + p.l2).collect();
        let inv = ease::penalised_inverse(g, &lambda, model)?;
        Ok(match variant {
            Variant::Dlae => ease::export(&inv, p.prune_top_k, |j, i| -inv[(j, i)] * lambda[i]),
            Variant::Edlae => ease::export(&inv, p.prune_top_k, |j, i| {
                ease::zero_diagonal_weight(&inv, j, i)
            }),
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn x() -> Csr {
            Csr::from_triplets(
                3,
                3,
                &[
                    (0, 0, 1.0),
                    (0, 1, 1.0),
                    (1, 1, 1.0),
                    (1, 2, 1.0),
                    (2, 0, 1.0),
                ],
            )
        }

        fn weight(part: &Part, j: usize, i: usize) -> f64 {
            let Part::ItemItem { weights, .. } = part else {
                panic!("item-item part expected")
            };
            let (cols, vals) = weights.row(j);
            cols.iter()
                .position(|&c| c as usize == i)
                .map_or(0.0, |k| f64::from(vals[k]))
        }

        #[test]
        #[allow(clippy::needless_range_loop)]
        fn dlae_is_p_times_g_off_the_diagonal() {
            // G = [[2,1,0],[1,2,1],[0,1,1]]; p = 0.5 → Λ = diag(G) + 1 = [3,3,2].
            let p = Dlae {
                l2: 1.0,
                dropout: 0.5,
                prune_top_k: 0,
                min_rating: None,
            };
            let part = fit(&x(), &p, Variant::Dlae).unwrap();
            // B = (G + Λ)⁻¹ G; G + Λ = [[5,1,0],[1,5,1],[0,1,3]], det = 67.
            let inv = [[14.0, -3.0, 1.0], [-3.0, 15.0, -5.0], [1.0, -5.0, 24.0]]
                .map(|r| r.map(|v: f64| v / 67.0));
            let g = [[2.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 1.0, 1.0]];
            for j in 0..3 {
                for i in 0..3 {
                    if i == j {
                        assert_eq!(weight(&part, j, i), 0.0, "diagonal dropped");
                        continue;
                    }
                    let want: f64 = (0..3).map(|k| inv[j][k] * g[k][i]).sum();
                    let got = weight(&part, j, i);
                    assert!((got - want).abs() < 1e-6, "B[{j},{i}] = {got}, want {want}");
                }
            }
        }

        #[test]
        fn edlae_without_dropout_is_ease() {
            let p = Dlae {
                l2: 1.0,
                dropout: 0.0,
                prune_top_k: 0,
                min_rating: None,
            };
            let a = fit(&x(), &p, Variant::Edlae).unwrap();
            let b = ease::solve::fit(&x(), 1.0, 0).unwrap();
            assert_eq!(a, b);
        }
    }
}
