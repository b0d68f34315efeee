//! Request → dense ids → scores → top-k (seen items excluded) → response
//! items with a short reason.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::error::ApiError;
use crate::bundle::{self, Bundle, BundleError, CatalogEntry};
use crate::eval::topk::top_k_excluding;
use crate::model::{Member, Part, UserCtx};

/// Which members of the blend score a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The bundle's blend as trained.
    Hybrid,
    /// Factors, item-item and user-kNN members only (re-blended with their
    /// weights); the full blend when the bundle has none.
    Collaborative,
    /// Content members only; 400 when the bundle has none.
    Content,
}

impl Mode {
    /// Parses `hybrid | collaborative | content`.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "hybrid" => Ok(Mode::Hybrid),
            "collaborative" => Ok(Mode::Collaborative),
            "content" => Ok(Mode::Content),
            _ => Err(ApiError::BadRequest(format!(
                "unknown mode `{s}`; allowed: hybrid, collaborative, content"
            ))),
        }
    }
}

fn is_collaborative(m: &Member) -> bool {
    matches!(
        m.part,
        Part::Factors { .. } | Part::ItemItem { .. } | Part::UserKnn { .. } | Part::Autoencoder(_)
    )
}

fn is_content(m: &Member) -> bool {
    matches!(m.part, Part::Content { .. })
}

/// One recommended or similar anime.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// MyAnimeList anime id.
    pub anime_id: u32,
    /// Original name.
    pub name: String,
    pub english_name: Option<String>,
    pub genres: Vec<String>,
    /// Model score (higher is better; scale depends on the model).
    pub score: f32,
    /// MyAnimeList average score.
    pub mal_score: Option<f32>,
    /// Type (TV, Movie, ...).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub episodes: Option<u32>,
    /// First ~240 characters of the synopsis.
    pub synopsis: Option<String>,
    /// Why it is recommended.
    pub reason: String,
}

/// A title-search hit.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    /// MyAnimeList anime id.
    pub anime_id: u32,
    /// Original name.
    pub name: String,
    pub english_name: Option<String>,
    pub genres: Vec<String>,
    /// MyAnimeList average score.
    pub mal_score: Option<f32>,
}

/// A loaded, verified bundle with its lookup indexes.
pub struct Loaded {
    /// The bundle.
    pub bundle: Bundle,
    /// Raw user id → dense.
    pub user_index: HashMap<u32, u32>,
    /// Raw anime id → dense.
    pub item_index: HashMap<u32, u32>,
    /// Lower-cased "name\u{1}english name" per dense item, for search.
    names: Vec<String>,
    /// The promotion record (`PROMOTED.json`) when the bundle was promoted.
    pub promoted: Option<serde_json::Value>,
}

/// Per-thread buffers: scores, blend scratch, top-k.
type Scratch = (Vec<f32>, Vec<f32>, Vec<(u32, f32)>);

/// Per-thread buffers of a batch: per-user scores, per-user factor scores,
/// blend scratch.
type BatchScratch = (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<f32>);

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new((Vec::new(), Vec::new(), Vec::new())) };
    static BATCH: RefCell<BatchScratch> = const { RefCell::new((Vec::new(), Vec::new(), Vec::new())) };
}

/// One known user's top-k request: (dense user, mode, k).
pub type UserJob = (u32, Mode, usize);

/// Characters of synopsis returned.
pub const SNIPPET_CHARS: usize = 240;

fn snippet(s: &Option<String>) -> Option<String> {
    s.as_ref().map(|s| {
        let s = s.trim();
        if s.chars().count() <= SNIPPET_CHARS {
            s.to_string()
        } else {
            let cut: String = s.chars().take(SNIPPET_CHARS).collect();
            format!("{}…", cut.trim_end())
        }
    })
}

