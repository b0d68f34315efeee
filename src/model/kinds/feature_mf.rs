//! A learned hybrid in LightFM's spirit (`train::feature_mf`): an anime is
//! the sum of the embeddings of its id, genres, type, studios and
//! (optionally) synopsis terms; a user is an id embedding; trained with the
//! WARP ranking loss and served as a factor part, so a new user is the mean
//! of their liked anime's vectors.

use crate::model::params::{self, ParamError, MAX_COUNT};
use crate::model::spec::ModelKeys;
use serde::{Deserialize, Serialize};

/// The `feature_mf` section. Defaults are LightFM's (AdaGrad 0.05, 10
/// negatives per positive, no regularisation) with 64 factors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureMf {
    /// Latent factors.
    pub factors: usize,
    /// Passes over the positives.
    pub epochs: u32,
    /// AdaGrad base learning rate (constant unless `lr_schedule` is set).
    pub lr: f64,
    /// A schedule over the epochs (the keys of `train.lr_schedule`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr_schedule: Option<crate::config::LrSchedule>,
    /// Negatives drawn per positive at most (WARP's search for a violator).
    pub max_sampled: u32,
    /// L2 on the embedding rows each step touches.
    pub reg: f64,
    /// Train rows rated at least this are positives (0: every rated row).
    pub min_rating: f32,
    /// A user is their id plus the mean of the tags of the anime they liked
    /// (LightFM's user features, with their own embeddings), not their id
    /// alone. Known users are served with that vector; a new user's liked
    /// list is folded in as the mean of the items' vectors either way.
    pub user_features: bool,
    /// After training on the fit carve (whose validation rows pick the
    /// epoch count), train again on every train row for that many epochs.
    pub refit: bool,
    /// Genre features.
    pub genres: bool,
    /// The type (TV, Movie, OVA, …) as a feature.
    #[serde(rename = "type")]
    pub kind: bool,
    /// Studio features.
    pub studios: bool,
    /// The most frequent synopsis terms (in at least 2 synopses) that become
    /// features; 0: none.
    pub synopsis_terms: usize,
}

impl Default for FeatureMf {
    fn default() -> Self {
        Self {
            factors: 64,
            epochs: 30,
            lr: 0.05,
            lr_schedule: None,
            max_sampled: 10,
            reg: 0.0,
            min_rating: 0.0,
            user_features: false,
            refit: true,
            genres: true,
            kind: true,
            studios: true,
            synopsis_terms: 0,
        }
    }
}

impl ModelKeys for FeatureMf {
    const KIND: &'static str = "feature_mf";
    fn check(&self) -> Result<(), ParamError> {
        use params::{float, int};
        int("factors", self.factors as u64, 1, 4096)?;
        params::training(self.epochs, self.lr, self.lr_schedule.as_ref())?;
        int("max_sampled", u64::from(self.max_sampled), 1, 10_000)?;
        float("reg", self.reg, 0.0, false, 1e3)?;
        float("min_rating", f64::from(self.min_rating), 0.0, false, 1e6)?;
        int("synopsis_terms", self.synopsis_terms as u64, 0, MAX_COUNT)
    }
    fn trains(&self) -> bool {
        true
    }
    #[cfg(feature = "train")]
    fn fit(
        &self,
        ctx: &mut crate::model::fit::FitContext,
    ) -> Result<crate::model::Part, crate::model::fit::FitError> {
        let features = features::of(&ctx.data.items, &ctx.data.catalog, self);
        crate::model::fit::learned::feature_mf(ctx, self, &features)
    }
}

#[cfg(feature = "train")]
mod features {
    use super::FeatureMf;
    use crate::data::{Anime, Catalog};
    use crate::model::kinds::content::vectors::tokens;
    use crate::sparse::Csr;
    use std::collections::{HashMap, HashSet};

