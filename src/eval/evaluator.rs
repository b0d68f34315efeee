//! Full-ranking evaluation (PROTOCOL.md sections 3-4) and top-k recommendation
//! lists (section 5), parallel over blocks of users.

// The parallel evaluation is research-side only: the serving build uses the
// `Scorer` trait and the report types, and must not compile rayon.
#[cfg(feature = "train")]
use std::sync::atomic::{AtomicU32, Ordering};

#[cfg(feature = "train")]
use rayon::prelude::*;

use super::metrics::UserMetrics;
#[cfg(feature = "train")]
use super::metrics::{rmse_mae, user_metrics, MetricSums};
#[cfg(feature = "train")]
use super::topk::top_k_excluding;
#[cfg(feature = "train")]
use crate::sparse::Csr;

/// Something that scores every item for a block of users (dense row-major out: users.len() x n_items).
pub trait Scorer: Sync {
    /// Number of items scored per user; must equal the train matrix's `n_cols`.
    fn n_items(&self) -> usize;
    /// Writes the score of every item for each user in `users` into `out`
    /// (`out.len() == users.len() * n_items()`, row `i` belongs to `users[i]`).
    /// Higher is better; non-finite scores mark an item as not recommendable.
    fn score_users(&self, users: &[u32], out: &mut [f32]);
    /// Rating predictions on the original scale for (user, item) pairs; None if the model does not predict ratings.
    fn predict_ratings(&self, _pairs: &[(u32, u32)]) -> Option<Vec<f32>> {
        None
    }
}

/// Settings of [`evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSettings {
    /// Cutoffs K; the top `max(ks)` list is built once and truncated for each K.
    pub ks: Vec<usize>,
    /// A test rating `>= relevance_threshold` makes the item relevant (7 on 1-10 scales, 4 on 1-5).
    pub relevance_threshold: f32,
    /// Users scored together; memory bound: `block_users * n_items` floats per thread (0 is read as 1).
    pub block_users: usize,
}

impl From<&crate::config::EvalConfig> for EvalSettings {
    /// The experiment's `eval:` section, as every run evaluates with it.
    fn from(c: &crate::config::EvalConfig) -> Self {
        Self {
            ks: c.k.clone(),
            relevance_threshold: c.relevance_threshold,
            block_users: c.block_users,
        }
    }
}

/// Result of [`evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// The cutoffs, in the order of [`EvalSettings::ks`].
    pub ks: Vec<usize>,
    /// One per K, mean over evaluated users.
    pub at_k: Vec<UserMetrics>,
    /// Distinct recommended items in evaluated users' top-K lists / number of distinct items in train.
    pub coverage_at_k: Vec<f64>,
    /// Users with at least one relevant test item.
    pub users_evaluated: usize,
    /// Over ALL test rows, if the scorer predicts ratings.
    pub rmse: Option<f64>,
    /// Over ALL test rows, if the scorer predicts ratings.
    pub mae: Option<f64>,
    /// The evaluated users (dense indices, ascending).
    pub users: Vec<u32>,
    /// The values behind `at_k`: per evaluated user, per K (user-major,
    /// K-minor), for per-user significance tests.
    pub per_user: Vec<UserMetrics>,
}

impl EvalReport {
    /// Per-user columns: names (`precision@K`, `recall@K`, `ndcg@K`,
    /// `map@K`, `hit_rate@K` per K) and the values, row-major in `users` order.
    pub fn per_user_table(&self) -> (Vec<String>, Vec<f64>) {
        let mut names = Vec::with_capacity(self.ks.len() * 5);
        for k in &self.ks {
            for m in ["precision", "recall", "ndcg", "map", "hit_rate"] {
                names.push(format!("{m}@{k}"));
            }
        }
        let mut vals = Vec::with_capacity(self.per_user.len() * 5);
        for m in &self.per_user {
            vals.extend([m.precision, m.recall, m.ndcg, m.map, m.hit_rate]);
        }
        (names, vals)
    }

    /// Flat map like {"precision@10": .., "recall@10": .., "ndcg@10": .., "map@10": .., "hit_rate@10": ..,
    /// "coverage@10": .., "users_evaluated": .., "rmse": .., "mae": ..}; K-blocks in `ks` order, rating
    /// metrics only when present.
    pub fn to_flat(&self) -> Vec<(String, f64)> {
        let mut out = Vec::with_capacity(self.ks.len() * 6 + 3);
        for ((k, m), cov) in self.ks.iter().zip(&self.at_k).zip(&self.coverage_at_k) {
            out.push((format!("precision@{k}"), m.precision));
            out.push((format!("recall@{k}"), m.recall));
            out.push((format!("ndcg@{k}"), m.ndcg));
            out.push((format!("map@{k}"), m.map));
            out.push((format!("hit_rate@{k}"), m.hit_rate));
            out.push((format!("coverage@{k}"), *cov));
        }
        out.push(("users_evaluated".to_string(), self.users_evaluated as f64));
        if let Some(r) = self.rmse {
            out.push(("rmse".to_string(), r));
        }
        if let Some(m) = self.mae {
            out.push(("mae".to_string(), m));
        }
        out
    }
}

