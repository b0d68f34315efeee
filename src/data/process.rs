//! Cleaning and splitting, exactly as `shared/reference/PROTOCOL.md` sections
//! 1 and 2 say: drop unrated rows, dedupe (user, item) keeping the last row,
//! keep users with enough ratings, split each user's rows at random.

use super::{DataError, Ratings};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Counts from cleaning, for stats and lineage.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CleanStats {
    /// Rows loaded.
    pub rows_read: u64,
    /// Rows dropped for rating <= 0 (unrated).
    pub unrated: u64,
    /// Rows dropped as earlier duplicates of a (user, item) pair.
    pub duplicates: u64,
    /// Rows dropped with users below min_user_ratings.
    pub sparse_user_rows: u64,
    /// Users dropped.
    pub sparse_users: u64,
    pub rows_kept: u64,
}

/// PROTOCOL section 1. Returns rows sorted by (user, item).
pub fn clean(r: &Ratings, min_user_ratings: u32) -> (Ratings, CleanStats) {
    let mut st = CleanStats {
        rows_read: r.len() as u64,
        ..Default::default()
    };
    // (user, item) in the high bits, file position in the low bits: sorting
    // puts each pair's rows together in file order, so the last one wins.
    let mut keys: Vec<(u64, u32)> = (0..r.len())
        .filter(|&i| r.rating[i] > 0.0 && r.rating[i].is_finite())
        .map(|i| {
            (
                (u64::from(r.user[i]) << 32) | u64::from(r.item[i]),
                i as u32,
            )
        })
        .collect();
    st.unrated = st.rows_read - keys.len() as u64;
    keys.par_sort_unstable();
    let mut kept: Vec<u32> = Vec::with_capacity(keys.len());
    for w in 0..keys.len() {
        if w + 1 < keys.len() && keys[w + 1].0 == keys[w].0 {
            st.duplicates += 1;
            continue;
        }
        kept.push(keys[w].1);
    }
    drop(keys);
    let mut out = Ratings::with_capacity(kept.len());
    let mut start = 0;
    while start < kept.len() {
        let u = r.user[kept[start] as usize];
        let mut end = start;
        while end < kept.len() && r.user[kept[end] as usize] == u {
            end += 1;
        }
        if (end - start) as u64 >= u64::from(min_user_ratings) {
            for &i in &kept[start..end] {
                out.push(r.user[i as usize], r.item[i as usize], r.rating[i as usize]);
            }
        } else {
            st.sparse_users += 1;
            st.sparse_user_rows += (end - start) as u64;
        }
        start = end;
    }
    st.rows_kept = out.len() as u64;
    (out, st)
}

/// Test rows for a user with `n` rows: `max(1, round(ratio * n))`, and never all of them.
pub fn n_test(n: usize, ratio: f64) -> usize {
    ((ratio * n as f64).round() as usize)
        .max(1)
        .min(n.saturating_sub(1))
}

/// PROTOCOL section 2 with our own seeded generator (PCG64, created once):
/// users ascending, each user's rows by item ascending, a random permutation
/// picks `n_test` rows for test; test items absent from train are dropped.
/// `sorted` must be sorted by (user, item) as [`clean`] returns it.
pub fn split_per_user(sorted: &Ratings, ratio: f64, seed: u64) -> (Ratings, Ratings) {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut train = Ratings::with_capacity(sorted.len());
    let mut test = Ratings::with_capacity(sorted.len() / 4);
    let mut perm: Vec<u32> = Vec::new();
    let mut is_test: Vec<bool> = Vec::new();
    let mut start = 0;
    while start < sorted.len() {
        let u = sorted.user[start];
        let mut end = start;
        while end < sorted.len() && sorted.user[end] == u {
            end += 1;
        }
        let n = end - start;
        let k = n_test(n, ratio);
        perm.clear();
        perm.extend(0..n as u32);
        perm.shuffle(&mut rng);
        is_test.clear();
        is_test.resize(n, false);
        for &p in &perm[..k] {
            is_test[p as usize] = true;
        }
        for (j, &t) in is_test.iter().enumerate() {
            let i = start + j;
            let dst = if t { &mut test } else { &mut train };
            dst.push(sorted.user[i], sorted.item[i], sorted.rating[i]);
        }
        start = end;
    }
    let test = drop_unseen_items(&train, test);
    (train, test)
}

