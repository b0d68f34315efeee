//! `item_knn`: item-based collaborative filtering, the worked example of
//! README "Adding a model". An anime's neighbours are the anime most often
//! rated by the same users (cosine of the binarised user columns, shrunk
//! towards 0 for rarely co-rated pairs); a user's score for an anime is the
//! sum of its similarities to the anime they rated. That is exactly the
//! item-item serving part EASE and SLIM export into, so evaluation, the
//! bundle, `anirec recommend` and `anirec-serve` need nothing new.

use anirec::model::fit::{FitContext, FitError};
use anirec::model::params::{self, ParamError};
use anirec::model::spec::ModelKeys;
use anirec::model::Part;
use anirec::sparse::Csr;
use serde::{Deserialize, Serialize};

/// The `item_knn` section: `model: {kind: item_knn, neighbors: 100, shrink: 10}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ItemKnn {
    /// Neighbours kept per anime.
    pub neighbors: usize,
    /// Added to the cosine's denominator: a pair co-rated by few users
    /// counts for less than its raw cosine says.
    pub shrink: f32,
}

impl Default for ItemKnn {
    fn default() -> Self {
        Self {
            neighbors: 100,
            shrink: 10.0,
        }
    }
}

impl ModelKeys for ItemKnn {
    const KIND: &'static str = "item_knn";

    fn check(&self) -> Result<(), ParamError> {
        // Bounded before `neighbors` sizes a buffer per anime.
        params::int("neighbors", self.neighbors as u64, 1, params::MAX_COUNT)?;
        params::float("shrink", f64::from(self.shrink), 0.0, false, 1e6)
    }

    fn fit(&self, ctx: &mut FitContext) -> Result<Part, FitError> {
        Ok(Part::ItemItem {
            weights: neighbours(&ctx.data.train, self),
            min_rating: None,
        })
    }
}

/// Row `j`: anime `j`'s strongest neighbours and their similarities.
fn neighbours(train: &Csr, p: &ItemKnn) -> Csr {
    let by_item = train.transpose();
    let counts = train.col_counts();
    let n = train.n_cols;
    let mut co = vec![0u32; n];
    let mut touched: Vec<u32> = Vec::new();
    let mut row: Vec<(u32, f32)> = Vec::new();
    let (mut indptr, mut indices, mut values) = (vec![0], Vec::new(), Vec::new());
    for j in 0..n {
        // Co-counts of `j` with every anime its users also rated.
        for &u in by_item.row(j).0 {
            for &k in train.row(u as usize).0 {
                if co[k as usize] == 0 {
                    touched.push(k);
                }
                co[k as usize] += 1;
            }
        }
        row.clear();
        for &k in &touched {
            let c = std::mem::take(&mut co[k as usize]);
            if k as usize != j {
                let norm = (counts[j] as f32 * counts[k as usize] as f32).sqrt();
                row.push((k, c as f32 / (norm + p.shrink)));
            }
        }
        touched.clear();
        if row.len() > p.neighbors {
            row.select_nth_unstable_by(p.neighbors, |a, b| b.1.total_cmp(&a.1));
            row.truncate(p.neighbors);
        }
        row.sort_unstable_by_key(|e| e.0);
        indices.extend(row.iter().map(|e| e.0));
        values.extend(row.iter().map(|e| e.1));
        indptr.push(indices.len());
    }
    Csr {
        n_rows: n,
        n_cols: n,
        indptr,
        indices,
        values,
    }
}