#[cfg(feature = "train")]
/// Candidate rules shared by [`evaluate`] and [`recommend`], computed once per call.
struct Candidates {
    /// Items with no train rating; they are never candidates.
    never_in_train: Vec<u32>,
    /// Distinct items in train (denominator of coverage).
    n_train_items: usize,
}

#[cfg(feature = "train")]
impl Candidates {
    fn new(train: &Csr) -> Self {
        let mut seen = vec![false; train.n_cols];
        for &i in &train.indices {
            if let Some(s) = seen.get_mut(i as usize) {
                *s = true;
            }
        }
        let never_in_train: Vec<u32> = (0..train.n_cols as u32)
            .filter(|&i| !seen[i as usize])
            .collect();
        Candidates {
            n_train_items: train.n_cols - never_in_train.len(),
            never_in_train,
        }
    }
}

/// Panics with a clear message on caller bugs that would otherwise produce
/// silently wrong numbers or an opaque slice-index panic deep in a worker.
#[cfg(feature = "train")]
fn check_shapes(train: &Csr, scorer: &dyn Scorer) {
    assert_eq!(
        scorer.n_items(),
        train.n_cols,
        "scorer scores {} items but train has {} item columns",
        scorer.n_items(),
        train.n_cols
    );
    assert_eq!(
        train.indptr.len(),
        train.n_rows + 1,
        "train indptr has {} entries for {} rows",
        train.indptr.len(),
        train.n_rows
    );
}

/// Scores `users` into the reused buffer and turns never-in-train items into
/// NaN, so that `top_k_excluding` only has to exclude the user's own train
/// items (it skips non-finite scores).
#[cfg(feature = "train")]
fn score_block<'a>(
    scorer: &dyn Scorer,
    users: &[u32],
    n_items: usize,
    cand: &Candidates,
    buf: &'a mut Vec<f32>,
) -> &'a [f32] {
    // Sized once per worker; only the final, shorter block shrinks it.
    buf.resize(users.len() * n_items, 0.0);
    scorer.score_users(users, buf);
    if !cand.never_in_train.is_empty() {
        for row in buf.chunks_exact_mut(n_items) {
            for &i in &cand.never_in_train {
                row[i as usize] = f32::NAN;
            }
        }
    }
    buf
}

/// Full-ranking evaluation: users with >=1 test item rated >= threshold are evaluated; candidates are all
/// items with at least one train rating minus the user's train items (items with no train rating are never
/// candidates). Blocks of users are scored and ranked in parallel with rayon; memory bounded by block_users.
///
/// Relevant items are all of the user's test items rated `>= threshold`, including any that never occur in
/// train (PROTOCOL.md section 3; the protocol's split drops those rows, so normally there are none). Items the
/// scorer gives a non-finite score are left out of the list. The report is bit-identical for any
/// `block_users` and thread count: per-user metrics are summed in user order. With no evaluated users the
/// means are 0 (see `users_evaluated`); with no train items coverage is 0.
///
/// # Panics
/// If `scorer.n_items() != train.n_cols`, or `test` does not have `train`'s shape, or the scorer returns a
/// number of rating predictions different from the number of test rows.
#[cfg(feature = "train")]
pub fn evaluate(
    train: &Csr,
    test: &Csr,
    scorer: &dyn Scorer,
    settings: &EvalSettings,
) -> EvalReport {
    evaluate_observed(train, test, scorer, settings, &|_| {})
}

/// How many users [`evaluate`] ranks: those with a relevant test item.
#[cfg(feature = "train")]
pub fn evaluated_users(test: &Csr, threshold: f32) -> usize {
    (0..test.n_rows)
        .filter(|&u| has_relevant(test, u, threshold))
        .count()
}

#[cfg(feature = "train")]
fn has_relevant(test: &Csr, u: usize, threshold: f32) -> bool {
    test.row(u).1.iter().any(|&r| r >= threshold)
}

