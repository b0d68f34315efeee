//! Users: how many rows each one has (long-tailed activity) and their taste (favourite
//! genres, latent vector, rating bias).

use rand::Rng;
use rand_pcg::Pcg64;

use super::model::Model;
use super::params::{
    ACTIVITY_SIGMA, ACTIVITY_SIGMA_LOW, GENRE_DRAW_PROB, LATENT_DIM, TRIBE_DRAW_PROB, USER_BIAS_SD,
    USER_TRIBE_NOISE,
};
use super::rng::{normal, pick_weighted, stream, STREAM_ACTIVITY};
use super::vocab::N_GENRES;
use super::SynthSpec;

/// Rows per user: lognormal weights scaled so the counts sum to exactly `spec.rows`, with
/// every user in `1..=cap`. Water-filling: distribute proportionally, clip at the cap,
/// redistribute the excess, and hand out the last few rows one by one.
pub(super) fn allocate_activity(spec: &SynthSpec, cap: u32) -> Vec<u32> {
    let mut rng = stream(spec.seed, STREAM_ACTIVITY);
    let n = spec.users as usize;
    let high = ACTIVITY_SIGMA;
    let low = ACTIVITY_SIGMA_LOW;
    // Two-piece lognormal: MAL's light users sit further below the median than its heavy
    // users sit above it (real p10/median 0.13, p90/median 3.9).
    let weights: Vec<f64> = (0..n)
        .map(|_| {
            let z = normal(&mut rng);
            (if z < 0.0 { low * z } else { high * z }).exp()
        })
        .collect();
    let mut counts = vec![1u32; n];
    let mut rem = spec.rows.saturating_sub(n as u64);
    while rem > 0 {
        let wsum: f64 = (0..n)
            .filter(|&u| counts[u] < cap)
            .map(|u| weights[u])
            .sum();
        if wsum <= 0.0 {
            break;
        }
        let rem0 = rem as f64;
        let mut assigned = 0u64;
        for u in 0..n {
            if counts[u] >= cap {
                continue;
            }
            let want = (rem0 * weights[u] / wsum).floor() as u64;
            let add = want.min(u64::from(cap - counts[u])).min(rem - assigned);
            counts[u] += add as u32;
            assigned += add;
        }
        rem -= assigned;
        if assigned == 0 {
            // Fewer rows left than users with room: heaviest users first.
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]).then(a.cmp(&b)));
            while rem > 0 {
                let before = rem;
                for &u in &order {
                    if rem == 0 {
                        break;
                    }
                    if counts[u] < cap {
                        counts[u] += 1;
                        rem -= 1;
                    }
                }
                if rem == before {
                    break;
                }
            }
        }
    }
    counts
}

/// Taste of one user (drawn from the block stream at the start of the user).
pub(super) struct UserProfile {
    pub(super) fav: [u8; 5],
    pub(super) fav_w: [f64; 5],
    pub(super) n_fav: usize,
    /// Genre -> weight (0 for non-favourites); genre_match = sum over an anime's genres.
    pub(super) genre_w: [f32; N_GENRES],
    pub(super) bias: f64,
    pub(super) latent: [f32; LATENT_DIM],
    pub(super) p_genre: f64,
    pub(super) tribe: usize,
    pub(super) p_tribe: f64,
}

pub(super) fn gen_user(rng: &mut Pcg64, model: &Model) -> UserProfile {
    let tribe = pick_weighted(rng, model.tribe_size.iter().copied());
    let t = &model.tribes[tribe];
    let available = model.genre_pick.iter().filter(|&&w| w > 0.0).count();
    let n_fav = rng.random_range(2..=5usize).min(available);
    let mut fav = [0u8; 5];
    let mut fav_w = [0f64; 5];
    let mut genre_w = [0f32; N_GENRES];
    let mut k = 0;
    while k < n_fav {
        let g = pick_weighted(rng, t.genre_pick.iter().copied());
        if model.genre_pick[g] > 0.0 && !fav[..k].contains(&(g as u8)) {
            fav[k] = g as u8;
            fav_w[k] = (0.5 * normal(rng)).exp();
            k += 1;
        }
    }
    let total: f64 = fav_w[..n_fav].iter().sum();
    for i in 0..n_fav {
        fav_w[i] /= total;
        genre_w[fav[i] as usize] = fav_w[i] as f32;
    }
    // Centroid plus a personal offset, rescaled to unit variance per component so the
    // rating model's latent term keeps its scale.
    let noise = USER_TRIBE_NOISE;
    let rescale = 1.0 / (1.0 + noise * noise).sqrt();
    let mut latent = [0f32; LATENT_DIM];
    for (v, c) in latent.iter_mut().zip(&t.centroid) {
        *v = ((f64::from(*c) + noise * normal(rng)) * rescale) as f32;
    }
    UserProfile {
        fav,
        fav_w,
        n_fav,
        genre_w,
        bias: USER_BIAS_SD * normal(rng),
        latent,
        p_genre: GENRE_DRAW_PROB + 0.15 * (2.0 * rng.random::<f64>() - 1.0),
        tribe,
        p_tribe: TRIBE_DRAW_PROB,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth::validate;

    #[test]
    fn activity_sums_exactly_and_respects_cap() {
        let spec = SynthSpec {
            users: 5000,
            anime: 100,
            rows: 5000 * 50,
            seed: 11,
        };
        let cap = validate(&spec).expect("valid");
        let counts = allocate_activity(&spec, cap);
        assert_eq!(counts.iter().map(|&c| u64::from(c)).sum::<u64>(), spec.rows);
        assert!(counts.iter().all(|&c| (1..=cap).contains(&c)));
        // Long-tailed: the heaviest user lists far more than the median one.
        let mut d = allocate_activity(&SynthSpec::default(), 2000);
        d.sort_unstable();
        assert!(d[d.len() - 1] > 5 * d[d.len() / 2]);
    }
}
