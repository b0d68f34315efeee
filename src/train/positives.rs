//! Each user's positive items, and negative sampling that avoids them.

use rand::Rng;
use rand_pcg::Pcg64Mcg;

/// Per-user sorted positive items (CSR), for rejecting sampled negatives.
pub(crate) struct Positives {
    offsets: Vec<usize>,
    items: Vec<u32>,
}

impl Positives {
    pub(crate) fn new(n_users: usize, users: &[u32], items: &[u32]) -> Self {
        let mut offsets = vec![0usize; n_users + 1];
        users.iter().for_each(|&u| offsets[u as usize + 1] += 1);
        for k in 0..n_users {
            offsets[k + 1] += offsets[k];
        }
        let mut fill = offsets.clone();
        let mut out = vec![0u32; users.len()];
        for (&u, &i) in users.iter().zip(items) {
            out[fill[u as usize]] = i;
            fill[u as usize] += 1;
        }
        for u in 0..n_users {
            let s = &mut out[offsets[u]..offsets[u + 1]];
            s.sort_unstable();
        }
        Positives {
            offsets,
            items: out,
        }
    }

    // `of` and `negative` run per training row from train.rs: `#[inline]`
    // lets them inline across files (codegen units).
    #[inline]
    pub(crate) fn of(&self, u: u32) -> &[u32] {
        &self.items[self.offsets[u as usize]..self.offsets[u as usize + 1]]
    }

    /// Distinct positives of `u`.
    pub(crate) fn distinct(&self, u: u32) -> usize {
        let s = self.of(u);
        s.len() - s.windows(2).filter(|w| w[0] == w[1]).count()
    }

    /// A uniformly drawn item that is not a positive of `u` (and not
    /// `also_avoid`). Rejection sampling; after many misses (a user who rated
    /// almost everything) it walks from the last draw to the next allowed
    /// item. `None` if every item is a positive.
    #[inline]
    pub(crate) fn negative(
        &self,
        u: u32,
        also_avoid: Option<u32>,
        n_items: usize,
        rng: &mut Pcg64Mcg,
    ) -> Option<u32> {
        let pos = self.of(u);
        let bad = |i: u32| pos.binary_search(&i).is_ok() || also_avoid == Some(i);
        let mut i = 0u32;
        for _ in 0..64 {
            i = rng.random_range(0..n_items as u32);
            if !bad(i) {
                return Some(i);
            }
        }
        (1..n_items as u32)
            .map(|k| (i + k) % n_items as u32)
            .find(|&j| !bad(j))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn negatives_avoid_positives() {
        // User 0 likes items 1 and 3 (3 twice), user 1 likes every item.
        let p = Positives::new(3, &[0, 1, 0, 1, 1, 0, 1], &[3, 0, 1, 1, 2, 3, 3]);
        assert_eq!(p.of(0), &[1, 3, 3]);
        assert_eq!((p.distinct(0), p.distinct(1), p.distinct(2)), (2, 4, 0));
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        for _ in 0..200 {
            let j = p.negative(0, Some(0), 4, &mut rng);
            assert_eq!(j, Some(2));
        }
        assert_eq!(p.negative(1, None, 4, &mut rng), None);
        assert!(p.negative(2, None, 4, &mut rng).is_some_and(|j| j < 4));
    }
}