/// [`evaluate`], calling `on_users(n)` from the worker threads as each
/// block of `n` users is done (a progress bar).
#[cfg(feature = "train")]
pub fn evaluate_observed(
    train: &Csr,
    test: &Csr,
    scorer: &dyn Scorer,
    settings: &EvalSettings,
    on_users: &(dyn Fn(usize) + Sync),
) -> EvalReport {
    check_shapes(train, scorer);
    assert!(
        test.n_rows == train.n_rows && test.n_cols == train.n_cols,
        "test is {}x{} but train is {}x{}",
        test.n_rows,
        test.n_cols,
        train.n_rows,
        train.n_cols
    );
    let n_items = train.n_cols;
    let thr = settings.relevance_threshold;
    let ks = &settings.ks;
    let k_max = ks.iter().copied().max().unwrap_or(0);
    let cand = Candidates::new(train);

    let users: Vec<u32> = (0..test.n_rows)
        .filter(|&u| has_relevant(test, u, thr))
        .map(|u| u as u32)
        .collect();

    // Best (0-based) rank at which each item appears in any evaluated user's
    // list: coverage@K is then the count of items with rank < K, for every K
    // at once. `fetch_min` is order-independent, so this stays deterministic.
    let best_rank: Vec<AtomicU32> = (0..n_items).map(|_| AtomicU32::new(u32::MAX)).collect();

    let per_block: Vec<Vec<UserMetrics>> = if ks.is_empty() {
        Vec::new()
    } else {
        users
            .par_chunks(settings.block_users.max(1))
            .map_init(
                || EvalScratch {
                    scores: Vec::new(),
                    list: Vec::with_capacity(k_max.min(n_items)),
                    items: Vec::with_capacity(k_max.min(n_items)),
                    relevant: Vec::new(),
                },
                |s, block| {
                    let rows = score_block(scorer, block, n_items, &cand, &mut s.scores);
                    let mut out = Vec::with_capacity(block.len() * ks.len());
                    for (j, &u) in block.iter().enumerate() {
                        let row = &rows[j * n_items..(j + 1) * n_items];
                        top_k_excluding(row, train.row(u as usize).0, k_max, &mut s.list);
                        s.items.clear();
                        s.items.extend(s.list.iter().map(|&(i, _)| i));
                        for (rank, &i) in s.items.iter().enumerate() {
                            best_rank[i as usize].fetch_min(rank as u32, Ordering::Relaxed);
                        }
                        // Test rows are sorted by item, so the filtered slice is too.
                        let (ti, tv) = test.row(u as usize);
                        s.relevant.clear();
                        s.relevant.extend(
                            ti.iter()
                                .zip(tv)
                                .filter(|&(_, &r)| r >= thr)
                                .map(|(&i, _)| i),
                        );
                        for &k in ks {
                            out.push(user_metrics(&s.items, &s.relevant, k));
                        }
                    }
                    on_users(block.len());
                    out
                },
            )
            .collect()
    };

    // Summed per user in user order rather than as per-block partial sums:
    // float addition is not associative, and this keeps the report
    // bit-identical for any block size or thread count. Entries are
    // user-major, K-minor, hence the modulo.
    let mut sums = vec![MetricSums::default(); ks.len()];
    let per_user: Vec<UserMetrics> = per_block.into_iter().flatten().collect();
    for (idx, m) in per_user.iter().enumerate() {
        sums[idx % ks.len()].add(m);
    }

    let coverage_at_k = ks
        .iter()
        .map(|&k| {
            if cand.n_train_items == 0 {
                return 0.0;
            }
            let covered = best_rank
                .iter()
                .filter(|r| (r.load(Ordering::Relaxed) as usize) < k)
                .count();
            covered as f64 / cand.n_train_items as f64
        })
        .collect();

    let (rmse, mae) = rating_errors(test, scorer).unzip();

    EvalReport {
        ks: ks.clone(),
        at_k: sums.iter().map(MetricSums::mean).collect(),
        coverage_at_k,
        users_evaluated: users.len(),
        rmse,
        mae,
        users,
        per_user,
    }
}

/// Per-worker buffers of [`evaluate`], reused across the blocks a worker takes.
#[cfg(feature = "train")]
struct EvalScratch {
    scores: Vec<f32>,
    list: Vec<(u32, f32)>,
    items: Vec<u32>,
    relevant: Vec<u32>,
}

/// RMSE and MAE over every test row, or None when the scorer does not predict ratings.
#[cfg(feature = "train")]
fn rating_errors(test: &Csr, scorer: &dyn Scorer) -> Option<(f64, f64)> {
    let mut pairs = Vec::with_capacity(test.indices.len());
    for u in 0..test.n_rows {
        pairs.extend(test.row(u).0.iter().map(|&i| (u as u32, i)));
    }
    let preds = scorer.predict_ratings(&pairs)?;
    assert_eq!(
        preds.len(),
        pairs.len(),
        "scorer returned {} rating predictions for {} test pairs",
        preds.len(),
        pairs.len()
    );
    // `pairs` walks the rows in storage order, so values line up with preds.
    rmse_mae(
        preds
            .iter()
            .zip(&test.values)
            .map(|(&p, &t)| (f64::from(p), f64::from(t))),
    )
}

