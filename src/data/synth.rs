//! Deterministic generator of the three Kaggle "Anime Recommendation Database 2020" files
//! (`anime.csv`, `anime_with_synopsis.csv`, `animelist.csv`) with planted, learnable structure.
//!
//! The real dump is ~2 GB and cannot be shipped with the project, so tests, benchmarks and
//! demos run on files from here instead. The headers and quoting style match the real files
//! byte for byte so that the same loaders read both; the values are invented (no real data is
//! copied) but shaped like MAL: long-tail popularity, mean rating around 7.5, ~30 % unrated
//! list entries, `Unknown` placeholders, RFC 4180 quoting of list-valued columns.
//!
//! Planted structure a recommender can learn from:
//! * every anime has genres, a popularity weight, a quality term and a latent vector;
//! * every user has favourite genres, a latent vector and a rating bias;
//! * which anime land in a user's list is driven by popularity *and* genre taste;
//! * ratings follow `mu + user_bias + quality + a*genre_match + b*<user, anime> + noise`,
//!   and low predicted ratings make `Dropped` more likely;
//! * synopses are written from per-genre vocabularies, so text models can recover genres.
//!
//! Output is a pure function of [`SynthSpec`]: every random stream is a `Pcg64` seeded from
//! `seed ^ stream_constant` (plus a block index for user blocks), and user blocks are
//! generated in parallel but written in block order, so the bytes do not depend on the number
//! of threads.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

use crate::util::hash::splitmix64;
use crate::util::time::{civil_from_days, days_from_civil};

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;
use rayon::prelude::*;

/// What to generate. `rows` is the exact number of animelist.csv data rows.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSpec {
    /// Number of users; ids are `0..users`.
    pub users: u32,
    /// Number of anime in the catalogue (rows of anime.csv).
    pub anime: u32,
    /// Exact number of data rows of animelist.csv.
    pub rows: u64,
    /// Master seed; the same spec always yields byte-identical files.
    pub seed: u64,
}

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec {
            users: 2000,
            anime: 2500,
            rows: 300_000,
            seed: 42,
        }
    }
}

/// What was written (counts), for logging.
#[derive(Debug, Clone)]
pub struct SynthSummary {
    /// Rows of anime.csv.
    pub anime: u32,
    /// Distinct users in animelist.csv (all of `0..users` appear).
    pub users: u32,
    /// Data rows of animelist.csv.
    pub rows: u64,
    /// Rows of animelist.csv with `rating == 0` (not rated).
    pub unrated_rows: u64,
}

/// Writes anime.csv, anime_with_synopsis.csv and animelist.csv into `out_dir` (created if missing).
/// Each file is written to a temporary name in out_dir (`.anirec-tmp-*`) and renamed into place,
/// so a crash never leaves a half-written file under the final name.
///
/// Fails with [`io::ErrorKind::InvalidInput`] when the spec is out of range (see
/// [`write_mal2020_with_progress`] for the rules) and with the underlying error on IO failure.
pub fn write_mal2020(spec: &SynthSpec, out_dir: &Path) -> io::Result<SynthSummary> {
    write_mal2020_with_progress(spec, out_dir, &|_| {})
}

/// Optional progress callback variant: `progress(rows_written_so_far)` called every block.
///
/// Spec rules (else [`io::ErrorKind::InvalidInput`]): `1 <= users <= 10_000_000`,
/// `10 <= anime <= 1_000_000`, `users <= rows <= users * floor(anime * 8 / 10)` (every user has
/// at least one row and at most 80 % of the catalogue). The upper bounds on `users` and `anime`
/// only keep the in-memory catalogue and per-user tables bounded.
pub fn write_mal2020_with_progress(
    spec: &SynthSpec,
    out_dir: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> io::Result<SynthSummary> {
    let cap = validate(spec)?;
    fs::create_dir_all(out_dir)?;

    let catalogue = Catalogue::generate(spec);
    let model = Model::build(&catalogue);

    atomic_write(out_dir, "anime.csv", |w| write_anime_csv(w, &catalogue))?;
    atomic_write(out_dir, "anime_with_synopsis.csv", |w| {
        write_synopsis_csv(w, &catalogue, spec.seed)
    })?;

    let counts = allocate_activity(spec, cap);
    let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    if total != spec.rows {
        // Unreachable when `validate` accepted the spec; checked so a bug surfaces as an
        // error instead of a silently wrong row count.
        return Err(io::Error::other(format!(
            "internal error: activity allocation produced {total} rows, expected {}",
            spec.rows
        )));
    }
    let unrated = atomic_write(out_dir, "animelist.csv", |w| {
        write_animelist(w, spec, &model, &counts, progress)
    })?;

    Ok(SynthSummary {
        anime: spec.anime,
        users: spec.users,
        rows: spec.rows,
        unrated_rows: unrated,
    })
}

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

/// Upper bound on `users`; keeps the per-user activity table (12 bytes/user) bounded.
const MAX_USERS: u32 = 10_000_000;
/// Upper bound on `anime`; keeps the catalogue (names, synopses) in memory bounded.
const MAX_ANIME: u32 = 1_000_000;

/// Dimension of the planted user/anime latent factors.
const LATENT_DIM: usize = 8;
/// Users per parallel block. Fixed (not derived from the thread count) so that the RNG stream
/// of each user, hence the output, is independent of the machine.
const BLOCK_USERS: u32 = 256;
/// A round of blocks is generated in parallel and then written; capping the rows per round
/// bounds memory regardless of `spec.rows`.
const ROUND_ROWS: u64 = 1 << 21;
/// Also cap the number of blocks in a round (many tiny users would otherwise make one round
/// span the whole user range).
const ROUND_MAX_BLOCKS: usize = 256;

// Independent RNG streams. Distinct constants keep e.g. the catalogue unchanged when only the
// user model changes, and keep streams uncorrelated for the same seed.
const STREAM_CATALOGUE: u64 = 0x9E37_79B9_7F4A_7C15;
const STREAM_TEXT: u64 = 0xC2B2_AE3D_27D4_EB4F;
const STREAM_ACTIVITY: u64 = 0x1656_67B1_9E37_79F9;
const STREAM_USERS: u64 = 0x85EB_CA77_C2B2_AE63;

// Rating model: rating = MU + user_bias + quality + GENRE_GAIN*genre_match
//                        + LATENT_GAIN*<u, v>/sqrt(dim) + noise, clamped to 1..=10.
const MU: f64 = 7.1;
const USER_BIAS_SD: f64 = 0.6;
const QUALITY_SD: f64 = 0.7;
const GENRE_GAIN: f64 = 1.6;
const LATENT_GAIN: f64 = 0.7;
const NOISE_SD: f64 = 0.9;
/// Extra penalty for dropped shows: people who drop a show rate it lower than the model alone
/// says (it is why they dropped it).
const DROP_PENALTY: f64 = 1.0;
/// Typical genre_match of the anime a user actually lists; used to put anime.csv `Score`
/// on the same scale as the generated ratings.
const TYPICAL_GENRE_MATCH: f64 = 0.22;
/// Log-sd of the per-user activity (rows per user).
const ACTIVITY_SIGMA: f64 = 1.1;
/// Log-sd of the anime popularity weights: a few anime get a large share of all list entries.
const POPULARITY_SIGMA: f64 = 1.5;
/// Share of a user's draws taken from the favourite-genre pools (per-user jitter around it).
const GENRE_DRAW_PROB: f64 = 0.6;
/// Probability that a row is an exact duplicate of an earlier row of the same user (the real
/// dump has a few; downstream processing must dedupe).
const DUP_RATE: f64 = 0.001;

/// Real MAL genre names with a prior weight (roughly their frequency on MAL) and a small
/// vocabulary used to write synopses, so a text model can recover genres from words.
struct GenreDef {
    name: &'static str,
    prior: f64,
    words: &'static [&'static str],
}

