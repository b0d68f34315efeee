//! Ranking metrics (PROTOCOL.md section 4, any K) and rating-error metrics.

/// Per-K ranking metrics, exactly PROTOCOL.md section 4 generalised to any K (precision divides by K,
/// recall by |rel|, NDCG binary gain with IDCG over min(|rel|,K), MAP normalised by min(|rel|,K), hit rate).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UserMetrics {
    /// Hits in the top K divided by K.
    pub precision: f64,
    /// Hits in the top K divided by the number of relevant items.
    pub recall: f64,
    /// Binary-gain DCG over the ideal DCG of `min(|rel|, K)` hits.
    pub ndcg: f64,
    /// Average precision normalised by `min(|rel|, K)`.
    pub map: f64,
    /// 1 if the top K holds at least one relevant item, else 0.
    pub hit_rate: f64,
}

/// Discount of 1-based rank `r`: `1 / log2(r + 1)`.
#[inline]
fn discount(r: usize) -> f64 {
    1.0 / ((r + 1) as f64).log2()
}

/// Metrics of one user's ranked `list` (best first, items unique) against the
/// user's relevant items `relevant_sorted` (sorted ascending, unique), at cutoff `k`.
///
/// Only the first `k` entries of `list` count; a shorter list is scored as is
/// (precision still divides by `k`). A user with no relevant item, or `k == 0`,
/// has no defined metrics and gets all zeros; the evaluator never asks for that
/// case because such users are not evaluated.
pub fn user_metrics(list: &[u32], relevant_sorted: &[u32], k: usize) -> UserMetrics {
    if k == 0 || relevant_sorted.is_empty() {
        return UserMetrics::default();
    }
    let list = &list[..list.len().min(k)];
    let n_rel = relevant_sorted.len();
    let m = n_rel.min(k);

    let mut hits = 0usize;
    let mut dcg = 0.0f64;
    let mut ap_sum = 0.0f64;
    for (pos, item) in list.iter().enumerate() {
        if relevant_sorted.binary_search(item).is_ok() {
            let rank = pos + 1;
            hits += 1;
            dcg += discount(rank);
            ap_sum += hits as f64 / rank as f64;
        }
    }
    let idcg: f64 = (1..=m).map(discount).sum();
    UserMetrics {
        precision: hits as f64 / k as f64,
        recall: hits as f64 / n_rel as f64,
        ndcg: dcg / idcg,
        map: ap_sum / m as f64,
        hit_rate: if hits > 0 { 1.0 } else { 0.0 },
    }
}

/// Running sums so per-user metrics can be reduced across threads.
///
/// Floating-point addition is not associative: for bit-identical results
/// independent of how work was split, add users in a fixed order (the
/// evaluator adds them in user order) rather than merging partial sums.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MetricSums {
    sum: UserMetrics,
    users: usize,
}

impl MetricSums {
    /// Adds one user's metrics.
    pub fn add(&mut self, m: &UserMetrics) {
        self.sum.precision += m.precision;
        self.sum.recall += m.recall;
        self.sum.ndcg += m.ndcg;
        self.sum.map += m.map;
        self.sum.hit_rate += m.hit_rate;
        self.users += 1;
    }

    /// Adds another partial sum (e.g. from another thread).
    pub fn merge(&mut self, other: &MetricSums) {
        self.sum.precision += other.sum.precision;
        self.sum.recall += other.sum.recall;
        self.sum.ndcg += other.sum.ndcg;
        self.sum.map += other.sum.map;
        self.sum.hit_rate += other.sum.hit_rate;
        self.users += other.users;
    }

    /// Mean over the users added (every user weighs the same); all zeros when
    /// no user was added, so check [`MetricSums::users`] before trusting it.
    pub fn mean(&self) -> UserMetrics {
        if self.users == 0 {
            return UserMetrics::default();
        }
        let n = self.users as f64;
        UserMetrics {
            precision: self.sum.precision / n,
            recall: self.sum.recall / n,
            ndcg: self.sum.ndcg / n,
            map: self.sum.map / n,
            hit_rate: self.sum.hit_rate / n,
        }
    }

    /// Number of users added.
    pub fn users(&self) -> usize {
        self.users
    }
}

