//! The `model:` section: `kind` picks a registered model (`model::kinds`),
//! whose own keys are parsed and checked there; a key that belongs to
//! another kind (or to none) is an error naming the kind's allowed keys.
//! `hybrid` is the one kind defined here, since its members are sections.

use super::{deserialize_at, invalid, ConfigError};
use crate::model::kinds::{self, popularity::Popularity};
use crate::model::params::ParamError;
use crate::model::spec::{Checked, ModelKeys, ModelSpec};
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};
use std::path::Path;
use std::sync::Arc;

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
#[derive(Debug, Clone)]
pub struct HybridMember {
    /// Blend weight (1 and unused under `weights: auto`).
    pub weight: f32,
    /// The member model (never a hybrid).
    pub model: Arc<dyn ModelSpec>,
}

impl PartialEq for HybridMember {
    fn eq(&self, other: &Self) -> bool {
        self.weight == other.weight && same(&*self.model, &*other.model)
    }
}

fn same(a: &dyn ModelSpec, b: &dyn ModelSpec) -> bool {
    a.kind() == b.kind() && a.keys() == b.keys()
}

/// A validated model section.
#[derive(Debug, Clone)]
pub enum ModelConfig {
    /// One model of a registered kind (`model::kinds`).
    Single(Arc<dyn ModelSpec>),
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

/// Popularity: what an experiment without a `model:` section runs.
impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig::Single(Arc::new(Popularity::checked()))
    }
}

impl PartialEq for ModelConfig {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ModelConfig::Single(a), ModelConfig::Single(b)) => same(&**a, &**b),
            (
                ModelConfig::Hybrid {
                    members: a,
                    normalization: na,
                    weights: wa,
                },
                ModelConfig::Hybrid {
                    members: b,
                    normalization: nb,
                    weights: wb,
                },
            ) => a == b && na == nb && wa == wb,
            _ => false,
        }
    }
}

impl ModelConfig {
    /// A single model from keys built in code; checked like a file's.
    pub fn of<K: ModelKeys>(keys: K) -> Result<Self, ParamError> {
        Ok(ModelConfig::Single(Arc::new(Checked::new(keys)?)))
    }

    /// The kind's name as written in YAML.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelConfig::Single(m) => m.kind(),
            ModelConfig::Hybrid { .. } => "hybrid",
        }
    }

    /// The models this section fits: itself, or a hybrid's members.
    pub fn specs(&self) -> Vec<&dyn ModelSpec> {
        match self {
            ModelConfig::Single(m) => vec![&**m],
            ModelConfig::Hybrid { members, .. } => members.iter().map(|m| &*m.model).collect(),
        }
    }

    /// Parses a `model:` mapping (absent means popularity).
    pub(crate) fn from_value(
        v: Option<&Value>,
        file: &Path,
        key: &str,
    ) -> Result<Self, ConfigError> {
        let Some(v) = v else {
            return Ok(ModelConfig::default());
        };
        let (kind, rest) = split_kind(v, file, key)?;
        if kind == "hybrid" {
            return hybrid_from(rest, file, key);
        }
        Ok(ModelConfig::Single(single(&kind, rest, file, key)?))
    }

    /// The model section as YAML, `kind` first, defaults filled in.
    pub fn to_value(&self) -> Value {
        match self {
            ModelConfig::Single(m) => section(&**m),
            ModelConfig::Hybrid {
                members,
                normalization,
                weights,
            } => {
                let mut p = Mapping::new();
                p.insert("kind".into(), "hybrid".into());
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
                        let mut v = section(&*mem.model);
                        if let (Value::Mapping(mm), HybridWeights::Fixed) = (&mut v, weights) {
                            mm.insert("weight".into(), Value::from(f64::from(mem.weight)));
                        }
                        v
                    })
                    .collect();
                p.insert("members".into(), Value::Sequence(ms));
                Value::Mapping(p)
            }
        }
    }
}

/// `kind` first, then the model's keys.
fn section(m: &dyn ModelSpec) -> Value {
    let mut out = Mapping::new();
    out.insert("kind".into(), m.kind().into());
    if let Value::Mapping(keys) = m.keys() {
        out.extend(keys);
    }
    Value::Mapping(out)
}

/// The `kind` of a model mapping and the mapping without it.
fn split_kind(v: &Value, file: &Path, key: &str) -> Result<(String, Value), ConfigError> {
    let kinds = kinds::names();
    let Value::Mapping(map) = v else {
        return Err(invalid(
            file,
            key,
            format!(
                "{} is not allowed; allowed: a mapping with `kind: <{kinds}>`",
                super::load::short(v)
            ),
        ));
    };
    let mut map = map.clone();
    match map.remove("kind") {
        Some(Value::String(s)) => Ok((s, Value::Mapping(map))),
        Some(other) => Err(invalid(
            file,
            &format!("{key}.kind"),
            format!(
                "{} is not allowed; allowed: {kinds}",
                super::load::short(&other)
            ),
        )),
        None => Err(invalid(
            file,
            &format!("{key}.kind"),
            format!("missing; allowed: {kinds}"),
        )),
    }
}

/// A registered (non-hybrid) kind's section, parsed and checked.
fn single(
    kind: &str,
    rest: Value,
    file: &Path,
    key: &str,
) -> Result<Arc<dyn ModelSpec>, ConfigError> {
    match kinds::find(kind) {
        Some(k) => k.build(rest, file, key),
        None => Err(invalid(
            file,
            &format!("{key}.kind"),
            format!("{kind:?} is not allowed; allowed: {}", kinds::names()),
        )),
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
        let (kind, rest) = split_kind(&Value::Mapping(m), file, &mkey)?;
        if kind == "hybrid" {
            return Err(invalid(
                file,
                &format!("{mkey}.kind"),
                "a hybrid cannot contain a hybrid",
            ));
        }
        let model = single(&kind, rest, file, &mkey)?;
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
        let want = ModelConfig::of(crate::model::kinds::ease::Ease {
            l2: 500.0,
            prune_top_k: 1000,
        });
        assert_eq!(Ok(m), want);
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
