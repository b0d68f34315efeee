//! Bounded top-k selection over a dense score row.

use std::cmp::Ordering;

/// `a` ranks below `b`: lower score, or equal score and higher item index.
/// IEEE comparison (so -0.0 == 0.0) is used everywhere, keeping the heap and
/// the final sort consistent.
#[inline]
fn worse(a: (u32, f32), b: (u32, f32)) -> bool {
    a.1 < b.1 || (a.1 == b.1 && a.0 > b.0)
}

/// Best-first order: descending score, then ascending item index.
#[inline]
fn best_first(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    // Only finite scores ever reach the heap, so partial_cmp never fails.
    b.1.partial_cmp(&a.1)
        .unwrap_or(Ordering::Equal)
        .then(a.0.cmp(&b.0))
}

fn sift_up(h: &mut [(u32, f32)], mut pos: usize) {
    while pos > 0 {
        let parent = (pos - 1) / 2;
        if worse(h[pos], h[parent]) {
            h.swap(pos, parent);
            pos = parent;
        } else {
            break;
        }
    }
}

fn sift_down(h: &mut [(u32, f32)], mut pos: usize) {
    let n = h.len();
    loop {
        let l = 2 * pos + 1;
        if l >= n {
            break;
        }
        let r = l + 1;
        let c = if r < n && worse(h[r], h[l]) { r } else { l };
        if worse(h[c], h[pos]) {
            h.swap(c, pos);
            pos = c;
        } else {
            break;
        }
    }
}

/// Offers `x` to `h`, a bounded min-heap of the best `k` (k ≥ 1) with the
/// worst kept entry at the root: pushed while there is room, else it
/// replaces the root when it ranks above it (same order as the top-k scan).
/// Used by user_knn's neighbour search, which only fits build.
#[cfg(feature = "train")]
#[inline]
pub(crate) fn offer(h: &mut Vec<(u32, f32)>, k: usize, x: (u32, f32)) {
    if h.len() < k {
        h.push(x);
        let last = h.len() - 1;
        sift_up(h, last);
    } else if worse(h[0], x) {
        h[0] = x;
        sift_down(h, 0);
    }
}

/// Sorts `row` best first: descending score, then ascending index.
#[cfg(feature = "train")]
pub(crate) fn sort_best_first(row: &mut [(u32, f32)]) {
    row.sort_unstable_by(best_first);
}

/// Top-k (item, score) of `scores`, skipping items in `exclude` (sorted ascending) and any item whose
/// score is not finite; best first; ties broken by lower item index. O(n log k), no allocation beyond `out`.
///
/// `out` is cleared first and ends with `min(k, number of eligible items)` entries.
/// Entries of `exclude` that are `>= scores.len()` are ignored.
pub fn top_k_excluding(scores: &[f32], exclude: &[u32], k: usize, out: &mut Vec<(u32, f32)>) {
    out.clear();
    if k == 0 {
        return;
    }
    // Capacity for k entries at most, but never more than there are items.
    out.reserve(k.min(scores.len()));

    // Scan the runs between excluded items so the inner loop carries no
    // exclusion check; `exclude` being sorted makes this a single pass.
    let mut start = 0usize;
    let mut ex = exclude.iter().map(|&e| e as usize);
    loop {
        let end = match ex.next() {
            Some(e) if e < scores.len() => e,
            Some(_) | None => scores.len(),
        };
        if end >= start {
            scan(scores, start, end, k, out);
            start = end + 1;
        }
        if end >= scores.len() {
            break;
        }
    }
    out.sort_unstable_by(best_first);
}

