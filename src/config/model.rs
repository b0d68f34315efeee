//! The `model:` section. Each kind has its own keys; a key that belongs to
//! another kind (or to none) is an error naming the kinds' allowed keys.

use super::{deserialize_at, invalid, ConfigError};
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};
use std::path::Path;

/// Where user_knn measures user similarity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Similarity {
    /// Cosine of the users' (mean-centred) rating vectors.
    #[default]
    Ratings,
    /// Cosine of user embeddings learnt by a matrix-factorisation model.
    Embeddings,
}

/// How hybrid puts member scores on one scale before blending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    /// Per-user min-max over the candidates.
    #[default]
    Minmax,
    /// Per-user rank → 1 - rank / n.
    Rank,
    /// Per-user z-score.
    Zscore,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct EaseParams {
    l2: f32,
    prune_top_k: usize,
}
impl Default for EaseParams {
    fn default() -> Self {
        Self {
            l2: 500.0,
            prune_top_k: 1000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct UserKnnParams {
    neighbors: usize,
    similarity: Similarity,
    like_quantile: f32,
    factors: usize,
}
impl Default for UserKnnParams {
    fn default() -> Self {
        Self {
            neighbors: 50,
            similarity: Similarity::Ratings,
            like_quantile: 0.75,
            factors: 64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ContentParams {
    genre_weight: f32,
    synopsis_weight: f32,
    type_weight: f32,
    studio_weight: f32,
    min_df: u32,
    max_features: usize,
    like_quantile: f32,
}
impl Default for ContentParams {
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RecNetParams {
    embedding_dim: usize,
}
impl Default for RecNetParams {
    fn default() -> Self {
        Self { embedding_dim: 128 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct MfParams {
    factors: usize,
    epochs: u32,
    lr: f64,
    reg: f64,
    batch_size: usize,
    min_rating: f32,
}
impl Default for MfParams {
    fn default() -> Self {
        Self {
            factors: 64,
            epochs: 30,
            lr: 0.01,
            reg: 1e-5,
            batch_size: 4096,
            min_rating: 0.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct HybridParams {
    normalization: Normalization,
}

/// One member of a hybrid blend.
#[derive(Debug, Clone, PartialEq)]
pub struct HybridMember {
    /// Blend weight.
    pub weight: f32,
    /// The member model.
    pub model: ModelConfig,
}

/// A validated model section.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ModelConfig {
    /// Most-rated items first: the baseline every model must beat.
    #[default]
    Popularity,
    /// EASE (Steck 2019): closed-form item-item ridge regression.
    Ease {
        /// L2 regularisation λ.
        l2: f32,
        /// Keep this many strongest weights per item (0 = all) so the bundle stays small.
        prune_top_k: usize,
    },
    /// User-based collaborative filtering.
    UserKnn {
        /// Neighbours per user.
        neighbors: usize,
        /// What similarity is computed on.
        similarity: Similarity,
        /// A neighbour's item counts as liked at or above this quantile of their ratings.
        like_quantile: f32,
        /// Embedding size when `similarity: embeddings`.
        factors: usize,
    },
    /// Content-based: TF-IDF over genres and synopsis (type/studio optional).
    Content {
        /// Weight of the genre block.
        genre_weight: f32,
        /// Weight of the synopsis TF-IDF block.
        synopsis_weight: f32,
        /// Weight of the type one-hot block.
        type_weight: f32,
        /// Weight of the studio block.
        studio_weight: f32,
        /// Minimum document frequency of a synopsis term.
        min_df: u32,
        /// Vocabulary cap.
        max_features: usize,
        /// Items at or above this quantile of a user's ratings build the profile.
        like_quantile: f32,
    },
    /// The original project's neural model (burn).
    RecommenderNet {
        /// Embedding size.
        embedding_dim: usize,
    },
    /// Matrix factorisation trained with BPR (burn).
    MfBpr {
        /// Latent factors.
        factors: usize,
        /// Epochs.
        epochs: u32,
        /// Adam learning rate.
        lr: f64,
        /// L2 on the embeddings.
        reg: f64,
        /// Triples per batch.
        batch_size: usize,
        /// Train rows rated at least this are positives (0: every rated row).
        min_rating: f32,
    },
    /// Weighted blend of normalised member scores.
    Hybrid {
        /// Members and weights.
        members: Vec<HybridMember>,
        /// Score normalisation.
        normalization: Normalization,
    },
}

const KINDS: &str = "popularity, ease, user_knn, content, recommender_net, mf_bpr, hybrid";

impl ModelConfig {
    /// The kind's name as written in YAML.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelConfig::Popularity => "popularity",
            ModelConfig::Ease { .. } => "ease",
            ModelConfig::UserKnn { .. } => "user_knn",
            ModelConfig::Content { .. } => "content",
            ModelConfig::RecommenderNet { .. } => "recommender_net",
            ModelConfig::MfBpr { .. } => "mf_bpr",
            ModelConfig::Hybrid { .. } => "hybrid",
        }
    }

    /// Parses a `model:` mapping (absent means popularity).
    pub(crate) fn from_value(
        v: Option<&Value>,
        file: &Path,
        key: &str,
    ) -> Result<Self, ConfigError> {
        let Some(v) = v else {
            return Ok(ModelConfig::Popularity);
        };
        let Value::Mapping(map) = v else {
            return Err(invalid(
                file,
                key,
                format!(
                    "{} is not allowed; allowed: a mapping with `kind: <{KINDS}>`",
                    super::load::short(v)
                ),
            ));
        };
        let mut map = map.clone();
        let kind = match map.remove("kind") {
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(invalid(
                    file,
                    &format!("{key}.kind"),
                    format!(
                        "{} is not allowed; allowed: {KINDS}",
                        super::load::short(&other)
                    ),
                ))
            }
            None => {
                return Err(invalid(
                    file,
                    &format!("{key}.kind"),
                    format!("missing; allowed: {KINDS}"),
                ))
            }
        };
        let rest = Value::Mapping(map);
        let m = match kind.as_str() {
            "popularity" => {
                let _: Empty = deserialize_at(rest, file, key)?;
                ModelConfig::Popularity
            }
            "ease" => {
                let p: EaseParams = deserialize_at(rest, file, key)?;
                ModelConfig::Ease {
                    l2: p.l2,
                    prune_top_k: p.prune_top_k,
                }
            }
            "user_knn" => {
                let p: UserKnnParams = deserialize_at(rest, file, key)?;
                ModelConfig::UserKnn {
                    neighbors: p.neighbors,
                    similarity: p.similarity,
                    like_quantile: p.like_quantile,
                    factors: p.factors,
                }
            }
            "content" => {
                let p: ContentParams = deserialize_at(rest, file, key)?;
                ModelConfig::Content {
                    genre_weight: p.genre_weight,
                    synopsis_weight: p.synopsis_weight,
                    type_weight: p.type_weight,
                    studio_weight: p.studio_weight,
                    min_df: p.min_df,
                    max_features: p.max_features,
                    like_quantile: p.like_quantile,
                }
            }
            "recommender_net" => {
                let p: RecNetParams = deserialize_at(rest, file, key)?;
                ModelConfig::RecommenderNet {
                    embedding_dim: p.embedding_dim,
                }
            }
            "mf_bpr" => {
                let p: MfParams = deserialize_at(rest, file, key)?;
                ModelConfig::MfBpr {
                    factors: p.factors,
                    epochs: p.epochs,
                    lr: p.lr,
                    reg: p.reg,
                    batch_size: p.batch_size,
                    min_rating: p.min_rating,
                }
            }
            "hybrid" => {
                let Value::Mapping(mut map) = rest else {
                    unreachable!("built as a mapping above")
                };
                let members_v = map.remove("members");
                let p: HybridParams = deserialize_at(Value::Mapping(map), file, key)?;
                let Some(Value::Sequence(items)) = members_v else {
                    return Err(invalid(
                        file,
                        &format!("{key}.members"),
                        "missing; allowed: a list of member models, each with `kind` and `weight`",
                    ));
                };
                let mut members = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let mkey = format!("{key}.members.{i}");
                    let Value::Mapping(m) = item else {
                        return Err(invalid(
                            file,
                            &mkey,
                            "allowed: a mapping with `kind` and `weight`",
                        ));
                    };
                    let mut m = m.clone();
                    let weight = match m.remove("weight") {
                        None => 1.0,
                        Some(w) => w
                            .as_f64()
                            .filter(|w| w.is_finite() && *w >= 0.0)
                            .ok_or_else(|| {
                                invalid(
                                    file,
                                    &format!("{mkey}.weight"),
                                    format!(
                                        "{} is not allowed; allowed: a number >= 0",
                                        super::load::short(&w)
                                    ),
                                )
                            })? as f32,
                    };
                    let model = ModelConfig::from_value(Some(&Value::Mapping(m)), file, &mkey)?;
                    if matches!(model, ModelConfig::Hybrid { .. }) {
                        return Err(invalid(
                            file,
                            &format!("{mkey}.kind"),
                            "a hybrid cannot contain a hybrid",
                        ));
                    }
                    members.push(HybridMember { weight, model });
                }
                if members.is_empty() || members.iter().all(|m| m.weight == 0.0) {
                    return Err(invalid(
                        file,
                        &format!("{key}.members"),
                        "needs at least one member with a positive weight",
                    ));
                }
                ModelConfig::Hybrid {
                    members,
                    normalization: p.normalization,
                }
            }
            other => {
                return Err(invalid(
                    file,
                    &format!("{key}.kind"),
                    format!("{other:?} is not allowed; allowed: {KINDS}"),
                ))
            }
        };
        m.check(file, key)?;
        Ok(m)
    }

    fn check(&self, file: &Path, key: &str) -> Result<(), ConfigError> {
        let bad = |k: &str, msg: String| Err(invalid(file, &format!("{key}.{k}"), msg));
        match self {
            ModelConfig::Ease { l2, .. } if !(l2.is_finite() && *l2 > 0.0) => bad(
                "l2",
                format!("{l2} is not allowed; allowed: a positive number"),
            ),
            ModelConfig::UserKnn {
                neighbors,
                like_quantile,
                factors,
                ..
            } => {
                if *neighbors == 0 {
                    return bad(
                        "neighbors",
                        "0 is not allowed; allowed: a positive integer".into(),
                    );
                }
                if *factors == 0 {
                    return bad(
                        "factors",
                        "0 is not allowed; allowed: a positive integer".into(),
                    );
                }
                quantile_ok(*like_quantile).then_some(()).map_or_else(
                    || {
                        bad(
                            "like_quantile",
                            format!("{like_quantile} is not allowed; allowed: a number in [0, 1]"),
                        )
                    },
                    Ok,
                )
            }
            ModelConfig::Content {
                like_quantile,
                max_features,
                genre_weight,
                synopsis_weight,
                type_weight,
                studio_weight,
                ..
            } => {
                if !quantile_ok(*like_quantile) {
                    return bad(
                        "like_quantile",
                        format!("{like_quantile} is not allowed; allowed: a number in [0, 1]"),
                    );
                }
                if *max_features == 0 {
                    return bad(
                        "max_features",
                        "0 is not allowed; allowed: a positive integer".into(),
                    );
                }
                let ws = [genre_weight, synopsis_weight, type_weight, studio_weight];
                if ws.iter().any(|w| !(w.is_finite() && **w >= 0.0))
                    || ws.iter().all(|w| **w == 0.0)
                {
                    return bad(
                        "genre_weight",
                        "feature weights must be >= 0 and at least one positive".into(),
                    );
                }
                Ok(())
            }
            ModelConfig::RecommenderNet { embedding_dim } if *embedding_dim == 0 => bad(
                "embedding_dim",
                "0 is not allowed; allowed: a positive integer".into(),
            ),
            ModelConfig::MfBpr {
                factors,
                epochs,
                lr,
                reg,
                batch_size,
                ..
            } => {
                if *factors == 0 || *epochs == 0 || *batch_size == 0 {
                    return bad(
                        "factors",
                        "factors, epochs and batch_size must be positive integers".into(),
                    );
                }
                if !(lr.is_finite() && *lr > 0.0 && reg.is_finite() && *reg >= 0.0) {
                    return bad("lr", "lr must be positive and reg >= 0".into());
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The model section as YAML, `kind` first, defaults filled in.
    pub fn to_value(&self) -> Value {
        let mut m = Mapping::new();
        m.insert("kind".into(), self.kind().into());
        let params = match self {
            ModelConfig::Popularity => Value::Null,
            ModelConfig::Ease { l2, prune_top_k } => serde_yaml::to_value(EaseParams {
                l2: *l2,
                prune_top_k: *prune_top_k,
            })
            .unwrap_or(Value::Null),
            ModelConfig::UserKnn {
                neighbors,
                similarity,
                like_quantile,
                factors,
            } => serde_yaml::to_value(UserKnnParams {
                neighbors: *neighbors,
                similarity: *similarity,
                like_quantile: *like_quantile,
                factors: *factors,
            })
            .unwrap_or(Value::Null),
            ModelConfig::Content {
                genre_weight,
                synopsis_weight,
                type_weight,
                studio_weight,
                min_df,
                max_features,
                like_quantile,
            } => serde_yaml::to_value(ContentParams {
                genre_weight: *genre_weight,
                synopsis_weight: *synopsis_weight,
                type_weight: *type_weight,
                studio_weight: *studio_weight,
                min_df: *min_df,
                max_features: *max_features,
                like_quantile: *like_quantile,
            })
            .unwrap_or(Value::Null),
            ModelConfig::RecommenderNet { embedding_dim } => serde_yaml::to_value(RecNetParams {
                embedding_dim: *embedding_dim,
            })
            .unwrap_or(Value::Null),
            ModelConfig::MfBpr {
                factors,
                epochs,
                lr,
                reg,
                batch_size,
                min_rating,
            } => serde_yaml::to_value(MfParams {
                factors: *factors,
                epochs: *epochs,
                lr: *lr,
                reg: *reg,
                batch_size: *batch_size,
                min_rating: *min_rating,
            })
            .unwrap_or(Value::Null),
            ModelConfig::Hybrid {
                members,
                normalization,
            } => {
                let mut p = Mapping::new();
                p.insert(
                    "normalization".into(),
                    serde_yaml::to_value(normalization).unwrap_or(Value::Null),
                );
                let ms: Vec<Value> = members
                    .iter()
                    .map(|mem| {
                        let mut v = mem.model.to_value();
                        if let Value::Mapping(mm) = &mut v {
                            mm.insert("weight".into(), Value::from(f64::from(mem.weight)));
                        }
                        v
                    })
                    .collect();
                p.insert("members".into(), Value::Sequence(ms));
                Value::Mapping(p)
            }
        };
        if let Value::Mapping(p) = params {
            m.extend(p);
        }
        Value::Mapping(m)
    }
}

fn quantile_ok(q: f32) -> bool {
    (0.0..=1.0).contains(&q)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ModelConfig, ConfigError> {
        let v: Value = serde_yaml::from_str(s).unwrap();
        ModelConfig::from_value(Some(&v), Path::new("x.yaml"), "model")
    }

    #[test]
    fn kinds_parse_with_defaults_and_round_trip() {
        let m = parse("kind: ease").unwrap();
        assert_eq!(
            m,
            ModelConfig::Ease {
                l2: 500.0,
                prune_top_k: 1000
            }
        );
        let h = parse("kind: hybrid\nnormalization: rank\nmembers:\n  - {kind: ease, weight: 0.7, l2: 100}\n  - {kind: popularity, weight: 0.3}\n").unwrap();
        let back = ModelConfig::from_value(Some(&h.to_value()), Path::new("x"), "model").unwrap();
        assert_eq!(h, back);
    }

    #[test]
    fn key_of_another_kind_is_named() {
        let e = parse("kind: ease\nembedding_dim: 64")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.yaml: model"), "{e}");
        assert!(e.contains("embedding_dim") && e.contains("l2"), "{e}");
        let e = parse("kind: eas").unwrap_err().to_string();
        assert!(
            e.contains("model.kind") && e.contains("popularity, ease"),
            "{e}"
        );
        let e = parse("kind: hybrid\nmembers: [{kind: ease, l2: -1}]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("model.members.0.l2"), "{e}");
    }
}
