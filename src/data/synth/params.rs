//! The knobs of the planted model: latent size, the rating model's terms, popularity and
//! activity spreads. Changing any of them changes the generated files for every seed.

/// Dimension of the planted user/anime latent factors.
pub(super) const LATENT_DIM: usize = 8;

// Rating model: rating = MU + user_bias + quality + GENRE_GAIN*genre_match
//                        + LATENT_GAIN*<u, v>/sqrt(dim) + noise, clamped to 1..=10.
pub(super) const MU: f64 = 7.1;
pub(super) const USER_BIAS_SD: f64 = 0.85;
pub(super) const QUALITY_SD: f64 = 0.7;
pub(super) const GENRE_GAIN: f64 = 1.6;
pub(super) const LATENT_GAIN: f64 = 0.7;
pub(super) const NOISE_SD: f64 = 0.8;
/// Share of rows where the show "misses" for the user, and by how much it lowers the rating.
pub(super) const MISS_PROB: f64 = 0.04;
pub(super) const MISS_DROP: f64 = 3.5;
/// Extra penalty for dropped shows: people who drop a show rate it lower than the model alone
/// says (it is why they dropped it).
pub(super) const DROP_PENALTY: f64 = 1.0;
/// Typical genre_match of the anime a user actually lists; used to put anime.csv `Score`
/// on the same scale as the generated ratings.
pub(super) const TYPICAL_GENRE_MATCH: f64 = 0.22;
/// Log-sd of the per-user activity (rows per user).
pub(super) const ACTIVITY_SIGMA: f64 = 1.1;
/// Log-sd below the median activity (more light users than a symmetric lognormal gives).
pub(super) const ACTIVITY_SIGMA_LOW: f64 = 1.6;
/// Log-sd of the anime popularity weights: a few anime get a large share of all list entries.
pub(super) const POPULARITY_SIGMA: f64 = 2.3;
/// Share of a user's draws taken from the favourite-genre pools (per-user jitter around it).
pub(super) const GENRE_DRAW_PROB: f64 = 0.6;
/// Probability that a row is an exact duplicate of an earlier row of the same user (the real
/// dump has a few; downstream processing must dedupe).
pub(super) const DUP_RATE: f64 = 0.001;

// Taste communities ("tribes"): which anime land in a list is driven by taste, not only by
// popularity. Real MAL users form communities (mecha fans, idol fans, seasonal-watchers) whose
// lists overlap far more than popularity alone explains; that overlap is what item-item and
// neighbour models learn from, and without it popularity wins on generated data.
/// Number of taste communities.
pub(super) const N_TRIBES: usize = 48;
/// Log-sd of the tribes' sizes (a few large communities, many small ones).
pub(super) const TRIBE_SIZE_SIGMA: f64 = 0.8;
/// Sharpness of a tribe's pool: weight = popularity^TRIBE_POP_EXP * exp(SHARPNESS * <c, v>/sqrt(dim)).
pub(super) const TRIBE_SHARPNESS: f64 = 1.5;
/// Exponent of popularity inside a tribe pool (< 1: tribes reach further into the tail).
pub(super) const TRIBE_POP_EXP: f64 = 0.8;
/// Share of a user's draws taken from the tribe pool.
pub(super) const TRIBE_DRAW_PROB: f64 = 0.5;
/// How far a user's latent vector sits from its tribe's centroid (sd of the per-user offset).
pub(super) const USER_TRIBE_NOISE: f64 = 0.6;
/// Share of an anime's latent vector explained by its genres (the rest is its own): gives the
/// item factors a genre structure, as MAL's do.
pub(super) const GENRE_LOADING: f64 = 0.9;
/// Weight of an anime's other genres against its first (main) one in that structure.
pub(super) const SIDE_GENRE_WEIGHT: f64 = 0.3;
/// How strongly a tribe's centroid steers its users' favourite genres.
pub(super) const TRIBE_GENRE_GAIN: f64 = 1.0;

/// Share of the anime that are later entries (sequel, film, OVA) of an earlier franchise.
pub(super) const FRANCHISE_SHARE: f64 = 0.35;
/// Chance that a user who lists one entry of a franchise also lists each other entry.
pub(super) const FRANCHISE_FOLLOW: f64 = 0.6;
