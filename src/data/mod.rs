//! The data pipeline: ingest (selective loading of the raw files), process
//! (clean, filter, split), encode (dense indices, sparse matrices), with the
//! processed rows cached as Parquet keyed by a fingerprint of inputs and settings.

mod cache;
pub mod compare;
pub(crate) mod csv;
mod error;
pub mod fetch;
pub(crate) mod mal;
pub(crate) mod movielens;
pub mod process;
pub mod stats;
pub mod synth;

pub use crate::sparse::Csr;
pub use csv::Selection;
pub use error::DataError;
pub use process::CleanStats;

use crate::config::{DataConfig, DataFormat, Sample, SplitKind};
use crate::progress;
use crate::util::hash::Fingerprint;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Explicit interactions with raw ids, column-wise, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ratings {
    /// Raw user ids.
    pub user: Vec<u32>,
    /// Raw item (anime) ids.
    pub item: Vec<u32>,
    /// Ratings on the original scale.
    pub rating: Vec<f32>,
}

impl Ratings {
    /// Empty with room for `n` rows.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            user: Vec::with_capacity(n),
            item: Vec::with_capacity(n),
            rating: Vec::with_capacity(n),
        }
    }
    /// Number of ratings.
    pub fn len(&self) -> usize {
        self.user.len()
    }
    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.user.is_empty()
    }
    /// Appends one row.
    pub fn push(&mut self, u: u32, i: u32, r: f32) {
        self.user.push(u);
        self.item.push(i);
        self.rating.push(r);
    }
    /// Appends all rows of `other`.
    pub fn append(&mut self, mut other: Ratings) {
        self.user.append(&mut other.user);
        self.item.append(&mut other.item);
        self.rating.append(&mut other.rating);
    }

    /// Writes the PROTOCOL CSV (`user_id,item_id,rating`), integers without a
    /// decimal point when every rating is integral.
    pub fn write_protocol_csv(&self, path: &Path) -> std::io::Result<()> {
        let integral = self.rating.iter().all(|r| r.fract() == 0.0);
        crate::util::fsx::write_atomic_with(path, |w| {
            w.write_all(b"user_id,item_id,rating\n")?;
            for j in 0..self.len() {
                if integral {
                    writeln!(
                        w,
                        "{},{},{}",
                        self.user[j], self.item[j], self.rating[j] as i64
                    )?;
                } else {
                    writeln!(w, "{},{},{}", self.user[j], self.item[j], self.rating[j])?;
                }
            }
            Ok(())
        })
    }
}

/// One catalogue entry (anime, or movie for MovieLens).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Anime {
    /// MAL_ID.
    pub id: u32,
    pub name: String,
    pub english_name: Option<String>,
    pub japanese_name: Option<String>,
    /// Genres, in file order.
    pub genres: Vec<String>,
    /// Type (TV, Movie, OVA, …).
    pub kind: Option<String>,
    pub episodes: Option<u32>,
    /// MAL score.
    pub score: Option<f32>,
    /// MAL users who list the anime (the `Members` column).
    pub members: Option<u64>,
    pub studios: Vec<String>,
    pub synopsis: Option<String>,
}

/// The catalogue with lookup by id.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Entries in file order.
    pub anime: Vec<Anime>,
    by_id: HashMap<u32, usize>,
}

impl Catalog {
    /// Indexes entries by id (the last entry of a repeated id wins).
    pub fn new(anime: Vec<Anime>) -> Self {
        let by_id = anime.iter().enumerate().map(|(i, a)| (a.id, i)).collect();
        Self { anime, by_id }
    }
    /// Entry by raw id.
    pub fn get(&self, id: u32) -> Option<&Anime> {
        self.by_id.get(&id).map(|&i| &self.anime[i])
    }
}

/// Processed, encoded data: what every model trains on.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Dense user index → raw user id (ascending).
    pub users: Vec<u32>,
    /// Dense item index → raw item id (ascending); exactly the items with a train rating.
    pub items: Vec<u32>,
    /// users × items, original ratings.
    pub train: Csr,
    /// users × items, original ratings.
    pub test: Csr,
    /// Catalogue (may hold more anime than `items`).
    pub catalog: Catalog,
    /// Fingerprint of inputs and settings.
    pub fingerprint: String,
    /// Cleaning counts (zero for external splits).
    pub clean: CleanStats,
}

/// What `load` found on disk, before encoding.
pub struct Processed {
    /// Train rows sorted by (user, item), raw ids.
    pub train: Ratings,
    /// Test rows sorted by (user, item), raw ids.
    pub test: Ratings,
    /// Cleaning counts.
    pub clean: CleanStats,
    pub fingerprint: String,
    /// Whether it came from the cache.
    pub cached: bool,
}