/// Drops test rows whose item never occurs in train (they can never be ranked).
pub fn drop_unseen_items(train: &Ratings, test: Ratings) -> Ratings {
    let max = train
        .item
        .iter()
        .chain(&test.item)
        .copied()
        .max()
        .unwrap_or(0) as usize;
    let mut seen = vec![false; max + 1];
    for &i in &train.item {
        seen[i as usize] = true;
    }
    let mut out = Ratings::with_capacity(test.len());
    for j in 0..test.len() {
        if seen[test.item[j] as usize] {
            out.push(test.user[j], test.item[j], test.rating[j]);
        }
    }
    out
}

/// Checks an external split enough to trust it: rows exist and test users are
/// train users.
pub fn check_external(train: &Ratings, test: &Ratings) -> Result<(), DataError> {
    if train.is_empty() {
        return Err(DataError::Unusable(
            "the external train file has no rows".into(),
        ));
    }
    if test.is_empty() {
        return Err(DataError::Unusable(
            "the external test file has no rows".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ratings(rows: &[(u32, u32, f32)]) -> Ratings {
        let mut r = Ratings::default();
        for &(u, i, x) in rows {
            r.push(u, i, x);
        }
        r
    }

    #[test]
    fn clean_drops_unrated_keeps_last_duplicate_and_filters_users() {
        let r = ratings(&[
            (1, 10, 5.0),
            (1, 11, 0.0),
            (1, 10, 8.0),
            (1, 12, 7.0),
            (2, 10, 9.0),
            (0, 3, 4.0),
            (0, 1, -1.0),
            (0, 2, 6.0),
        ]);
        let (c, st) = clean(&r, 2);
        assert_eq!(c.user, vec![0, 0, 1, 1]);
        assert_eq!(c.item, vec![2, 3, 10, 12]);
        assert_eq!(
            c.rating,
            vec![6.0, 4.0, 8.0, 7.0],
            "the last (1,10) row wins"
        );
        assert_eq!(
            (
                st.unrated,
                st.duplicates,
                st.sparse_users,
                st.sparse_user_rows,
                st.rows_kept
            ),
            (2, 1, 1, 1, 4)
        );
    }

    #[test]
    fn n_test_matches_protocol_integer_formula() {
        for n in 2..500 {
            assert_eq!(n_test(n, 0.2), ((n + 2) / 5).max(1), "n = {n}");
        }
    }

    #[test]
    fn split_is_per_user_deterministic_and_disjoint() {
        let mut rows = Vec::new();
        for u in 0..50u32 {
            for i in 0..(5 + u % 17) {
                rows.push((u, i * 3 + u % 2, (1 + (i % 10)) as f32));
            }
        }
        let (c, _) = clean(&ratings(&rows), 5);
        let (tr, te) = split_per_user(&c, 0.2, 42);
        let (tr2, te2) = split_per_user(&c, 0.2, 42);
        let (_, te3) = split_per_user(&c, 0.2, 7);
        assert_eq!((tr.item.clone(), te.item.clone()), (tr2.item, te2.item));
        assert_ne!(te.item, te3.item);
        assert_eq!(tr.len() + te.len(), c.len());
        for u in 0..50u32 {
            let n = c.user.iter().filter(|&&x| x == u).count();
            let t = te.user.iter().filter(|&&x| x == u).count();
            assert_eq!(t, n_test(n, 0.2));
        }
        let mut pairs: Vec<(u32, u32)> = tr
            .user
            .iter()
            .zip(&tr.item)
            .chain(te.user.iter().zip(&te.item))
            .map(|(a, b)| (*a, *b))
            .collect();
        let before = pairs.len();
        pairs.sort_unstable();
        pairs.dedup();
        assert_eq!(pairs.len(), before);
    }

    #[test]
    fn unseen_test_items_are_dropped() {
        let tr = ratings(&[(0, 1, 5.0), (1, 2, 5.0)]);
        let te = ratings(&[(0, 2, 5.0), (1, 9, 5.0)]);
        let te = drop_unseen_items(&tr, te);
        assert_eq!(te.item, vec![2]);
    }
}
