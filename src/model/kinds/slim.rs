//! SLIM (Ning & Karypis 2011) with an elastic-net penalty and non-negative
//! weights: for every item `j`, the column `w` that reconstructs the binary
//! column `x_j` from the other items,
//!
//! ```text
//! min_w  1/(2n)·‖x_j − X w‖² + alpha·l1_ratio·‖w‖₁ + ½·alpha·(1 − l1_ratio)·‖w‖²
//!        subject to w ≥ 0, w_j = 0
//! ```
//!
//! (`n` users; scikit-learn's `ElasticNet(alpha, l1_ratio, positive=True,
//! fit_intercept=False)`, so the settings of BASELINES.md carry over). The
//! strongest `top_k` weights of each column are kept and compiled into the
//! sparse item-item part EASE serves through, so serving needs no change.
//!
//! The solver is cyclic coordinate descent with residual updates, one item
//! per task on the rayon pool. Two facts keep it fast:
//! - X and w are non-negative, so the residual `r = x_j − X w` never exceeds
//!   `x_j` and an item's correlation `x_k·r` never exceeds its co-count
//!   with `j`. An item whose co-count is at most the L1 penalty therefore
//!   can never leave zero: only items co-rated with `j` more often than
//!   that are candidates (exact, not a heuristic: the iterates are the same
//!   bit for bit, because a coordinate that stays at zero changes nothing);
//! - after each full sweep the solver iterates on the active set (the
//!   non-zero weights) until it settles, and only then sweeps everything
//!   again (glmnet's strategy); a full sweep that changes nothing
//!   beyond `tol` ends the item.
//!
//! Each item is solved by one thread in a fixed order, so the result does not
//! depend on the thread count.

use crate::model::params::{self, ParamError};
use crate::model::spec::ModelKeys;
use serde::{Deserialize, Serialize};

/// The `slim` section (checked by [`Slim::check`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Slim {
    /// Overall penalty strength (scikit-learn's `alpha`; per user, see the module docs).
    pub alpha: f64,
    /// Share of the penalty that is L1 (scikit-learn's `l1_ratio`); the rest is L2.
    pub l1_ratio: f64,
    /// Weights kept per item (0: all).
    pub top_k: usize,
    /// Full coordinate sweeps per item at most.
    pub max_iter: u32,
    /// A sweep whose largest weight change is below `tol` × the largest weight ends the item.
    pub tol: f64,
    /// Fit on ratings at or above this only, and score from such history
    /// items only (a "liked" co-occurrence model; unset: every rating).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_rating: Option<f64>,
}

impl Default for Slim {
    fn default() -> Self {
        Self {
            alpha: 0.03,
            l1_ratio: 0.03,
            top_k: 200,
            max_iter: 100,
            tol: 1e-4,
            min_rating: None,
        }
    }
}

impl ModelKeys for Slim {
    const KIND: &'static str = "slim";
    fn check(&self) -> Result<(), ParamError> {
        params::float("alpha", self.alpha, 0.0, true, 1e6)?;
        params::float("l1_ratio", self.l1_ratio, 0.0, false, 1.0)?;
        params::int("top_k", self.top_k as u64, 0, params::MAX_COUNT)?;
        params::int("max_iter", u64::from(self.max_iter), 1, 100_000)?;
        params::float("tol", self.tol, 0.0, true, 1.0)?;
        params::min_rating(self.min_rating)?;
        Ok(())
    }
    #[cfg(feature = "train")]
    fn fit(
        &self,
        ctx: &mut crate::model::fit::FitContext,
    ) -> Result<crate::model::Part, crate::model::fit::FitError> {
        crate::model::fit::liked_only(&ctx.data.train, self.min_rating, |x| solve::fit(x, self))
    }
}

#[cfg(feature = "train")]
mod solve {
    use super::Slim;
    use crate::model::fit::FitError;
    use crate::model::parts::Part;
    use crate::sparse::Csr;
    use rayon::prelude::*;

