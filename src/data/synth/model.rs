//! The catalogue as the per-row hot loop reads it: flat arrays and popularity-weighted alias
//! pools (global, per genre and per taste community).

use super::catalogue::Catalogue;
use super::franchise::Franchises;
use super::params::{
    LATENT_DIM, N_TRIBES, TRIBE_GENRE_GAIN, TRIBE_POP_EXP, TRIBE_SHARPNESS, TRIBE_SIZE_SIGMA,
};
use super::rng::{normal, stream, Alias, STREAM_TRIBES};
use super::vocab::{GENRES, N_GENRES};

/// Compact, cache-friendly view of the catalogue for the per-row hot loop.
pub(super) struct Model {
    pub(super) mal_id: Vec<u32>,
    pub(super) genres: Vec<[u8; 5]>,
    pub(super) n_genres: Vec<u8>,
    pub(super) quality: Vec<f32>,
    pub(super) latent: Vec<[f32; LATENT_DIM]>,
    pub(super) episodes: Vec<u32>,
    pub(super) global: Alias,
    /// Popularity-weighted pool per genre; `None` for genres no anime has.
    pub(super) by_genre: Vec<Option<Alias>>,
    /// Weight of each genre when users pick favourites (0 for empty pools).
    pub(super) genre_pick: Vec<f64>,
    pub(super) franchises: Franchises,
    pub(super) tribes: Vec<Tribe>,
    /// Relative size of each tribe (users join one in proportion).
    pub(super) tribe_size: Vec<f64>,
}

/// A taste community: its centre in the latent space, the pool its members draw from and
/// the genres its members tend to favour.
pub(super) struct Tribe {
    pub(super) centroid: [f32; LATENT_DIM],
    pub(super) pool: Alias,
    /// `genre_pick` tilted towards the genres whose axes point the tribe's way.
    pub(super) genre_pick: Vec<f64>,
}

impl Model {
    pub(super) fn build(cat: &Catalogue, seed: u64) -> Model {
        let n = cat.anime.len();
        let pops: Vec<f64> = cat.anime.iter().map(|a| a.popularity).collect();
        let mut pool_items: Vec<Vec<u32>> = vec![Vec::new(); N_GENRES];
        let mut pool_w: Vec<Vec<f64>> = vec![Vec::new(); N_GENRES];
        let mut genres = Vec::with_capacity(n);
        let mut n_genres = Vec::with_capacity(n);
        for (i, a) in cat.anime.iter().enumerate() {
            let mut gs = [0u8; 5];
            for (slot, &g) in gs.iter_mut().zip(&a.genres) {
                *slot = g;
                pool_items[g as usize].push(i as u32);
                pool_w[g as usize].push(a.popularity);
            }
            genres.push(gs);
            n_genres.push(a.genres.len().min(5) as u8);
        }
        let genre_pick: Vec<f64> = (0..N_GENRES)
            .map(|g| {
                if pool_items[g].is_empty() {
                    0.0
                } else {
                    // Favourite genres follow MAL's genre frequencies, damped so that niche
                    // genres still get fans.
                    GENRES[g].prior.sqrt()
                }
            })
            .collect();
        let by_genre = pool_items
            .into_iter()
            .zip(&pool_w)
            .map(|(items, w)| Alias::new(items, w))
            .collect();
        // Popularity is strictly positive, so the global table always exists; the fallback
        // (uniform) only guards against a degenerate float sum.
        let global = Alias::new((0..n as u32).collect(), &pops).unwrap_or_else(|| uniform(n));
        let (tribes, tribe_size) = build_tribes(cat, &pops, &genre_pick, seed);
        Model {
            franchises: cat.franchises.clone(),
            tribes,
            tribe_size,
            mal_id: cat.anime.iter().map(|a| a.mal_id).collect(),
            genres,
            n_genres,
            quality: cat.anime.iter().map(|a| a.quality as f32).collect(),
            latent: cat.anime.iter().map(|a| a.latent).collect(),
            episodes: cat.anime.iter().map(|a| a.episodes).collect(),
            global,
            by_genre,
            genre_pick,
        }
    }
}

/// The tribes: centroids from their own stream; a tribe's pool weighs an anime by
/// `popularity^TRIBE_POP_EXP * exp(TRIBE_SHARPNESS * <centroid, latent> / sqrt(dim))`.
fn build_tribes(
    cat: &Catalogue,
    pops: &[f64],
    genre_pick: &[f64],
    seed: u64,
) -> (Vec<Tribe>, Vec<f64>) {
    let mut rng = stream(seed, STREAM_TRIBES);
    let norm = 1.0 / (LATENT_DIM as f64).sqrt();
    let dot = |a: &[f32; LATENT_DIM], b: &[f32; LATENT_DIM]| -> f64 {
        a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum::<f64>() * norm
    };
    let n = cat.anime.len();
    let mut tribes = Vec::with_capacity(N_TRIBES);
    let mut sizes = Vec::with_capacity(N_TRIBES);
    let mut weights = vec![0f64; n];
    for _ in 0..N_TRIBES {
        let mut centroid = [0f32; LATENT_DIM];
        for v in &mut centroid {
            *v = normal(&mut rng) as f32;
        }
        sizes.push((TRIBE_SIZE_SIGMA * normal(&mut rng)).exp());
        for ((w, a), p) in weights.iter_mut().zip(&cat.anime).zip(pops) {
            *w = p.powf(TRIBE_POP_EXP) * (TRIBE_SHARPNESS * dot(&centroid, &a.latent)).exp();
        }
        let pool = Alias::new((0..n as u32).collect(), &weights).unwrap_or_else(|| uniform(n));
        let genre_pick = genre_pick
            .iter()
            .zip(&cat.genre_axes)
            .map(|(&w, axis)| w * (TRIBE_GENRE_GAIN * dot(&centroid, axis)).exp())
            .collect();
        tribes.push(Tribe {
            centroid,
            pool,
            genre_pick,
        });
    }
    (tribes, sizes)
}

/// Uniform table over `0..n`: the fallback when a weight sum degenerates.
fn uniform(n: usize) -> Alias {
    Alias {
        prob: vec![1.0; n],
        alias: (0..n as u32).collect(),
        items: (0..n as u32).collect(),
    }
}
