//! The `sweep:` section: parsed and validated with the experiment; expansion
//! into trials lives with the sweep runner.

use super::{get_path, invalid, ConfigError, Experiment};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// How trials are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SweepMethod {
    /// Every combination of the listed values.
    #[default]
    Grid,
    /// `trials` seeded draws.
    Random,
    /// Tree-structured Parzen estimator (Optuna's default sampler): after
    /// `n_startup_trials` random ones, each trial is suggested from the
    /// finished ones.
    Tpe,
}

/// `sweep.early_stop`: stop trials whose per-epoch validation metric lags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EarlyStop {
    /// Asynchronous successive halving (Ray Tune's ASHA): at rung epochs
    /// `min_epochs * reduction_factor^k`, a trial continues only when its
    /// value is in the top `1/reduction_factor` of the values recorded there.
    Asha {
        /// Per-epoch validation metric (`val_ndcg@10` or `val_recall@20`).
        #[serde(default = "d_es_metric")]
        metric: String,
        /// First rung (epochs, 1-based).
        #[serde(default = "d_min_epochs")]
        min_epochs: u32,
        /// Keep 1 of `reduction_factor` trials at each rung.
        #[serde(default = "d_reduction")]
        reduction_factor: u32,
    },
    /// Optuna's MedianPruner: from `min_epochs` on, stop a trial whose value
    /// at epoch e is below the median of the finished trials' values at e.
    Median {
        /// Per-epoch validation metric.
        #[serde(default = "d_es_metric")]
        metric: String,
        /// Epochs before any decision (warm-up).
        #[serde(default = "d_min_epochs")]
        min_epochs: u32,
        /// Finished trials needed before any decision.
        #[serde(default = "d_min_trials")]
        min_trials: usize,
    },
}

impl EarlyStop {
    /// The per-epoch metric it watches.
    pub fn metric(&self) -> &str {
        match self {
            EarlyStop::Asha { metric, .. } | EarlyStop::Median { metric, .. } => metric,
        }
    }
}

fn d_es_metric() -> String {
    "val_ndcg@10".into()
}
fn d_min_epochs() -> u32 {
    1
}
fn d_reduction() -> u32 {
    3
}
fn d_min_trials() -> usize {
    1
}

/// Upper bound of `sweep.trials` (it sizes the plan).
pub const MAX_TRIALS: usize = 100_000;

/// Per-epoch validation metrics the learned models emit (higher is better).
pub const EPOCH_METRICS: [&str; 2] = ["val_ndcg@10", "val_recall@20"];

/// Whether bigger is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SweepGoal {
    /// Higher is better (ranking metrics).
    #[default]
    Maximize,
    /// Lower is better (rmse, mae, losses).
    Minimize,
}

impl SweepGoal {
    /// True when `a` is strictly better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            SweepGoal::Maximize => a > b,
            SweepGoal::Minimize => a < b,
        }
    }
}

/// One swept parameter: a list of values or a distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamSpace {
    /// Explicit values.
    Values(Vec<serde_yaml::Value>),
    /// Uniform on [lo, hi].
    Uniform {
        /// `[low, high]`, sampled uniformly.
        uniform: [f64; 2],
    },
    /// Log-uniform on [lo, hi], lo > 0.
    LogUniform {
        /// `[low, high]`, both > 0, sampled uniformly in log space.
        log_uniform: [f64; 2],
    },
    /// Uniform integers in [lo, hi].
    IntUniform {
        /// Bounds (inclusive).
        int_uniform: [i64; 2],
    },
}

/// The sweep section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// Grid or random.
    #[serde(default)]
    pub method: SweepMethod,
    /// Number of trials (random; grid may cap with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trials: Option<usize>,
    /// Seed of the random draws.
    #[serde(default)]
    pub seed: u64,
    /// Metric that ranks trials, e.g. `ndcg@10`.
    #[serde(default = "d_metric")]
    pub metric: String,
    /// Direction.
    #[serde(default)]
    pub goal: SweepGoal,
    /// Trials at once.
    #[serde(default = "d_parallel")]
    pub parallel: usize,
    /// TPE: random trials before the first suggestion (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_startup_trials: Option<usize>,
    /// Stop lagging trials early (learned models only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stop: Option<EarlyStop>,
    /// Dotted config path → values or distribution.
    pub parameters: BTreeMap<String, ParamSpace>,
}

fn d_metric() -> String {
    "ndcg@10".into()
}
fn d_parallel() -> usize {
    1
}

const METRICS: &str =
    "precision@K, recall@K, ndcg@K, map@K, hit_rate@K, coverage@K (K in eval.k), rmse, mae";