/// Bump when processing semantics change, so stale caches are not reused.
const PROCESS_VERSION: &str = "process-v1";

/// Folder holding the raw files for this config (generating synthetic data if needed).
pub fn source_dir(cfg: &DataConfig) -> Result<PathBuf, DataError> {
    match cfg.format {
        DataFormat::Synthetic => {
            let s = &cfg.synth;
            // The generator's version is part of the name: a calibrated generator writes other
            // files for the same spec, and a cache of the old ones must not pass for them.
            let dir = cfg.cache_dir.join(format!(
                "synth-{}-u{}-a{}-r{}-s{}",
                synth::GENERATOR_VERSION,
                s.users,
                s.anime,
                s.rows,
                s.seed
            ));
            if !dir.join("animelist.csv").exists() {
                // Sweep workers and parallel trials start together on a cold
                // cache: the generator's temp files have fixed names, so two
                // writers would rename each other's files away. One
                // generates under an OS lock; the others wait, then find the
                // files (animelist.csv is written last).
                let _guard = crate::util::lock::wait_exclusive(&dir.with_extension("lock"))
                    .map_err(|e| DataError::io(&dir, e))?;
                if !dir.join("animelist.csv").exists() {
                    let spec = synth::SynthSpec {
                        users: s.users,
                        anime: s.anime,
                        rows: s.rows,
                        seed: s.seed,
                    };
                    tracing::info!(dir = %dir.display(), rows = s.rows, "generating synthetic MAL 2020 data");
                    synth::write_mal2020(&spec, &dir).map_err(|e| DataError::io(&dir, e))?;
                }
            }
            Ok(dir)
        }
        _ => cfg
            .source
            .clone()
            .ok_or_else(|| DataError::Unusable("data.source is not set".into())),
    }
}

fn raw_files(cfg: &DataConfig, dir: &Path) -> Vec<PathBuf> {
    match cfg.format {
        DataFormat::Movielens => movielens::files(dir),
        _ => vec![dir.join("animelist.csv")],
    }
}

/// The selection the config asks for.
pub fn selection(cfg: &DataConfig, seed: u64) -> Selection {
    match (cfg.max_rows, cfg.sample) {
        (None, _) => Selection::All,
        (Some(n), Sample::Head) => Selection::Head(n),
        (Some(n), Sample::Random) => Selection::Random {
            n,
            seed: cfg.sample_seed.unwrap_or(seed),
        },
    }
}

/// Ingest: the raw ratings under the configured selection.
pub fn ingest(cfg: &DataConfig, seed: u64) -> Result<Ratings, DataError> {
    let dir = source_dir(cfg)?;
    let sel = selection(cfg, seed);
    let bar = progress::bytes_bar("reading ratings");
    let tick = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let r = match cfg.format {
        DataFormat::Movielens => movielens::read_ratings(&dir, sel, &tick),
        _ => mal::read_animelist(&dir.join("animelist.csv"), sel, &tick),
    };
    bar.finish_and_clear();
    r
}

/// Reads the catalogue for the config.
pub fn catalog(cfg: &DataConfig) -> Result<Catalog, DataError> {
    let dir = source_dir(cfg)?;
    match cfg.format {
        DataFormat::Movielens => movielens::read_catalog(&dir),
        _ => mal::read_catalog(&dir.join("anime.csv"), &dir.join("anime_with_synopsis.csv")),
    }
}

/// Fingerprint of everything that determines the processed rows.
pub fn fingerprint(cfg: &DataConfig, seed: u64) -> Result<String, DataError> {
    let dir = source_dir(cfg)?;
    let mut fp = Fingerprint::new();
    fp.str(PROCESS_VERSION).str(&format!("{:?}", cfg.format));
    let mut files = raw_files(cfg, &dir);
    if cfg.split.kind == SplitKind::External {
        files.extend(cfg.split.train.iter().cloned());
        files.extend(cfg.split.test.iter().cloned());
        fp.str("external");
    } else {
        fp.str(&format!(
            "{:?}|{}|{}|{}",
            selection(cfg, seed),
            cfg.min_user_ratings,
            cfg.split.test_ratio,
            cfg.split.seed
        ));
    }
    for f in files {
        fp.file(&f).map_err(|e| DataError::io(&f, e))?;
    }
    Ok(fp.hex())
}