impl Loaded {
    /// Reads and verifies a bundle (checksums, shapes, format version) and indexes it.
    pub fn load(dir: &Path) -> Result<Self, BundleError> {
        let bundle = bundle::read(dir)?;
        let n = bundle.engine.n_items();
        let bad = |msg: String| BundleError::Invalid {
            path: dir.to_path_buf(),
            msg,
        };
        if bundle.items.len() != n || bundle.catalog.len() != n {
            return Err(bad(format!(
                "{} item ids and {} catalog rows for {n} items",
                bundle.items.len(),
                bundle.catalog.len()
            )));
        }
        if bundle.users.len() != bundle.engine.n_users() {
            return Err(bad(format!(
                "{} user ids for {} users",
                bundle.users.len(),
                bundle.engine.n_users()
            )));
        }
        let mut loaded = Self::new(bundle);
        // Lineage only: a missing or unreadable record never blocks serving.
        loaded.promoted = bundle::promoted::read(dir);
        Ok(loaded)
    }

    /// Indexes an already-read bundle.
    pub fn new(bundle: Bundle) -> Self {
        let user_index = crate::util::ids::dense_index(&bundle.users);
        let item_index = crate::util::ids::dense_index(&bundle.items);
        let names = bundle
            .catalog
            .iter()
            .map(|c| {
                format!(
                    "{}\u{1}{}",
                    c.name.to_lowercase(),
                    c.english_name.as_deref().unwrap_or("").to_lowercase()
                )
            })
            .collect();
        Self {
            promoted: None,
            bundle,
            user_index,
            item_index,
            names,
        }
    }

    /// Run id of the model.
    pub fn run_id(&self) -> &str {
        &self.bundle.manifest.run_id
    }

    fn entry(&self, dense: u32) -> Option<&CatalogEntry> {
        self.bundle.catalog.get(dense as usize)
    }

