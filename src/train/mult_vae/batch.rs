//! Users' positives and the mini-batch inputs built from them: the encoder's
//! sparse rows and the multinomial targets, sparse too.

use rand::Rng;
use rand_pcg::Pcg64Mcg;

use crate::train::input::Triplets;
use crate::train::kernels::SparseRows;

/// Each user's positive items (rating ≥ threshold), CSR-like.
pub(super) struct Positives {
    pub(super) indptr: Vec<usize>,
    pub(super) items: Vec<u32>,
}

impl Positives {
    pub(super) fn new(t: &Triplets, n_users: usize, min_rating: f32) -> Self {
        let mut counts = vec![0usize; n_users + 1];
        let keep = |k: usize| t.ratings[k] >= min_rating;
        for k in (0..t.users.len()).filter(|&k| keep(k)) {
            counts[t.users[k] as usize + 1] += 1;
        }
        for u in 0..n_users {
            counts[u + 1] += counts[u];
        }
        let mut next = counts.clone();
        let mut items = vec![0u32; counts[n_users]];
        for k in (0..t.users.len()).filter(|&k| keep(k)) {
            let u = t.users[k] as usize;
            items[next[u]] = t.items[k];
            next[u] += 1;
        }
        Self {
            indptr: counts,
            items,
        }
    }

    pub(super) fn row(&self, u: u32) -> &[u32] {
        let u = u as usize;
        &self.items[self.indptr[u]..self.indptr[u + 1]]
    }

    /// Users with at least one positive.
    pub(super) fn users(&self) -> Vec<u32> {
        (0..self.indptr.len().saturating_sub(1) as u32)
            .filter(|&u| !self.row(u).is_empty())
            .collect()
    }
}

/// The encoder input of `users`, one sparse row per user: `1/√n` on the
/// user's `n` positives, then, when `dropout` is set, each entry kept with
/// probability `1 − p` and scaled by `1/(1 − p)` (a dropped entry is left
/// out) — Liang et al.'s `dropout(l2_normalize(x))`.
pub(super) fn encoder_input(
    pos: &Positives,
    users: &[u32],
    n_items: usize,
    dropout: Option<(f64, &mut Pcg64Mcg)>,
) -> SparseRows {
    let (p, mut rng) = match dropout {
        Some((p, rng)) if p > 0.0 => (p, Some(rng)),
        _ => (0.0, None),
    };
    let keep_scale = (1.0 / (1.0 - p)) as f32;
    let nnz: usize = users.iter().map(|&u| pos.row(u).len()).sum();
    let mut x = SparseRows {
        indptr: Vec::with_capacity(users.len() + 1),
        cols: Vec::with_capacity(nnz),
        vals: Vec::with_capacity(nnz),
        n_cols: n_items,
    };
    x.indptr.push(0);
    for &u in users {
        let items = pos.row(u);
        let v = 1.0 / (items.len().max(1) as f32).sqrt();
        for &i in items {
            let val = match rng.as_deref_mut() {
                Some(r) => {
                    if !keep(r, p) {
                        continue;
                    }
                    v * keep_scale
                }
                None => v,
            };
            x.cols.push(i);
            x.vals.push(val);
        }
        x.indptr.push(x.cols.len());
    }
    x
}

fn keep(rng: &mut Pcg64Mcg, p: f64) -> bool {
    rng.random::<f64>() >= p
}

/// The multinomial targets: 1 on each of the users' positives.
pub(super) fn targets(pos: &Positives, users: &[u32], n_items: usize) -> SparseRows {
    let mut y = SparseRows {
        indptr: Vec::with_capacity(users.len() + 1),
        n_cols: n_items,
        ..SparseRows::default()
    };
    y.indptr.push(0);
    for &u in users {
        y.cols.extend_from_slice(pos.row(u));
        y.indptr.push(y.cols.len());
    }
    y.vals = vec![1.0; y.cols.len()];
    y
}
