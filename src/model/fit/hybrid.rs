//! `weights: auto`: a hybrid that chooses its own blend without looking at
//! the test split.
//!
//! 1. Train is carved exactly as PROTOCOL section 2 carves a validation split
//!    (same procedure, seed 43) into "fit" and "validation" rows.
//! 2. Every member is fitted on "fit" and scores the validation users once;
//!    each member's NDCG@10 alone is recorded.
//! 3. For each normalisation allowed, a coordinate search over a fixed grid
//!    of weights starts from the best member alone (weight 1) and moves one
//!    member's weight at a time while validation NDCG@10 improves by more
//!    than [`MIN_GAIN`]; a final pass sets to 0 every member whose removal
//!    costs less than that. The blend is scored exactly as the engine blends
//!    (same normalisation, same summation order) and ranked exactly as the
//!    evaluator ranks (PROTOCOL candidates, NDCG@10).
//! 4. Members with a positive weight are refitted on all of train; members at
//!    weight 0 are reported as such and left out of the engine.
//!
//! Deterministic: fixed carve seed, fixed grid and visiting order, per-user
//! figures summed in user order.

use super::{fit_member, fit_part, FitContext, FitError, FitNotes};
use crate::config::{HybridMember, Normalization};
use crate::data::{process, Csr, Dataset, Ratings, VALIDATION_SEED};
use crate::eval::metrics::user_metrics;
use crate::eval::topk::top_k_excluding;
use crate::model::engine::{normalize, Engine, Member};
use rayon::prelude::*;

/// Weights tried for each member (relative to the best member's 1).
const GRID: [f32; 13] = [
    0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0,
];
/// A change must raise validation NDCG@10 by more than this to be taken,
/// and a member that adds no more than this is dropped.
const MIN_GAIN: f64 = 1e-4;
/// Coordinate-search rounds over all members at most.
const ROUNDS: usize = 3;
/// Cached scores (floats) across members and validation users; past it,
/// every k-th validation user is kept so that memory stays bounded at the
/// 17,000-anime scale.
const SCORE_BUDGET: usize = 1 << 26;
/// The cutoff the search optimises (PROTOCOL's K).
const K: usize = 10;

/// What the search chose.
pub(super) struct Chosen {
    /// Members with a positive weight, refitted on all of train.
    pub members: Vec<Member>,
    /// The normalisation chosen (or fixed by the config).
    pub normalization: Normalization,
    /// What to record in the run.
    pub notes: FitNotes,
}