impl SweepConfig {
    pub(crate) fn check(&self, exp: &Experiment, f: &Path) -> Result<(), ConfigError> {
        let metric_ok = match self.metric.split_once('@') {
            Some((name, k)) => {
                ["precision", "recall", "ndcg", "map", "hit_rate", "coverage"].contains(&name)
                    && k.parse::<usize>().is_ok_and(|k| exp.eval.k.contains(&k))
            }
            None => ["rmse", "mae"].contains(&self.metric.as_str()),
        };
        if !metric_ok {
            return Err(invalid(
                f,
                "sweep.metric",
                format!("{:?} is not allowed; allowed: {METRICS}", self.metric),
            ));
        }
        if self.parallel == 0 {
            return Err(invalid(
                f,
                "sweep.parallel",
                "0 is not allowed; allowed: a positive integer",
            ));
        }
        if self.parameters.is_empty() {
            return Err(invalid(f, "sweep.parameters", "empty; allowed: dotted config paths mapped to a list of values or {uniform|log_uniform|int_uniform: [lo, hi]}"));
        }
        let resolved = exp.to_value();
        for (path, space) in &self.parameters {
            let key = format!("sweep.parameters.{path}");
            if path.starts_with("sweep") || path == "name" {
                return Err(invalid(
                    f,
                    &key,
                    "cannot sweep over the sweep itself or the experiment name",
                ));
            }
            // A path that resolves nowhere would be silently ignored by every trial.
            let known = get_path(&resolved, path).is_some() || path.starts_with("model.");
            if !known {
                return Err(invalid(f, &key, "is not a key of this experiment's resolved config (check the spelling; model.* keys depend on model.kind)"));
            }
            match space {
                ParamSpace::Values(v) if v.is_empty() => {
                    return Err(invalid(f, &key, "an empty list is not allowed"))
                }
                ParamSpace::Uniform { uniform: [lo, hi] }
                    if lo.partial_cmp(hi) != Some(std::cmp::Ordering::Less) =>
                {
                    return Err(invalid(
                        f,
                        &key,
                        format!("uniform [{lo}, {hi}] is not allowed; allowed: lo < hi"),
                    ))
                }
                ParamSpace::LogUniform {
                    log_uniform: [lo, hi],
                } if !(*lo > 0.0 && lo < hi) => {
                    return Err(invalid(
                        f,
                        &key,
                        format!("log_uniform [{lo}, {hi}] is not allowed; allowed: 0 < lo < hi"),
                    ))
                }
                ParamSpace::IntUniform {
                    int_uniform: [lo, hi],
                } if lo > hi => {
                    return Err(invalid(
                        f,
                        &key,
                        format!("int_uniform [{lo}, {hi}] is not allowed; allowed: lo <= hi"),
                    ))
                }
                ParamSpace::Values(_) => {}
                _ if self.method == SweepMethod::Grid => {
                    return Err(invalid(
                        f,
                        &key,
                        "a distribution needs method: random or tpe (grid takes lists of values)",
                    ))
                }
                _ => {}
            }
        }
        if self.method != SweepMethod::Grid && self.trials.unwrap_or(0) == 0 {
            return Err(invalid(
                f,
                "sweep.trials",
                "missing; methods random and tpe need a positive number of trials",
            ));
        }
        if let Some(n) = self.trials.filter(|&n| n > MAX_TRIALS) {
            return Err(invalid(
                f,
                "sweep.trials",
                format!("{n} is not allowed; allowed: 1..={MAX_TRIALS}"),
            ));
        }
        if self.n_startup_trials.is_some() && self.method != SweepMethod::Tpe {
            return Err(invalid(
                f,
                "sweep.n_startup_trials",
                "only method: tpe takes it",
            ));
        }
        if let Some(es) = &self.early_stop {
            self.check_early_stop(es, f)?;
        }
        Ok(())
    }

    fn check_early_stop(&self, es: &EarlyStop, f: &Path) -> Result<(), ConfigError> {
        if !EPOCH_METRICS.contains(&es.metric()) {
            return Err(invalid(
                f,
                "sweep.early_stop.metric",
                format!(
                    "{:?} is not allowed; allowed: {}",
                    es.metric(),
                    EPOCH_METRICS.join(", ")
                ),
            ));
        }
        let (min_epochs, rf) = match es {
            EarlyStop::Asha {
                min_epochs,
                reduction_factor,
                ..
            } => (*min_epochs, *reduction_factor),
            EarlyStop::Median { min_epochs, .. } => (*min_epochs, 2),
        };
        if min_epochs == 0 || min_epochs > 100_000 {
            return Err(invalid(
                f,
                "sweep.early_stop.min_epochs",
                format!("{min_epochs} is not allowed; allowed: 1..=100000"),
            ));
        }
        if !(2..=100).contains(&rf) {
            return Err(invalid(
                f,
                "sweep.early_stop.reduction_factor",
                format!("{rf} is not allowed; allowed: 2..=100"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::SweepGoal;

    #[test]
    fn goal_decides_the_better_value() {
        assert!(SweepGoal::Maximize.better(0.3, 0.2));
        assert!(SweepGoal::Minimize.better(0.2, 0.3));
        assert!(!SweepGoal::Maximize.better(0.2, 0.2));
    }
}
