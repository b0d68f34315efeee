//! The model API. A model kind is one type holding its YAML keys (with
//! their defaults), implementing [`ModelKeys`]: a range `check`, and a `fit`
//! that turns the train split into one of the serving [`Part`]s. The
//! registry (`kinds/mod.rs`) maps `model.kind` to it; everything else —
//! YAML validation, `--set`, sweeps, trackers, evaluation, reports, the
//! bundle, `anirec recommend` and `anirec-serve` — goes through the
//! object-safe [`ModelSpec`] and needs no edit when a kind is added.
//!
//! Settings reach fitting only as [`Checked`] keys (linfa's unchecked
//! params → `check()` → checked params), so a fit never sees an
//! unbounded number read from a file.

#[cfg(feature = "train")]
use super::fit::{FitContext, FitError};
use super::params::ParamError;
#[cfg(feature = "train")]
use super::parts::Part;
use serde::{de::DeserializeOwned, Serialize};
use serde_yaml::Value;
use std::fmt::Debug;

/// A model kind's YAML section, as deserialised (unknown keys refused,
/// absent keys at their defaults), before [`ModelKeys::check`].
pub trait ModelKeys:
    Serialize + DeserializeOwned + Default + Clone + Debug + PartialEq + Send + Sync + 'static
{
    /// `model.kind` as written in YAML.
    const KIND: &'static str;

    /// Every key within its allowed range: numbers read from a file or
    /// `--set` size allocations and loops, so each is bounded here. The
    /// error names the key; the config layer adds the file and key path.
    fn check(&self) -> Result<(), ParamError>;

    /// Whether the fit trains epoch by epoch (per-epoch events, validation
    /// curves in the report, a sweep's pruner may stop it).
    fn trains(&self) -> bool {
        false
    }

    /// Fits on `ctx.data.train` and exports the serving part.
    #[cfg(feature = "train")]
    fn fit(&self, ctx: &mut FitContext) -> Result<Part, FitError>;
}

/// Keys that passed [`ModelKeys::check`]; the only way to build one is
/// [`Checked::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct Checked<K>(pub(in crate::model) K);

impl<K: ModelKeys> Checked<K> {
    /// Checks `keys` and wraps them.
    pub fn new(keys: K) -> Result<Self, ParamError> {
        keys.check()?;
        Ok(Self(keys))
    }
}

impl<K> std::ops::Deref for Checked<K> {
    type Target = K;
    fn deref(&self) -> &K {
        &self.0
    }
}

/// A checked model section of any kind: what `ModelConfig` holds and the
/// pipeline fits.
pub trait ModelSpec: Debug + Send + Sync {
    /// `model.kind` as written in YAML.
    fn kind(&self) -> &'static str;
    /// The keys with defaults filled in (config.yaml, trackers, reports),
    /// without `kind`.
    fn keys(&self) -> Value;
    /// See [`ModelKeys::trains`].
    fn trains(&self) -> bool;
    /// See [`ModelKeys::fit`].
    #[cfg(feature = "train")]
    fn fit(&self, ctx: &mut FitContext) -> Result<Part, FitError>;
}

impl<K: ModelKeys> ModelSpec for Checked<K> {
    fn kind(&self) -> &'static str {
        K::KIND
    }
    fn keys(&self) -> Value {
        // A keys struct is plain fields (numbers, strings, enums, options),
        // which serde_yaml always serialises; Null is only a fallback.
        serde_yaml::to_value(&self.0).unwrap_or(Value::Null)
    }
    fn trains(&self) -> bool {
        self.0.trains()
    }
    #[cfg(feature = "train")]
    fn fit(&self, ctx: &mut FitContext) -> Result<Part, FitError> {
        self.0.fit(ctx)
    }
}