    /// Item × feature weights: column `i` is item `i`'s own id, then one
    /// column per genre, type, studio and kept synopsis term. Each row sums
    /// to 1 (LightFM's normalisation), so an anime with many tags does not
    /// score higher for having them.
    pub(super) fn of(items: &[u32], catalog: &Catalog, k: &FeatureMf) -> Csr {
        let entries: Vec<Option<&Anime>> = items.iter().map(|&id| catalog.get(id)).collect();
        let terms = synopsis_vocab(&entries, k.synopsis_terms);
        let mut vocab: HashMap<String, u32> = HashMap::new();
        let n = entries.len() as u32;
        let mut triplets = Vec::new();
        let mut row: Vec<u32> = Vec::new();
        for (i, a) in entries.iter().enumerate() {
            row.clear();
            row.push(i as u32);
            let mut tag = |t: String| {
                let next = n + vocab.len() as u32;
                row.push(*vocab.entry(t).or_insert(next));
            };
            if let Some(a) = a {
                a.genres
                    .iter()
                    .filter(|_| k.genres)
                    .for_each(|g| tag(format!("genre:{g}")));
                a.kind
                    .iter()
                    .filter(|_| k.kind)
                    .for_each(|t| tag(format!("type:{t}")));
                a.studios
                    .iter()
                    .filter(|_| k.studios)
                    .for_each(|s| tag(format!("studio:{s}")));
                if let Some(s) = a.synopsis.as_deref().filter(|_| !terms.is_empty()) {
                    for t in tokens(s) {
                        if terms.contains(t.as_str()) {
                            tag(format!("term:{t}"));
                        }
                    }
                }
            }
            // The id (< n) stays first; tags (>= n) sorted, repeats dropped.
            row[1..].sort_unstable();
            row.dedup();
            let w = 1.0 / row.len() as f32;
            triplets.extend(row.iter().map(|&f| (i as u32, f, w)));
        }
        Csr::from_triplets(entries.len(), n as usize + vocab.len(), &triplets)
    }

    /// The `keep` synopsis terms found in the most synopses (at least 2),
    /// ties alphabetical so the vocabulary is deterministic.
    fn synopsis_vocab(entries: &[Option<&Anime>], keep: usize) -> HashSet<String> {
        if keep == 0 {
            return HashSet::new();
        }
        let mut df: HashMap<String, u32> = HashMap::new();
        for s in entries
            .iter()
            .filter_map(|a| a.and_then(|a| a.synopsis.as_deref()))
        {
            let mut seen: Vec<String> = tokens(s).collect();
            seen.sort_unstable();
            seen.dedup();
            for t in seen {
                *df.entry(t).or_default() += 1;
            }
        }
        let mut v: Vec<(String, u32)> = df.into_iter().filter(|e| e.1 >= 2).collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.into_iter().take(keep).map(|(t, _)| t).collect()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn rows_hold_the_id_and_tags_and_sum_to_one() {
            let anime = |id: u32, genres: &[&str], synopsis: &str| Anime {
                id,
                name: format!("a{id}"),
                genres: genres.iter().map(|g| g.to_string()).collect(),
                kind: Some("TV".into()),
                synopsis: Some(synopsis.into()),
                ..Anime::default()
            };
            let catalog = Catalog::new(vec![
                anime(5, &["Action", "Drama"], "ninja village ninja"),
                anime(9, &["Action"], "ninja pirates"),
            ]);
            let k = FeatureMf {
                studios: false,
                synopsis_terms: 5,
                ..FeatureMf::default()
            };
            let f = of(&[5, 9, 11], &catalog, &k);
            // 3 ids + Action, Drama, TV, and "ninja" (in 2 synopses).
            assert_eq!((f.n_rows, f.n_cols), (3, 7));
            let (c0, w0) = f.row(0);
            assert_eq!(c0.len(), 5, "id, Action, Drama, TV, ninja");
            assert!(w0.iter().all(|&w| (w - 0.2).abs() < 1e-6));
            let (c1, _) = f.row(1);
            assert_eq!(c1.len(), 4, "id, Action, TV, ninja");
            assert!(
                c1.iter().filter(|c| c0.contains(c)).count() == 3,
                "shared tags share columns"
            );
            assert_eq!(
                f.row(2),
                ([2u32].as_slice(), [1.0f32].as_slice()),
                "not in the catalogue: id only"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded() {
        assert_eq!(FeatureMf::default().check(), Ok(()));
        let bad = FeatureMf {
            max_sampled: 0,
            ..FeatureMf::default()
        };
        assert_eq!(bad.check().unwrap_err().key, "max_sampled");
        let yaml: FeatureMf = serde_yaml::from_str("{type: false, synopsis_terms: 100}").unwrap();
        assert!(!yaml.kind && yaml.synopsis_terms == 100 && yaml.genres);
    }
}
