//! Seeded randomness: every random draw (initial weights, shuffles,
//! negatives) comes from a `rand_pcg` stream derived from the caller's seed,
//! a purpose and the epoch number, so a run is reproducible and resuming
//! from a checkpoint continues exactly.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// Independent random stream for (seed, purpose, epoch) (SplitMix64 mix).
pub(crate) fn stream_rng(seed: u64, purpose: u64, epoch: u64) -> Pcg64Mcg {
    let mut z = seed
        ^ purpose.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ epoch.wrapping_mul(0xd1b5_4a32_d192_ed03);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    Pcg64Mcg::seed_from_u64(z ^ (z >> 31))
}

pub(crate) const STREAM_INIT: u64 = 1;
pub(crate) const STREAM_SHUFFLE: u64 = 2;
pub(crate) const STREAM_NEG: u64 = 3;
pub(crate) const STREAM_VAL_NEG: u64 = 4;

/// Row order of one epoch (Fisher–Yates with the epoch's own stream, so it
/// does not depend on earlier epochs and survives a resume).
pub(crate) fn epoch_order(n: usize, seed: u64, epoch: u32) -> Vec<u32> {
    let mut rng = stream_rng(seed, STREAM_SHUFFLE, epoch as u64);
    let mut order: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
    order
}

pub(crate) fn std_normal(rng: &mut Pcg64Mcg) -> f64 {
    // Box–Muller; 1 - u keeps the log argument in (0, 1].
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Keras `he_normal`: truncated normal (±2σ) with σ = sqrt(2 / fan_in) / 0.8796…
/// (the correction keeps the variance at 2 / fan_in after truncation).
pub(crate) fn he_normal(n: usize, fan_in: usize, rng: &mut Pcg64Mcg) -> Vec<f32> {
    let std = (2.0 / fan_in.max(1) as f64).sqrt() / 0.879_625_661_034_239_8;
    (0..n)
        .map(|_| loop {
            let x = std_normal(rng);
            if x.abs() <= 2.0 {
                break (x * std) as f32;
            }
        })
        .collect()
}
