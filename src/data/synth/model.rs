//! The catalogue as the per-row hot loop reads it: flat arrays and popularity-weighted alias
//! pools (global and per genre).

use super::catalogue::Catalogue;
use super::params::LATENT_DIM;
use super::rng::Alias;
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
}

impl Model {
    pub(super) fn build(cat: &Catalogue) -> Model {
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
        let global = Alias::new((0..n as u32).collect(), &pops).unwrap_or_else(|| Alias {
            prob: vec![1.0; n],
            alias: (0..n as u32).collect(),
            items: (0..n as u32).collect(),
        });
        Model {
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