/// Offers items `start..end` to the min-heap `out` (root = worst kept entry).
#[inline]
fn scan(scores: &[f32], start: usize, end: usize, k: usize, out: &mut Vec<(u32, f32)>) {
    let Some(run) = scores.get(start..end) else {
        return;
    };
    for (off, &s) in run.iter().enumerate() {
        let i = start + off;
        if out.len() == k {
            // Items arrive in ascending index order, so a candidate tying the
            // root has the higher index and loses: strict `>` is the exact
            // tie rule. NaN and -inf fail it, so only +inf needs its own test.
            if s > out[0].1 && s < f32::INFINITY {
                out[0] = (i as u32, s);
                sift_down(out, 0);
            }
        } else if s.is_finite() {
            out.push((i as u32, s));
            let last = out.len() - 1;
            sift_up(out, last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topk(scores: &[f32], exclude: &[u32], k: usize) -> Vec<(u32, f32)> {
        let mut out = Vec::new();
        top_k_excluding(scores, exclude, k, &mut out);
        out
    }

    /// Reference: full sort of eligible items.
    fn naive(scores: &[f32], exclude: &[u32], k: usize) -> Vec<(u32, f32)> {
        let mut v: Vec<(u32, f32)> = scores
            .iter()
            .enumerate()
            .filter(|(i, s)| s.is_finite() && !exclude.contains(&(*i as u32)))
            .map(|(i, &s)| (i as u32, s))
            .collect();
        v.sort_by(best_first);
        v.truncate(k);
        v
    }

    #[test]
    fn excludes_listed_items() {
        let s = [5.0, 9.0, 1.0, 8.0, 7.0];
        assert_eq!(topk(&s, &[1, 3], 2), vec![(4, 7.0), (0, 5.0)]);
        // Exclusions at both ends and out-of-range entries are harmless.
        assert_eq!(topk(&s, &[0, 4, 99], 5), vec![(1, 9.0), (3, 8.0), (2, 1.0)]);
    }

    #[test]
    fn ties_go_to_lower_index() {
        let s = [1.0, 3.0, 3.0, 2.0, 3.0, 3.0];
        assert_eq!(topk(&s, &[], 3), vec![(1, 3.0), (2, 3.0), (4, 3.0)]);
        assert_eq!(topk(&s, &[2], 3), vec![(1, 3.0), (4, 3.0), (5, 3.0)]);
        // Signed zeros compare equal, so index decides.
        assert_eq!(topk(&[0.0, -0.0, 0.0], &[], 2), vec![(0, 0.0), (1, -0.0)]);
    }

    #[test]
    fn non_finite_scores_are_skipped() {
        let s = [
            f32::NAN,
            2.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1.0,
            f32::NAN,
        ];
        assert_eq!(topk(&s, &[], 10), vec![(1, 2.0), (4, 1.0)]);
        // Also when the heap is already full.
        assert_eq!(topk(&s, &[], 1), vec![(1, 2.0)]);
    }

    #[test]
    fn k_larger_than_candidates_returns_all_sorted() {
        let s = [0.5, 0.1, 0.9];
        assert_eq!(topk(&s, &[1], 10), vec![(2, 0.9), (0, 0.5)]);
        assert!(topk(&s, &[], 0).is_empty());
        assert!(topk(&[], &[], 3).is_empty());
        assert!(topk(&s, &[0, 1, 2], 3).is_empty());
    }

    #[test]
    fn clears_previous_output() {
        let mut out = vec![(7, 7.0)];
        top_k_excluding(&[1.0], &[], 1, &mut out);
        assert_eq!(out, vec![(0, 1.0)]);
    }

    #[test]
    fn matches_full_sort_on_random_rows() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..500 {
            let n = (next() % 40) as usize;
            // Few distinct values so ties are common.
            let scores: Vec<f32> = (0..n)
                .map(|_| match next() % 10 {
                    0 => f32::NAN,
                    1 => f32::NEG_INFINITY,
                    v => (v % 4) as f32,
                })
                .collect();
            let mut exclude: Vec<u32> = (0..n as u32).filter(|_| next() % 4 == 0).collect();
            exclude.dedup();
            let k = (next() % 12) as usize;
            assert_eq!(topk(&scores, &exclude, k), naive(&scores, &exclude, k));
        }
    }
}