/// Top-k lists for the given users (same candidate rules), for writing recs.csv; parallel over blocks.
///
/// Lists come back in the order of `users`, best first, each with `min(k, candidates)` entries (fewer if
/// the scorer gives some candidates a non-finite score). `block_users` of 0 is read as 1.
///
/// # Panics
/// If `scorer.n_items() != train.n_cols` or a user index is not a row of `train`.
#[cfg(feature = "train")]
pub fn recommend(
    train: &Csr,
    users: &[u32],
    scorer: &dyn Scorer,
    k: usize,
    block_users: usize,
) -> Vec<Vec<(u32, f32)>> {
    check_shapes(train, scorer);
    if let Some(&bad) = users.iter().find(|&&u| u as usize >= train.n_rows) {
        panic!(
            "user index {bad} is not a train row (train has {} rows)",
            train.n_rows
        );
    }
    let n_items = train.n_cols;
    let cand = Candidates::new(train);
    let per_block: Vec<Vec<Vec<(u32, f32)>>> = users
        .par_chunks(block_users.max(1))
        .map_init(Vec::new, |scores, block| {
            let rows = score_block(scorer, block, n_items, &cand, scores);
            block
                .iter()
                .enumerate()
                .map(|(j, &u)| {
                    let mut list = Vec::new();
                    let row = &rows[j * n_items..(j + 1) * n_items];
                    top_k_excluding(row, train.row(u as usize).0, k, &mut list);
                    list
                })
                .collect()
        })
        .collect();
    per_block.into_iter().flatten().collect()
}

