//! user_knn's neighbour index: every known user's nearest neighbours by
//! cosine of rating vectors, found once when the model is fitted, so that
//! scoring a known user reads a short list instead of searching 300,000
//! users (the search, per user at scoring time, was ~21 minutes of
//! evaluation on the whole MyAnimeList).
//!
//! The index holds exactly what the per-user search in
//! [`crate::model::Engine`] finds: the top `neighbors` users by similarity
//! (ties to the lower user index), the user itself excluded, kept only when
//! the similarity is positive (the scorer skips the others), best first.
//! The similarities are computed with the same float operations in the same
//! order, so scores with and without the index are bit-identical.
//!
//! The search ([`build`]) is a block-wise sparse R·Rᵀ: a block of query
//! users is multiplied against one tile of candidate users at a time, the
//! item → users lists being read once per block rather than once per user,
//! and the block × tile accumulator staying in L2.

use crate::sparse::Csr;

/// Neighbour lists of the known users: row `u` of `lists` is user `u`'s
/// neighbours (column = neighbour, value = cosine), **best first** (not
/// sorted by column like other [`Csr`]s).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NeighbourIndex {
    lists: Csr,
}

impl NeighbourIndex {
    /// Wraps neighbour lists (n_users × n_users, rows best first); the
    /// bundle reader checks them with [`NeighbourIndex::check`].
    pub fn from_lists(lists: Csr) -> Self {
        Self { lists }
    }

    /// The lists, as stored in a bundle.
    pub fn lists(&self) -> &Csr {
        &self.lists
    }

    /// Users indexed.
    pub fn n_users(&self) -> usize {
        self.lists.n_rows
    }

    /// User `u`'s neighbours and similarities, best first.
    pub fn neighbours(&self, u: usize) -> (&[u32], &[f32]) {
        self.lists.row(u)
    }

    /// Fits a bundle of `n_users` users and `neighbors` neighbours: square,
    /// no longer lists than `neighbors`, finite positive similarities, no
    /// user its own neighbour. Counts were bounded by the reader's shape
    /// checks; this bounds what the scorer trusts.
    pub fn check(&self, n_users: usize, neighbors: usize) -> Result<(), String> {
        let l = &self.lists;
        if l.n_rows != n_users || l.n_cols != n_users {
            return Err(format!(
                "neighbour index is {}×{}, expected {n_users}×{n_users}",
                l.n_rows, l.n_cols
            ));
        }
        for u in 0..l.n_rows {
            let (ids, sims) = l.row(u);
            if ids.len() > neighbors {
                return Err(format!(
                    "user {u} has {} indexed neighbours, more than neighbors = {neighbors}",
                    ids.len()
                ));
            }
            if ids.iter().any(|&v| v as usize == u) {
                return Err(format!("user {u} is indexed as its own neighbour"));
            }
            if sims.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
                return Err(format!(
                    "user {u} has a neighbour similarity that is not a finite positive number"
                ));
            }
        }
        Ok(())
    }
}

/// L2 norm of each user's rating vector, as the engine computes it.
#[cfg(feature = "train")]
pub(crate) fn user_norms(history: &Csr) -> Vec<f32> {
    (0..history.n_rows)
        .map(|u| history.row(u).1.iter().map(|r| r * r).sum::<f32>().sqrt())
        .collect()
}

#[cfg(feature = "train")]
mod search;
#[cfg(all(test, feature = "train"))]
use search::TILE;
#[cfg(feature = "train")]
pub(crate) use search::{build, MAX_ENTRIES};

#[cfg(all(test, feature = "train"))]
mod tests {
    use super::*;
    use crate::config::Normalization;
    use crate::model::{Engine, Member, Part};