/// Runs the search and the refit.
pub(super) fn fit_auto(
    members: &[HybridMember],
    fixed_norm: Option<Normalization>,
    ctx: &mut FitContext,
) -> Result<Chosen, FitError> {
    let names = member_names(members);
    let ds = ctx.data;
    let carved = carve(ds, ctx.exp.data.split.test_ratio);
    tracing::info!(
        fit = carved.train.nnz(),
        validation = carved.test.nnz(),
        "hybrid weights: auto — fitting members on the validation carve of train (seed {VALIDATION_SEED})"
    );
    let mut parts = Vec::with_capacity(members.len());
    {
        let mut sub = FitContext {
            data: &carved,
            exp: ctx.exp,
            on_metric: &mut *ctx.on_metric,
            checkpoint_dir: None,
        };
        for m in members {
            parts.push(fit_part(&*m.model, &mut sub)?);
        }
    }
    let engine = Engine::new(
        parts
            .into_iter()
            .zip(&names)
            .map(|(part, name)| Member {
                name: name.clone(),
                weight: 1.0,
                part,
            })
            .collect(),
        Normalization::Minmax,
        carved.train.clone(),
    );
    let val = Validation::new(&engine, &carved.test, ctx.exp.eval.relevance_threshold);
    let alone: Vec<f64> = (0..members.len())
        .map(|m| val.ndcg(&val.raw, &one_hot(members.len(), m)))
        .collect();
    let norms: Vec<Normalization> = match fixed_norm {
        Some(n) => vec![n],
        None => vec![
            Normalization::Minmax,
            Normalization::Zscore,
            Normalization::Rank,
        ],
    };
    let mut best: Option<(f64, Vec<f32>, Normalization)> = None;
    for &norm in &norms {
        let normed = val.normalized(norm);
        let (score, weights) = search(&val, &normed, &alone);
        tracing::info!(?norm, ndcg = score, ?weights, "hybrid weights: best blend");
        if best.as_ref().is_none_or(|b| score > b.0) {
            best = Some((score, weights, norm));
        }
    }
    let Some((score, weights, normalization)) = best else {
        return Err(FitError::Unsupported("a hybrid needs members".into()));
    };
    drop(val);
    drop(engine);
    drop(carved);

    let mut notes = FitNotes::default();
    notes.params.push((
        "model.chosen.normalization".into(),
        format!("{normalization:?}").to_lowercase(),
    ));
    for (m, name) in names.iter().enumerate() {
        notes.params.push((
            format!("model.chosen.{name}.weight"),
            weights[m].to_string(),
        ));
        notes
            .metrics
            .push((format!("auto/{name}/val_ndcg@10"), alone[m]));
        notes
            .metrics
            .push((format!("auto/{name}/weight"), f64::from(weights[m])));
        if weights[m] == 0.0 {
            tracing::info!(
                member = %name,
                val_ndcg = alone[m],
                "hybrid weights: member does not help on validation; weight 0, not refitted"
            );
        }
    }
    notes.metrics.push(("auto/val_ndcg@10".into(), score));
    for (k, v) in &notes.metrics {
        (ctx.on_metric)(k, *v, 0);
    }

    let mut out = Vec::new();
    for ((m, name), &w) in members.iter().zip(&names).zip(&weights) {
        if w > 0.0 {
            out.push(Member {
                name: name.clone(),
                weight: w,
                part: fit_member(&*m.model, name, ctx)?,
            });
        }
    }
    Ok(Chosen {
        members: out,
        normalization,
        notes,
    })
}

/// Member names for records: the kind, with `_2`, `_3`… on repeats.
pub(super) fn member_names(members: &[HybridMember]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(members.len());
    for m in members {
        let kind = m.model.kind();
        let seen = out
            .iter()
            .filter(|n| n.as_str() == kind || n.starts_with(&format!("{kind}_")))
            .count();
        out.push(if seen == 0 {
            kind.to_string()
        } else {
            format!("{kind}_{}", seen + 1)
        });
    }
    out
}

fn one_hot(n: usize, m: usize) -> Vec<f32> {
    let mut w = vec![0.0; n];
    w[m] = 1.0;
    w
}

/// The dataset with train replaced by the carve's "fit" rows and test by its
/// validation rows; same users, items and catalogue, so member parts keep
/// the full model's index space.
fn carve(ds: &Dataset, ratio: f64) -> Dataset {
    let mut rows = Ratings::with_capacity(ds.train.nnz());
    for u in 0..ds.train.n_rows {
        let (items, vals) = ds.train.row(u);
        for (&i, &v) in items.iter().zip(vals) {
            rows.push(u as u32, i, v);
        }
    }
    // Dense ids are ascending in raw ids, so this is the carve of the raw rows.
    let (fit, val) = process::split_per_user(&rows, ratio, VALIDATION_SEED);
    let csr = |r: &Ratings| {
        Csr::from_sorted(
            ds.train.n_rows,
            ds.train.n_cols,
            &r.user,
            &r.item,
            &r.rating,
        )
    };
    Dataset {
        users: ds.users.clone(),
        items: ds.items.clone(),
        train: csr(&fit),
        test: csr(&val),
        catalog: ds.catalog.clone(),
        fingerprint: format!("{}+validation-carve", ds.fingerprint),
        clean: ds.clean.clone(),
    }
}