    /// Fits SLIM on the binarised `train` (users × items) and returns the
    /// item-item part: row `k` holds what item `k` adds to each target's score.
    pub(crate) fn fit(train: &Csr, p: &Slim) -> Result<Part, FitError> {
        let n_items = train.n_cols;
        let by_item = train.transpose();
        let n = train.n_rows.max(1) as f64;
        let pen = Penalty {
            l1: n * p.alpha * p.l1_ratio,
            l2: n * p.alpha * (1.0 - p.l1_ratio),
        };
        let bar = crate::progress::Progress::new("slim: items solved", n_items as u64, "items");
        let columns: Vec<Vec<(u32, f32)>> = (0..n_items)
            .into_par_iter()
            .map_init(
                || Scratch::new(train.n_rows, n_items),
                |s, j| {
                    let col = s.solve(train, &by_item, j, &pen, p);
                    bar.inc(1);
                    col
                },
            )
            .collect();
        bar.finish();
        let mut counts = vec![0usize; n_items + 1];
        for col in &columns {
            for &(k, _) in col {
                counts[k as usize + 1] += 1;
            }
        }
        for k in 0..n_items {
            counts[k + 1] += counts[k];
        }
        let nnz = counts[n_items];
        let mut next = counts.clone();
        let mut indices = vec![0u32; nnz];
        let mut values = vec![0f32; nnz];
        // Targets are visited in ascending order, so each row's columns come out sorted.
        for (j, col) in columns.iter().enumerate() {
            for &(k, w) in col {
                let slot = &mut next[k as usize];
                indices[*slot] = j as u32;
                values[*slot] = w;
                *slot += 1;
            }
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(FitError::Numerical {
                model: "slim",
                msg: "coordinate descent produced a non-finite weight; raise model.alpha".into(),
            });
        }
        Ok(Part::ItemItem {
            weights: Csr {
                n_rows: n_items,
                n_cols: n_items,
                indptr: counts,
                indices,
                values,
            },
            min_rating: None,
        })
    }

    /// The elastic net in the unscaled form `½‖y − Xw‖² + l1‖w‖₁ + ½ l2‖w‖²`.
    struct Penalty {
        l1: f64,
        l2: f64,
    }

    /// Per-thread buffers, reset after each item by walking what it touched.
    struct Scratch {
        /// Residual `x_j − X w` over users.
        r: Vec<f64>,
        /// Weights over items.
        w: Vec<f64>,
        /// Co-count of each item with the current target (zero between items).
        count: Vec<u32>,
        /// Items whose `count` is non-zero, to reset them.
        touched: Vec<u32>,
        cands: Vec<u32>,
        active: Vec<u32>,
    }

    /// Largest weight change and largest weight of one sweep.
    struct Sweep {
        d_max: f64,
        w_max: f64,
    }

    impl Sweep {
        fn settled(&self, tol: f64) -> bool {
            self.w_max == 0.0 || self.d_max <= tol * self.w_max
        }
    }

    impl Scratch {
        fn new(n_users: usize, n_items: usize) -> Self {
            Self {
                r: vec![0.0; n_users],
                w: vec![0.0; n_items],
                count: vec![0; n_items],
                touched: Vec::new(),
                cands: Vec::new(),
                active: Vec::new(),
            }
        }