    fn name(&self, dense: u32) -> String {
        self.entry(dense)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| format!("anime {}", self.bundle.items[dense as usize]))
    }

    /// Dense index of a raw anime id, or 404.
    pub fn item(&self, anime_id: u32) -> Result<u32, ApiError> {
        self.item_index
            .get(&anime_id)
            .copied()
            .ok_or_else(|| ApiError::NotFound(format!("unknown anime {anime_id}")))
    }

    fn item_out(&self, dense: u32, score: f32, reason: String) -> Item {
        let raw = self.bundle.items[dense as usize];
        match self.entry(dense) {
            Some(c) => Item {
                anime_id: raw,
                name: c.name.clone(),
                english_name: c.english_name.clone(),
                genres: c.genres.clone(),
                score,
                mal_score: c.score,
                kind: c.kind.clone(),
                episodes: c.episodes,
                synopsis: snippet(&c.synopsis),
                reason,
            },
            None => Item {
                anime_id: raw,
                name: format!("anime {raw}"),
                english_name: None,
                genres: Vec::new(),
                score,
                mal_score: None,
                kind: None,
                episodes: None,
                synopsis: None,
                reason,
            },
        }
    }

    fn score_top(
        &self,
        ctx: &UserCtx,
        mode: Mode,
        exclude_sorted: &[u32],
        k: usize,
    ) -> Result<Vec<(u32, f32)>, ApiError> {
        let e = &self.bundle.engine;
        let n = e.n_items();
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let (out, tmp, top) = &mut *s;
            out.clear();
            out.resize(n, 0.0);
            match mode {
                Mode::Hybrid => e.score(ctx, out, tmp),
                Mode::Collaborative => {
                    if !e.score_filtered(ctx, &is_collaborative, out, tmp) {
                        e.score(ctx, out, tmp);
                    }
                }
                Mode::Content => {
                    if !e.score_filtered(ctx, &is_content, out, tmp) {
                        return Err(self.no_content());
                    }
                }
            }
            top.clear();
            top_k_excluding(out, exclude_sorted, k, top);
            Ok(top.clone())
        })
    }

    /// Explains `item` against `best`, the context's best-rated items (see
    /// [`best_rated`]).
    fn reason(&self, item: u32, best: &[(u32, f32)], liked_word: bool, mode: Mode) -> String {
        let e = &self.bundle.engine;
        let mut pick: Option<(u32, f32, f32)> = None;
        for &(j, r) in best {
            if let Some(s) = e.pair_similarity(item, j) {
                if s > 0.0 && pick.is_none_or(|(_, _, ps)| s > ps) {
                    pick = Some((j, r, s));
                }
            }
        }
        if let Some((j, r, _)) = pick {
            return if liked_word {
                format!("similar to {} you liked", self.name(j))
            } else {
                format!("similar to {} you rated {}", self.name(j), fmt_rating(r))
            };
        }
        let has_cf = e
            .members
            .iter()
            .any(|m| m.weight > 0.0 && is_collaborative(m));
        if has_cf && mode != Mode::Content {
            return "liked by similar users".to_string();
        }
        // Popularity-style models: the user's favourite genre the item has.
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for &(j, _) in best {
            if let Some(c) = self.entry(j) {
                for g in &c.genres {
                    *counts.entry(g.as_str()).or_insert(0) += 1;
                }
            }
        }
        let genre = self.entry(item).and_then(|c| {
            c.genres
                .iter()
                .filter_map(|g| counts.get(g.as_str()).map(|&n| (n, g)))
                .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(a.1)))
                .map(|(_, g)| g.clone())
        });
        match genre {
            Some(g) => format!("popular with fans of {g}"),
            None => "popular on MyAnimeList".to_string(),
        }
    }

    /// Dense index of a raw user id, or 404.
    pub fn user(&self, user_id: u32) -> Result<u32, ApiError> {
        self.user_index
            .get(&user_id)
            .copied()
            .ok_or_else(|| ApiError::NotFound(format!("unknown user {user_id}")))
    }

    /// Top-k (dense item, score) of several known users (dense ids), their
    /// histories excluded; the users of each mode are scored as one batch
    /// (one pass over the item vectors, see `Engine::score_many`), with the
    /// same results as one at a time.
    pub fn top_many(&self, jobs: &[UserJob]) -> Vec<Result<Vec<(u32, f32)>, ApiError>> {
        let e = &self.bundle.engine;
        let mut res: Vec<Result<Vec<(u32, f32)>, ApiError>> =
            jobs.iter().map(|_| Ok(Vec::new())).collect();
        BATCH.with(|s| {
            let mut s = s.borrow_mut();
            let (outs, fac, tmp) = &mut *s;
            for mode in [Mode::Hybrid, Mode::Collaborative, Mode::Content] {
                let idx: Vec<usize> = (0..jobs.len()).filter(|&i| jobs[i].1 == mode).collect();
                if idx.is_empty() {
                    continue;
                }
                let ctxs: Vec<UserCtx> = idx.iter().map(|&i| e.ctx(jobs[i].0)).collect();
                let all = |_: &Member| true;
                let ok = match mode {
                    Mode::Hybrid => e.score_many(&ctxs, &all, outs, fac, tmp),
                    Mode::Collaborative => {
                        e.score_many(&ctxs, &is_collaborative, outs, fac, tmp)
                            || e.score_many(&ctxs, &all, outs, fac, tmp)
                    }
                    Mode::Content => e.score_many(&ctxs, &is_content, outs, fac, tmp),
                };
                for (b, &i) in idx.iter().enumerate() {
                    res[i] = if ok {
                        let mut top = Vec::new();
                        top_k_excluding(&outs[b], ctxs[b].items, jobs[i].2, &mut top);
                        Ok(top)
                    } else {
                        Err(self.no_content())
                    };
                }
            }
        });
        res
    }

    fn no_content(&self) -> ApiError {
        ApiError::BadRequest(format!(
            "mode=content: this model ({}) has no content member; use hybrid or collaborative",
            self.bundle.manifest.model_kind
        ))
    }

    /// A known user's top-k, their history excluded.
    pub fn recommend_user(
        &self,
        user_id: u32,
        mode: Mode,
        k: usize,
    ) -> Result<Vec<Item>, ApiError> {
        let u = self.user(user_id)?;
        let top = self
            .top_many(&[(u, mode, k)])
            .pop()
            .unwrap_or_else(|| Ok(Vec::new()))?;
        Ok(self.user_items(u, &top, mode))
    }

    /// Response items (catalogue fields and reasons) of a known user's top-k.
    pub fn user_items(&self, u: u32, top: &[(u32, f32)], mode: Mode) -> Vec<Item> {
        let best = best_rated(&self.bundle.engine.ctx(u));
        top.iter()
            .map(|&(i, s)| {
                let r = self.reason(i, &best, false, mode);
                self.item_out(i, s, r)
            })
            .collect()
    }

    /// A new user's top-k from liked anime (raw ids), the liked ones excluded.
    pub fn recommend_liked(
        &self,
        liked: &[u32],
        mode: Mode,
        k: usize,
    ) -> Result<Vec<Item>, ApiError> {
        let mut items = Vec::with_capacity(liked.len());
        for &a in liked {
            items.push(self.item(a)?);
        }
        items.sort_unstable();
        items.dedup();
        let ratings = vec![10.0; items.len()];
        let ctx = UserCtx {
            user: None,
            items: &items,
            ratings: &ratings,
        };
        let top = self.score_top(&ctx, mode, &items, k)?;
        let best = best_rated(&ctx);
        Ok(top
            .into_iter()
            .map(|(i, s)| {
                let r = self.reason(i, &best, true, mode);
                self.item_out(i, s, r)
            })
            .collect())
    }

    /// Anime similar to `anime_id` (itself excluded).
    pub fn similar(&self, anime_id: u32, k: usize) -> Result<Vec<Item>, ApiError> {
        let i = self.item(anime_id)?;
        let e = &self.bundle.engine;
        let top = SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let (out, tmp, top) = &mut *s;
            out.clear();
            out.resize(e.n_items(), 0.0);
            e.similar(i, out, tmp);
            top.clear();
            top_k_excluding(out, &[i], k, top);
            top.clone()
        });
        let name = self.name(i);
        Ok(top
            .into_iter()
            .map(|(j, s)| self.item_out(j, s, format!("similar to {name}")))
            .collect())
    }

    /// Case-insensitive substring search over original and English names;
    /// prefix matches first, then by MyAnimeList score.
    pub fn search(&self, q: &str, limit: usize) -> Vec<SearchHit> {
        let q = q.trim().to_lowercase();
        let mut hits: Vec<(bool, f32, u32)> = self
            .names
            .iter()
            .enumerate()
            .filter_map(|(d, n)| {
                n.find(&q).map(|pos| {
                    let prefix = pos == 0 || n[..pos].ends_with('\u{1}');
                    let score = self.entry(d as u32).and_then(|c| c.score).unwrap_or(0.0);
                    (prefix, score, d as u32)
                })
            })
            .collect();
        hits.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(&b.2)));
        hits.truncate(limit);
        hits.into_iter()
            .map(|(_, _, d)| {
                let c = self.entry(d);
                SearchHit {
                    anime_id: self.bundle.items[d as usize],
                    name: self.name(d),
                    english_name: c.and_then(|c| c.english_name.clone()),
                    genres: c.map(|c| c.genres.clone()).unwrap_or_default(),
                    mal_score: c.and_then(|c| c.score),
                }
            })
            .collect()
    }
}

/// The context's best-rated items (up to 20), best first: what reasons point
/// at. Computed once per request, not once per recommended item.
fn best_rated(ctx: &UserCtx) -> Vec<(u32, f32)> {
    let mut best: Vec<(u32, f32)> = ctx
        .items
        .iter()
        .copied()
        .zip(ctx.ratings.iter().copied())
        .collect();
    best.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    best.truncate(20);
    best
}

fn fmt_rating(r: f32) -> String {
    if r.fract() == 0.0 {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}
