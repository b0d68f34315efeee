//! The fit-time neighbour search: a block-wise sparse R·Rᵀ over the upper
//! triangle.
//!
//! A block of BLOCK query users is multiplied against one tile of TILE
//! candidate users at a time; the BLOCK × TILE accumulator (128 KiB) stays
//! in L2. The users' ratings are regrouped tile-major ([`Tiles`]), so a
//! tile's part of an item's raters is one contiguous run read in item
//! order, not a cursor into a 300 MB array revisited per tile (which was a
//! cache miss per item per tile, 40 % of the time).
//!
//! Each pair is computed once: a block only meets candidates from its own
//! first user on. A pair's dot product is then offered in both directions —
//! to the query's own heap, and (candidate in a later block) to the
//! candidate's shared heap, which earlier blocks fill. A dot product's
//! terms are the same products added in the same (ascending item) order
//! from either side, so both similarities are the bits the per-user search
//! computes; the top-k under a strict order does not depend on the order
//! the pairs arrive in.

use super::{user_norms, NeighbourIndex};
use crate::eval::topk::{offer, sort_best_first};
use crate::sparse::Csr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

/// Most index entries [`build`] makes (n_users × neighbours): beyond this a
/// `neighbors` setting meant for "everyone" would hold gigabytes, and the
/// per-user search (constant memory) is used instead.
pub(crate) const MAX_ENTRIES: usize = 1 << 28;

/// Query users per block: each tile's item runs are read once per block.
const BLOCK: usize = 64;
/// Candidate users per tile: the BLOCK × TILE f32 accumulator is 128 KiB,
/// a quarter of a small L2, leaving room for the rater runs streamed past it.
pub(super) const TILE: usize = 512;

/// Slots of a block that must share an item for its products to be added
/// as one dense row (all BLOCK lanes, the others adding `r · 0`) instead of
/// one scattered add per slot: a scattered add waits on L2 about as long as
/// a whole row's SIMD pass takes.
const DENSE_MIN: usize = 2;