/// Root-mean-square and mean absolute error over `(prediction, truth)` pairs;
/// `None` when there are no pairs.
///
/// Non-finite predictions are not filtered: the protocol requires a finite
/// prediction for every pair, so a NaN/inf result flags a broken model
/// instead of silently scoring a subset.
pub fn rmse_mae(pairs: impl Iterator<Item = (f64, f64)>) -> Option<(f64, f64)> {
    let (mut n, mut se, mut ae) = (0usize, 0.0f64, 0.0f64);
    for (pred, truth) in pairs {
        let e = pred - truth;
        se += e * e;
        ae += e.abs();
        n += 1;
    }
    (n > 0).then(|| ((se / n as f64).sqrt(), ae / n as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-12;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= EPS
    }

    // Shared fixture: rel = {10, 11, 12, 13} (|rel| = 4);
    // list = [10, 20, 11, 21, 22] -> hits at ranks 1 and 3.
    const REL: [u32; 4] = [10, 11, 12, 13];
    const LIST: [u32; 5] = [10, 20, 11, 21, 22];

    #[test]
    fn golden_precision() {
        // K=5: 2 hits / 5 = 0.4.  K=2: prefix [10, 20] has 1 hit -> 1 / 2 = 0.5.
        assert!(close(user_metrics(&LIST, &REL, 5).precision, 0.4));
        assert!(close(user_metrics(&LIST, &REL, 2).precision, 0.5));
        // Always divides by K even when the list is shorter: 1 hit, list of 1, K=5 -> 1/5.
        assert!(close(user_metrics(&[10], &REL, 5).precision, 0.2));
        // Empty list: 0 / K.
        assert!(close(user_metrics(&[], &REL, 5).precision, 0.0));
    }

    #[test]
    fn golden_recall() {
        // K=5: 2 hits / |rel| 4 = 0.5.  K=2: 1 / 4 = 0.25.
        assert!(close(user_metrics(&LIST, &REL, 5).recall, 0.5));
        assert!(close(user_metrics(&LIST, &REL, 2).recall, 0.25));
        // Denominator is |rel| = 12, not min(|rel|, K) = 10: ten hits in ten
        // slots give 10 / 12 = 0.8333.., not 1.
        let rel12: Vec<u32> = (0..12).collect();
        let list10: Vec<u32> = (0..10).collect();
        assert!(close(user_metrics(&list10, &rel12, 10).recall, 10.0 / 12.0));
    }

    #[test]
    fn golden_ndcg() {
        // K=5: DCG  = 1/log2(2) + 1/log2(4) = 1 + 0.5 = 1.5
        //      IDCG = sum_{r=1..min(4,5)=4} 1/log2(r+1)
        //           = 1 + 0.6309297535714575 + 0.5 + 0.43067655807339306 = 2.5616063116448506
        //      NDCG = 1.5 / 2.5616063116448506 = 0.5855700749881525
        let idcg4 = 1.0 + 0.630_929_753_571_457_5 + 0.5 + 0.430_676_558_073_393_06;
        assert!(close(idcg4, 2.561_606_311_644_850_6));
        assert!(close(
            user_metrics(&LIST, &REL, 5).ndcg,
            0.585_570_074_988_152_5
        ));
        assert!(close(user_metrics(&LIST, &REL, 5).ndcg, 1.5 / idcg4));
        // K=2: DCG = 1 (rank 1 only); IDCG over min(4,2)=2 = 1 + 1/log2(3) = 1.6309297535714575
        //      NDCG = 1 / 1.6309297535714575 = 0.6131471927654584
        assert!(close(
            user_metrics(&LIST, &REL, 2).ndcg,
            0.613_147_192_765_458_4
        ));
        // Ideal list -> 1 even when |rel| > K (IDCG is capped at K terms).
        let rel12: Vec<u32> = (0..12).collect();
        let list10: Vec<u32> = (0..10).collect();
        assert!(close(user_metrics(&list10, &rel12, 10).ndcg, 1.0));
    }

    #[test]
    fn golden_map() {
        // K=5: AP = (1/min(4,5)) * (1/1 + 2/3) = (1/4) * (5/3) = 5/12 = 0.4166..
        assert!(close(user_metrics(&LIST, &REL, 5).map, 5.0 / 12.0));
        // K=2: AP = (1/min(4,2)) * (1/1) = 0.5
        assert!(close(user_metrics(&LIST, &REL, 2).map, 0.5));
        // Normalised by min(|rel|, K), not by the hits found: |rel| = 2, one
        // hit at rank 2 -> (1/2) * (1/2) = 0.25 (0.5 if divided by hits).
        assert!(close(user_metrics(&[7, 1, 8], &[1, 2], 10).map, 0.25));
        // |rel| = 12 > K = 10, perfect list: (1/10) * sum_{r=1..10} r/r = 1.
        let rel12: Vec<u32> = (0..12).collect();
        let list10: Vec<u32> = (0..10).collect();
        assert!(close(user_metrics(&list10, &rel12, 10).map, 1.0));
    }

    #[test]
    fn golden_hit_rate() {
        // K=5 and K=2 both contain the rank-1 hit.
        assert!(close(user_metrics(&LIST, &REL, 5).hit_rate, 1.0));
        assert!(close(user_metrics(&LIST, &REL, 2).hit_rate, 1.0));
        // Hit only at rank 3: inside K=3, outside K=2.
        assert!(close(user_metrics(&[20, 21, 10], &REL, 3).hit_rate, 1.0));
        assert!(close(user_metrics(&[20, 21, 10], &REL, 2).hit_rate, 0.0));
    }

    #[test]
    fn golden_all_five_at_k5_and_k2() {
        let m5 = user_metrics(&LIST, &REL, 5);
        let m2 = user_metrics(&LIST, &REL, 2);
        let want5 = UserMetrics {
            precision: 0.4,
            recall: 0.5,
            ndcg: 0.585_570_074_988_152_5,
            map: 5.0 / 12.0,
            hit_rate: 1.0,
        };
        let want2 = UserMetrics {
            precision: 0.5,
            recall: 0.25,
            ndcg: 0.613_147_192_765_458_4,
            map: 0.5,
            hit_rate: 1.0,
        };
        for (got, want) in [(m5, want5), (m2, want2)] {
            assert!(close(got.precision, want.precision), "{got:?}");
            assert!(close(got.recall, want.recall), "{got:?}");
            assert!(close(got.ndcg, want.ndcg), "{got:?}");
            assert!(close(got.map, want.map), "{got:?}");
            assert!(close(got.hit_rate, want.hit_rate), "{got:?}");
        }
    }

    #[test]
    fn short_list_is_scored_as_is() {
        // One item, a hit, K=5, |rel|=1: precision 1/5, recall 1, NDCG 1, AP 1/1 * 1/1.
        let m = user_metrics(&[10], &[10], 5);
        assert_eq!(
            m,
            UserMetrics {
                precision: 0.2,
                recall: 1.0,
                ndcg: 1.0,
                map: 1.0,
                hit_rate: 1.0
            }
        );
    }

    #[test]
    fn degenerate_inputs_give_zeros() {
        assert_eq!(user_metrics(&LIST, &[], 5), UserMetrics::default());
        assert_eq!(user_metrics(&LIST, &REL, 0), UserMetrics::default());
        assert_eq!(user_metrics(&[1, 2, 3], &REL, 5), UserMetrics::default());
    }

    #[test]
    fn sums_mean_and_merge() {
        let a = UserMetrics {
            precision: 0.2,
            recall: 0.5,
            ndcg: 0.3,
            map: 0.1,
            hit_rate: 1.0,
        };
        let b = UserMetrics {
            precision: 0.0,
            recall: 0.0,
            ndcg: 0.0,
            map: 0.0,
            hit_rate: 0.0,
        };
        let mut s1 = MetricSums::default();
        s1.add(&a);
        let mut s2 = MetricSums::default();
        s2.add(&b);
        s1.merge(&s2);
        assert_eq!(s1.users(), 2);
        let m = s1.mean();
        assert!(close(m.precision, 0.1) && close(m.recall, 0.25) && close(m.ndcg, 0.15));
        assert!(close(m.map, 0.05) && close(m.hit_rate, 0.5));
        assert_eq!(MetricSums::default().mean(), UserMetrics::default());
    }

    #[test]
    fn golden_rmse_mae() {
        // errors: 3-4 = -1, 5-5 = 0, 2-4 = -2
        // RMSE = sqrt((1 + 0 + 4) / 3) = sqrt(5/3) = 1.2909944487358056; MAE = (1 + 0 + 2) / 3 = 1
        let (rmse, mae) = rmse_mae([(3.0, 4.0), (5.0, 5.0), (2.0, 4.0)].into_iter()).unwrap();
        assert!(close(rmse, 1.290_994_448_735_805_6));
        assert!(close(mae, 1.0));
        assert_eq!(rmse_mae(std::iter::empty()), None);
    }
}
