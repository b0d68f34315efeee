//! EASE (Steck, "Embarrassingly Shallow Autoencoders", WWW 2019): item-item
//! weights in closed form, B = I - P·diag(1/diag(P)) with P = (XᵀX + λI)⁻¹,
//! zero diagonal. X is the binary user × item train matrix.

use crate::model::params::{self, ParamError, MAX_COUNT};
use crate::model::spec::ModelKeys;
use serde::{Deserialize, Serialize};

/// The `ease` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ease {
    /// L2 regularisation λ.
    pub l2: f32,
    /// Keep this many strongest weights per item (0 = all) so the bundle stays small.
    pub prune_top_k: usize,
}

impl Default for Ease {
    fn default() -> Self {
        Self {
            l2: 500.0,
            prune_top_k: 1000,
        }
    }
}

impl ModelKeys for Ease {
    const KIND: &'static str = "ease";
    fn check(&self) -> Result<(), ParamError> {
        params::float("l2", f64::from(self.l2), 0.0, true, 1e9)?;
        params::int("prune_top_k", self.prune_top_k as u64, 0, MAX_COUNT)
    }
    #[cfg(feature = "train")]
    fn fit(
        &self,
        ctx: &mut crate::model::fit::FitContext,
    ) -> Result<crate::model::Part, crate::model::fit::FitError> {
        solve::fit(&ctx.data.train, self.l2, self.prune_top_k)
    }
}

#[cfg(feature = "train")]
pub(crate) use solve::{export, gram, penalised_inverse, zero_diagonal_weight};

#[cfg(feature = "train")]
pub(super) mod solve {
    use crate::data::Csr;
    use crate::model::fit::FitError;
    use crate::model::parts::Part;
    use faer::linalg::solvers::DenseSolveCore;
    use faer::{Accum, Mat, Par, Side};

    pub(crate) fn fit(train: &Csr, l2: f32, prune_top_k: usize) -> Result<Part, FitError> {
        let g = gram(train);
        let penalty = vec![f64::from(l2); g.nrows()];
        let p = penalised_inverse(g, &penalty, "ease")?;
        Ok(export(&p, prune_top_k, |j, i| {
            zero_diagonal_weight(&p, j, i)
        }))
    }

    /// Largest dense users × items copy [`gram`] makes for its GEMM (2 GiB):
    /// at the full MAL scale (323k × 17.5k) it would be 45 GB.
    const DENSE_X_BYTES: usize = 2 << 30;

    /// XᵀX of the binarised users × items matrix, dense.
    pub(crate) fn gram(train: &Csr) -> Mat<f64> {
        let n = train.n_cols;
        if train.n_rows.saturating_mul(n).saturating_mul(8) > DENSE_X_BYTES {
            return sparse_gram(train);
        }
        // XᵀX through a dense product: faer's blocked GEMM on both cores beats a
        // sparse pair loop once users rate hundreds of items each.
        let mut x = Mat::<f64>::zeros(train.n_rows, n);
        for u in 0..train.n_rows {
            for &i in train.row(u).0 {
                x[(u, i as usize)] = 1.0;
            }
        }
        let mut g = Mat::<f64>::zeros(n, n);
        faer::linalg::matmul::matmul(
            g.as_mut(),
            Accum::Replace,
            x.transpose(),
            x.as_ref(),
            1.0,
            Par::rayon(0),
        );
        g
    }

    /// XᵀX by counting co-rated pairs, for user counts where the dense copy
    /// of X does not fit: work is Σ n_u² / 2 (each user's pairs, upper
    /// triangle) instead of users × items², which at the full MAL scale is
    /// seconds against hours. The users are split in two halves of equal
    /// pair work, one thread and one partial matrix each (4.9 GB at 17.5k
    /// items), summed at the end; counts are exact integers in f64, so the
    /// split does not change a bit.
    fn sparse_gram(train: &Csr) -> Mat<f64> {
        let n = train.n_cols;
        let work = |u: usize| {
            let k = train.row(u).0.len() as u64;
            k * (k + 1) / 2
        };
        let total: u64 = (0..train.n_rows).map(work).sum();
        let mut acc = 0u64;
        let mid = (0..train.n_rows)
            .position(|u| {
                acc += work(u);
                acc * 2 >= total
            })
            .map_or(train.n_rows, |u| u + 1);
        let bar =
            crate::progress::Progress::new("ease: co-rated pairs", train.n_rows as u64, "users");
        let count = |users: std::ops::Range<usize>| {
            let mut g = Mat::<f64>::zeros(n, n);
            for (k, u) in users.enumerate() {
                let items = train.row(u).0;
                for (a, &i) in items.iter().enumerate() {
                    // Column i holds G[j, i] for j <= i (items are sorted).
                    let col = g.col_as_slice_mut(i as usize);
                    for &j in &items[..=a] {
                        col[j as usize] += 1.0;
                    }
                }
                if k % 4096 == 4095 {
                    bar.inc(4096);
                }
            }
            g
        };
        let (mut g, other) = std::thread::scope(|s| {
            let second = s.spawn(|| count(mid..train.n_rows));
            let first = count(0..mid);
            (first, second.join())
        });
        match other {
            Ok(h) => g += h,
            Err(e) => std::panic::resume_unwind(e),
        }
        // Mirror the upper triangle (rows j <= i of column i) below it.
        for i in 0..n {
            for j in 0..i {
                g[(i, j)] = g[(j, i)];
            }
        }
        g
    }

