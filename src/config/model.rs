//! The `model:` section. Each kind has its own keys; a key that belongs to
//! another kind (or to none) is an error naming the kinds' allowed keys.

use super::{deserialize_at, invalid, ConfigError};
use crate::model::dlae::DlaeParams;
use crate::model::params::{self, ParamError, MAX_COUNT};
use crate::model::slim::SlimParams;
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

// The `*Keys` structs are each model section's YAML keys with their
// defaults, as deserialised; `ModelConfig` is what they check into. (The
// trainers' settings are `train::*Params`.)

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct EaseKeys {
    l2: f32,
    prune_top_k: usize,
}
impl Default for EaseKeys {
    fn default() -> Self {
        Self {
            l2: 500.0,
            prune_top_k: 1000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct UserKnnKeys {
    neighbors: usize,
    similarity: Similarity,
    like_quantile: f32,
    factors: usize,
}
impl Default for UserKnnKeys {
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
struct ContentKeys {
    genre_weight: f32,
    synopsis_weight: f32,
    type_weight: f32,
    studio_weight: f32,
    min_df: u32,
    max_features: usize,
    like_quantile: f32,
}
impl Default for ContentKeys {
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
struct RecNetKeys {
    embedding_dim: usize,
}
impl Default for RecNetKeys {
    fn default() -> Self {
        Self { embedding_dim: 128 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct MfBprKeys {
    factors: usize,
    epochs: u32,
    lr: f64,
    reg: f64,
    batch_size: usize,
    min_rating: f32,
}
impl Default for MfBprKeys {
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

/// How a hybrid's member weights are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HybridWeights {
    /// The `weight` written on each member.
    #[default]
    Fixed,
    /// Chosen by a search on the validation carve of train (PROTOCOL section
    /// 2, seed 43), then the members are refitted on all of train.
    Auto,
}

/// `normalization:` as written: one of the engine's, or `auto` (searched
/// alongside the weights).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum NormSetting {
    Minmax,
    Rank,
    Zscore,
    Auto,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct HybridKeys {
    normalization: Option<NormSetting>,
    weights: HybridWeights,
}

/// One member of a hybrid blend.
#[derive(Debug, Clone, PartialEq)]
pub struct HybridMember {
    /// Blend weight (1 and unused under `weights: auto`).
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
    /// SLIM: sparse non-negative item-item regression with an elastic net.
    Slim(SlimParams),
    /// DLAE: EASE with the dropout-derived penalty (Steck 2020).
    Dlae(DlaeParams),
    /// EDLAE: emphasised-denoising DLAE, EASE's zero-diagonal form with Λ.
    Edlae(DlaeParams),
    /// Weighted blend of normalised member scores.
    Hybrid {
        /// Members and weights.
        members: Vec<HybridMember>,
        /// Score normalisation; `None` (`normalization: auto`) lets
        /// `weights: auto` choose it.
        normalization: Option<Normalization>,
        /// Weights from the file or chosen on the validation carve.
        weights: HybridWeights,
    },
}

const KINDS: &str =
    "popularity, ease, user_knn, content, recommender_net, mf_bpr, slim, dlae, edlae, hybrid";

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
            ModelConfig::Slim(_) => "slim",
            ModelConfig::Dlae(_) => "dlae",
            ModelConfig::Edlae(_) => "edlae",
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
                let p: EaseKeys = deserialize_at(rest, file, key)?;
                ModelConfig::Ease {
                    l2: p.l2,
                    prune_top_k: p.prune_top_k,
                }
            }
            "user_knn" => {
                let p: UserKnnKeys = deserialize_at(rest, file, key)?;
                ModelConfig::UserKnn {
                    neighbors: p.neighbors,
                    similarity: p.similarity,
                    like_quantile: p.like_quantile,
                    factors: p.factors,
                }
            }
            "content" => {
                let p: ContentKeys = deserialize_at(rest, file, key)?;
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
                let p: RecNetKeys = deserialize_at(rest, file, key)?;
                ModelConfig::RecommenderNet {
                    embedding_dim: p.embedding_dim,
                }
            }
            "mf_bpr" => {
                let p: MfBprKeys = deserialize_at(rest, file, key)?;
                ModelConfig::MfBpr {
                    factors: p.factors,
                    epochs: p.epochs,
                    lr: p.lr,
                    reg: p.reg,
                    batch_size: p.batch_size,
                    min_rating: p.min_rating,
                }
            }
            "slim" => ModelConfig::Slim(deserialize_at(rest, file, key)?),
            "dlae" => ModelConfig::Dlae(deserialize_at(rest, file, key)?),
            "edlae" => ModelConfig::Edlae(deserialize_at(rest, file, key)?),
            "hybrid" => hybrid_from(rest, file, key)?,
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
        self.check_ranges()
            .map_err(|e| invalid(file, &format!("{key}.{}", e.key), e.msg))
    }

    /// Every numeric key within its allowed range, so no value read from a
    /// file or `--set` can size an allocation or a loop without bound.
    fn check_ranges(&self) -> Result<(), ParamError> {
        use params::{float, int};
        match self {
            ModelConfig::Popularity | ModelConfig::Hybrid { .. } => Ok(()),
            ModelConfig::Ease { l2, prune_top_k } => {
                float("l2", f64::from(*l2), 0.0, true, 1e9)?;
                int("prune_top_k", *prune_top_k as u64, 0, MAX_COUNT)
            }
            ModelConfig::UserKnn {
                neighbors,
                like_quantile,
                factors,
                ..
            } => {
                int("neighbors", *neighbors as u64, 1, MAX_COUNT)?;
                int("factors", *factors as u64, 1, 4096)?;
                float("like_quantile", f64::from(*like_quantile), 0.0, false, 1.0)
            }
            ModelConfig::Content {
                like_quantile,
                max_features,
                genre_weight,
                synopsis_weight,
                type_weight,
                studio_weight,
                min_df,
            } => {
                float("like_quantile", f64::from(*like_quantile), 0.0, false, 1.0)?;
                int("max_features", *max_features as u64, 1, 10_000_000)?;
                int("min_df", u64::from(*min_df), 0, MAX_COUNT)?;
                float("genre_weight", f64::from(*genre_weight), 0.0, false, 1e6)?;
                float(
                    "synopsis_weight",
                    f64::from(*synopsis_weight),
                    0.0,
                    false,
                    1e6,
                )?;
                float("type_weight", f64::from(*type_weight), 0.0, false, 1e6)?;
                float("studio_weight", f64::from(*studio_weight), 0.0, false, 1e6)?;
                let ws = [genre_weight, synopsis_weight, type_weight, studio_weight];
                if ws.iter().all(|w| **w == 0.0) {
                    return Err(ParamError::new(
                        "genre_weight",
                        "all feature weights are 0; allowed: at least one of genre_weight, synopsis_weight, type_weight, studio_weight positive",
                    ));
                }
                Ok(())
            }
            ModelConfig::RecommenderNet { embedding_dim } => {
                int("embedding_dim", *embedding_dim as u64, 1, 4096)
            }
            ModelConfig::MfBpr {
                factors,
                epochs,
                lr,
                reg,
                batch_size,
                min_rating,
            } => {
                int("factors", *factors as u64, 1, 4096)?;
                int("epochs", u64::from(*epochs), 1, 100_000)?;
                float("lr", *lr, 0.0, true, 10.0)?;
                float("reg", *reg, 0.0, false, 1e3)?;
                int("batch_size", *batch_size as u64, 1, 1 << 24)?;
                float("min_rating", f64::from(*min_rating), 0.0, false, 1e6)
            }
            ModelConfig::Slim(p) => p.check(),
            ModelConfig::Dlae(p) | ModelConfig::Edlae(p) => p.check(),
        }
    }

    /// The model section as YAML, `kind` first, defaults filled in.
    pub fn to_value(&self) -> Value {
        let mut m = Mapping::new();
        m.insert("kind".into(), self.kind().into());
        let params = match self {
            ModelConfig::Popularity => Value::Null,
            ModelConfig::Ease { l2, prune_top_k } => serde_yaml::to_value(EaseKeys {
                l2: *l2,
                prune_top_k: *prune_top_k,
            })
            .unwrap_or(Value::Null),
            ModelConfig::UserKnn {
                neighbors,
                similarity,
                like_quantile,
                factors,
            } => serde_yaml::to_value(UserKnnKeys {
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
            } => serde_yaml::to_value(ContentKeys {
                genre_weight: *genre_weight,
                synopsis_weight: *synopsis_weight,
                type_weight: *type_weight,
                studio_weight: *studio_weight,
                min_df: *min_df,
                max_features: *max_features,
                like_quantile: *like_quantile,
            })
            .unwrap_or(Value::Null),
            ModelConfig::RecommenderNet { embedding_dim } => serde_yaml::to_value(RecNetKeys {
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
            } => serde_yaml::to_value(MfBprKeys {
                factors: *factors,
                epochs: *epochs,
                lr: *lr,
                reg: *reg,
                batch_size: *batch_size,
                min_rating: *min_rating,
            })
            .unwrap_or(Value::Null),
            ModelConfig::Slim(p) => serde_yaml::to_value(p).unwrap_or(Value::Null),
            ModelConfig::Dlae(p) | ModelConfig::Edlae(p) => {
                serde_yaml::to_value(p).unwrap_or(Value::Null)
            }
            ModelConfig::Hybrid {
                members,
                normalization,
                weights,
            } => {
                let mut p = Mapping::new();
                let norm = match normalization {
                    Some(n) => serde_yaml::to_value(n).unwrap_or(Value::Null),
                    None => "auto".into(),
                };
                p.insert("normalization".into(), norm);
                p.insert(
                    "weights".into(),
                    serde_yaml::to_value(weights).unwrap_or(Value::Null),
                );
                let ms: Vec<Value> = members
                    .iter()
                    .map(|mem| {
                        let mut v = mem.model.to_value();
                        if let (Value::Mapping(mm), HybridWeights::Fixed) = (&mut v, weights) {
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

/// The `hybrid` kind: its own keys, then each member as a model section.
fn hybrid_from(rest: Value, file: &Path, key: &str) -> Result<ModelConfig, ConfigError> {
    let Value::Mapping(mut map) = rest else {
        return Err(invalid(file, key, "allowed: a mapping"));
    };
    let members_v = map.remove("members");
    let p: HybridKeys = deserialize_at(Value::Mapping(map), file, key)?;
    let auto = p.weights == HybridWeights::Auto;
    let normalization = match p.normalization {
        None if auto => None,
        None => Some(Normalization::Minmax),
        Some(NormSetting::Minmax) => Some(Normalization::Minmax),
        Some(NormSetting::Rank) => Some(Normalization::Rank),
        Some(NormSetting::Zscore) => Some(Normalization::Zscore),
        Some(NormSetting::Auto) if auto => None,
        Some(NormSetting::Auto) => {
            return Err(invalid(
                file,
                &format!("{key}.normalization"),
                "auto is allowed only with `weights: auto`; allowed: minmax, rank, zscore",
            ))
        }
    };
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
            Some(_) if auto => {
                return Err(invalid(
                    file,
                    &format!("{mkey}.weight"),
                    "not allowed with `weights: auto` (the weight is chosen on the validation carve); remove it or set `weights: fixed`",
                ))
            }
            Some(w) => w
                .as_f64()
                .filter(|w| w.is_finite() && (0.0..=1e6).contains(w))
                .ok_or_else(|| {
                    invalid(
                        file,
                        &format!("{mkey}.weight"),
                        format!(
                            "{} is not allowed; allowed: a number in [0, 1000000]",
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
    Ok(ModelConfig::Hybrid {
        members,
        normalization,
        weights: p.weights,
    })
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

    #[test]
    fn new_kinds_parse_and_round_trip() {
        for text in [
            "kind: slim\nalpha: 0.3\nl1_ratio: 0.003\ntop_k: 200",
            "kind: dlae\nl2: 500\ndropout: 0.5",
            "kind: edlae\nl2: 1000\ndropout: 0.4\nprune_top_k: 50",
            "kind: hybrid\nweights: auto\nmembers:\n  - {kind: slim}\n  - {kind: popularity}\n",
            "kind: hybrid\nweights: auto\nnormalization: rank\nmembers: [{kind: dlae}]\n",
        ] {
            let m = parse(text).unwrap();
            let back =
                ModelConfig::from_value(Some(&m.to_value()), Path::new("x"), "model").unwrap();
            assert_eq!(m, back, "{text}");
        }
        let ModelConfig::Hybrid {
            normalization,
            weights,
            ..
        } = parse("kind: hybrid\nweights: auto\nmembers: [{kind: slim}]").unwrap()
        else {
            panic!()
        };
        assert_eq!((normalization, weights), (None, HybridWeights::Auto));
    }

    #[test]
    fn auto_weights_refuse_written_weights_and_fixed_refuses_auto_normalisation() {
        let e = parse("kind: hybrid\nweights: auto\nmembers: [{kind: slim, weight: 1}]")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("model.members.0.weight") && e.contains("weights: auto"),
            "{e}"
        );
        let e = parse("kind: hybrid\nnormalization: auto\nmembers: [{kind: slim}]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("model.normalization"), "{e}");
    }

    #[test]
    fn every_numeric_key_is_bounded() {
        // (yaml, key named in the error, allowed range in the error)
        let cases = [
            (
                "kind: user_knn\nneighbors: 4611686018427387904",
                "model.neighbors",
                "[1, 1000000]",
            ),
            (
                "kind: user_knn\nneighbors: 0",
                "model.neighbors",
                "[1, 1000000]",
            ),
            (
                "kind: user_knn\nfactors: 100000",
                "model.factors",
                "[1, 4096]",
            ),
            (
                "kind: user_knn\nlike_quantile: 1.5",
                "model.like_quantile",
                "[0, 1]",
            ),
            ("kind: ease\nl2: 0", "model.l2", "(0, 1000000000]"),
            (
                "kind: ease\nprune_top_k: 99999999999",
                "model.prune_top_k",
                "[0, 1000000]",
            ),
            (
                "kind: content\nmax_features: 0",
                "model.max_features",
                "[1, 10000000]",
            ),
            (
                "kind: content\nmin_df: 4000000000",
                "model.min_df",
                "[0, 1000000]",
            ),
            (
                "kind: content\nstudio_weight: -1",
                "model.studio_weight",
                "[0, 1000000]",
            ),
            (
                "kind: recommender_net\nembedding_dim: 1000000",
                "model.embedding_dim",
                "[1, 4096]",
            ),
            ("kind: mf_bpr\nfactors: 0", "model.factors", "[1, 4096]"),
            (
                "kind: mf_bpr\nepochs: 4000000000",
                "model.epochs",
                "[1, 100000]",
            ),
            ("kind: mf_bpr\nlr: .inf", "model.lr", "(0, 10]"),
            ("kind: mf_bpr\nreg: -1", "model.reg", "[0, 1000]"),
            (
                "kind: mf_bpr\nbatch_size: 18446744073709551615",
                "model.batch_size",
                "[1, 16777216]",
            ),
            (
                "kind: mf_bpr\nmin_rating: .nan",
                "model.min_rating",
                "[0, 1000000]",
            ),
            ("kind: slim\nalpha: 0", "model.alpha", "(0, 1000000]"),
            ("kind: slim\nl1_ratio: 2", "model.l1_ratio", "[0, 1]"),
            ("kind: slim\ntop_k: 10000000", "model.top_k", "[0, 1000000]"),
            ("kind: slim\nmax_iter: 0", "model.max_iter", "[1, 100000]"),
            ("kind: slim\ntol: 0", "model.tol", "(0, 1]"),
            (
                "kind: slim\nmin_rating: -1",
                "model.min_rating",
                "[0, 1000000]",
            ),
            (
                "kind: dlae\nmin_rating: .inf",
                "model.min_rating",
                "[0, 1000000]",
            ),
            ("kind: dlae\ndropout: 1", "model.dropout", "[0, 0.95]"),
            ("kind: edlae\nl2: -3", "model.l2", "(0, 1000000000]"),
            (
                "kind: dlae\nprune_top_k: 10000000",
                "model.prune_top_k",
                "[0, 1000000]",
            ),
            (
                "kind: hybrid\nmembers: [{kind: popularity, weight: 1e300}]",
                "model.members.0.weight",
                "[0, 1000000]",
            ),
            (
                "kind: hybrid\nmembers: [{kind: slim, tol: 5}]",
                "model.members.0.tol",
                "(0, 1]",
            ),
        ];
        for (text, key, range) in cases {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.starts_with("x.yaml: "), "{text}: {e}");
            assert!(e.contains(&format!("{key}:")), "{text}: {e}");
            assert!(e.contains(range), "{text}: {e}");
        }
    }
}