#[cfg(all(test, feature = "train"))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// Scorer backed by a dense users x items table, optionally predicting a constant rating.
    struct TableScorer {
        n_items: usize,
        table: Vec<f32>,
        constant_rating: Option<f32>,
    }

    impl Scorer for TableScorer {
        fn n_items(&self) -> usize {
            self.n_items
        }
        fn score_users(&self, users: &[u32], out: &mut [f32]) {
            for (row, &u) in out.chunks_exact_mut(self.n_items).zip(users) {
                let a = u as usize * self.n_items;
                row.copy_from_slice(&self.table[a..a + self.n_items]);
            }
        }
        fn predict_ratings(&self, pairs: &[(u32, u32)]) -> Option<Vec<f32>> {
            self.constant_rating.map(|r| vec![r; pairs.len()])
        }
    }

    /// xorshift64: tiny deterministic generator for property-style tests.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const EPS: f64 = 1e-12;

    /// 3 users x 6 items. Train items {0,1,2,3,4}; item 5 has no train rating.
    ///   train: u0 {0:5, 1:3}   u1 {2:4, 4:1}   u2 {0:2, 3:5}
    ///   test:  u0 {2:5, 3:2}   u1 {1:1}        u2 {1:4, 2:2, 4:5}
    /// Threshold 4: rel(u0) = {2}, rel(u1) = {} (skipped), rel(u2) = {1, 4}.
    /// Scores: item 5 is everyone's best (must never be recommended);
    ///   u0, u1: [0.1, 0.5, 0.4, 0.3, 0.2, 9.0]
    ///   u2:     [0.9, 0.1, 0.3, 0.8, 0.3, 9.0]  (2 and 4 tie -> 2 first)
    /// Lists: u0 candidates {2,3,4} -> [2, 3, 4]; u2 candidates {1,2,4} -> [2, 4, 1];
    ///        u1 candidates {0,1,3} -> [1, 3, 0].
    fn fixture(constant_rating: Option<f32>) -> (Csr, Csr, TableScorer) {
        let train = Csr::from_triplets(
            3,
            6,
            &[
                (0, 0, 5.0),
                (0, 1, 3.0),
                (1, 2, 4.0),
                (1, 4, 1.0),
                (2, 0, 2.0),
                (2, 3, 5.0),
            ],
        );
        let test = Csr::from_triplets(
            3,
            6,
            &[
                (0, 2, 5.0),
                (0, 3, 2.0),
                (1, 1, 1.0),
                (2, 1, 4.0),
                (2, 2, 2.0),
                (2, 4, 5.0),
            ],
        );
        let base = [0.1, 0.5, 0.4, 0.3, 0.2, 9.0];
        let mut table = Vec::new();
        table.extend_from_slice(&base);
        table.extend_from_slice(&base);
        table.extend_from_slice(&[0.9, 0.1, 0.3, 0.8, 0.3, 9.0]);
        (
            train,
            test,
            TableScorer {
                n_items: 6,
                table,
                constant_rating,
            },
        )
    }

    fn settings(ks: &[usize], block_users: usize) -> EvalSettings {
        EvalSettings {
            ks: ks.to_vec(),
            relevance_threshold: 4.0,
            block_users,
        }
    }

    #[test]
    fn tiny_fixture_hand_computed() {
        let (train, test, scorer) = fixture(Some(3.0));
        let r = evaluate(&train, &test, &scorer, &settings(&[2, 3], 2));
        // u1 has no relevant test item: skipped, not counted as a zero.
        assert_eq!(r.users_evaluated, 2);
        assert_eq!(r.ks, vec![2, 3]);

        // K=2. u0 [2,3], rel {2}: hit@1 -> P 1/2, R 1/1, NDCG 1/1 = 1, AP (1/1)(1/1) = 1, hit 1.
        //      u2 [2,4], rel {1,4}: hit@2 -> P 1/2, R 1/2,
        //         NDCG (1/log2 3) / (1 + 1/log2 3) = 0.6309297535714575 / 1.6309297535714575
        //              = 0.38685280723454163, AP (1/min(2,2)) (1/2) = 0.25, hit 1.
        //      Means: P 0.5, R 0.75, NDCG (1 + 0.38685280723454163)/2 = 0.6934264036172708,
        //             MAP (1 + 0.25)/2 = 0.625, hit 1.
        //      Coverage: {2,3} u {2,4} = 3 items / 5 train items = 0.6.
        let m = r.at_k[0];
        assert!((m.precision - 0.5).abs() < EPS, "{m:?}");
        assert!((m.recall - 0.75).abs() < EPS, "{m:?}");
        assert!((m.ndcg - 0.693_426_403_617_270_8).abs() < EPS, "{m:?}");
        assert!((m.map - 0.625).abs() < EPS, "{m:?}");
        assert!((m.hit_rate - 1.0).abs() < EPS, "{m:?}");
        assert!((r.coverage_at_k[0] - 0.6).abs() < EPS);

        // K=3. u0 [2,3,4]: P 1/3, R 1, NDCG 1, AP 1, hit 1.
        //      u2 [2,4,1]: hits @2,@3 -> P 2/3, R 2/2 = 1,
        //         NDCG (1/log2 3 + 1/log2 4) / (1 + 1/log2 3) = 1.1309297535714575 / 1.6309297535714575
        //              = 0.6934264036172708, AP (1/2)(1/2 + 2/3) = 7/12, hit 1.
        //      Means: P 0.5, R 1, NDCG (1 + 0.6934264036172708)/2 = 0.8467132018086354,
        //             MAP (1 + 7/12)/2 = 19/24, hit 1.
        //      Coverage: {2,3,4} u {2,4,1} = 4 / 5 = 0.8.
        let m = r.at_k[1];
        assert!((m.precision - 0.5).abs() < EPS, "{m:?}");
        assert!((m.recall - 1.0).abs() < EPS, "{m:?}");
        assert!((m.ndcg - 0.846_713_201_808_635_4).abs() < EPS, "{m:?}");
        assert!((m.map - 19.0 / 24.0).abs() < EPS, "{m:?}");
        assert!((m.hit_rate - 1.0).abs() < EPS, "{m:?}");
        assert!((r.coverage_at_k[1] - 0.8).abs() < EPS);

        // Every test row, relevant or not, u1 included; prediction 3 everywhere:
        // errors 2, -1, -2, 1, -1, 2 -> RMSE sqrt(15/6) = 1.5811388300841898, MAE 9/6 = 1.5.
        assert!((r.rmse.unwrap() - 1.581_138_830_084_189_8).abs() < EPS);
        assert!((r.mae.unwrap() - 1.5).abs() < EPS);
    }

    #[test]
    fn tiny_fixture_lists_and_flat_report() {
        let (train, test, scorer) = fixture(None);
        let lists = recommend(&train, &[0, 1, 2], &scorer, 3, 2);
        let items: Vec<Vec<u32>> = lists
            .iter()
            .map(|l| l.iter().map(|p| p.0).collect())
            .collect();
        assert_eq!(items, vec![vec![2, 3, 4], vec![1, 3, 0], vec![2, 4, 1]]);
        // Only 3 candidates each: k beyond that returns all of them.
        assert!(recommend(&train, &[0, 1, 2], &scorer, 10, 1)
            .iter()
            .all(|l| l.len() == 3));

        let r = evaluate(&train, &test, &scorer, &settings(&[2], 8));
        assert_eq!((r.rmse, r.mae), (None, None));
        let flat = r.to_flat();
        let keys: Vec<&str> = flat.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "precision@2",
                "recall@2",
                "ndcg@2",
                "map@2",
                "hit_rate@2",
                "coverage@2",
                "users_evaluated"
            ]
        );
        assert_eq!(flat[6].1, 2.0);
        assert_eq!(flat[5].1, r.coverage_at_k[0]);
    }

    #[test]
    fn users_without_relevant_items_are_skipped_not_zero() {
        let (train, test, scorer) = fixture(None);
        // Raising the threshold to 5 drops u2's item 1 (rated 4): rel(u0) = {2}, rel(u2) = {4}.
        let mut s = settings(&[1], 1);
        s.relevance_threshold = 5.0;
        let r = evaluate(&train, &test, &scorer, &s);
        assert_eq!(r.users_evaluated, 2);
        // Above every rating: nobody is evaluated, means are 0, coverage 0.
        s.relevance_threshold = 6.0;
        let r = evaluate(&train, &test, &scorer, &s);
        assert_eq!(r.users_evaluated, 0);
        assert_eq!(r.at_k[0], UserMetrics::default());
        assert_eq!(r.coverage_at_k[0], 0.0);
    }

    /// Random `n_users x n_items` train/test with disjoint items per user, every user
    /// with >= 1 train row, ratings 1..=5, and a score table with many ties.
    fn random_fixture(
        rng: &mut XorShift,
        n_users: usize,
        n_items: usize,
    ) -> (Csr, Csr, TableScorer) {
        let mut tr = Vec::new();
        let mut te = Vec::new();
        for u in 0..n_users as u32 {
            let first = rng.below(n_items as u64) as u32;
            tr.push((u, first, 1.0 + rng.below(5) as f32));
            for i in 0..n_items as u32 {
                if i == first {
                    continue;
                }
                match rng.below(10) {
                    0..=2 => tr.push((u, i, 1.0 + rng.below(5) as f32)),
                    3 | 4 => te.push((u, i, 1.0 + rng.below(5) as f32)),
                    _ => {}
                }
            }
        }
        let table = (0..n_users * n_items)
            .map(|_| (rng.below(8) as f32) * 0.25 - 0.5)
            .collect();
        (
            Csr::from_triplets(n_users, n_items, &tr),
            Csr::from_triplets(n_users, n_items, &te),
            TableScorer {
                n_items,
                table,
                constant_rating: Some(3.5),
            },
        )
    }

    #[test]
    fn recommend_never_returns_train_or_untrained_items() {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        for _ in 0..300 {
            let n_users = 1 + rng.below(8) as usize;
            let n_items = 1 + rng.below(12) as usize;
            let (train, _test, scorer) = random_fixture(&mut rng, n_users, n_items);
            let in_train: Vec<bool> = (0..n_items as u32)
                .map(|i| train.indices.contains(&i))
                .collect();
            let k = 1 + rng.below(6) as usize;
            let users: Vec<u32> = (0..n_users as u32).collect();
            let block = 1 + rng.below(4) as usize;
            let lists = recommend(&train, &users, &scorer, k, block);
            assert_eq!(lists.len(), n_users);
            for (u, list) in lists.iter().enumerate() {
                let own = train.row(u).0;
                let n_cand = (0..n_items as u32)
                    .filter(|&i| in_train[i as usize] && !own.contains(&i))
                    .count();
                assert_eq!(list.len(), k.min(n_cand));
                for (pos, &(i, s)) in list.iter().enumerate() {
                    assert!(!own.contains(&i), "train item {i} recommended to user {u}");
                    assert!(in_train[i as usize], "item {i} has no train rating");
                    assert!(s.is_finite());
                    if pos > 0 {
                        let prev = list[pos - 1];
                        assert!(prev.1 > s || (prev.1 == s && prev.0 < i), "order {list:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn item_without_train_rating_is_never_recommended() {
        let (train, _test, scorer) = fixture(None);
        for k in 1..=6 {
            let lists = recommend(&train, &[0, 1, 2], &scorer, k, 1);
            assert!(lists.iter().flatten().all(|&(i, _)| i != 5));
        }
        // Also in evaluate: a user whose only relevant item is 5 gets no hit.
        let only_5 = Csr::from_triplets(3, 6, &[(0, 5, 5.0)]);
        let r = evaluate(&train, &only_5, &scorer, &settings(&[6], 1));
        assert_eq!(r.users_evaluated, 1);
        assert_eq!(r.at_k[0].hit_rate, 0.0);
        // u0's list [2, 3, 4] -> 3 of 5 train items covered.
        assert!((r.coverage_at_k[0] - 0.6).abs() < EPS);
    }

    #[test]
    fn deterministic_across_block_sizes_and_threads() {
        let mut rng = XorShift(0xDEAD_BEEF_CAFE_F00D);
        let (train, test, scorer) = random_fixture(&mut rng, 300, 60);
        let ks = [1, 5, 10, 20];
        let r1 = evaluate(&train, &test, &scorer, &settings(&ks, 1));
        let r64 = evaluate(&train, &test, &scorer, &settings(&ks, 64));
        assert_eq!(r1, r64);
        let single = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let r_seq = single.install(|| evaluate(&train, &test, &scorer, &settings(&ks, 7)));
        assert_eq!(r1, r_seq);
        assert!(r1.users_evaluated > 200);
        let users: Vec<u32> = (0..300).collect();
        assert_eq!(
            recommend(&train, &users, &scorer, 10, 1),
            recommend(&train, &users, &scorer, 10, 64)
        );
    }

    // ---- cross-check against protocol/evaluate.py -------------------------------------------

    const EVALUATE_PY: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/reference/protocol/evaluate.py"
    );

    /// The interpreter to use, or None (with a printed note) if it lacks numpy/pandas.
    fn python_with_pandas() -> Option<String> {
        let py = std::env::var("ANIREC_PYTHON").unwrap_or_else(|_| "python3".to_string());
        let ok = Command::new(&py)
            .args(["-c", "import numpy, pandas"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        // Straight to stderr (the harness captures println!): a skip must be seen.
        let skip = |why: String| {
            let _ = writeln!(std::io::stderr(), "skipping Python cross-check: {why}");
        };
        if !ok {
            skip(format!(
                "`{py}` cannot import numpy and pandas (set ANIREC_PYTHON)"
            ));
            return None;
        }
        if !Path::new(EVALUATE_PY).exists() {
            skip(format!(
                "{EVALUATE_PY} not found (the protocol's reference evaluator, kept beside the repository in shared/reference, not in it)"
            ));
            return None;
        }
        Some(py)
    }

    fn write_ratings(path: &Path, m: &Csr) {
        let mut s = String::from("user_id,item_id,rating\n");
        for u in 0..m.n_rows {
            let (ix, vs) = m.row(u);
            for (i, v) in ix.iter().zip(vs) {
                s.push_str(&format!("{u},{i},{v}\n"));
            }
        }
        std::fs::write(path, s).unwrap();
    }

    fn write_recs(path: &Path, users: &[u32], lists: &[Vec<(u32, f32)>]) {
        let mut s = String::from("user_id,item_id,rank,score\n");
        for (u, list) in users.iter().zip(lists) {
            for (r, (i, sc)) in list.iter().enumerate() {
                s.push_str(&format!("{u},{i},{},{sc}\n", r + 1));
            }
        }
        std::fs::write(path, s).unwrap();
    }

    /// Reads the `"key": number` lines of evaluate.py's indented JSON.
    fn parse_flat_json(text: &str) -> Vec<(String, f64)> {
        text.lines()
            .filter_map(|l| {
                let (k, v) = l.trim().trim_end_matches(',').split_once(':')?;
                Some((
                    k.trim().trim_matches('"').to_string(),
                    v.trim().parse().ok()?,
                ))
            })
            .collect()
    }

    fn run_reference(py: &str, dir: &Path, k: usize) -> Vec<(String, f64)> {
        let out = Command::new(py)
            .arg(EVALUATE_PY)
            .args(["train.csv", "test.csv"])
            .arg(format!("recs{k}.csv"))
            .args(["--threshold", "4", "--k"])
            .arg(k.to_string())
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "evaluate.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse_flat_json(&String::from_utf8_lossy(&out.stdout))
    }

    #[test]
    fn matches_python_reference() {
        let Some(py) = python_with_pandas() else {
            return;
        };
        let dir: PathBuf =
            std::env::temp_dir().join(format!("anirec-eval-xcheck-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();

        let mut rng = XorShift(0x0123_4567_89AB_CDEF);
        let (n_users, n_items) = (60, 40);
        let (train, mut test, mut scorer) = random_fixture(&mut rng, n_users, n_items);
        // Popularity-like scores (low item index = better, coarse so ties are
        // common) keep coverage well below 1, so that it is actually compared.
        for (j, s) in scorer.table.iter_mut().enumerate() {
            let i = j % n_items;
            *s = ((n_items - i) / 4) as f32 + rng.below(3) as f32;
        }
        // Item 39 gets no train rating: drop it from train, keep it in test, so
        // both sides must agree on relevant-but-unrecommendable items.
        let mut tr = Vec::new();
        for u in 0..n_users {
            let (ix, vs) = train.row(u);
            tr.extend(
                ix.iter()
                    .zip(vs)
                    .filter(|(&i, _)| i != 39)
                    .map(|(&i, &v)| (u as u32, i, v)),
            );
        }
        let mut te: Vec<(u32, u32, f32)> = Vec::new();
        for u in 0..n_users {
            let (ix, vs) = test.row(u);
            te.extend(ix.iter().zip(vs).map(|(&i, &v)| (u as u32, i, v)));
        }
        te.push((0, 39, 5.0));
        // Every user keeps a train row (evaluate.py needs recs from train users only).
        for u in 0..n_users as u32 {
            if !tr.iter().any(|t| t.0 == u) {
                tr.push((u, 0, 3.0));
                te.retain(|t| !(t.0 == u && t.1 == 0));
            }
        }
        let train = Csr::from_triplets(n_users, n_items, &tr);
        test = Csr::from_triplets(n_users, n_items, &te);

        write_ratings(&dir.join("train.csv"), &train);
        write_ratings(&dir.join("test.csv"), &test);
        let users: Vec<u32> = (0..n_users as u32).collect();
        let ks = [10, 5];
        let ours = evaluate(&train, &test, &scorer, &settings(&ks, 16));
        assert!(ours.users_evaluated > 30);
        assert!(
            ours.coverage_at_k.iter().all(|&c| c > 0.1 && c < 0.9),
            "{ours:?}"
        );
        for (j, &k) in ks.iter().enumerate() {
            let lists = recommend(&train, &users, &scorer, k, 16);
            write_recs(&dir.join(format!("recs{k}.csv")), &users, &lists);
            let theirs = run_reference(&py, &dir, k);
            let get = |name: &str| {
                theirs
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|p| p.1)
                    .unwrap_or_else(|| panic!("{name} missing from evaluate.py output {theirs:?}"))
            };
            let m = ours.at_k[j];
            for (name, mine) in [
                ("precision", m.precision),
                ("recall", m.recall),
                ("ndcg", m.ndcg),
                ("map", m.map),
                ("hit_rate", m.hit_rate),
                ("coverage", ours.coverage_at_k[j]),
                ("users_evaluated", ours.users_evaluated as f64),
            ] {
                let r = get(name);
                assert!(
                    (mine - r).abs() <= 1e-9,
                    "{name}@{k}: ours {mine} vs reference {r}"
                );
            }
            println!("python cross-check @{k} matched: {theirs:?}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Timing at the target scale; run with `cargo test --release -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn perf_4200_users_17000_items() {
        struct FactorScorer {
            users: Vec<f32>,
            items: Vec<f32>,
            d: usize,
        }
        impl Scorer for FactorScorer {
            fn n_items(&self) -> usize {
                self.items.len() / self.d
            }
            fn score_users(&self, users: &[u32], out: &mut [f32]) {
                let n = self.n_items();
                for (row, &u) in out.chunks_exact_mut(n).zip(users) {
                    let pu = &self.users[u as usize * self.d..(u as usize + 1) * self.d];
                    for (o, qi) in row.iter_mut().zip(self.items.chunks_exact(self.d)) {
                        *o = pu.iter().zip(qi).map(|(a, b)| a * b).sum();
                    }
                }
            }
        }
        let (n_users, n_items, d) = (4200usize, 17000usize, 32usize);
        let mut rng = XorShift(7);
        let mut f = || (rng.below(1000) as f32) / 1000.0 - 0.5;
        let scorer = FactorScorer {
            users: (0..n_users * d).map(|_| f()).collect(),
            items: (0..n_items * d).map(|_| f()).collect(),
            d,
        };
        let mut rng = XorShift(11);
        let (mut tr, mut te) = (Vec::new(), Vec::new());
        for u in 0..n_users as u32 {
            for _ in 0..100 {
                tr.push((
                    u,
                    rng.below(n_items as u64) as u32,
                    1.0 + rng.below(10) as f32,
                ));
            }
            for _ in 0..25 {
                te.push((
                    u,
                    rng.below(n_items as u64) as u32,
                    1.0 + rng.below(10) as f32,
                ));
            }
        }
        let train = Csr::from_triplets(n_users, n_items, &tr);
        let test = Csr::from_triplets(n_users, n_items, &te);
        let s = EvalSettings {
            ks: vec![10, 20, 50],
            relevance_threshold: 7.0,
            block_users: 64,
        };

        struct ZeroCost(usize);
        impl Scorer for ZeroCost {
            fn n_items(&self) -> usize {
                self.0
            }
            fn score_users(&self, users: &[u32], out: &mut [f32]) {
                for (j, o) in out.iter_mut().enumerate() {
                    *o = ((j as u32).wrapping_mul(2_654_435_761) ^ users[0]) as f32;
                }
            }
        }
        let t = std::time::Instant::now();
        let r = evaluate(&train, &test, &ZeroCost(n_items), &s);
        println!(
            "evaluate, trivial scorer: {:?} ({} users)",
            t.elapsed(),
            r.users_evaluated
        );
        let t = std::time::Instant::now();
        let r = evaluate(&train, &test, &scorer, &s);
        println!(
            "evaluate, 32-factor dot scorer: {:?} ({} users)",
            t.elapsed(),
            r.users_evaluated
        );
    }
}