/// Validation users, their relevant items and every member's raw scores.
struct Validation<'a> {
    fit: &'a Csr,
    users: Vec<u32>,
    relevant: Vec<Vec<u32>>,
    /// `raw[(u * members + m) * n_items ..]`: member m's scores for user u.
    raw: Vec<f32>,
    members: usize,
    n_items: usize,
    /// Items with no "fit" rating: never candidates (PROTOCOL section 3).
    never: Vec<u32>,
}

impl<'a> Validation<'a> {
    fn new(engine: &'a Engine, val: &Csr, threshold: f32) -> Self {
        let fit = &engine.history;
        let n_items = fit.n_cols;
        let members = engine.members.len();
        let mut users: Vec<u32> = (0..val.n_rows)
            .filter(|&u| val.row(u).1.iter().any(|&r| r >= threshold))
            .map(|u| u as u32)
            .collect();
        let cap = (SCORE_BUDGET / (members * n_items).max(1)).max(1);
        if users.len() > cap {
            let step = users.len().div_ceil(cap);
            users = users.into_iter().step_by(step).collect();
            tracing::info!(
                users = users.len(),
                "hybrid weights: every {step}th validation user kept to bound memory"
            );
        }
        let relevant = users
            .iter()
            .map(|&u| {
                let (items, r) = val.row(u as usize);
                items
                    .iter()
                    .zip(r)
                    .filter(|&(_, &r)| r >= threshold)
                    .map(|(&i, _)| i)
                    .collect()
            })
            .collect();
        let mut raw = vec![0f32; users.len() * members * n_items];
        raw.par_chunks_mut(members * n_items.max(1))
            .zip(users.par_iter())
            .for_each_init(Vec::new, |tmp, (block, &u)| {
                let ctx = engine.ctx(u);
                for (m, out) in block.chunks_mut(n_items.max(1)).enumerate() {
                    let only = &engine.members[m];
                    engine.score_filtered(&ctx, &|x| std::ptr::eq(x, only), out, tmp);
                }
            });
        let mut seen = vec![false; n_items];
        for &i in &fit.indices {
            seen[i as usize] = true;
        }
        let never = (0..n_items as u32).filter(|&i| !seen[i as usize]).collect();
        Self {
            fit,
            users,
            relevant,
            raw,
            members,
            n_items,
            never,
        }
    }

    /// Every member's scores put on one scale, as the engine does per user.
    fn normalized(&self, how: Normalization) -> Vec<f32> {
        let mut out = self.raw.clone();
        out.par_chunks_mut(self.n_items.max(1))
            .for_each(|row| normalize(row, how));
        out
    }

    /// Mean NDCG@10 of the blend `weights` over normalised `scores`. With
    /// one positive weight the engine does not normalise, so the raw scores
    /// are ranked then.
    fn ndcg(&self, scores: &[f32], weights: &[f32]) -> f64 {
        let active: Vec<usize> = (0..self.members).filter(|&m| weights[m] > 0.0).collect();
        if active.is_empty() || self.users.is_empty() {
            return 0.0;
        }
        let single = active.len() == 1;
        let n = self.n_items;
        let per_user: Vec<f64> = self
            .users
            .par_iter()
            .enumerate()
            .map_init(
                || {
                    (
                        vec![0f32; n],
                        Vec::<(u32, f32)>::with_capacity(K),
                        Vec::<u32>::with_capacity(K),
                    )
                },
                |(blend, list, items), (k, &u)| {
                    let at = |m: usize| &scores[(k * self.members + m) * n..][..n];
                    if single {
                        blend.copy_from_slice(&self.raw[(k * self.members + active[0]) * n..][..n]);
                    } else {
                        blend.fill(0.0);
                        for &m in &active {
                            let w = weights[m];
                            for (o, &t) in blend.iter_mut().zip(at(m)) {
                                *o += w * t;
                            }
                        }
                    }
                    for &i in &self.never {
                        blend[i as usize] = f32::NAN;
                    }
                    top_k_excluding(blend, self.fit.row(u as usize).0, K, list);
                    items.clear();
                    items.extend(list.iter().map(|&(i, _)| i));
                    user_metrics(items, &self.relevant[k], K).ndcg
                },
            )
            .collect();
        per_user.iter().sum::<f64>() / per_user.len() as f64
    }
}

