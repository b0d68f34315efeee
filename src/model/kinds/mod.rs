//! The model kinds and their registry. Each file is one kind: its YAML keys
//! with defaults, their range check and its fit (see `model::spec`). Adding
//! a kind is a new file here and one line in [`BUILTIN`]; a program built
//! on the library can add its own with [`register`] (see
//! `examples/custom_model.rs`).

pub mod content;
pub mod dlae;
pub mod ease;
pub mod feature_mf;
pub mod mf_bpr;
pub mod mult_vae;
pub mod popularity;
pub mod recommender_net;
pub mod slim;
pub mod user_knn;

use super::spec::{Checked, ModelKeys, ModelSpec};
use crate::config::{deserialize_at, invalid, ConfigError};
use serde_yaml::Value;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

/// The kinds this crate ships, in the order error messages list them.
const BUILTIN: [Kind; 11] = [
    kind::<popularity::Popularity>(),
    kind::<ease::Ease>(),
    kind::<user_knn::UserKnn>(),
    kind::<content::Content>(),
    kind::<recommender_net::RecommenderNet>(),
    kind::<mf_bpr::MfBpr>(),
    kind::<slim::Slim>(),
    kind::<dlae::Dlae>(),
    kind::<dlae::Edlae>(),
    kind::<mult_vae::MultVae>(),
    kind::<feature_mf::FeatureMf>(),
];

/// Kinds added at run time by a program built on the library.
static EXTRA: RwLock<Vec<Kind>> = RwLock::new(Vec::new());

/// A registered model kind: its `model.kind` name and how its section is
/// parsed and checked.
#[derive(Clone, Copy)]
pub struct Kind {
    /// `model.kind` as written in YAML.
    pub name: &'static str,
    build: Build,
}

/// Parses and checks one kind's section (`kind` removed) at a file and key.
type Build = fn(Value, &Path, &str) -> Result<Arc<dyn ModelSpec>, ConfigError>;

/// The registry entry of `K`.
pub const fn kind<K: ModelKeys>() -> Kind {
    Kind {
        name: K::KIND,
        build: build::<K>,
    }
}

fn build<K: ModelKeys>(
    section: Value,
    file: &Path,
    key: &str,
) -> Result<Arc<dyn ModelSpec>, ConfigError> {
    let keys: K = deserialize_at(section, file, key)?;
    let checked =
        Checked::new(keys).map_err(|e| invalid(file, &format!("{key}.{}", e.key), e.msg))?;
    Ok(Arc::new(checked))
}

impl Kind {
    /// Parses and checks a section of this kind (`kind` already removed);
    /// errors name `file` and the key path under `key`.
    pub(crate) fn build(
        &self,
        section: Value,
        file: &Path,
        key: &str,
    ) -> Result<Arc<dyn ModelSpec>, ConfigError> {
        (self.build)(section, file, key)
    }
}

/// Why [`register`] refused a kind.
#[derive(Debug, thiserror::Error)]
#[error("model kind {0:?} is already registered; choose another name")]
pub struct AlreadyRegistered(pub &'static str);

/// Adds a kind for the rest of the process (call it before loading
/// configs). `hybrid` and every registered name are taken.
pub fn register(k: Kind) -> Result<(), AlreadyRegistered> {
    let mut extra = EXTRA.write().unwrap_or_else(PoisonError::into_inner);
    if k.name == "hybrid" || find_in(&extra, k.name).is_some() {
        return Err(AlreadyRegistered(k.name));
    }
    extra.push(k);
    Ok(())
}

fn find_in(extra: &[Kind], name: &str) -> Option<Kind> {
    BUILTIN
        .iter()
        .chain(extra)
        .find(|k| k.name == name)
        .copied()
}

/// The kind registered as `name`.
pub fn find(name: &str) -> Option<Kind> {
    find_in(&EXTRA.read().unwrap_or_else(PoisonError::into_inner), name)
}

/// Every kind name, `hybrid` last, for "allowed:" lists.
pub fn names() -> String {
    let extra = EXTRA.read().unwrap_or_else(PoisonError::into_inner);
    let mut out: Vec<&str> = BUILTIN.iter().chain(extra.iter()).map(|k| k.name).collect();
    out.push("hybrid");
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_names_are_distinct() {
        let mut names: Vec<&str> = BUILTIN.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), BUILTIN.len());
        assert!(register(kind::<ease::Ease>()).is_err());
    }
}
