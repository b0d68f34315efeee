//! Experiment configuration: YAML → merged mapping (`extends`, `--set`) →
//! typed, validated [`Experiment`]. Unknown keys and bad values are errors that
//! name the file, the key path, the bad value and what is allowed.
//!
//! The shape follows linfa's "unchecked params → check() → checked params":
//! serde does the structural part (types, unknown keys, enum variants) and
//! [`Experiment::check`] the value ranges and cross-field rules.

pub(crate) mod load;
mod model;
mod schema;
mod sweep;

pub(crate) use load::get_path;
pub use model::{HybridMember, HybridWeights, ModelConfig, Normalization};
pub use schema::*;
pub use sweep::{EarlyStop, ParamSpace, SweepConfig, SweepGoal, SweepMethod, EPOCH_METRICS};

use std::path::{Path, PathBuf};

/// Everything that can be wrong with an experiment file or an override.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// File named.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// Not YAML at all.
    #[error("{path}: not valid YAML: {msg}")]
    Yaml {
        /// File named.
        path: PathBuf,
        /// Parser message with line and column.
        msg: String,
    },
    /// `extends` loops back on itself.
    #[error("{path}: `extends` forms a cycle; remove one of the extends lines")]
    ExtendsCycle {
        /// File where the cycle closes.
        path: PathBuf,
    },
    /// A malformed `--set` argument.
    #[error("--set {arg}: {msg}")]
    BadSet {
        /// The argument as given.
        arg: String,
        /// What is wrong.
        msg: String,
    },
    /// A key or value that the schema does not allow.
    #[error("{}: {key}: {msg}", file.display())]
    Invalid {
        /// Experiment file (the one given on the command line).
        file: PathBuf,
        /// Dotted key path.
        key: String,
        /// The bad value and what is allowed.
        msg: String,
    },
}

/// Loads an experiment: follows `extends`, applies `--set` overrides, checks
/// the result.
pub fn load_experiment(path: &Path, overrides: &[String]) -> Result<Experiment, ConfigError> {
    let mut merged = load::load_merged(path)?;
    for o in overrides {
        load::apply_set(&mut merged, o)?;
    }
    Experiment::from_value(merged, path)
}

impl Experiment {
    /// Deserialises and checks a merged mapping; `file` is named in errors.
    pub fn from_value(value: serde_yaml::Value, file: &Path) -> Result<Self, ConfigError> {
        let mut value = value;
        let model = match &mut value {
            serde_yaml::Value::Mapping(m) => m.remove("model"),
            _ => None,
        };
        let mut exp: Experiment = deserialize_at(value, file, "")?;
        exp.model = ModelConfig::from_value(model.as_ref(), file, "model")?;
        exp.source_file = file.to_path_buf();
        exp.check()?;
        Ok(exp)
    }

    /// The fully resolved config (defaults filled in) as YAML: what a run saves.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(&self.to_value()).unwrap_or_default()
    }

    /// The fully resolved config as a YAML value.
    pub fn to_value(&self) -> serde_yaml::Value {
        let mut v = serde_yaml::to_value(self).unwrap_or(serde_yaml::Value::Null);
        if let serde_yaml::Value::Mapping(m) = &mut v {
            m.insert("model".into(), self.model.to_value());
        }
        v
    }

    /// The resolved config flattened to dotted keys (for tracking parameters).
    pub fn flat_params(&self) -> Vec<(String, String)> {
        flatten(&self.to_value(), &|v| match v {
            serde_yaml::Value::Null => None,
            other => Some(load::short(other).trim_matches('"').to_string()),
        })
    }
}

/// A YAML tree as dotted keys (`model.members.0.kind` is not produced:
/// mappings nest, anything else is a leaf) in document order. `leaf`
/// renders a leaf, or drops it with `None`.
pub(crate) fn flatten(
    v: &serde_yaml::Value,
    leaf: &dyn Fn(&serde_yaml::Value) -> Option<String>,
) -> Vec<(String, String)> {
    fn walk(
        prefix: &str,
        v: &serde_yaml::Value,
        leaf: &dyn Fn(&serde_yaml::Value) -> Option<String>,
        out: &mut Vec<(String, String)>,
    ) {
        let serde_yaml::Value::Mapping(m) = v else {
            if let Some(s) = leaf(v) {
                out.push((prefix.to_string(), s));
            }
            return;
        };
        for (k, v) in m {
            let k = k
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{k:?}"));
            let key = if prefix.is_empty() {
                k
            } else {
                format!("{prefix}.{k}")
            };
            walk(&key, v, leaf, out);
        }
    }
    let mut out = Vec::new();
    walk("", v, leaf, &mut out);
    out
}

/// serde deserialisation that reports the dotted key path of the failure.
pub(crate) fn deserialize_at<T: serde::de::DeserializeOwned>(
    value: serde_yaml::Value,
    file: &Path,
    prefix: &str,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let key = match (prefix.is_empty(), inner.as_str()) {
            (true, ".") => "(top level)".to_string(),
            (true, _) => inner,
            (false, ".") => prefix.to_string(),
            (false, _) => format!("{prefix}.{inner}"),
        };
        ConfigError::Invalid {
            file: file.to_path_buf(),
            key,
            msg: e.into_inner().to_string(),
        }
    })
}

pub(crate) fn invalid(file: &Path, key: &str, msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_path_buf(),
        key: key.into(),
        msg: msg.into(),
    }
}