    /// A random users × items matrix with integer ratings 1..=10 (many
    /// tied similarities), some empty users and one duplicated user.
    fn random(n_users: usize, n_items: usize, seed: u64) -> Csr {
        let mut x = seed;
        let mut next = move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as usize
        };
        let mut t = Vec::new();
        for u in 0..n_users {
            if u % 17 == 5 {
                continue;
            }
            let n = next() % 12;
            for _ in 0..n {
                let j = if next() % 3 == 0 {
                    next() % 4
                } else {
                    next() % n_items
                };
                t.push((u as u32, j as u32, (1 + next() % 10) as f32));
            }
        }
        let dup: Vec<_> = t
            .iter()
            .filter(|e| e.0 == 1)
            .map(|e| (n_users as u32 - 1, e.1, e.2))
            .collect();
        t.retain(|e| e.0 as usize != n_users - 1);
        t.extend(dup);
        Csr::from_triplets(n_users, n_items, &t)
    }

    fn engine(history: &Csr, k: usize, index: Option<NeighbourIndex>) -> Engine {
        Engine::new(
            vec![Member {
                name: "user_knn".into(),
                weight: 1.0,
                part: Part::UserKnn {
                    neighbors: k,
                    like_quantile: 0.5,
                    user_vectors: None,
                    index,
                },
            }],
            Normalization::Minmax,
            history.clone(),
        )
    }

    /// The per-user search of today's engine, kept as the reference: dense
    /// similarities through the item → users index, then top-k.
    fn per_user(h: &Csr, u: usize, k: usize) -> Vec<(u32, f32)> {
        let it = h.transpose();
        let norms = user_norms(h);
        let (items, rs) = h.row(u);
        let own = rs.iter().map(|r| r * r).sum::<f32>().sqrt().max(1e-12);
        let mut sim = vec![0f32; h.n_rows];
        for (&j, &r) in items.iter().zip(rs) {
            let (users, rvs) = it.row(j as usize);
            for (&v, &rv) in users.iter().zip(rvs) {
                sim[v as usize] += r * rv;
            }
        }
        for (v, s) in sim.iter_mut().enumerate() {
            if *s != 0.0 {
                *s /= own * norms[v].max(1e-12);
            }
        }
        sim[u] = f32::NEG_INFINITY;
        let mut top = Vec::new();
        crate::eval::topk::top_k_excluding(&sim, &[], k, &mut top);
        top.retain(|&(_, s)| s > 0.0);
        top
    }

    #[test]
    fn index_holds_the_per_user_search_bit_for_bit() {
        // More users than one tile and one block, with a partial last block.
        for (n_users, k) in [(2 * TILE + 77, 5), (300, 1), (130, 400)] {
            let h = random(n_users, 40, n_users as u64 + k as u64);
            let idx = build(&h, k);
            idx.check(n_users, k).unwrap();
            for u in 0..n_users {
                let (ids, sims) = idx.neighbours(u);
                let got: Vec<(u32, u32)> = ids
                    .iter()
                    .zip(sims)
                    .map(|(&v, s)| (v, s.to_bits()))
                    .collect();
                let want: Vec<(u32, u32)> = per_user(&h, u, k)
                    .into_iter()
                    .map(|(v, s)| (v, s.to_bits()))
                    .collect();
                assert_eq!(got, want, "user {u} of {n_users}, k = {k}");
            }
        }
    }

    #[test]
    fn scores_with_the_index_equal_the_engines_own_search() {
        let h = random(700, 30, 7);
        let k = 20;
        let with = engine(&h, k, Some(build(&h, k)));
        let without = engine(&h, k, None);
        let (mut a, mut b) = (vec![0f32; 30], vec![0f32; 30]);
        for u in 0..700u32 {
            with.score(&with.ctx(u), &mut a, &mut Vec::new());
            without.score(&without.ctx(u), &mut b, &mut Vec::new());
            assert_eq!(
                a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "user {u}"
            );
        }
    }

    #[test]
    fn check_refuses_what_the_scorer_must_not_trust() {
        let h = random(50, 10, 3);
        let idx = build(&h, 3);
        assert!(idx.check(50, 3).is_ok());
        assert!(idx.check(49, 3).unwrap_err().contains("expected 49×49"));
        assert!(idx
            .check(50, 2)
            .unwrap_err()
            .contains("more than neighbors"));
        let mut bad = idx.lists().clone();
        // The first user with a neighbour, and the slot of that neighbour.
        let u = (0..50)
            .find(|&u| bad.indptr[u + 1] > bad.indptr[u])
            .unwrap();
        let p = bad.indptr[u];
        bad.indices[p] = u as u32;
        let e = NeighbourIndex::from_lists(bad.clone()).check(50, 3);
        assert!(e.unwrap_err().contains("own neighbour"));
        bad.indices[p] = if u == 0 { 1 } else { 0 };
        bad.values[p] = f32::NAN;
        let e = NeighbourIndex::from_lists(bad).check(50, 3);
        assert!(e.unwrap_err().contains("finite positive"));
    }
}
