//! Seeded random streams and the samplers built on them (normal draws, weighted picks, the
//! alias table that keeps a row's cost independent of the catalogue size).

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

use crate::util::hash::splitmix64;

// Independent RNG streams. Distinct constants keep e.g. the catalogue unchanged when only the
// user model changes, and keep streams uncorrelated for the same seed.
pub(super) const STREAM_CATALOGUE: u64 = 0x9E37_79B9_7F4A_7C15;
pub(super) const STREAM_TEXT: u64 = 0xC2B2_AE3D_27D4_EB4F;
pub(super) const STREAM_ACTIVITY: u64 = 0x1656_67B1_9E37_79F9;
pub(super) const STREAM_USERS: u64 = 0x85EB_CA77_C2B2_AE63;
pub(super) const STREAM_GENRE_AXES: u64 = 0x27D4_EB2F_1656_67C5;
pub(super) const STREAM_TRIBES: u64 = 0xFF51_AFD7_ED55_8CCD;
pub(super) const STREAM_FRANCHISE: u64 = 0xC4CE_B9FE_1A85_EC53;

pub(super) fn stream(seed: u64, constant: u64) -> Pcg64 {
    Pcg64::seed_from_u64(seed ^ constant)
}

/// One stream per user block; the index is scrambled so neighbouring blocks get unrelated
/// seeds even though `seed_from_u64` already mixes its input.
pub(super) fn block_stream(seed: u64, block: u64) -> Pcg64 {
    Pcg64::seed_from_u64(seed ^ STREAM_USERS ^ splitmix64(block))
}

pub(super) fn normal(rng: &mut Pcg64) -> f64 {
    rng.sample::<f64, _>(StandardNormal)
}

/// Index drawn proportionally to `weights` by a linear scan; only for short tables.
pub(super) fn pick_weighted(rng: &mut Pcg64, weights: impl Iterator<Item = f64> + Clone) -> usize {
    let total: f64 = weights.clone().sum();
    let mut x = rng.random::<f64>() * total;
    let mut last = 0;
    for (i, w) in weights.enumerate() {
        if x < w {
            return i;
        }
        x -= w;
        last = i;
    }
    // Floating-point leftovers land on the last entry instead of out of range.
    last
}

pub(super) fn pick<'a>(rng: &mut Pcg64, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// Walker/Vose alias table: O(1) weighted draws, which keeps per-row cost independent of
/// the catalogue size.
pub(super) struct Alias {
    pub(super) prob: Vec<f64>,
    pub(super) alias: Vec<u32>,
    /// Slot -> anime index (pools hold a subset of the catalogue).
    pub(super) items: Vec<u32>,
}

impl Alias {
    /// `None` when there is nothing to draw from (an empty genre pool).
    pub(super) fn new(items: Vec<u32>, weights: &[f64]) -> Option<Alias> {
        let n = items.len();
        let total: f64 = weights.iter().sum();
        if n == 0 || n != weights.len() || total <= 0.0 || !total.is_finite() {
            return None;
        }
        let mut prob: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let mut small: Vec<u32> = Vec::new();
        let mut large: Vec<u32> = Vec::new();
        for (i, &p) in prob.iter().enumerate() {
            if p < 1.0 {
                small.push(i as u32);
            } else {
                large.push(i as u32);
            }
        }
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            alias[s as usize] = l;
            prob[l as usize] -= 1.0 - prob[s as usize];
            if prob[l as usize] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Whatever is left is 1 up to rounding error.
        for i in small.into_iter().chain(large) {
            prob[i as usize] = 1.0;
        }
        Some(Alias { prob, alias, items })
    }

    #[inline]
    pub(super) fn sample(&self, rng: &mut Pcg64) -> u32 {
        // One 64-bit draw: high half picks the slot, low half the coin.
        let r: u64 = rng.random();
        let slot = (((r >> 32) * self.prob.len() as u64) >> 32) as usize;
        let coin = (r & 0xFFFF_FFFF) as f64 * (1.0 / 4_294_967_296.0);
        if coin < self.prob[slot] {
            self.items[slot]
        } else {
            self.items[self.alias[slot] as usize]
        }
    }
}