/// `acc[v - t0][l] += rv · q[l]` for every `(v, rv)` of a run. Adding
/// `rv · 0` to a lane leaves its sum unchanged (up to the sign of a zero,
/// which the harvest reads as no overlap), so the dense pass gives the bits
/// of the scattered one. Separate multiply and add, never fused, as in the
/// per-user search.
#[inline(always)]
fn axpy_body(acc: &mut [[f32; BLOCK]], t0: usize, users: &[u32], vals: &[f32], q: &[f32; BLOCK]) {
    for (&v, &rv) in users.iter().zip(vals) {
        let row = &mut acc[v as usize - t0];
        for l in 0..BLOCK {
            row[l] += rv * q[l];
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn axpy_avx2(acc: &mut [[f32; BLOCK]], t0: usize, users: &[u32], vals: &[f32], q: &[f32; BLOCK]) {
    axpy_body(acc, t0, users, vals, q);
}

/// [`axpy_body`] with AVX2 when the CPU has it: the crate builds for
/// baseline x86-64 so one binary runs anywhere.
fn axpy(
    avx2: bool,
    acc: &mut [[f32; BLOCK]],
    t0: usize,
    users: &[u32],
    vals: &[f32],
    q: &[f32; BLOCK],
) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is `has_avx2()`, the CPU supports AVX2.
        unsafe { axpy_avx2(acc, t0, users, vals, q) };
        return;
    }
    let _ = avx2;
    axpy_body(acc, t0, users, vals, q);
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The ratings regrouped by (user tile, item, user): run `(t, j)` is the
/// users of tile `t` who rated item `j`, ascending, with their ratings.
struct Tiles {
    n_items: usize,
    /// Start of run `(t, j)` at `t * n_items + j`; one more entry at the end.
    ptr: Vec<usize>,
    users: Vec<u32>,
    vals: Vec<f32>,
}

impl Tiles {
    fn new(history: &Csr) -> Self {
        let n_items = history.n_cols;
        let n_tiles = history.n_rows.div_ceil(TILE);
        let mut ptr = vec![0usize; n_tiles * n_items + 1];
        for u in 0..history.n_rows {
            let t = u / TILE;
            for &j in history.row(u).0 {
                ptr[t * n_items + j as usize + 1] += 1;
            }
        }
        for f in 0..n_tiles * n_items {
            ptr[f + 1] += ptr[f];
        }
        let mut next = ptr.clone();
        let mut users = vec![0u32; history.nnz()];
        let mut vals = vec![0f32; history.nnz()];
        for u in 0..history.n_rows {
            let t = u / TILE;
            let (items, rs) = history.row(u);
            for (&j, &r) in items.iter().zip(rs) {
                let slot = &mut next[t * n_items + j as usize];
                users[*slot] = u as u32;
                vals[*slot] = r;
                *slot += 1;
            }
        }
        Self {
            n_items,
            ptr,
            users,
            vals,
        }
    }

    /// Run `(t, j)`: users and ratings.
    #[inline]
    fn run(&self, t: usize, j: u32) -> (&[u32], &[f32]) {
        let f = t * self.n_items + j as usize;
        let (a, b) = (self.ptr[f], self.ptr[f + 1]);
        (&self.users[a..b], &self.vals[a..b])
    }
}

/// Scratch of one worker, reused across blocks (nothing is allocated per
/// candidate or per tile).
struct Scratch {
    /// (item, query slot, rating) of every rating of the block's users.
    entries: Vec<(u32, u32, f32)>,
    /// Distinct items of the block: (item, first entry, end of entries).
    groups: Vec<(u32, usize, usize)>,
    /// Per group: the block's ratings of its item, one lane per query
    /// slot (0 for the others), when DENSE_MIN or more slots rated it.
    dense: Vec<Option<usize>>,
    lanes: Vec<[f32; BLOCK]>,
    /// TILE × BLOCK partial dot products, candidate-major.
    acc: Vec<[f32; BLOCK]>,
    /// Per query slot: its best neighbours from its own block on.
    heaps: Vec<Vec<(u32, f32)>>,
    /// Per query slot: its norm (1 past the block's end), the worst
    /// similarity in its full heap (0 before it is full, ∞ past the end),
    /// and the candidate's similarities being harvested.
    nu: [f32; BLOCK],
    floor: [f32; BLOCK],
    sims: [f32; BLOCK],
}

impl Scratch {
    fn new() -> Self {
        Self {
            entries: Vec::new(),
            groups: Vec::new(),
            dense: Vec::new(),
            lanes: Vec::new(),
            acc: vec![[0.0; BLOCK]; TILE],
            heaps: (0..BLOCK).map(|_| Vec::new()).collect(),
            nu: [1.0; BLOCK],
            floor: [f32::INFINITY; BLOCK],
            sims: [0.0; BLOCK],
        }
    }
}

/// A user's neighbours found from earlier blocks, shared by the workers.
/// `floor` holds the bits of the heap's worst similarity once it is full
/// (0 before): a pair below it is dropped without taking the lock.
struct Shared {
    heaps: Vec<Mutex<Vec<(u32, f32)>>>,
    floor: Vec<AtomicU32>,
}

/// What the search reads.
struct Search<'a> {
    history: &'a Csr,
    tiles: &'a Tiles,
    norms: &'a [f32],
    k: usize,
    shared: &'a Shared,
    /// The CPU has AVX2 (checked once).
    avx2: bool,
}

impl Search<'_> {
    /// Users `q0..q0 + n`'s (n ≤ BLOCK) best neighbours among users from
    /// `q0` on; pushes the pairs' reverse similarities to later users'
    /// shared heaps.
    fn block(&self, q0: usize, n: usize, s: &mut Scratch) -> Vec<Vec<(u32, f32)>> {
        s.entries.clear();
        for b in 0..n {
            let (items, rs) = self.history.row(q0 + b);
            s.entries
                .extend(items.iter().zip(rs).map(|(&j, &r)| (j, b as u32, r)));
        }
        // By item, then slot: a pair's products are then added in the
        // order of the per-user search (ascending item).
        s.entries.sort_unstable_by_key(|&(j, b, _)| (j, b));
        s.groups.clear();
        s.dense.clear();
        s.lanes.clear();
        let mut start = 0;
        while start < s.entries.len() {
            let j = s.entries[start].0;
            let end = start + s.entries[start..].partition_point(|e| e.0 == j);
            s.groups.push((j, start, end));
            if end - start >= DENSE_MIN {
                let mut q = [0f32; BLOCK];
                for &(_, b, r) in &s.entries[start..end] {
                    q[b as usize & (BLOCK - 1)] = r;
                }
                s.dense.push(Some(s.lanes.len()));
                s.lanes.push(q);
            } else {
                s.dense.push(None);
            }
            start = end;
        }
        for h in &mut s.heaps[..n] {
            h.clear();
            h.reserve(self.k);
        }
        for b in 0..BLOCK {
            (s.nu[b], s.floor[b]) = if b < n {
                (self.norms[q0 + b].max(1e-12), 0.0)
            } else {
                (1.0, f32::INFINITY)
            };
        }
        let n_users = self.history.n_rows;
        let mut t = q0 / TILE;
        while t * TILE < n_users {
            self.tile(t, s);
            self.harvest(q0, n, t, s);
            t += 1;
        }
        s.heaps[..n]
            .iter_mut()
            .map(|h| {
                let mut row = std::mem::take(h);
                sort_best_first(&mut row);
                row
            })
            .collect()
    }

    /// Adds the block's products with tile `t`'s users into `acc`.
    fn tile(&self, t: usize, s: &mut Scratch) {
        let t0 = t * TILE;
        for (&(j, a, z), dense) in s.groups.iter().zip(&s.dense) {
            let (users, vals) = self.tiles.run(t, j);
            if let Some(d) = *dense {
                axpy(self.avx2, &mut s.acc, t0, users, vals, &s.lanes[d]);
                continue;
            }
            let queries = &s.entries[a..z];
            for (&v, &rv) in users.iter().zip(vals) {
                let row = &mut s.acc[v as usize - t0];
                for &(_, b, r) in queries {
                    row[b as usize & (BLOCK - 1)] += r * rv;
                }
            }
        }
    }

    /// Turns `acc` into cosines both ways (dividing as the per-user search
    /// does: `dot / (|u| · |v|)` is the same number from either side),
    /// offers those that could enter a heap and clears `acc`. The division
    /// and the test against the heaps' floors are done for all lanes of a
    /// candidate at once (they vectorise); heaps are touched only on a hit.
    fn harvest(&self, q0: usize, n: usize, t: usize, s: &mut Scratch) {
        let t0 = t * TILE;
        let t1 = (t0 + TILE).min(self.history.n_rows);
        let q1 = q0 + n;
        for v in t0..t1 {
            let row = &mut s.acc[v - t0];
            if v < q0 {
                // Before the block (its first tile): the pair belongs to an
                // earlier block.
                *row = [0.0; BLOCK];
                continue;
            }
            let nv = self.norms[v].max(1e-12);
            let back = if v >= q1 {
                f32::from_bits(self.shared.floor[v].load(Ordering::Relaxed))
            } else {
                f32::INFINITY
            };
            let mut any = false;
            let lanes = row.iter_mut().zip(&s.nu).zip(&s.floor).zip(&mut s.sims);
            for (((a, &nu), &floor), out) in lanes {
                let sim = *a / (nu * nv);
                *a = 0.0;
                *out = sim;
                any |= (sim > 0.0) & ((sim >= floor) | (sim >= back));
            }
            if any {
                self.hits(q0, n, v, back, s);
            }
        }
    }

    /// The lanes of candidate `v` that may enter the query's heap or `v`'s.
    fn hits(&self, q0: usize, n: usize, v: usize, back: f32, s: &mut Scratch) {
        for b in 0..n {
            let sim = s.sims[b];
            if !(sim > 0.0 && sim.is_finite()) || v == q0 + b {
                continue;
            }
            if sim >= s.floor[b] {
                let h = &mut s.heaps[b];
                offer(h, self.k, (v as u32, sim));
                if h.len() == self.k {
                    s.floor[b] = h[0].1;
                }
            }
            if sim >= back && v >= q0 + n {
                self.offer(v, ((q0 + b) as u32, sim));
            }
        }
    }

    /// Offers `x` to user `v`'s shared heap.
    fn offer(&self, v: usize, x: (u32, f32)) {
        if !(x.1 > 0.0 && x.1.is_finite())
            || x.1 < f32::from_bits(self.shared.floor[v].load(Ordering::Relaxed))
        {
            return;
        }
        // A poisoned lock only means another worker panicked; the heap
        // itself is always consistent between pushes.
        let mut h = self.shared.heaps[v]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        offer(&mut h, self.k, x);
        if h.len() == self.k {
            self.shared.floor[v].store(h[0].1.to_bits(), Ordering::Relaxed);
        }
    }
}

