//! Content vectors: TF-IDF over synopsis words plus genre (and optionally type
//! and studio) indicators, each block L2-normalised and weighted, the whole row
//! L2-normalised so a dot product is a cosine.

use crate::model::params::{self, ParamError, MAX_COUNT};
use crate::model::spec::ModelKeys;
use serde::{Deserialize, Serialize};

/// The `content` section: which feature blocks build an anime's vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Content {
    /// Weight of the genre block.
    pub genre_weight: f32,
    /// Weight of the synopsis TF-IDF block.
    pub synopsis_weight: f32,
    /// Weight of the type one-hot block.
    pub type_weight: f32,
    /// Weight of the studio block.
    pub studio_weight: f32,
    /// Minimum document frequency of a synopsis term.
    pub min_df: u32,
    /// Vocabulary cap.
    pub max_features: usize,
    /// Items at or above this quantile of a user's ratings build the profile.
    pub like_quantile: f32,
}

impl Default for Content {
    fn default() -> Self {
        Self {
            genre_weight: 1.0,
            synopsis_weight: 0.5,
            type_weight: 0.0,
            studio_weight: 0.0,
            min_df: 2,
            max_features: 20_000,
            like_quantile: 0.75,
        }
    }
}

impl ModelKeys for Content {
    const KIND: &'static str = "content";
    fn check(&self) -> Result<(), ParamError> {
        use params::{float, int};
        float(
            "like_quantile",
            f64::from(self.like_quantile),
            0.0,
            false,
            1.0,
        )?;
        int("max_features", self.max_features as u64, 1, 10_000_000)?;
        int("min_df", u64::from(self.min_df), 0, MAX_COUNT)?;
        let weights = [
            ("genre_weight", self.genre_weight),
            ("synopsis_weight", self.synopsis_weight),
            ("type_weight", self.type_weight),
            ("studio_weight", self.studio_weight),
        ];
        for (key, w) in weights {
            float(key, f64::from(w), 0.0, false, 1e6)?;
        }
        if weights.iter().all(|(_, w)| *w == 0.0) {
            return Err(ParamError::new(
                "genre_weight",
                "all feature weights are 0; allowed: at least one of genre_weight, synopsis_weight, type_weight, studio_weight positive",
            ));
        }
        Ok(())
    }
    #[cfg(feature = "train")]
    fn fit(
        &self,
        ctx: &mut crate::model::fit::FitContext,
    ) -> Result<crate::model::Part, crate::model::fit::FitError> {
        vectors::fit(ctx.data, self)
    }
}

#[cfg(feature = "train")]
pub(super) mod vectors {
    use super::Content;
    use crate::data::{Anime, Csr, Dataset};
    use crate::model::fit::FitError;
    use crate::model::parts::Part;
    use std::collections::HashMap;

    const STOPWORDS: &[&str] = &[
        "the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "had", "her", "was",
        "one", "our", "out", "his", "has", "him", "its", "who", "how", "she", "they", "their",
        "them", "then", "than", "that", "this", "with", "from", "have", "into", "when", "what",
        "where", "which", "while", "will", "would", "there", "these", "those", "been", "were",
        "being", "about", "after", "before", "also", "only", "other", "some", "such", "more",
        "most", "very", "just", "over", "under", "again", "each", "both", "between", "through",
        "during", "source", "written", "mal", "rewrite",
    ];