        fn solve(
            &mut self,
            train: &Csr,
            by_item: &Csr,
            j: usize,
            pen: &Penalty,
            p: &Slim,
        ) -> Vec<(u32, f32)> {
            let users = by_item.row(j).0;
            self.candidates(train, users, j, pen.l1);
            if self.cands.is_empty() {
                return Vec::new();
            }
            for &u in users {
                self.r[u as usize] = 1.0;
            }
            let mut cands = std::mem::take(&mut self.cands);
            let mut active = std::mem::take(&mut self.active);
            for _ in 0..p.max_iter {
                let full = self.sweep(by_item, &cands, pen);
                active.clear();
                active.extend(cands.iter().filter(|&&k| self.w[k as usize] > 0.0));
                if full.settled(p.tol) {
                    break;
                }
                for _ in 0..p.max_iter {
                    if self.sweep(by_item, &active, pen).settled(p.tol) {
                        break;
                    }
                }
            }
            let mut col: Vec<(u32, f32)> = active
                .iter()
                .map(|&k| (k, self.w[k as usize] as f32))
                .filter(|&(_, w)| w > 0.0)
                .collect();
            if p.top_k > 0 && col.len() > p.top_k {
                col.select_nth_unstable_by(p.top_k, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                col.truncate(p.top_k);
                col.sort_unstable_by_key(|e| e.0);
            }
            // Reset for the next item: the residual is as long as there are
            // users (cheap), the weights only where candidates sat.
            for &k in &cands {
                self.w[k as usize] = 0.0;
            }
            self.r.fill(0.0);
            cands.clear();
            self.cands = cands;
            self.active = active;
            col
        }

        /// Items co-rated with `j` by more than `l1` users, ascending (`j`
        /// excluded): the only items that can take a non-zero weight.
        fn candidates(&mut self, train: &Csr, users: &[u32], j: usize, l1: f64) {
            self.cands.clear();
            self.touched.clear();
            for &u in users {
                for &k in train.row(u as usize).0 {
                    let c = &mut self.count[k as usize];
                    if *c == 0 {
                        self.touched.push(k);
                    }
                    *c += 1;
                }
            }
            for &k in &self.touched {
                let c = std::mem::take(&mut self.count[k as usize]);
                if k as usize != j && f64::from(c) > l1 {
                    self.cands.push(k);
                }
            }
            self.cands.sort_unstable();
        }

        /// One cyclic pass of exact coordinate minimisation over `items`.
        fn sweep(&mut self, by_item: &Csr, items: &[u32], pen: &Penalty) -> Sweep {
            let mut s = Sweep {
                d_max: 0.0,
                w_max: 0.0,
            };
            for &k in items {
                let k = k as usize;
                let col = by_item.row(k).0;
                let sq = col.len() as f64;
                let old = self.w[k];
                let rho = gather_sum(&self.r, col) + sq * old;
                let new = if rho > pen.l1 {
                    (rho - pen.l1) / (sq + pen.l2)
                } else {
                    0.0
                };
                if new != old {
                    let d = new - old;
                    for &u in col {
                        self.r[u as usize] -= d;
                    }
                    self.w[k] = new;
                    s.d_max = s.d_max.max(d.abs());
                }
                s.w_max = s.w_max.max(new);
            }
            s
        }
    }