const fn g(name: &'static str, prior: f64, words: &'static [&'static str]) -> GenreDef {
    GenreDef { name, prior, words }
}

#[rustfmt::skip]
const GENRES: [GenreDef; 40] = [
    g("Action", 3900.0, &["battle", "sword", "rival", "tournament", "fight", "explosion", "warrior", "showdown", "combat", "weapon", "duel", "mercenary"]),
    g("Adventure", 2650.0, &["journey", "quest", "treasure", "map", "expedition", "voyage", "explorer", "ruins", "island", "compass", "wilderness", "traveler"]),
    g("Cars", 95.0, &["race", "car", "engine", "driver", "circuit", "drift", "garage", "highway", "pitstop", "turbo", "speedway", "mechanic"]),
    g("Comedy", 6000.0, &["prank", "joke", "hilarious", "misunderstanding", "gag", "antics", "mishap", "silly", "comedian", "slapstick", "chaos", "laughter"]),
    g("Dementia", 330.0, &["surreal", "hallucination", "fragment", "void", "abstract", "distortion", "dreamscape", "labyrinth", "fractured", "symbol", "nonsense", "paradox"]),
    g("Demons", 450.0, &["demon", "curse", "exorcist", "underworld", "pact", "oni", "horns", "hellfire", "possession", "summoning", "fiend", "seal"]),
    g("Drama", 2000.0, &["tragedy", "family", "grief", "loss", "sacrifice", "secret", "betrayal", "tears", "burden", "regret", "reconciliation", "hardship"]),
    g("Ecchi", 700.0, &["swimsuit", "bathhouse", "flirt", "teasing", "embarrassing", "beach", "blush", "mischief", "allure", "towel", "sunbathing", "glamour"]),
    g("Fantasy", 2900.0, &["kingdom", "dragon", "elf", "enchanted", "realm", "castle", "prophecy", "knight", "dungeon", "guild", "legend", "artifact"]),
    g("Game", 350.0, &["game", "player", "level", "console", "avatar", "virtual", "server", "respawn", "boss", "gamer", "arcade", "strategy"]),
    g("Harem", 400.0, &["harem", "suitors", "heroines", "admirers", "fiancee", "housemate", "jealous", "bachelor", "courtship", "dormitory", "maid", "attention"]),
    g("Historical", 1000.0, &["era", "shogunate", "feudal", "emperor", "dynasty", "revolution", "ancient", "chronicle", "warlord", "edo", "meiji", "clan"]),
    g("Horror", 370.0, &["corpse", "haunted", "blood", "terror", "nightmare", "scream", "ghoul", "massacre", "creature", "dread", "zombie", "grave"]),
    g("Josei", 120.0, &["office", "career", "adulthood", "marriage", "coworker", "apartment", "independence", "divorce", "promotion", "thirties", "workplace", "mature"]),
    g("Kids", 2600.0, &["puppy", "friendship", "lesson", "playground", "cheerful", "picnic", "toy", "colorful", "bunny", "storybook", "kindergarten", "singalong"]),
    g("Magic", 900.0, &["spell", "wand", "witch", "wizard", "sorcery", "potion", "mage", "incantation", "grimoire", "mana", "familiar", "academy"]),
    g("Martial Arts", 450.0, &["dojo", "kungfu", "karate", "master", "technique", "sensei", "discipline", "fist", "kick", "kata", "training", "temple"]),
    g("Mecha", 1000.0, &["robot", "mecha", "pilot", "cockpit", "armor", "giant", "suit", "hangar", "reactor", "frame", "cannon", "unit"]),
    g("Military", 500.0, &["soldier", "army", "squad", "general", "battlefield", "regiment", "tank", "war", "officer", "frontline", "sniper", "operation"]),
    g("Music", 1900.0, &["band", "concert", "guitar", "song", "singer", "idol", "stage", "melody", "orchestra", "piano", "album", "rehearsal"]),
    g("Mystery", 700.0, &["detective", "clue", "murder", "investigation", "culprit", "alibi", "case", "suspect", "riddle", "evidence", "disappearance", "puzzle"]),
    g("Parody", 650.0, &["spoof", "parody", "satire", "homage", "cliche", "lampoon", "trope", "absurdity", "exaggeration", "imitation", "mockery", "reference"]),
    g("Police", 250.0, &["police", "cop", "precinct", "patrol", "arrest", "criminal", "badge", "inspector", "crime", "warrant", "interrogation", "heist"]),
    g("Psychological", 330.0, &["mind", "trauma", "manipulation", "sanity", "obsession", "paranoia", "identity", "guilt", "psyche", "consciousness", "delusion", "mental"]),
    g("Romance", 1600.0, &["confession", "love", "classmate", "date", "heart", "crush", "kiss", "relationship", "sweetheart", "romance", "feelings", "couple"]),
    g("Samurai", 180.0, &["samurai", "katana", "ronin", "bushido", "swordsman", "honor", "shogun", "blade", "retainer", "vendetta", "lord", "duelist"]),
    g("School", 1400.0, &["school", "student", "club", "teacher", "homeroom", "festival", "exam", "classroom", "council", "graduation", "semester", "uniform"]),
    g("Sci-Fi", 2500.0, &["spaceship", "android", "colony", "laser", "cyborg", "experiment", "technology", "future", "clone", "dystopia", "scientist", "simulation"]),
    g("Seinen", 800.0, &["salaryman", "corruption", "gritty", "cynical", "yakuza", "gambling", "debt", "brutality", "morality", "veteran", "hitman", "syndicate"]),
    g("Shoujo", 550.0, &["princess", "blossom", "sparkle", "maiden", "ribbon", "charming", "prince", "diary", "pastel", "fairy", "heartfelt", "bouquet"]),
    g("Shoujo Ai", 70.0, &["yuri", "schoolgirls", "devotion", "ladies", "tenderness", "lilies", "admiration", "roses", "convent", "sisterly", "affection", "soulmate"]),
    g("Shounen", 1900.0, &["determination", "hero", "comrades", "courage", "powerup", "destiny", "ninja", "pirate", "champion", "spirit", "limits", "nakama"]),
    g("Shounen Ai", 85.0, &["bishounen", "companionship", "boys", "roommate", "longing", "gentleman", "partner", "bromance", "confidant", "closeness", "trust", "yearning"]),
    g("Slice of Life", 1700.0, &["daily", "cafe", "hobby", "everyday", "neighborhood", "routine", "tea", "cooking", "countryside", "relaxing", "seasons", "chores"]),
    g("Space", 500.0, &["planet", "asteroid", "orbit", "astronaut", "star", "galaxy", "nebula", "cosmos", "rocket", "satellite", "moon", "starship"]),
    g("Sports", 700.0, &["team", "match", "coach", "baseball", "soccer", "volleyball", "basketball", "championship", "stadium", "athlete", "practice", "scoreboard"]),
    g("Super Power", 550.0, &["superpower", "ability", "esper", "telekinesis", "psychic", "superhuman", "mutation", "quirk", "teleportation", "gifted", "awakening", "powers"]),
    g("Supernatural", 1300.0, &["ghost", "yokai", "shrine", "supernatural", "apparition", "afterlife", "talisman", "medium", "omen", "phantom", "otherworldly", "spirits"]),
    g("Thriller", 110.0, &["conspiracy", "hostage", "assassin", "chase", "countdown", "bomb", "deadly", "survival", "trap", "kidnapping", "escape", "ransom"]),
    g("Vampire", 110.0, &["vampire", "fangs", "bite", "immortal", "coffin", "nocturnal", "count", "hunter", "crimson", "undead", "bloodline", "night"]),
];
const N_GENRES: usize = GENRES.len();
const GENRE_MUSIC: u8 = 19;

/// Anime types with the share they get and a popularity multiplier (music videos and
/// specials are listed far less often than TV series).
const TYPES: [(&str, f64, f64); 6] = [
    ("TV", 0.30, 1.0),
    ("OVA", 0.20, 0.35),
    ("Movie", 0.16, 0.7),
    ("Special", 0.13, 0.3),
    ("ONA", 0.12, 0.35),
    ("Music", 0.09, 0.08),
];
const TYPE_TV: usize = 0;
const TYPE_OVA: usize = 1;
const TYPE_MOVIE: usize = 2;
const TYPE_SPECIAL: usize = 3;
const TYPE_ONA: usize = 4;
const TYPE_MUSIC: usize = 5;

const SOURCES: [(&str, f64); 12] = [
    ("Manga", 0.30),
    ("Original", 0.28),
    ("Light novel", 0.07),
    ("Visual novel", 0.05),
    ("Game", 0.05),
    ("4-koma manga", 0.03),
    ("Novel", 0.04),
    ("Web manga", 0.03),
    ("Other", 0.04),
    ("Music", 0.03),
    ("Picture book", 0.02),
    ("Unknown", 0.06),
];

const AGE_RATINGS: [(&str, f64); 6] = [
    ("PG-13 - Teens 13 or older", 0.50),
    ("G - All Ages", 0.18),
    ("PG - Children", 0.12),
    ("R - 17+ (violence & profanity)", 0.11),
    ("R+ - Mild Nudity", 0.06),
    ("None", 0.03),
];

const PRODUCERS: [&str; 24] = [
    "Bandai Visual",
    "TV Tokyo",
    "Aniplex",
    "Dentsu",
    "Fuji TV",
    "Lantis",
    "Pony Canyon",
    "Kadokawa Shoten",
    "Shueisha",
    "Movic",
    "Starchild Records",
    "Victor Entertainment",
    "NHK",
    "TBS",
    "Genco",
    "Sotsu",
    "Frontier Works",
    "AT-X",
    "Mainichi Broadcasting System",
    "Kodansha",
    "Avex Pictures",
    "Sony Music Entertainment",
    "Nihon Ad Systems",
    "TV Asahi",
];
const LICENSORS: [&str; 10] = [
    "Funimation",
    "Sentai Filmworks",
    "VIZ Media",
    "Aniplex of America",
    "Bandai Entertainment",
    "Discotek Media",
    "Crunchyroll",
    "Nozomi Entertainment",
    "Geneon Entertainment USA",
    "ADV Films",
];
const STUDIOS: [&str; 22] = [
    "Sunrise",
    "Madhouse",
    "Toei Animation",
    "J.C.Staff",
    "Production I.G",
    "Bones",
    "Studio Deen",
    "A-1 Pictures",
    "Kyoto Animation",
    "Shaft",
    "Gonzo",
    "TMS Entertainment",
    "OLM",
    "Pierrot",
    "Xebec",
    "Doga Kobo",
    "Brain's Base",
    "Satelight",
    "Silver Link.",
    "Gainax",
    "Tatsunoko Production",
    "Nippon Animation",
];

/// Romaji syllables with their katakana, so the Japanese name is a transcription of the title.
#[rustfmt::skip]
const SYLLABLES: [(&str, &str); 62] = [
    ("ka", "カ"), ("ki", "キ"), ("ku", "ク"), ("ke", "ケ"), ("ko", "コ"),
    ("sa", "サ"), ("shi", "シ"), ("su", "ス"), ("se", "セ"), ("so", "ソ"),
    ("ta", "タ"), ("chi", "チ"), ("tsu", "ツ"), ("te", "テ"), ("to", "ト"),
    ("na", "ナ"), ("ni", "ニ"), ("nu", "ヌ"), ("ne", "ネ"), ("no", "ノ"),
    ("ha", "ハ"), ("hi", "ヒ"), ("fu", "フ"), ("he", "ヘ"), ("ho", "ホ"),
    ("ma", "マ"), ("mi", "ミ"), ("mu", "ム"), ("me", "メ"), ("mo", "モ"),
    ("ya", "ヤ"), ("yu", "ユ"), ("yo", "ヨ"), ("ra", "ラ"), ("ri", "リ"),
    ("ru", "ル"), ("re", "レ"), ("ro", "ロ"), ("wa", "ワ"), ("a", "ア"),
    ("i", "イ"), ("u", "ウ"), ("e", "エ"), ("o", "オ"), ("ga", "ガ"),
    ("gi", "ギ"), ("go", "ゴ"), ("za", "ザ"), ("ji", "ジ"), ("zu", "ズ"),
    ("da", "ダ"), ("do", "ド"), ("ba", "バ"), ("bi", "ビ"), ("bo", "ボ"),
    ("pa", "パ"), ("pi", "ピ"), ("po", "ポ"), ("ryuu", "リュウ"), ("kyou", "キョウ"),
    ("shou", "ショウ"), ("n", "ン"),
];
/// Index of the syllabic "n" above, which may not start a word.
const SYL_N: usize = 61;

const EN_ADJ: [&str; 16] = [
    "Crimson",
    "Silent",
    "Eternal",
    "Broken",
    "Hidden",
    "Golden",
    "Lost",
    "Final",
    "Wandering",
    "Iron",
    "Shining",
    "Midnight",
    "Frozen",
    "Burning",
    "Distant",
    "Secret",
];
const EN_NOUN: [&str; 16] = [
    "Blade", "Horizon", "Promise", "Garden", "Kingdom", "Melody", "Sky", "Star", "Memory",
    "Journey", "Legend", "Heart", "Tide", "Spirit", "Frontier", "Requiem",
];

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Synopsis sentence templates: `{w}` is a word from one of the anime's genres, `{n}` the
/// title. Some carry commas and a quoted word so the writer's quoting gets exercised.
const TEMPLATES: [&str; 10] = [
    "When the {w} threatens the {w}, an unlikely group must face their {w}.",
    "In a world of {w}, {w} and {w}, nothing is what it seems.",
    "Known only as \"the {w}\", a stranger arrives carrying the {w}.",
    "Between {w} and {w}, the {w} begins.",
    "Every {w} hides the {w}, and every {w} has a price.",
    "Soon, the {w} draws everyone toward the {w}.",
    "{w} and {w} collide as the story of {n} unfolds.",
    "Nobody expected the {w} to matter, least of all the {w}.",
    "What starts as the simple {w} turns into the {w} of {w}.",
    "Haunted by the {w}, the {w} searches for the {w} that may not exist.",
];
const OPENERS: [&str; 3] = [
    "{n} follows the young {w} caught up in the {w} that changes everything.",
    "{n} tells the story of the {w} and the {w} who share the {w}.",
    "In {n}, the {w} must confront the {w}.",
];

// ---------------------------------------------------------------------------------------------
// Validation, RNG streams, sampling helpers
// ---------------------------------------------------------------------------------------------

/// Checks the spec and returns the per-user row cap (80 % of the catalogue).
fn validate(spec: &SynthSpec) -> io::Result<u32> {
    let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
    if spec.users < 1 || spec.users > MAX_USERS {
        return invalid(format!(
            "synth spec: users must be in 1..={MAX_USERS}, got {}",
            spec.users
        ));
    }
    if spec.anime < 10 || spec.anime > MAX_ANIME {
        return invalid(format!(
            "synth spec: anime must be in 10..={MAX_ANIME}, got {}",
            spec.anime
        ));
    }
    if spec.rows < u64::from(spec.users) {
        return invalid(format!(
            "synth spec: rows ({}) must be >= users ({}) so that every user has a row",
            spec.rows, spec.users
        ));
    }
    // u64 cannot overflow here: users <= 1e7 and cap <= 8e5.
    let cap = spec.anime * 8 / 10;
    let max_rows = u64::from(spec.users) * u64::from(cap);
    if spec.rows > max_rows {
        return invalid(format!(
            "synth spec: rows ({}) must be <= users * floor(anime * 8 / 10) = {} * {} = {max_rows} \
             (a user lists at most 80% of the catalogue)",
            spec.rows, spec.users, cap
        ));
    }
    Ok(cap)
}

fn stream(seed: u64, constant: u64) -> Pcg64 {
    Pcg64::seed_from_u64(seed ^ constant)
}

/// One stream per user block; the index is scrambled so neighbouring blocks get unrelated
/// seeds even though `seed_from_u64` already mixes its input.
fn block_stream(seed: u64, block: u64) -> Pcg64 {
    Pcg64::seed_from_u64(seed ^ STREAM_USERS ^ splitmix64(block))
}

fn normal(rng: &mut Pcg64) -> f64 {
    rng.sample::<f64, _>(StandardNormal)
}

/// Index drawn proportionally to `weights` by a linear scan; only for short tables.
fn pick_weighted(rng: &mut Pcg64, weights: impl Iterator<Item = f64> + Clone) -> usize {
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

fn pick<'a>(rng: &mut Pcg64, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// Walker/Vose alias table: O(1) weighted draws, which keeps per-row cost independent of
/// the catalogue size.
struct Alias {
    prob: Vec<f64>,
    alias: Vec<u32>,
    /// Slot -> anime index (pools hold a subset of the catalogue).
    items: Vec<u32>,
}

impl Alias {
    /// `None` when there is nothing to draw from (an empty genre pool).
    fn new(items: Vec<u32>, weights: &[f64]) -> Option<Alias> {
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
    fn sample(&self, rng: &mut Pcg64) -> u32 {
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

// ---------------------------------------------------------------------------------------------
// Catalogue
// ---------------------------------------------------------------------------------------------

/// One generated anime: display fields for anime.csv plus the planted model terms.
struct Anime {
    mal_id: u32,
    name: String,
    english: String,
    japanese: String,
    genres: Vec<u8>,
    kind: usize,
    episodes: u32,
    aired: String,
    premiered: String,
    producers: String,
    licensors: String,
    studios: String,
    source: &'static str,
    duration: String,
    age_rating: &'static str,
    popularity: f64,
    quality: f64,
    latent: [f32; LATENT_DIM],
}

/// anime.csv statistics derived from popularity and quality (not counted from animelist.csv,
/// which may be far too small to give MAL-like magnitudes).
struct AnimeStats {
    members: u64,
    favorites: u64,
    /// Watching, Completed, On-Hold, Dropped, Plan to Watch.
    status: [u64; 5],
    /// Score-10 .. Score-1.
    hist: [u64; 10],
    /// `None` is written as `Unknown` (too few scorers, like the tail of the real file).
    score: Option<f64>,
    ranked: Option<u64>,
    popularity_rank: u64,
}

struct Catalogue {
    anime: Vec<Anime>,
    stats: Vec<AnimeStats>,
}

impl Catalogue {
    fn generate(spec: &SynthSpec) -> Catalogue {
        let mut rng = stream(spec.seed, STREAM_CATALOGUE);
        let n = spec.anime as usize;
        let mut names: HashSet<String> = HashSet::with_capacity(n);
        let mut anime = Vec::with_capacity(n);
        let mut mal_id = 0u32;
        for _ in 0..n {
            // Real ids start at 1 and have gaps (deleted or hentai entries).
            mal_id += if mal_id == 0 || rng.random_bool(0.55) {
                1
            } else {
                1 + rng.random_range(1..=6)
            };
            anime.push(gen_anime(&mut rng, mal_id, &mut names));
        }
        let stats = derive_stats(&mut rng, &anime, spec.rows);
        Catalogue { anime, stats }
    }
}

fn gen_anime(rng: &mut Pcg64, mal_id: u32, names: &mut HashSet<String>) -> Anime {
    let kind = pick_weighted(rng, TYPES.iter().map(|t| t.1));

    let n_genres = 1 + pick_weighted(rng, [0.15, 0.25, 0.3, 0.2, 0.1].into_iter());
    let mut genres: Vec<u8> = Vec::with_capacity(5);
    if kind == TYPE_MUSIC {
        genres.push(GENRE_MUSIC);
    }
    while genres.len() < n_genres {
        let g = pick_weighted(rng, GENRES.iter().map(|g| g.prior)) as u8;
        if !genres.contains(&g) {
            genres.push(g);
        }
    }

    let episodes = match kind {
        TYPE_TV => {
            let common = [12, 13, 24, 25, 26, 26, 12, 13, 50, 51, 52, 10];
            if rng.random_bool(0.85) {
                common[rng.random_range(0..common.len())]
            } else {
                rng.random_range(1..=200)
            }
        }
        TYPE_OVA => rng.random_range(1..=6),
        TYPE_SPECIAL => rng.random_range(1..=4),
        TYPE_ONA => rng.random_range(1..=15),
        _ => 1,
    };

    let (name, japanese) = gen_title(rng, kind, names);
    let english = if rng.random_bool(0.15) {
        "Unknown".to_string()
    } else {
        let base = if rng.random_bool(0.6) {
            format!("{} {}", pick(rng, &EN_ADJ), pick(rng, &EN_NOUN))
        } else {
            format!(
                "{} of the {} {}",
                pick(rng, &EN_NOUN),
                pick(rng, &EN_ADJ),
                pick(rng, &EN_NOUN)
            )
        };
        // The real English names drop the space after a colon ("Cowboy Bebop:The Movie").
        if kind == TYPE_MOVIE {
            format!("{base}:The Movie")
        } else {
            base
        }
    };

    let (aired, premiered) = gen_aired(rng, kind, episodes);
    let producers = if rng.random_bool(0.05) {
        "Unknown".to_string()
    } else {
        let count = 1 + rng.random_range(0..4usize);
        join_distinct(rng, &PRODUCERS, count)
    };
    let licensors = if rng.random_bool(0.4) {
        "Unknown".to_string()
    } else {
        let count = 1 + usize::from(rng.random_bool(0.35));
        join_distinct(rng, &LICENSORS, count)
    };
    let studio_count = 1 + usize::from(rng.random_bool(0.08));
    let studios = join_distinct(rng, &STUDIOS, studio_count);
    let source = SOURCES[pick_weighted(rng, SOURCES.iter().map(|s| s.1))].0;
    let duration = gen_duration(rng, kind);
    let age_rating = AGE_RATINGS[pick_weighted(rng, AGE_RATINGS.iter().map(|r| r.1))].0;

    let quality = QUALITY_SD * normal(rng);
    // Better shows are also more popular, as on MAL; the type multiplier puts music videos
    // and specials in the tail.
    let popularity = (POPULARITY_SIGMA * normal(rng) + 0.5 * quality).exp() * TYPES[kind].2;
    let mut latent = [0f32; LATENT_DIM];
    for v in &mut latent {
        *v = normal(rng) as f32;
    }

    Anime {
        mal_id,
        name,
        english,
        japanese,
        genres,
        kind,
        episodes,
        aired,
        premiered,
        producers,
        licensors,
        studios,
        source,
        duration,
        age_rating,
        popularity,
        quality,
        latent,
    }
}

/// Romaji-like unique title plus its katakana transcription.
fn gen_title(rng: &mut Pcg64, kind: usize, names: &mut HashSet<String>) -> (String, String) {
    let word = |rng: &mut Pcg64, romaji: &mut String, kana: &mut String| {
        let len = rng.random_range(2..=4);
        let start = romaji.len();
        for i in 0..len {
            let mut s = rng.random_range(0..SYLLABLES.len());
            if i == 0 && s == SYL_N {
                s = 0;
            }
            romaji.push_str(SYLLABLES[s].0);
            kana.push_str(SYLLABLES[s].1);
        }
        if let Some(first) = romaji[start..].chars().next() {
            let upper = first.to_ascii_uppercase().to_string();
            romaji.replace_range(start..start + first.len_utf8(), &upper);
        }
    };
    for attempt in 0..8 {
        let mut romaji = String::new();
        let mut kana = String::new();
        word(rng, &mut romaji, &mut kana);
        let form = rng.random_range(0..10);
        if form < 3 {
            romaji.push_str(" no ");
            kana.push('の');
            word(rng, &mut romaji, &mut kana);
        } else if form < 5 {
            romaji.push(' ');
            kana.push('・');
            word(rng, &mut romaji, &mut kana);
        }
        let (mut name, mut jp) = match kind {
            TYPE_MOVIE => (format!("{romaji} Movie"), format!("劇場版 {kana}")),
            TYPE_SPECIAL => (format!("{romaji} Specials"), format!("{kana} 特別編")),
            TYPE_TV if rng.random_bool(0.08) => {
                (format!("{romaji} 2nd Season"), format!("{kana} 第2期"))
            }
            _ => (romaji, kana),
        };
        if attempt == 7 && names.contains(&name) {
            // Tiny catalogues with many collisions: disambiguate like MAL sequels do.
            let mut k = 2;
            while names.contains(&format!("{name} {k}")) {
                k += 1;
            }
            name = format!("{name} {k}");
            jp = format!("{jp} {k}");
        }
        if names.insert(name.clone()) {
            return (name, jp);
        }
    }
    // Unreachable: the last attempt always yields a fresh name.
    let name = format!("Untitled {}", names.len());
    names.insert(name.clone());
    (name, "無題".to_string())
}

fn join_distinct(rng: &mut Pcg64, pool: &[&str], count: usize) -> String {
    let mut picked: Vec<&str> = Vec::with_capacity(count);
    while picked.len() < count.min(pool.len()) {
        let p = pick(rng, pool);
        if !picked.contains(&p) {
            picked.push(p);
        }
    }
    picked.join(", ")
}

fn gen_duration(rng: &mut Pcg64, kind: usize) -> String {
    match kind {
        TYPE_TV => format!("{} min. per ep.", rng.random_range(22..=26)),
        TYPE_MOVIE => {
            let minutes: u32 = rng.random_range(45..=150);
            match (minutes / 60, minutes % 60) {
                (0, m) => format!("{m} min."),
                (h, 0) => format!("{h} hr."),
                (h, m) => format!("{h} hr. {m} min."),
            }
        }
        TYPE_OVA => format!("{} min. per ep.", rng.random_range(20..=50)),
        TYPE_SPECIAL => format!("{} min. per ep.", rng.random_range(2..=25)),
        TYPE_ONA => format!("{} min. per ep.", rng.random_range(2..=24)),
        _ => format!("{} min.", rng.random_range(2..=6)),
    }
}

fn fmt_date(y: i64, m: u32, d: u32) -> String {
    format!("{} {d}, {y}", MONTHS[(m as usize).saturating_sub(1) % 12])
}

/// `Aired` like "Apr 3, 1998 to Apr 24, 1999" / "Sep 1, 2001" / "Oct 20, 2020 to ?" and
/// `Premiered` ("Spring 1998", only for TV, else Unknown).
fn gen_aired(rng: &mut Pcg64, kind: usize, episodes: u32) -> (String, String) {
    // Recent years dominate the catalogue, as on MAL.
    let back = (-(1.0 - rng.random::<f64>()).ln() * 9.0) as i64;
    let year = (2020 - back).max(1961);
    let month = rng.random_range(1..=12u32);
    let day = rng.random_range(1..=28u32);
    let start = fmt_date(year, month, day);
    let aired = if episodes <= 1 || kind == TYPE_MOVIE || kind == TYPE_MUSIC {
        start
    } else if year == 2020 && rng.random_bool(0.3) {
        format!("{start} to ?")
    } else {
        let spacing = if kind == TYPE_TV || kind == TYPE_ONA {
            7
        } else {
            rng.random_range(20..=60)
        };
        let end = days_from_civil(year, month, day) + i64::from(episodes - 1) * spacing;
        let (ey, em, ed) = civil_from_days(end);
        format!("{start} to {}", fmt_date(ey, em, ed))
    };
    let premiered = if kind == TYPE_TV && rng.random_bool(0.9) {
        let season = ["Winter", "Spring", "Summer", "Fall"][((month - 1) / 3) as usize];
        format!("{season} {year}")
    } else {
        "Unknown".to_string()
    };
    (aired, premiered)
}

/// Expected rating of an anime among the users who list it, on the same scale as the
/// generated `animelist.csv` ratings.
fn expected_rating(a: &Anime) -> f64 {
    MU + a.quality + GENRE_GAIN * TYPICAL_GENRE_MATCH
}

fn derive_stats(rng: &mut Pcg64, anime: &[Anime], rows: u64) -> Vec<AnimeStats> {
    let pop_total: f64 = anime.iter().map(|a| a.popularity).sum();
    // As if animelist.csv were a ~5 % sample of MAL: member counts keep MAL-like magnitudes
    // while staying proportional to how often the anime is drawn here.
    let member_total = rows as f64 * 20.0;
    let mut stats: Vec<AnimeStats> = anime
        .iter()
        .map(|a| {
            let members = ((a.popularity / pop_total) * member_total).round().max(1.0) as u64;
            let q = a.quality / QUALITY_SD;
            let watching = 0.04 + 0.06 * rng.random::<f64>();
            let plan = 0.15 + 0.15 * rng.random::<f64>();
            let hold = 0.03 + 0.04 * rng.random::<f64>();
            let dropped = 0.02 + 0.10 / (1.0 + (1.5 * q).exp());
            let frac = [watching, hold, dropped, plan];
            let mut parts = [0u64; 4];
            for (p, f) in parts.iter_mut().zip(frac) {
                *p = (members as f64 * f).floor() as u64;
            }
            let completed = members.saturating_sub(parts.iter().sum::<u64>());
            let status = [parts[0], completed, parts[1], parts[2], parts[3]];
            let scorers =
                (completed as f64 * 0.8 + (parts[0] + parts[1] + parts[2]) as f64 * 0.4).round();
            let mean = expected_rating(a);
            let mut hist = [0u64; 10];
            let sd = 1.45;
            for (i, h) in hist.iter_mut().enumerate() {
                let r = (10 - i) as f64;
                let lo = if r <= 1.0 { f64::NEG_INFINITY } else { r - 0.5 };
                let hi = if r >= 10.0 { f64::INFINITY } else { r + 0.5 };
                let p = normal_cdf((hi - mean) / sd) - normal_cdf((lo - mean) / sd);
                *h = (scorers * p).round() as u64;
            }
            let n: u64 = hist.iter().sum();
            let score = (n > 0).then(|| {
                let s: u64 = hist
                    .iter()
                    .enumerate()
                    .map(|(i, h)| (10 - i as u64) * h)
                    .sum();
                s as f64 / n as f64
            });
            let favorites =
                (members as f64 * 0.004 * (1.5 * q).exp() * rng.random::<f64>()).round() as u64;
            AnimeStats {
                members,
                favorites,
                status,
                hist,
                score,
                ranked: None,
                popularity_rank: 0,
            }
        })
        .collect();

    // Popularity rank by members; ties broken by id so the order is total.
    let mut order: Vec<usize> = (0..anime.len()).collect();
    order.sort_by(|&a, &b| stats[b].members.cmp(&stats[a].members).then(a.cmp(&b)));
    for (rank, &i) in order.iter().enumerate() {
        stats[i].popularity_rank = rank as u64 + 1;
    }
    // The least listed ~1.5 % have no score yet, like the tail of the real file.
    let unknown = anime.len() * 3 / 200;
    for &i in order.iter().rev().take(unknown) {
        stats[i].score = None;
    }
    let mut scored: Vec<usize> = (0..anime.len())
        .filter(|&i| stats[i].score.is_some())
        .collect();
    scored.sort_by(|&a, &b| {
        let (sa, sb) = (stats[a].score.unwrap_or(0.0), stats[b].score.unwrap_or(0.0));
        sb.total_cmp(&sa).then(a.cmp(&b))
    });
    for (rank, &i) in scored.iter().enumerate() {
        stats[i].ranked = Some(rank as u64 + 1);
    }
    stats
}

/// Standard normal CDF via the Abramowitz-Stegun erf approximation (|err| < 1.5e-7), plenty
/// for histogram shapes.
fn normal_cdf(x: f64) -> f64 {
    if x.is_infinite() {
        return if x > 0.0 { 1.0 } else { 0.0 };
    }
    let z = x / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    let erf = if z >= 0.0 { erf } else { -erf };
    0.5 * (1.0 + erf)
}

// ---------------------------------------------------------------------------------------------
// CSV writing: anime.csv and anime_with_synopsis.csv
// ---------------------------------------------------------------------------------------------

const ANIME_HEADER: &str = "MAL_ID,Name,Score,Genres,English name,Japanese name,Type,Episodes,Aired,Premiered,Producers,Licensors,Studios,Source,Duration,Rating,Ranked,Popularity,Members,Favorites,Watching,Completed,On-Hold,Dropped,Plan to Watch,Score-10,Score-9,Score-8,Score-7,Score-6,Score-5,Score-4,Score-3,Score-2,Score-1";
const SYNOPSIS_HEADER: &str = "MAL_ID,Name,Score,Genres,sypnopsis";
const ANIMELIST_HEADER: &str = "user_id,anime_id,rating,watching_status,watched_episodes";

/// Appends one CSV field, quoted iff it contains a comma, a double quote or a line break
/// (RFC 4180, the style of the real files).
fn push_field(buf: &mut String, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        buf.push('"');
        for c in field.chars() {
            if c == '"' {
                buf.push('"');
            }
            buf.push(c);
        }
        buf.push('"');
    } else {
        buf.push_str(field);
    }
}

fn genres_field(a: &Anime) -> String {
    let names: Vec<&str> = a.genres.iter().map(|&g| GENRES[g as usize].name).collect();
    names.join(", ")
}

fn score_field(s: &AnimeStats) -> String {
    match s.score {
        Some(v) => format!("{v:.2}"),
        None => "Unknown".to_string(),
    }
}

fn write_anime_csv(w: &mut dyn Write, cat: &Catalogue) -> io::Result<()> {
    let mut line = String::with_capacity(1024);
    line.push_str(ANIME_HEADER);
    line.push('\n');
    w.write_all(line.as_bytes())?;
    for (a, s) in cat.anime.iter().zip(&cat.stats) {
        line.clear();
        let numbers = |v: u64| v.to_string();
        let ranked = s
            .ranked
            .map_or_else(|| "Unknown".to_string(), |r| format!("{r}.0"));
        let mut fields: Vec<String> = vec![
            a.mal_id.to_string(),
            a.name.clone(),
            score_field(s),
            genres_field(a),
            a.english.clone(),
            a.japanese.clone(),
            TYPES[a.kind].0.to_string(),
            a.episodes.to_string(),
            a.aired.clone(),
            a.premiered.clone(),
            a.producers.clone(),
            a.licensors.clone(),
            a.studios.clone(),
            a.source.to_string(),
            a.duration.clone(),
            a.age_rating.to_string(),
            ranked,
            numbers(s.popularity_rank),
            numbers(s.members),
            numbers(s.favorites),
        ];
        fields.extend(s.status.iter().map(|&v| numbers(v)));
        // Score-N counts are floats in the real file ("229170.0"), `Unknown` when unscored.
        fields.extend(s.hist.iter().map(|&v| match s.score {
            Some(_) => format!("{v}.0"),
            None => "Unknown".to_string(),
        }));
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            push_field(&mut line, f);
        }
        line.push('\n');
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

fn write_synopsis_csv(w: &mut dyn Write, cat: &Catalogue, seed: u64) -> io::Result<()> {
    // Own stream: synopsis wording can change without shifting the catalogue or the lists.
    let mut rng = stream(seed, STREAM_TEXT);
    let mut line = String::with_capacity(2048);
    line.push_str(SYNOPSIS_HEADER);
    line.push('\n');
    w.write_all(line.as_bytes())?;
    for (a, s) in cat.anime.iter().zip(&cat.stats) {
        let text = gen_synopsis(&mut rng, a);
        // ~3 % of anime have no synopsis row, as in the real file.
        if rng.random_bool(0.03) {
            continue;
        }
        line.clear();
        line.push_str(&a.mal_id.to_string());
        line.push(',');
        push_field(&mut line, &a.name);
        line.push(',');
        line.push_str(&score_field(s));
        line.push(',');
        push_field(&mut line, &genres_field(a));
        line.push(',');
        push_field(&mut line, &text);
        line.push('\n');
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

fn gen_synopsis(rng: &mut Pcg64, a: &Anime) -> String {
    let n_sentences = rng.random_range(2..=5);
    let mut out = String::with_capacity(400);
    for i in 0..n_sentences {
        let template = if i == 0 {
            OPENERS[rng.random_range(0..OPENERS.len())]
        } else {
            TEMPLATES[rng.random_range(0..TEMPLATES.len())]
        };
        if i > 0 {
            out.push(' ');
        }
        let sentence_start = out.len();
        let mut rest = template;
        while let Some(pos) = rest.find('{') {
            out.push_str(&rest[..pos]);
            let slot = &rest[pos..];
            if let Some(after) = slot.strip_prefix("{w}") {
                let g = a.genres[rng.random_range(0..a.genres.len())] as usize;
                out.push_str(pick(rng, GENRES[g].words));
                rest = after;
            } else if let Some(after) = slot.strip_prefix("{n}") {
                out.push_str(&a.name);
                rest = after;
            } else {
                out.push('{');
                rest = &slot[1..];
            }
        }
        out.push_str(rest);
        // Templates that open with a word slot need a capital letter.
        if let Some(c) = out[sentence_start..].chars().next() {
            if c.is_ascii_lowercase() {
                out[sentence_start..sentence_start + 1].make_ascii_uppercase();
            }
        }
    }
    // Real synopses often lose their first 1-3 characters to a scraping bug.
    if rng.random_bool(0.05) {
        let cut = rng.random_range(1..=3);
        if out.is_char_boundary(cut) {
            out.drain(..cut);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// animelist.csv
// ---------------------------------------------------------------------------------------------

/// Compact, cache-friendly view of the catalogue for the per-row hot loop.
struct Model {
    mal_id: Vec<u32>,
    genres: Vec<[u8; 5]>,
    n_genres: Vec<u8>,
    quality: Vec<f32>,
    latent: Vec<[f32; LATENT_DIM]>,
    episodes: Vec<u32>,
    global: Alias,
    /// Popularity-weighted pool per genre; `None` for genres no anime has.
    by_genre: Vec<Option<Alias>>,
    /// Weight of each genre when users pick favourites (0 for empty pools).
    genre_pick: Vec<f64>,
}

impl Model {
    fn build(cat: &Catalogue) -> Model {
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

/// Rows per user: lognormal weights scaled so the counts sum to exactly `spec.rows`, with
/// every user in `1..=cap`. Water-filling: distribute proportionally, clip at the cap,
/// redistribute the excess, and hand out the last few rows one by one.
fn allocate_activity(spec: &SynthSpec, cap: u32) -> Vec<u32> {
    let mut rng = stream(spec.seed, STREAM_ACTIVITY);
    let n = spec.users as usize;
    let weights: Vec<f64> = (0..n)
        .map(|_| (ACTIVITY_SIGMA * normal(&mut rng)).exp())
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
struct UserProfile {
    fav: [u8; 5],
    fav_w: [f64; 5],
    n_fav: usize,
    /// Genre -> weight (0 for non-favourites); genre_match = sum over an anime's genres.
    genre_w: [f32; N_GENRES],
    bias: f64,
    latent: [f32; LATENT_DIM],
    p_genre: f64,
}

fn gen_user(rng: &mut Pcg64, model: &Model) -> UserProfile {
    let available = model.genre_pick.iter().filter(|&&w| w > 0.0).count();
    let n_fav = rng.random_range(2..=5usize).min(available);
    let mut fav = [0u8; 5];
    let mut fav_w = [0f64; 5];
    let mut genre_w = [0f32; N_GENRES];
    let mut k = 0;
    while k < n_fav {
        let g = pick_weighted(rng, model.genre_pick.iter().copied());
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
    let mut latent = [0f32; LATENT_DIM];
    for v in &mut latent {
        *v = normal(rng) as f32;
    }
    UserProfile {
        fav,
        fav_w,
        n_fav,
        genre_w,
        bias: USER_BIAS_SD * normal(rng),
        latent,
        p_genre: GENRE_DRAW_PROB + 0.15 * (2.0 * rng.random::<f64>() - 1.0),
    }
}

#[derive(Clone, Copy)]
struct Row {
    anime: u32,
    rating: u8,
    status: u8,
    episodes: u32,
    seq: u32,
}

/// Scratch reused across the users of one block: a stamp array marks anime already in the
/// current user's list without clearing `anime` entries per user.
struct Scratch {
    stamp: Vec<u32>,
    generation: u32,
    rows: Vec<Row>,
    leftover: Vec<u32>,
}

impl Scratch {
    fn new(n_anime: usize) -> Scratch {
        Scratch {
            stamp: vec![0; n_anime],
            generation: 0,
            rows: Vec::new(),
            leftover: Vec::new(),
        }
    }

    fn next_user(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.fill(0);
            self.generation = 1;
        }
        self.rows.clear();
        self.leftover.clear();
    }
}

/// Rows of one user: distinct anime (plus rare exact duplicates), sorted by watching status
/// like the real dump.
fn gen_user_rows(rng: &mut Pcg64, model: &Model, user: &UserProfile, k: u32, sc: &mut Scratch) {
    sc.next_user();
    let n_anime = model.mal_id.len();
    let k = k as usize;
    // Heavy users exhaust their genre pools and then the popular head; rejection sampling
    // would then spin, so after these budgets we fall back to global draws, then to a
    // uniform draw from the anime still missing.
    let mixed_budget = 2 * k + 64;
    let global_budget = 6 * k + 256;
    let mut attempts = 0usize;
    let mut fallback_ready = false;
    for slot in 0..k {
        if !sc.rows.is_empty() && rng.random::<f64>() < DUP_RATE {
            let j = rng.random_range(0..sc.rows.len());
            let dup = sc.rows[j];
            sc.rows.push(dup);
            continue;
        }
        let mut chosen: Option<u32> = None;
        while attempts < global_budget {
            attempts += 1;
            let cand = if attempts < mixed_budget && rng.random::<f64>() < user.p_genre {
                let f = pick_weighted(rng, user.fav_w[..user.n_fav].iter().copied());
                match &model.by_genre[user.fav[f] as usize] {
                    Some(pool) => pool.sample(rng),
                    None => model.global.sample(rng),
                }
            } else {
                model.global.sample(rng)
            };
            if sc.stamp[cand as usize] != sc.generation {
                chosen = Some(cand);
                break;
            }
        }
        if chosen.is_none() {
            if !fallback_ready {
                sc.leftover.clear();
                sc.leftover
                    .extend((0..n_anime as u32).filter(|&a| sc.stamp[a as usize] != sc.generation));
                fallback_ready = true;
            }
            if !sc.leftover.is_empty() {
                let j = rng.random_range(0..sc.leftover.len());
                chosen = Some(sc.leftover.swap_remove(j));
            }
        }
        let Some(a) = chosen else {
            // Catalogue exhausted (cannot happen with k <= 80 % of it): repeat a row rather
            // than emit fewer rows than requested.
            let j = rng.random_range(0..sc.rows.len().max(1));
            if let Some(&dup) = sc.rows.get(j) {
                sc.rows.push(dup);
            }
            continue;
        };
        sc.stamp[a as usize] = sc.generation;
        let row = gen_row(rng, model, user, a, slot as u32);
        sc.rows.push(row);
    }
    // (status, seq) is unique per distinct row and duplicates are identical, so the unstable
    // sort still gives one deterministic order.
    sc.rows.sort_unstable_by_key(|r| (r.status, r.seq));
}

fn gen_row(rng: &mut Pcg64, model: &Model, user: &UserProfile, a: u32, seq: u32) -> Row {
    let i = a as usize;
    let genre_match: f32 = model.genres[i][..model.n_genres[i] as usize]
        .iter()
        .map(|&g| user.genre_w[g as usize])
        .sum();
    let dot: f32 = user
        .latent
        .iter()
        .zip(&model.latent[i])
        .map(|(u, v)| u * v)
        .sum();
    let affinity = MU
        + user.bias
        + f64::from(model.quality[i])
        + GENRE_GAIN * f64::from(genre_match)
        + LATENT_GAIN * f64::from(dot) / (LATENT_DIM as f64).sqrt()
        + NOISE_SD * normal(rng);

    let r = rng.random::<f64>();
    let status: u8 = if r < 0.13 {
        6
    } else if r < 0.21 {
        1
    } else if r < 0.26 {
        3
    } else {
        // Shows the user would rate low are the ones they drop.
        let p_drop = 0.02 + 0.5 / (1.0 + (2.0 * (affinity - 5.0)).exp());
        if rng.random::<f64>() < p_drop {
            4
        } else {
            2
        }
    };
    let p_rated = match status {
        2 => 0.87,
        1 => 0.5,
        3 => 0.55,
        4 => 0.55,
        _ => 0.03,
    };
    let rating = if rng.random::<f64>() < p_rated {
        let x = if status == 4 {
            affinity - DROP_PENALTY
        } else {
            affinity
        };
        x.round().clamp(1.0, 10.0) as u8
    } else {
        0
    };
    let eps = model.episodes[i];
    let episodes = match status {
        2 => eps,
        6 => 0,
        _ => rng.random_range(0..eps.max(1)),
    };
    Row {
        anime: a,
        rating,
        status,
        episodes,
        seq,
    }
}

#[inline]
fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

struct BlockOut {
    bytes: Vec<u8>,
    rows: u64,
    unrated: u64,
}

fn gen_block(spec: &SynthSpec, model: &Model, counts: &[u32], block: usize) -> BlockOut {
    let first = block * BLOCK_USERS as usize;
    let last = (first + BLOCK_USERS as usize).min(counts.len());
    let rows: u64 = counts[first..last].iter().map(|&c| u64::from(c)).sum();
    let mut out = BlockOut {
        bytes: Vec::with_capacity(rows as usize * 22),
        rows,
        unrated: 0,
    };
    let mut rng = block_stream(spec.seed, block as u64);
    let mut sc = Scratch::new(model.mal_id.len());
    let mut uid = Vec::with_capacity(12);
    for (user_id, &k) in (first..last).zip(&counts[first..last]) {
        let profile = gen_user(&mut rng, model);
        gen_user_rows(&mut rng, model, &profile, k, &mut sc);
        uid.clear();
        push_u64(&mut uid, user_id as u64);
        uid.push(b',');
        for r in &sc.rows {
            out.bytes.extend_from_slice(&uid);
            push_u64(&mut out.bytes, u64::from(model.mal_id[r.anime as usize]));
            out.bytes.push(b',');
            push_u64(&mut out.bytes, u64::from(r.rating));
            out.bytes.push(b',');
            out.bytes.push(b'0' + r.status);
            out.bytes.push(b',');
            push_u64(&mut out.bytes, u64::from(r.episodes));
            out.bytes.push(b'\n');
            out.unrated += u64::from(r.rating == 0);
        }
    }
    out
}

/// Writes animelist.csv in rounds of blocks: each round is generated in parallel and written
/// in block order, so memory is bounded by a round, not by the file.
fn write_animelist(
    w: &mut dyn Write,
    spec: &SynthSpec,
    model: &Model,
    counts: &[u32],
    progress: &(dyn Fn(u64) + Sync),
) -> io::Result<u64> {
    w.write_all(ANIMELIST_HEADER.as_bytes())?;
    w.write_all(b"\n")?;
    let n_blocks = counts.len().div_ceil(BLOCK_USERS as usize);
    let block_rows = |b: usize| -> u64 {
        let first = b * BLOCK_USERS as usize;
        let last = (first + BLOCK_USERS as usize).min(counts.len());
        counts[first..last].iter().map(|&c| u64::from(c)).sum()
    };
    let mut written = 0u64;
    let mut unrated = 0u64;
    let mut start = 0usize;
    while start < n_blocks {
        let mut end = start;
        let mut round_rows = 0u64;
        while end < n_blocks
            && (end == start || round_rows < ROUND_ROWS)
            && end - start < ROUND_MAX_BLOCKS
        {
            round_rows += block_rows(end);
            end += 1;
        }
        let outs: Vec<BlockOut> = (start..end)
            .into_par_iter()
            .map(|b| gen_block(spec, model, counts, b))
            .collect();
        for out in outs {
            w.write_all(&out.bytes)?;
            written += out.rows;
            unrated += out.unrated;
            progress(written);
        }
        start = end;
    }
    Ok(unrated)
}

// ---------------------------------------------------------------------------------------------
// Atomic file output
// ---------------------------------------------------------------------------------------------

/// Writes `name` through the crate's atomic write (temp file, fsync, rename,
/// folder sync); the temporary file is removed on failure.
fn atomic_write<T>(
    dir: &Path,
    name: &str,
    body: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> io::Result<T> {
    let mut value = None;
    crate::util::fsx::write_atomic_with(&dir.join(name), |w| {
        value = Some(body(w)?);
        Ok(())
    })?;
    value.ok_or_else(|| io::Error::other(format!("internal error: {name} was not written")))
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    /// Fresh directory under the system temp dir (no tempfile crate in this module's deps).
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::SeqCst);
            let p =
                std::env::temp_dir().join(format!("anirec-synth-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Minimal RFC 4180 parser: quoted fields may hold commas, `""` and newlines.
    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        let mut records = Vec::new();
        let mut record = Vec::new();
        let mut field = String::new();
        let mut in_quotes = false;
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if in_quotes {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        field.push('"');
                        chars.next();
                    } else {
                        in_quotes = false;
                    }
                } else {
                    field.push(c);
                }
            } else {
                match c {
                    '"' => in_quotes = true,
                    ',' => record.push(std::mem::take(&mut field)),
                    '\n' => {
                        record.push(std::mem::take(&mut field));
                        records.push(std::mem::take(&mut record));
                    }
                    _ => field.push(c),
                }
            }
        }
        assert!(!in_quotes, "unterminated quoted field");
        assert!(
            field.is_empty() && record.is_empty(),
            "missing trailing newline"
        );
        records
    }

    fn read(dir: &Path, name: &str) -> String {
        fs::read_to_string(dir.join(name)).expect("read generated file")
    }

    struct Parsed {
        anime: Vec<Vec<String>>,
        synopsis: Vec<Vec<String>>,
        list: Vec<[u64; 5]>,
    }

    fn generate(spec: &SynthSpec, tag: &str) -> (Parsed, SynthSummary) {
        let dir = TempDir::new(tag);
        let summary = write_mal2020(spec, &dir.0).expect("generate");
        let anime = parse_csv(&read(&dir.0, "anime.csv"));
        let synopsis = parse_csv(&read(&dir.0, "anime_with_synopsis.csv"));
        let list_text = read(&dir.0, "animelist.csv");
        let mut lines = list_text.lines();
        assert_eq!(lines.next(), Some(ANIMELIST_HEADER));
        let list = lines
            .map(|l| {
                let f: Vec<u64> = l
                    .split(',')
                    .map(|x| x.parse::<u64>().expect("integer field"))
                    .collect();
                assert_eq!(f.len(), 5, "animelist row {l:?}");
                [f[0], f[1], f[2], f[3], f[4]]
            })
            .collect();
        (
            Parsed {
                anime,
                synopsis,
                list,
            },
            summary,
        )
    }

    fn small_spec() -> SynthSpec {
        SynthSpec {
            users: 300,
            anime: 400,
            rows: 30_000,
            seed: 7,
        }
    }

    #[test]
    fn files_have_exact_headers_and_valid_rows() {
        let spec = SynthSpec::default();
        let (p, summary) = generate(&spec, "schema");
        assert_eq!(p.anime[0].join(","), ANIME_HEADER);
        assert_eq!(p.synopsis[0].join(","), SYNOPSIS_HEADER);
        assert_eq!(p.anime.len() - 1, spec.anime as usize);
        for r in &p.anime {
            assert_eq!(r.len(), 35, "anime.csv record {r:?}");
        }
        for r in &p.synopsis {
            assert_eq!(r.len(), 5, "synopsis record {r:?}");
        }
        let synopses = p.synopsis.len() - 1;
        assert!(synopses < spec.anime as usize && synopses > spec.anime as usize * 9 / 10);

        // anime.csv content: ids increasing, unique names, Members identity, plausible Score.
        let mut ids = Vec::new();
        let mut names = HashSet::new();
        let mut unknown_scores = 0;
        for r in &p.anime[1..] {
            ids.push(r[0].parse::<u64>().expect("MAL_ID"));
            assert!(names.insert(r[1].clone()), "duplicate name {}", r[1]);
            let n: Vec<u64> = r[18..25]
                .iter()
                .map(|x| x.parse().expect("count"))
                .collect();
            assert_eq!(n[0], n[2..7].iter().sum::<u64>(), "Members identity");
            if r[2] == "Unknown" {
                unknown_scores += 1;
            } else {
                let s: f64 = r[2].parse().expect("score");
                assert!((1.0..=10.0).contains(&s));
                assert!(r[16].ends_with(".0") && r[25].ends_with(".0"));
            }
            let genres: Vec<&str> = r[3].split(", ").collect();
            assert!((1..=5).contains(&genres.len()));
            assert!(genres.iter().all(|g| GENRES.iter().any(|d| d.name == *g)));
            assert!(TYPES.iter().any(|t| t.0 == r[6]));
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]) && ids[0] >= 1);
        assert!(
            ids.last() > Some(&(spec.anime as u64)),
            "ids should have gaps"
        );
        assert!(unknown_scores > 0 && unknown_scores < spec.anime / 20);

        // animelist.csv content.
        assert_eq!(p.list.len() as u64, spec.rows);
        assert_eq!(summary.rows, spec.rows);
        let known: HashMap<u64, u64> = p.anime[1..]
            .iter()
            .map(|r| (r[0].parse().unwrap_or(0), r[7].parse().unwrap_or(0)))
            .collect();
        let mut unrated = 0;
        let mut users = HashSet::new();
        let mut prev_user = 0;
        for r in &p.list {
            let [user, anime, rating, status, eps] = *r;
            assert!(user >= prev_user, "users must be ascending");
            prev_user = user;
            users.insert(user);
            let episodes = *known.get(&anime).expect("anime_id exists in anime.csv");
            assert!(rating <= 10);
            assert!([1, 2, 3, 4, 6].contains(&status), "status {status}");
            assert!(eps <= episodes);
            if status == 2 {
                assert_eq!(eps, episodes);
            }
            unrated += u64::from(rating == 0);
        }
        assert_eq!(users.len() as u32, spec.users);
        assert_eq!(prev_user, u64::from(spec.users) - 1);
        assert_eq!(unrated, summary.unrated_rows);
        let frac = unrated as f64 / spec.rows as f64;
        assert!((0.25..=0.35).contains(&frac), "unrated fraction {frac}");

        // Mean rating near MAL's ~7.5.
        let rated: Vec<u64> = p.list.iter().filter(|r| r[2] > 0).map(|r| r[2]).collect();
        let mean = rated.iter().sum::<u64>() as f64 / rated.len() as f64;
        eprintln!("mean rating {mean:.3}, unrated fraction {frac:.3}");
        assert!((7.0..=8.0).contains(&mean), "mean rating {mean}");

        // Duplicates are rare; otherwise a user's anime are distinct.
        let mut pairs = HashSet::new();
        let dups = p
            .list
            .iter()
            .filter(|r| !pairs.insert((r[0], r[1])))
            .count();
        assert!(
            dups as f64 / (spec.rows as f64) < 0.003,
            "{dups} duplicates"
        );
    }

    #[test]
    fn raw_bytes_follow_real_file_conventions() {
        let dir = TempDir::new("bytes");
        write_mal2020(&small_spec(), &dir.0).expect("generate");
        for name in ["anime.csv", "anime_with_synopsis.csv", "animelist.csv"] {
            let bytes = fs::read(dir.0.join(name)).expect("read");
            assert!(!bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "{name} has a BOM");
            assert!(!bytes.contains(&b'\r'), "{name} has CR");
            assert_eq!(bytes.last(), Some(&b'\n'), "{name} lacks trailing newline");
        }
        for e in fs::read_dir(&dir.0).expect("list") {
            let n = e.expect("entry").file_name();
            assert!(
                !n.to_string_lossy().starts_with(".anirec-tmp-"),
                "{n:?} left"
            );
        }
        let anime = read(&dir.0, "anime.csv");
        // List-valued and free-text columns are quoted exactly when they contain a comma.
        assert!(anime.contains(",\"") && anime.contains(" to "));
        assert!(anime.contains("min. per ep."));
        let syn = read(&dir.0, "anime_with_synopsis.csv");
        assert!(syn.contains("\"\"the "), "escaped quote inside synopsis");
        // No field is quoted unless needed.
        for rec in parse_csv(&anime).iter().chain(parse_csv(&syn).iter()) {
            for f in rec {
                let needs = f.contains([',', '"', '\n']);
                let mut quoted = String::new();
                push_field(&mut quoted, f);
                assert_eq!(quoted.starts_with('"'), needs);
            }
        }
    }

    #[test]
    fn deterministic_and_thread_count_independent() {
        let spec = small_spec();
        let files = ["anime.csv", "anime_with_synopsis.csv", "animelist.csv"];
        let run = |threads: usize, spec: &SynthSpec| -> Vec<Vec<u8>> {
            let dir = TempDir::new("det");
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool");
            pool.install(|| write_mal2020(spec, &dir.0))
                .expect("generate");
            files
                .iter()
                .map(|f| fs::read(dir.0.join(f)).expect("read"))
                .collect()
        };
        let a = run(1, &spec);
        let b = run(3, &spec);
        assert!(a == b, "output depends on thread count");
        // Many blocks in several rounds, to cover block ordering.
        let big = SynthSpec {
            users: 3000,
            anime: 500,
            rows: 600_000,
            seed: 3,
        };
        assert!(run(1, &big) == run(2, &big));
        let other = run(2, &SynthSpec { seed: 8, ..spec });
        for (x, y) in a.iter().zip(&other) {
            assert!(x != y, "different seed must change every file");
        }
    }

    #[test]
    fn invalid_spec_is_rejected() {
        let dir = TempDir::new("invalid");
        let bad = [
            SynthSpec {
                users: 0,
                ..SynthSpec::default()
            },
            SynthSpec {
                anime: 9,
                ..SynthSpec::default()
            },
            SynthSpec {
                rows: 1999,
                ..SynthSpec::default()
            },
            SynthSpec {
                users: 10,
                anime: 10,
                rows: 81,
                seed: 1,
            },
        ];
        for spec in bad {
            let err = write_mal2020(&spec, &dir.0).expect_err("must be rejected");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{spec:?}");
            assert!(err.to_string().contains("synth spec"));
        }
        assert!(!dir.0.exists(), "nothing written for an invalid spec");
    }

    #[test]
    fn extreme_specs_hit_exact_row_counts() {
        // Every user at the 80 % cap, and every user with exactly one row.
        for spec in [
            SynthSpec {
                users: 10,
                anime: 10,
                rows: 80,
                seed: 1,
            },
            SynthSpec {
                users: 50,
                anime: 40,
                rows: 50,
                seed: 2,
            },
            SynthSpec {
                users: 3,
                anime: 1000,
                rows: 2400,
                seed: 3,
            },
        ] {
            let (p, s) = generate(&spec, "extreme");
            assert_eq!(p.list.len() as u64, spec.rows);
            assert_eq!(s.rows, spec.rows);
            let mut per_user: HashMap<u64, HashSet<u64>> = HashMap::new();
            for r in &p.list {
                per_user.entry(r[0]).or_default().insert(r[1]);
            }
            assert_eq!(per_user.len() as u32, spec.users);
        }
    }

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

    #[test]
    fn progress_reports_every_block_up_to_rows() {
        let dir = TempDir::new("progress");
        let calls = AtomicUsize::new(0);
        let last = AtomicU64::new(0);
        let spec = SynthSpec {
            users: 1000,
            anime: 300,
            rows: 50_000,
            seed: 5,
        };
        write_mal2020_with_progress(&spec, &dir.0, &|n| {
            assert!(n >= last.load(Ordering::SeqCst));
            last.store(n, Ordering::SeqCst);
            calls.fetch_add(1, Ordering::SeqCst);
        })
        .expect("generate");
        assert_eq!(calls.load(Ordering::SeqCst), 1000_usize.div_ceil(256));
        assert_eq!(last.load(Ordering::SeqCst), spec.rows);
    }

    /// Genre-aware popularity must beat plain popularity at hit@10 on a held-out row per user:
    /// the planted genre taste is visible in the files.
    #[test]
    fn genre_taste_is_learnable() {
        let spec = SynthSpec::default();
        let (p, _) = generate(&spec, "learn");
        let mut genre_idx: HashMap<u64, Vec<usize>> = HashMap::new();
        let mut anime_ids = Vec::new();
        for r in &p.anime[1..] {
            let id: u64 = r[0].parse().expect("id");
            let gs = r[3]
                .split(", ")
                .filter_map(|g| GENRES.iter().position(|d| d.name == g))
                .collect();
            genre_idx.insert(id, gs);
            anime_ids.push(id);
        }
        let mut by_user: HashMap<u64, Vec<u64>> = HashMap::new();
        for r in &p.list {
            by_user.entry(r[0]).or_default().push(r[1]);
        }
        // Hold out one pseudo-random row per user with at least 5 rows.
        let mut held: HashMap<u64, u64> = HashMap::new();
        let mut pop: HashMap<u64, f64> = HashMap::new();
        for (&u, items) in &by_user {
            let h = if items.len() >= 5 {
                let i = (u.wrapping_mul(2_654_435_761).wrapping_add(17) as usize) % items.len();
                held.insert(u, items[i]);
                Some(i)
            } else {
                None
            };
            for (i, a) in items.iter().enumerate() {
                if Some(i) != h {
                    *pop.entry(*a).or_default() += 1.0;
                }
            }
        }
        // Share of all list rows that carry each genre, the baseline for the per-user lift.
        let mut base = [0f64; N_GENRES];
        for r in &p.list {
            for &g in &genre_idx[&r[1]] {
                base[g] += 1.0 / p.list.len() as f64;
            }
        }
        let top10 = |scores: &mut Vec<(f64, u64)>| -> Vec<u64> {
            scores.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            scores.iter().take(10).map(|s| s.1).collect()
        };
        let (mut hits_pop, mut hits_genre) = (0usize, 0usize);
        for (&u, &target) in &held {
            let items = &by_user[&u];
            let seen: HashSet<u64> = items.iter().copied().filter(|&a| a != target).collect();
            // Genre lift: how over-represented each genre is in this user's list.
            let mut share = [0f64; N_GENRES];
            for a in &seen {
                for &g in &genre_idx[a] {
                    share[g] += 1.0 / seen.len() as f64;
                }
            }
            for (s, b) in share.iter_mut().zip(&base) {
                *s = if *b > 0.0 {
                    (*s / b - 1.0).max(0.0)
                } else {
                    0.0
                };
            }
            let mut s_pop = Vec::new();
            let mut s_genre = Vec::new();
            for &a in &anime_ids {
                if seen.contains(&a) {
                    continue;
                }
                let pa = pop.get(&a).copied().unwrap_or(0.0);
                let affinity: f64 = genre_idx[&a].iter().map(|&g| share[g]).sum();
                s_pop.push((pa, a));
                s_genre.push((pa * (1.0 + affinity), a));
            }
            hits_pop += usize::from(top10(&mut s_pop).contains(&target));
            hits_genre += usize::from(top10(&mut s_genre).contains(&target));
        }
        let n = held.len() as f64;
        let (hp, hg) = (hits_pop as f64 / n, hits_genre as f64 / n);
        eprintln!("hit@10 popularity {hp:.3}, genre-popularity {hg:.3} over {n} users");
        assert!(hg > hp * 1.2 && hg - hp > 0.02, "pop {hp:.3} genre {hg:.3}");
    }

    /// Ratings carry the planted signals: dropped shows are rated lower, and anime.csv Score
    /// tracks the per-anime mean rating of animelist.csv.
    #[test]
    fn ratings_are_consistent_with_status_and_score() {
        let spec = SynthSpec::default();
        let (p, _) = generate(&spec, "ratings");
        let mean_for = |status: u64| {
            let v: Vec<f64> = p
                .list
                .iter()
                .filter(|r| r[3] == status && r[2] > 0)
                .map(|r| r[2] as f64)
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        let (completed, dropped) = (mean_for(2), mean_for(4));
        eprintln!("mean rating completed {completed:.2}, dropped {dropped:.2}");
        assert!(
            completed - dropped > 1.0,
            "completed {completed} dropped {dropped}"
        );
        let n_dropped = p.list.iter().filter(|r| r[3] == 4).count() as f64;
        let drop_frac = n_dropped / p.list.len() as f64;
        eprintln!("dropped fraction {drop_frac:.3}");
        assert!(
            (0.02..0.15).contains(&drop_frac),
            "dropped fraction {drop_frac}"
        );

        let mut sums: HashMap<u64, (f64, f64)> = HashMap::new();
        for r in p.list.iter().filter(|r| r[2] > 0) {
            let e = sums.entry(r[1]).or_default();
            e.0 += r[2] as f64;
            e.1 += 1.0;
        }
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for r in &p.anime[1..] {
            let id: u64 = r[0].parse().expect("id");
            if let (Ok(score), Some(&(s, n))) = (r[2].parse::<f64>(), sums.get(&id)) {
                if n >= 30.0 {
                    xs.push(score);
                    ys.push(s / n);
                }
            }
        }
        let corr = pearson(&xs, &ys);
        let bias = (xs.iter().sum::<f64>() - ys.iter().sum::<f64>()) / xs.len() as f64;
        eprintln!(
            "score/mean-rating corr {corr:.3} over {} anime, bias {bias:.3}",
            xs.len()
        );
        assert!(corr > 0.6, "corr {corr}");
        assert!(bias.abs() < 0.5, "bias {bias}");
    }

    fn pearson(x: &[f64], y: &[f64]) -> f64 {
        let n = x.len() as f64;
        let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
        let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
        let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
        let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
        cov / (vx * vy).sqrt()
    }

    #[test]
    fn synopses_carry_genre_vocabulary() {
        let (p, _) = generate(&small_spec(), "synopsis");
        let mut matched = 0usize;
        let mut total = 0usize;
        for r in &p.synopsis[1..] {
            let text = r[4].to_lowercase();
            for g in r[3].split(", ") {
                let def = GENRES.iter().find(|d| d.name == g).expect("known genre");
                total += 1;
                matched += usize::from(def.words.iter().any(|w| text.contains(w)));
            }
        }
        assert!(matched as f64 / total as f64 > 0.5, "{matched}/{total}");
    }

    #[test]
    fn dates_are_written_as_mal_writes_them() {
        assert_eq!(fmt_date(1998, 4, 3), "Apr 3, 1998");
    }

    /// Timing of a 5M-row generation; run with `cargo test --release -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn timing_5m_rows() {
        let dir = TempDir::new("timing");
        let spec = SynthSpec {
            users: 25_000,
            anime: 12_000,
            rows: 5_000_000,
            seed: 1,
        };
        let t = std::time::Instant::now();
        let s = write_mal2020(&spec, &dir.0).expect("generate");
        let secs = t.elapsed().as_secs_f64();
        let bytes = fs::metadata(dir.0.join("animelist.csv"))
            .map(|m| m.len())
            .unwrap_or(0);
        eprintln!(
            "5M rows: {secs:.2}s on {} threads, {:.1} M rows/s, animelist.csv {} MB, unrated {}",
            rayon::current_num_threads(),
            s.rows as f64 / secs / 1e6,
            bytes / 1_000_000,
            s.unrated_rows
        );
    }
}
