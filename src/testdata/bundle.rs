//! Synthetic bundles for tests and the serving benchmark (a fixture, kept out
//! of `serve`: the server never links it): random
//! factor embeddings, popularity, optional content vectors, a sparse history.

use std::collections::BTreeMap;
use std::path::Path;

use crate::bundle::{self, CatalogEntry, Lineage};
use crate::config::Normalization;
use crate::model::{Engine, Mat, Member, Part};
use crate::sparse::Csr;

/// Shape of a synthetic bundle.
#[derive(Debug, Clone)]
pub struct BundleSpec {
    pub n_items: usize,
    pub n_users: usize,
    /// Embedding dimensions.
    pub dims: usize,
    /// Rated anime per user.
    pub per_user: usize,
    /// Add a content member.
    pub content: bool,
    /// RNG seed.
    pub seed: u64,
    /// Run id written to the manifest.
    pub run_id: String,
}

impl Default for BundleSpec {
    fn default() -> Self {
        Self {
            n_items: 200,
            n_users: 50,
            dims: 16,
            per_user: 10,
            content: true,
            seed: 7,
            run_id: "synthetic-1".into(),
        }
    }
}

/// Xorshift64* generator (no rand dependency on the serving side).
pub struct XorShift(pub u64);

impl XorShift {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

const GENRES: [&str; 12] = [
    "Action",
    "Adventure",
    "Comedy",
    "Drama",
    "Fantasy",
    "Romance",
    "Sci-Fi",
    "Slice of Life",
    "Mystery",
    "Sports",
    "Mecha",
    "Music",
];
const WORDS: [&str; 12] = [
    "Naruto",
    "Bleach",
    "Steins",
    "Gintama",
    "Haikyuu",
    "Monogatari",
    "Clannad",
    "Mushishi",
    "Frieren",
    "Lain",
    "Cowboy",
    "Evangelion",
];

/// Builds the engine, ids and catalog of `spec`.
pub fn synth(spec: &BundleSpec) -> (Engine, Vec<u32>, Vec<u32>, Vec<CatalogEntry>) {
    let mut rng = XorShift(spec.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (ni, nu, d) = (spec.n_items, spec.n_users, spec.dims);
    let mut item = Mat::zeros(ni, d);
    item.data.iter_mut().for_each(|x| *x = rng.unit() - 0.5);
    item.normalize_rows();
    let mut user = Mat::zeros(nu, d);
    user.data.iter_mut().for_each(|x| *x = rng.unit() - 0.5);
    user.normalize_rows();
    let pop: Vec<f32> = (0..ni).map(|i| ((ni - i) as f32).ln()).collect();
    let mut trip = Vec::with_capacity(nu * spec.per_user);
    for u in 0..nu {
        let mut seen = std::collections::BTreeSet::new();
        while seen.len() < spec.per_user.min(ni) {
            // Popular anime are rated more often.
            let i = (rng.unit().powi(2) * ni as f32) as usize;
            seen.insert(i.min(ni - 1) as u32);
        }
        for i in seen {
            trip.push((u as u32, i, 1.0 + rng.below(10) as f32));
        }
    }
    let history = Csr::from_triplets(nu, ni, &trip);
    let genres_of = |i: usize| -> Vec<usize> { vec![i % GENRES.len(), (i / 3 + 5) % GENRES.len()] };
    let mut members = vec![
        Member {
            name: "mf".into(),
            weight: 0.7,
            part: Part::Factors {
                user,
                item,
                item_bias: None,
                head: None,
            },
        },
        Member {
            name: "popularity".into(),
            weight: 0.2,
            part: Part::Popularity { scores: pop },
        },
    ];
    if spec.content {
        let mut t = Vec::new();
        for i in 0..ni {
            let mut g = genres_of(i);
            g.sort_unstable();
            g.dedup();
            let v = 1.0 / (g.len() as f32).sqrt();
            t.extend(g.into_iter().map(|g| (i as u32, g as u32, v)));
        }
        members.push(Member {
            name: "content".into(),
            weight: 0.1,
            part: Part::Content {
                vectors: Csr::from_triplets(ni, GENRES.len(), &t),
                like_quantile: 0.75,
            },
        });
    }
    let engine = Engine::new(members, Normalization::Minmax, history);
    let users: Vec<u32> = (0..nu as u32).map(|u| u + 1).collect();
    let items: Vec<u32> = (0..ni as u32).map(|i| i * 3 + 1).collect();
    let catalog = (0..ni)
        .map(|i| {
            let w = WORDS[i % WORDS.len()];
            CatalogEntry {
                id: items[i],
                name: format!("{w} {}", i / WORDS.len() + 1),
                english_name: (i % 2 == 0).then(|| format!("{w} the Series {}", i / WORDS.len() + 1)),
                genres: genres_of(i).into_iter().map(|g| GENRES[g].to_string()).collect(),
                kind: Some(if i % 5 == 0 { "Movie" } else { "TV" }.into()),
                episodes: Some(12 + (i % 4) as u32 * 12),
                score: Some(6.0 + (i % 40) as f32 / 10.0),
                synopsis: Some(format!(
                    "{w} follows a group of friends through {} and {} in a story that keeps surprising its viewers, episode after episode, until the very last scene.",
                    GENRES[i % GENRES.len()].to_lowercase(),
                    GENRES[(i + 4) % GENRES.len()].to_lowercase()
                )),
            }
        })
        .collect();
    (engine, users, items, catalog)
}

/// Writes a synthetic bundle to `dir`.
pub fn write_synthetic(dir: &Path, spec: &BundleSpec) -> std::io::Result<()> {
    let (engine, users, items, catalog) = synth(spec);
    let lineage = Lineage {
        model_kind: "hybrid",
        run_id: &spec.run_id,
        experiment: "synthetic",
        git_commit: None,
        data_fingerprint: "synthetic",
        metrics: BTreeMap::from([("ndcg@10".to_string(), 0.0)]),
    };
    bundle::write(
        dir,
        &bundle::Contents {
            engine: &engine,
            users: &users,
            items: &items,
            catalog: &catalog,
            lineage,
        },
    )
}