    /// Lower-case alphabetic tokens of 3+ letters, stopwords removed.
    pub(in crate::model) fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
        text.split(|c: char| !c.is_alphabetic())
            .filter(|w| w.chars().count() >= 3)
            .map(str::to_lowercase)
            .filter(|w| !STOPWORDS.contains(&w.as_str()))
    }

    pub(super) fn fit(ds: &Dataset, c: &Content) -> Result<Part, FitError> {
        let Content {
            genre_weight,
            synopsis_weight,
            type_weight,
            studio_weight,
            min_df,
            max_features,
            like_quantile,
        } = c;
        let entries: Vec<Option<&Anime>> = ds.items.iter().map(|&id| ds.catalog.get(id)).collect();
        // (weight, sparse rows, width) per feature block.
        type Block = (f32, Vec<Vec<(u32, f32)>>, usize);
        let mut blocks: Vec<Block> = Vec::new();
        let indicator = |f: &dyn Fn(&Anime) -> Vec<String>| {
            let mut vocab: HashMap<String, u32> = HashMap::new();
            let rows: Vec<Vec<(u32, f32)>> = entries
                .iter()
                .map(|a| {
                    let mut r: Vec<(u32, f32)> = a
                        .map(f)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|t| {
                            let n = vocab.len() as u32;
                            (*vocab.entry(t).or_insert(n), 1.0)
                        })
                        .collect();
                    r.sort_unstable_by_key(|e| e.0);
                    r.dedup_by_key(|e| e.0);
                    r
                })
                .collect();
            let width = vocab.len();
            (idf_weight(rows, width), width)
        };
        if *genre_weight > 0.0 {
            let (rows, w) = indicator(&|a: &Anime| a.genres.clone());
            blocks.push((*genre_weight, rows, w));
        }
        if *type_weight > 0.0 {
            let (rows, w) = indicator(&|a: &Anime| a.kind.clone().into_iter().collect());
            blocks.push((*type_weight, rows, w));
        }
        if *studio_weight > 0.0 {
            let (rows, w) = indicator(&|a: &Anime| a.studios.clone());
            blocks.push((*studio_weight, rows, w));
        }
        if *synopsis_weight > 0.0 {
            let (rows, w) = synopsis_tfidf(&entries, *min_df, *max_features);
            blocks.push((*synopsis_weight, rows, w));
        }
        // Concatenate the weighted, normalised blocks.
        let n = entries.len();
        let mut indptr = vec![0usize];
        let mut indices = Vec::new();
        let mut values = Vec::new();
        let total: usize = blocks.iter().map(|b| b.2).sum();
        for i in 0..n {
            let mut row: Vec<(u32, f32)> = Vec::new();
            let mut offset = 0u32;
            for (weight, rows, width) in &blocks {
                let r = &rows[i];
                let norm = r.iter().map(|e| e.1 * e.1).sum::<f32>().sqrt();
                if norm > 0.0 {
                    row.extend(r.iter().map(|&(c, v)| (c + offset, weight * v / norm)));
                }
                offset += *width as u32;
            }
            let norm = row.iter().map(|e| e.1 * e.1).sum::<f32>().sqrt();
            for (c, v) in row {
                indices.push(c);
                values.push(if norm > 0.0 { v / norm } else { 0.0 });
            }
            indptr.push(indices.len());
        }
        if total == 0 || indices.is_empty() {
            return Err(FitError::Unsupported(
            "content: no item has genres or a synopsis in the catalogue; check anime.csv / anime_with_synopsis.csv".into(),
        ));
        }
        Ok(Part::Content {
            vectors: Csr {
                n_rows: n,
                n_cols: total,
                indptr,
                indices,
                values,
            },
            like_quantile: *like_quantile,
        })
    }

    /// Multiplies indicator counts by smoothed IDF, ln((1 + N) / (1 + df)) + 1.
    fn idf_weight(rows: Vec<Vec<(u32, f32)>>, width: usize) -> Vec<Vec<(u32, f32)>> {
        let mut df = vec![0u32; width];
        for r in &rows {
            for &(c, _) in r {
                df[c as usize] += 1;
            }
        }
        let n = rows.len() as f32;
        rows.into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|(c, v)| {
                        (
                            c,
                            v * (((1.0 + n) / (1.0 + df[c as usize] as f32)).ln() + 1.0),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    fn synopsis_tfidf(
        entries: &[Option<&Anime>],
        min_df: u32,
        max_features: usize,
    ) -> (Vec<Vec<(u32, f32)>>, usize) {
        let docs: Vec<HashMap<String, u32>> = entries
            .iter()
            .map(|a| {
                let mut tf: HashMap<String, u32> = HashMap::new();
                if let Some(s) = a.and_then(|a| a.synopsis.as_deref()) {
                    for t in tokens(s) {
                        *tf.entry(t).or_default() += 1;
                    }
                }
                tf
            })
            .collect();
        let mut df: HashMap<&str, u32> = HashMap::new();
        for d in &docs {
            for t in d.keys() {
                *df.entry(t.as_str()).or_default() += 1;
            }
        }
        let mut vocab: Vec<(&str, u32)> = df
            .into_iter()
            .filter(|&(_, c)| c >= min_df.max(1))
            .collect();
        // Most frequent terms first, ties alphabetical, so the vocabulary is deterministic.
        vocab.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        vocab.truncate(max_features);
        let index: HashMap<&str, (u32, u32)> = vocab
            .iter()
            .enumerate()
            .map(|(k, &(t, c))| (t, (k as u32, c)))
            .collect();
        let n = entries.len() as f32;
        let rows = docs
            .iter()
            .map(|d| {
                let mut r: Vec<(u32, f32)> = d
                    .iter()
                    .filter_map(|(t, &tf)| {
                        index.get(t.as_str()).map(|&(k, df)| {
                            (
                                k,
                                (1.0 + (tf as f32).ln())
                                    * (((1.0 + n) / (1.0 + df as f32)).ln() + 1.0),
                            )
                        })
                    })
                    .collect();
                r.sort_unstable_by_key(|e| e.0);
                r
            })
            .collect();
        (rows, vocab.len())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn tokens_drop_short_words_and_stopwords() {
            let t: Vec<String> = tokens("The ninja, Naruto! and a fox-demon.").collect();
            assert_eq!(t, ["ninja", "naruto", "fox", "demon"]);
        }
    }
}
