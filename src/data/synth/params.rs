//! The knobs of the planted model: latent size, the rating model's terms, popularity and
//! activity spreads. Changing any of them changes the generated files for every seed.

/// Dimension of the planted user/anime latent factors.
pub(super) const LATENT_DIM: usize = 8;

// Rating model: rating = MU + user_bias + quality + GENRE_GAIN*genre_match
//                        + LATENT_GAIN*<u, v>/sqrt(dim) + noise, clamped to 1..=10.
pub(super) const MU: f64 = 7.1;
pub(super) const USER_BIAS_SD: f64 = 0.6;
pub(super) const QUALITY_SD: f64 = 0.7;
pub(super) const GENRE_GAIN: f64 = 1.6;
pub(super) const LATENT_GAIN: f64 = 0.7;
pub(super) const NOISE_SD: f64 = 0.9;
/// Extra penalty for dropped shows: people who drop a show rate it lower than the model alone
/// says (it is why they dropped it).
pub(super) const DROP_PENALTY: f64 = 1.0;
/// Typical genre_match of the anime a user actually lists; used to put anime.csv `Score`
/// on the same scale as the generated ratings.
pub(super) const TYPICAL_GENRE_MATCH: f64 = 0.22;
/// Log-sd of the per-user activity (rows per user).
pub(super) const ACTIVITY_SIGMA: f64 = 1.1;
/// Log-sd of the anime popularity weights: a few anime get a large share of all list entries.
pub(super) const POPULARITY_SIGMA: f64 = 1.5;
/// Share of a user's draws taken from the favourite-genre pools (per-user jitter around it).
pub(super) const GENRE_DRAW_PROB: f64 = 0.6;
/// Probability that a row is an exact duplicate of an earlier row of the same user (the real
/// dump has a few; downstream processing must dedupe).
pub(super) const DUP_RATE: f64 = 0.001;