/// Ingest + process (or the cached result).
pub fn process(cfg: &DataConfig, seed: u64) -> Result<Processed, DataError> {
    let fp = fingerprint(cfg, seed)?;
    let cache_dir = cfg.cache_dir.join(format!("processed-{fp}"));
    if cfg.cache {
        if let Some((train, test, clean)) = cache::load(&cache_dir)? {
            tracing::info!(dir = %cache_dir.display(), "processed data from cache");
            return Ok(Processed {
                train,
                test,
                clean,
                fingerprint: fp,
                cached: true,
            });
        }
    }
    let (train, test, clean) = if cfg.split.kind == SplitKind::External {
        let (Some(tr), Some(te)) = (&cfg.split.train, &cfg.split.test) else {
            return Err(DataError::Unusable(
                "data.split kind external needs train and test".into(),
            ));
        };
        let noop = |_: u64, _: u64| {};
        let train = csv::read_triplets(tr, &mal::PROTOCOL_CSV, Selection::All, &noop)?;
        let test = csv::read_triplets(te, &mal::PROTOCOL_CSV, Selection::All, &noop)?;
        process::check_external(&train, &test)?;
        // Sorting keeps the encoder's assumptions; the files are already clean.
        let train = sort_rows(train);
        let test = process::drop_unseen_items(&train, sort_rows(test));
        (train, test, CleanStats::default())
    } else {
        let raw = ingest(cfg, seed)?;
        let (clean_rows, st) = process::clean(&raw, cfg.min_user_ratings);
        drop(raw);
        if clean_rows.is_empty() {
            return Err(DataError::Unusable(format!(
                "no user has at least {} rated rows after cleaning; lower data.min_user_ratings or load more rows (data.max_rows)",
                cfg.min_user_ratings
            )));
        }
        let (train, test) =
            process::split_per_user(&clean_rows, cfg.split.test_ratio, cfg.split.seed);
        (train, test, st)
    };
    if cfg.cache {
        if let Err(e) = cache::store(&cache_dir, &train, &test, &clean) {
            tracing::warn!(error = %e, "could not write the processed-data cache; continuing without it");
        }
    }
    Ok(Processed {
        train,
        test,
        clean,
        fingerprint: fp,
        cached: false,
    })
}

fn sort_rows(r: Ratings) -> Ratings {
    let mut idx: Vec<u32> = (0..r.len() as u32).collect();
    idx.sort_unstable_by_key(|&i| (r.user[i as usize], r.item[i as usize]));
    let mut out = Ratings::with_capacity(r.len());
    for i in idx {
        out.push(r.user[i as usize], r.item[i as usize], r.rating[i as usize]);
    }
    out
}

/// Seed of the validation carve (PROTOCOL section 2).
pub const VALIDATION_SEED: u64 = 43;

/// Loads everything a model needs.
pub fn load(cfg: &DataConfig, seed: u64) -> Result<Dataset, DataError> {
    let mut p = process(cfg, seed)?;
    if cfg.holdout == crate::config::Holdout::Validation {
        let (fit, val) = process::split_per_user(&p.train, cfg.split.test_ratio, VALIDATION_SEED);
        tracing::info!(
            fit = fit.len(),
            validation = val.len(),
            "evaluating on the validation carve of train (test untouched)"
        );
        p.train = fit;
        p.test = val;
    }
    let catalog = catalog(cfg)?;
    Ok(encode(p, catalog))
}

/// Dense indices: users with a train row, items with a train row, both
/// ascending by raw id. Test rows of unknown users or items are dropped.
pub fn encode(p: Processed, catalog: Catalog) -> Dataset {
    let mut users = p.train.user.clone();
    users.dedup();
    let mut items = p.train.item.clone();
    items.sort_unstable();
    items.dedup();
    let max_item = items
        .last()
        .copied()
        .unwrap_or(0)
        .max(p.test.item.iter().copied().max().unwrap_or(0));
    let mut item_ix = vec![u32::MAX; max_item as usize + 1];
    for (k, &i) in items.iter().enumerate() {
        item_ix[i as usize] = k as u32;
    }
    let user_ix = crate::util::ids::dense_index(&users);
    let enc = |r: &Ratings| {
        let mut rows = Vec::with_capacity(r.len());
        let mut cols = Vec::with_capacity(r.len());
        let mut vals = Vec::with_capacity(r.len());
        for j in 0..r.len() {
            let (Some(&u), Some(&i)) = (user_ix.get(&r.user[j]), item_ix.get(r.item[j] as usize))
            else {
                continue;
            };
            if i == u32::MAX {
                continue;
            }
            rows.push(u);
            cols.push(i);
            vals.push(r.rating[j]);
        }
        Csr::from_sorted(users.len(), items.len(), &rows, &cols, &vals)
    };
    let train = enc(&p.train);
    let test = enc(&p.test);
    Dataset {
        users,
        items,
        train,
        test,
        catalog,
        fingerprint: p.fingerprint,
        clean: p.clean,
    }
}

impl Dataset {
    /// Smallest and largest train rating (for min-max scaling).
    pub fn rating_range(&self) -> (f32, f32) {
        let lo = self
            .train
            .values
            .iter()
            .copied()
            .fold(f32::INFINITY, f32::min);
        let hi = self
            .train
            .values
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        (lo, hi)
    }
}