/// Every user's top-`k` neighbours by cosine of the rows of `history`
/// (users × items), on the rayon pool, with a progress bar.
pub(crate) fn build(history: &Csr, k: usize) -> NeighbourIndex {
    build_with(history, k, has_avx2())
}

/// [`build`], with AVX2 or without.
fn build_with(history: &Csr, k: usize, avx2: bool) -> NeighbourIndex {
    use rayon::prelude::*;
    let n_users = history.n_rows;
    let k = k.clamp(1, n_users.max(1));
    let tiles = Tiles::new(history);
    let norms = user_norms(history);
    let shared = Shared {
        heaps: (0..n_users).map(|_| Mutex::new(Vec::new())).collect(),
        floor: (0..n_users).map(|_| AtomicU32::new(0)).collect(),
    };
    let search = Search {
        history,
        tiles: &tiles,
        norms: &norms,
        k,
        shared: &shared,
        avx2,
    };
    // A block meets the users from its own on, so the work per block falls
    // linearly: progress advances by each block's share of all pairs (in
    // users' worth) for an honest rate and ETA.
    let starts: Vec<usize> = (0..n_users).step_by(BLOCK).collect();
    let pairs = |q0: usize| (BLOCK.min(n_users - q0) * (n_users - q0)) as u128;
    let total: u128 = starts.iter().map(|&q0| pairs(q0)).sum::<u128>().max(1);
    let progress =
        crate::progress::Progress::new("user_knn: neighbour search", n_users as u64, "users");
    let done = AtomicU64::new(0);
    let blocks: Vec<Vec<Vec<(u32, f32)>>> = starts
        .par_iter()
        .map_init(Scratch::new, |s, &q0| {
            let n = BLOCK.min(n_users - q0);
            let rows = search.block(q0, n, s);
            let w = pairs(q0) as u64;
            let before = u128::from(done.fetch_add(w, Ordering::Relaxed));
            let after = before + u128::from(w);
            let users = |p: u128| (p * n_users as u128 / total) as u64;
            progress.inc(users(after) - users(before));
            rows
        })
        .collect();
    progress.finish();
    drop(tiles);
    let mut lists = Csr {
        n_rows: n_users,
        n_cols: n_users,
        indptr: Vec::with_capacity(n_users + 1),
        indices: Vec::with_capacity(n_users * k.min(64)),
        values: Vec::with_capacity(n_users * k.min(64)),
    };
    lists.indptr.push(0);
    let mut row = Vec::new();
    for (u, forward) in blocks.into_iter().flatten().enumerate() {
        // From earlier blocks and from this one on: disjoint candidates, so
        // the best k of the union is the best k overall.
        row.clear();
        row.extend(forward);
        let earlier = shared.heaps[u]
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default();
        row.extend(earlier);
        sort_best_first(&mut row);
        row.truncate(k);
        for &(v, sim) in &row {
            lists.indices.push(v);
            lists.values.push(sim);
        }
        lists.indptr.push(lists.indices.len());
    }
    NeighbourIndex { lists }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generic_and_the_avx2_passes_give_the_same_bits() {
        // Every 3rd rating on one of 4 items: many items shared by a block
        // (the dense pass) besides the scattered ones.
        let mut t = Vec::new();
        let mut x = 11u64;
        for u in 0..(TILE + 300) as u32 {
            for _ in 0..8 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                let j = if x >> 62 == 0 {
                    (x >> 40) % 4
                } else {
                    (x >> 40) % 60
                };
                t.push((u, j as u32, ((x >> 20) % 10 + 1) as f32));
            }
        }
        let h = Csr::from_triplets(TILE + 300, 60, &t);
        let generic = build_with(&h, 7, false);
        assert_eq!(build_with(&h, 7, has_avx2()), generic);
        assert!(generic.lists().nnz() > 0);
    }
}