    /// `Σ r[u]` over `idx`, in four independent lanes: one running sum is a
    /// chain of dependent adds (latency-bound, most of the fit's time);
    /// four let the gathers overlap. The lane order is fixed, so the result
    /// is the same on every run and thread count.
    #[inline]
    fn gather_sum(r: &[f64], idx: &[u32]) -> f64 {
        let mut acc = [0.0f64; 4];
        let mut chunks = idx.chunks_exact(4);
        for c in &mut chunks {
            acc[0] += r[c[0] as usize];
            acc[1] += r[c[1] as usize];
            acc[2] += r[c[2] as usize];
            acc[3] += r[c[3] as usize];
        }
        for (a, &u) in acc.iter_mut().zip(chunks.remainder()) {
            *a += r[u as usize];
        }
        (acc[0] + acc[1]) + (acc[2] + acc[3])
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn gather_sum_adds_every_indexed_value_once() {
            let r: Vec<f64> = (0..10).map(|i| f64::from(i) * 0.5).collect();
            for n in 0..10 {
                let idx: Vec<u32> = (0..n).rev().collect();
                let want: f64 = idx.iter().map(|&u| r[u as usize]).sum();
                assert_eq!(gather_sum(&r, &idx), want, "n = {n}");
            }
        }

        /// Plain projected coordinate descent on the dense problem, run to
        /// convergence: what the sparse, active-set solver must agree with.
        #[allow(clippy::needless_range_loop)] // index-wise on purpose: the textbook form
        fn reference(x: &[Vec<f64>], j: usize, l1: f64, l2: f64) -> Vec<f64> {
            let (n, m) = (x.len(), x[0].len());
            let mut w = vec![0.0; m];
            for _ in 0..5000 {
                for k in 0..m {
                    if k == j {
                        continue;
                    }
                    let mut rho = 0.0;
                    let mut sq = 0.0;
                    for u in 0..n {
                        let pred: f64 = (0..m).filter(|&l| l != k).map(|l| x[u][l] * w[l]).sum();
                        rho += x[u][k] * (x[u][j] - pred);
                        sq += x[u][k] * x[u][k];
                    }
                    w[k] = if rho > l1 {
                        (rho - l1) / (sq + l2)
                    } else {
                        0.0
                    };
                }
            }
            w
        }

        fn data() -> (Csr, Vec<Vec<f64>>) {
            // 6 users × 5 items, some overlap; item 4 is co-rated only with item 3.
            let rows: [&[u32]; 6] = [&[0, 1, 2], &[0, 1], &[1, 2], &[0, 2], &[3, 4], &[0, 1, 2]];
            let mut t = Vec::new();
            let mut dense = vec![vec![0.0; 5]; 6];
            for (u, items) in rows.iter().enumerate() {
                for &i in *items {
                    t.push((u as u32, i, 7.0));
                    dense[u][i as usize] = 1.0;
                }
            }
            (Csr::from_triplets(6, 5, &t), dense)
        }

        #[test]
        fn matches_dense_coordinate_descent_and_keeps_weights_non_negative() {
            // The second setting's L1 (6 · 0.5 · 0.4 = 1.2) screens out the
            // pair 3/4 (co-count 1) but not the pairs among 0..2 (co-count 3).
            for (alpha, l1_ratio) in [(0.05, 0.1), (0.5, 0.4)] {
                let (x, dense) = data();
                let p = Slim {
                    alpha,
                    l1_ratio,
                    top_k: 0,
                    max_iter: 1000,
                    tol: 1e-10,
                    min_rating: None,
                };
                let Part::ItemItem { weights, .. } = fit(&x, &p).unwrap() else {
                    panic!("slim must compile to an item-item part")
                };
                let n = 6.0;
                let (l1, l2) = (n * alpha * l1_ratio, n * alpha * (1.0 - l1_ratio));
                let mut nonzero = 0;
                for j in 0..5 {
                    let want = reference(&dense, j, l1, l2);
                    for (k, &wk) in want.iter().enumerate() {
                        let (cols, vals) = weights.row(k);
                        let got = cols
                            .iter()
                            .position(|&c| c as usize == j)
                            .map_or(0.0, |p| f64::from(vals[p]));
                        assert!((got - wk).abs() < 1e-5, "W[{k},{j}] = {got}, want {wk}");
                        assert!(got >= 0.0);
                        nonzero += usize::from(got > 0.0);
                    }
                    assert!(!weights.row(j).0.contains(&(j as u32)), "zero diagonal");
                }
                assert!(nonzero >= 4, "a fit with weights to compare: {nonzero}");
                // Items 3/4 never co-occur with 0..2: no weight links them.
                assert!(weights.row(4).0.iter().all(|&c| c == 3));
            }
        }

        #[test]
        fn top_k_keeps_the_strongest_weights_and_is_thread_count_independent() {
            let (x, _) = data();
            let p = Slim {
                alpha: 0.01,
                l1_ratio: 0.0,
                top_k: 1,
                max_iter: 100,
                tol: 1e-6,
                min_rating: None,
            };
            let one = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap()
                .install(|| fit(&x, &p).unwrap());
            let two = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap()
                .install(|| fit(&x, &p).unwrap());
            assert_eq!(one, two);
            let Part::ItemItem { weights, .. } = one else {
                panic!()
            };
            // Each target keeps one source: every column has at most one entry.
            let t = weights.transpose();
            for j in 0..5 {
                assert!(t.row(j).0.len() <= 1, "column {j}: {:?}", t.row(j));
            }
        }
    }
}