    /// `(G + diag(penalty))⁻¹` through a Cholesky factorisation; `model` names
    /// the kind in the error.
    pub(crate) fn penalised_inverse(
        mut g: Mat<f64>,
        penalty: &[f64],
        model: &'static str,
    ) -> Result<Mat<f64>, FitError> {
        for (i, &l) in penalty.iter().enumerate().take(g.nrows()) {
            g[(i, i)] += l;
        }
        // One dense call with no progress of its own: say what is running and
        // for how long, since at 17,000 items it takes minutes.
        let t0 = std::time::Instant::now();
        tracing::info!(
            items = g.nrows(),
            "{model}: Cholesky inverse of the penalised Gram matrix"
        );
        let llt = g.llt(Side::Lower).map_err(|e| FitError::Numerical {
            model,
            msg: format!("XᵀX + Λ is not positive definite ({e:?}); raise model.l2"),
        })?;
        drop(g);
        let inv = llt.inverse();
        tracing::info!(secs = t0.elapsed().as_secs_f64(), "{model}: inverse done");
        Ok(inv)
    }

    /// EASE's weight `B[j, i] = −P[j, i] / P[i, i]`: column `i` scaled so that
    /// the zero-diagonal constraint holds.
    pub(crate) fn zero_diagonal_weight(p: &Mat<f64>, j: usize, i: usize) -> f64 {
        -p[(j, i)] / p[(i, i)]
    }

    /// The item-item part whose row `j` holds `weight(j, i)` for every `i ≠ j`
    /// (what item `j` contributes to every other item's score), pruned to the
    /// `prune_top_k` largest magnitudes (0: all).
    pub(crate) fn export(
        p: &Mat<f64>,
        prune_top_k: usize,
        weight: impl Fn(usize, usize) -> f64,
    ) -> Part {
        let n = p.nrows();
        let keep = if prune_top_k == 0 {
            n
        } else {
            prune_top_k.min(n)
        };
        let mut indptr = Vec::with_capacity(n + 1);
        let mut indices = Vec::with_capacity(n * keep);
        let mut values = Vec::with_capacity(n * keep);
        indptr.push(0);
        let mut row: Vec<(u32, f32)> = Vec::with_capacity(n);
        let progress =
            crate::progress::Progress::new("item-item weights exported", n as u64, "items");
        for j in 0..n {
            progress.inc(1);
            row.clear();
            for i in 0..n {
                if i != j {
                    let b = weight(j, i);
                    if b != 0.0 {
                        row.push((i as u32, b as f32));
                    }
                }
            }
            if row.len() > keep {
                row.select_nth_unstable_by(keep, |a, b| b.1.abs().total_cmp(&a.1.abs()));
                row.truncate(keep);
            }
            row.sort_unstable_by_key(|e| e.0);
            indices.extend(row.iter().map(|e| e.0));
            values.extend(row.iter().map(|e| e.1));
            indptr.push(indices.len());
        }
        Part::ItemItem {
            weights: Csr {
                n_rows: n,
                n_cols: n,
                indptr,
                indices,
                values,
            },
            min_rating: None,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_pair_count_gram_is_the_dense_one() {
            let t: Vec<(u32, u32, f32)> = (0..40u32)
                .flat_map(|u| {
                    (0..23u32)
                        .filter(move |i| (u * 7 + i * 3) % 5 < 2)
                        .map(move |i| (u, i, 1.0))
                })
                .collect();
            let x = Csr::from_triplets(40, 23, &t);
            let (dense, sparse) = (gram(&x), sparse_gram(&x));
            for i in 0..23 {
                for j in 0..23 {
                    assert_eq!(dense[(i, j)], sparse[(i, j)], "G[{i}, {j}]");
                }
            }
        }

        #[test]
        fn matches_the_closed_form_on_a_tiny_matrix() {
            // 3 users × 3 items; G = XᵀX + I
            let x = Csr::from_triplets(
                3,
                3,
                &[
                    (0, 0, 1.0),
                    (0, 1, 1.0),
                    (1, 1, 1.0),
                    (1, 2, 1.0),
                    (2, 0, 1.0),
                ],
            );
            let Part::ItemItem { weights, .. } = fit(&x, 1.0, 0).unwrap() else {
                panic!()
            };
            // G = [[3,1,0],[1,3,1],[0,1,2]]; P = G⁻¹ = (1/13)[[5,-2,1],[-2,6,-3],[1,-3,8]]
            let p = [[5.0, -2.0, 1.0], [-2.0, 6.0, -3.0], [1.0, -3.0, 8.0]];
            for j in 0..3 {
                let (cols, vals) = weights.row(j);
                for (&i, &v) in cols.iter().zip(vals) {
                    let want = -p[j][i as usize] / p[i as usize][i as usize];
                    assert!(
                        (v as f64 - want).abs() < 1e-6,
                        "B[{j},{i}] = {v}, want {want}"
                    );
                }
                assert!(!cols.contains(&(j as u32)), "zero diagonal");
            }
        }
    }
}