/// Coordinate search from the best member alone; returns the best
/// validation NDCG@10 and its weights.
fn search(val: &Validation, normed: &[f32], alone: &[f64]) -> (f64, Vec<f32>) {
    let m = alone.len();
    let anchor = (0..m).fold(0, |b, k| if alone[k] > alone[b] { k } else { b });
    let mut w = one_hot(m, anchor);
    let mut best = val.ndcg(normed, &w);
    for _ in 0..ROUNDS {
        let mut improved = false;
        for k in (0..m).filter(|&k| k != anchor) {
            let mut pick: Option<(f64, f32)> = None;
            for &g in GRID.iter().filter(|&&g| g != w[k]) {
                let mut t = w.clone();
                t[k] = g;
                let s = val.ndcg(normed, &t);
                if pick.is_none_or(|p| s > p.0) {
                    pick = Some((s, g));
                }
            }
            if let Some((s, g)) = pick.filter(|p| p.0 > best + MIN_GAIN) {
                best = s;
                w[k] = g;
                improved = true;
            }
        }
        if !improved {
            break;
        }
    }
    // Drop what does not pay for itself.
    for k in (0..m).filter(|&k| k != anchor) {
        if w[k] == 0.0 {
            continue;
        }
        let mut t = w.clone();
        t[k] = 0.0;
        let s = val.ndcg(normed, &t);
        if s >= best - MIN_GAIN {
            best = s;
            w = t;
        }
    }
    (best, w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kinds::{ease::Ease, popularity::Popularity};
    use crate::model::parts::Part;
    use crate::model::spec::{Checked, ModelSpec};
    use std::sync::Arc;

    fn member(kind: &str) -> HybridMember {
        let model: Arc<dyn ModelSpec> = match kind {
            "ease" => Arc::new(
                Checked::new(Ease {
                    l2: 1.0,
                    prune_top_k: 0,
                })
                .unwrap(),
            ),
            _ => Arc::new(Popularity::checked()),
        };
        HybridMember { weight: 1.0, model }
    }

    #[test]
    fn repeated_kinds_get_distinct_names() {
        let names = member_names(&[member("ease"), member("popularity"), member("ease")]);
        assert_eq!(names, ["ease", "popularity", "ease_2"]);
    }

    /// Member 0 ranks each user's relevant item first; member 1 (one item
    /// for everybody) is right for one user only: the search keeps member 0
    /// alone and reports member 1 at weight 0.
    #[test]
    fn a_member_that_does_not_help_gets_weight_zero() {
        // User 2 only makes items 2 and 3 candidates (they occur in "fit").
        let fit = Csr::from_triplets(3, 4, &[(0, 0, 5.0), (1, 1, 5.0), (2, 2, 5.0), (2, 3, 5.0)]);
        let val = Csr::from_triplets(3, 4, &[(0, 2, 5.0), (1, 3, 5.0)]);
        let good = Part::ItemItem {
            weights: Csr::from_triplets(4, 4, &[(0, 2, 1.0), (1, 3, 1.0)]),
            min_rating: None,
        };
        let noise = Part::Popularity {
            scores: vec![0.0, 0.0, 0.0, 10.0],
        };
        let engine = Engine::new(
            vec![
                Member {
                    name: "good".into(),
                    weight: 1.0,
                    part: good,
                },
                Member {
                    name: "noise".into(),
                    weight: 1.0,
                    part: noise,
                },
            ],
            Normalization::Minmax,
            fit,
        );
        let v = Validation::new(&engine, &val, 4.0);
        let alone = [v.ndcg(&v.raw, &[1.0, 0.0]), v.ndcg(&v.raw, &[0.0, 1.0])];
        assert_eq!(alone[0], 1.0);
        assert!(alone[1] < 1.0);
        let (best, w) = search(&v, &v.normalized(Normalization::Minmax), &alone);
        assert_eq!(best, 1.0);
        assert_eq!(w, [1.0, 0.0]);
    }
}
