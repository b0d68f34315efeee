//! Expanding an experiment's `sweep:` section into a plan of trials.
//!
//! A plan is self-contained: each trial carries its fully resolved config, so
//! a Kubernetes pod needs only `plan.json` (and the data) to run its index.
//! Ids are content hashes, which is what makes re-running the same command a
//! resume: the same experiment gives the same sweep id, directory and trial
//! ids.

use crate::config::load::{apply_set, load_merged, set_path};
use crate::config::{ConfigError, EarlyStop, ParamSpace};
use crate::config::{Experiment, SweepConfig, SweepGoal, SweepMethod};
use crate::util::hash::Fingerprint;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Format version of plan.json.
pub const PLAN_VERSION: u32 = 1;

/// A sweep expanded into trials.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Plan {
    /// plan.json format version.
    pub version: u32,
    /// Content hash of the trials and the ranking rule.
    pub id: String,
    /// Experiment name.
    pub experiment: String,
    /// The experiment file the plan came from.
    pub source: PathBuf,
    /// The experiment's runs_dir; the local sweep directory goes under it.
    pub runs_dir: PathBuf,
    /// Grid or random.
    pub method: SweepMethod,
    /// Metric that ranks trials.
    pub metric: String,
    /// Its direction.
    pub goal: SweepGoal,
    /// Trials at once when run locally.
    pub parallel: usize,
    /// Swept dotted paths, in a stable order.
    pub parameters: Vec<String>,
    /// The trials (grid, random; empty for tpe, whose trials are suggested
    /// as the sweep runs and recorded under `suggested/`).
    pub trials: Vec<Trial>,
    /// Seed of random draws and TPE suggestions.
    #[serde(default)]
    pub seed: u64,
    /// TPE: number of trials to run.
    #[serde(default)]
    pub budget: usize,
    /// TPE: random trials before the first model-based suggestion.
    #[serde(default)]
    pub n_startup_trials: usize,
    /// TPE: the search space.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub space: BTreeMap<String, ParamSpace>,
    /// TPE: the experiment without its sweep section; a suggestion's
    /// overrides apply to it.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub base: Value,
    /// Early termination of lagging trials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stop: Option<EarlyStop>,
}

impl Plan {
    /// Refuses a plan whose trials could escape the sweep directory or are
    /// out of order (plan.json may come from anywhere: a ConfigMap, a copy).
    pub fn check(&self) -> Result<(), String> {
        if !safe_id(&self.id) {
            return Err(format!("sweep id {:?} is not a plain hex id", self.id));
        }
        for (pos, t) in self.trials.iter().enumerate() {
            t.check(pos)?;
        }
        Ok(())
    }
}

/// A trial or sweep id names files and folders: letters, digits, `-`, `_`.
pub fn safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One trial: its overrides and the config they resolve to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trial {
    /// Position in the plan (the Kubernetes completion index).
    pub index: usize,
    /// Hash of the resolved config.
    pub id: String,
    /// Swept path → value of this trial.
    pub overrides: BTreeMap<String, Value>,
    /// Fully resolved experiment (no `sweep:` section).
    pub config: Value,
}

impl Trial {
    /// Folder name under `<sweep>/trials/`.
    pub fn dir_name(&self) -> String {
        format!("{:03}-{}", self.index, self.id)
    }

    /// Checks that the trial sits at `pos` and its id is a plain name.
    pub fn check(&self, pos: usize) -> Result<(), String> {
        if !safe_id(&self.id) {
            return Err(format!(
                "trial {pos} has id {:?}: ids are config hashes (letters, digits, - and _), never paths",
                self.id
            ));
        }
        if self.index != pos {
            return Err(format!("trial at position {pos} says index {}", self.index));
        }
        Ok(())
    }

    /// `model={kind: ease, l2: 200} …` for progress lines.
    pub fn label(&self) -> String {
        label(&self.overrides)
    }
}

/// A value on one line in YAML flow style (`{kind: ease, l2: 200}`), for
/// labels, tables and CSV cells.
pub fn flow(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Sequence(items) => {
            format!(
                "[{}]",
                items.iter().map(flow).collect::<Vec<_>>().join(", ")
            )
        }
        Value::Mapping(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", flow(k), flow(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Tagged(t) => flow(&t.value),
    }
}

/// Reads an experiment with its `sweep:` section and expands it.
pub fn plan(path: &Path, sets: &[String]) -> Result<Plan, ConfigError> {
    let mut base = load_merged(path)?;
    for s in sets {
        apply_set(&mut base, s)?;
    }
    let exp = Experiment::from_value(base.clone(), path)?;
    let Some(sweep) = exp.sweep.clone() else {
        return Err(ConfigError::Invalid {
            file: path.to_path_buf(),
            key: "sweep".into(),
            msg: "missing; `anirec sweep` needs a sweep: section (method, metric, parameters)"
                .into(),
        });
    };
    if let Value::Mapping(m) = &mut base {
        m.remove("sweep");
    }
    let points = match sweep.method {
        SweepMethod::Grid => grid(&sweep),
        SweepMethod::Random => random(&sweep),
        SweepMethod::Tpe => Vec::new(),
    };
    let mut trials: Vec<Trial> = Vec::new();
    for overrides in points {
        let t = make_trial(&base, overrides, trials.len(), path)?;
        // Random draws over small discrete spaces repeat; a repeated config
        // would only run the same thing twice.
        if trials.iter().any(|x| x.id == t.id) {
            continue;
        }
        trials.push(t);
    }
    let mut fp = Fingerprint::new();
    fp.str(&exp.name)
        .str(&sweep.metric)
        .str(&format!("{:?}", sweep.goal));
    for t in &trials {
        fp.str(&t.id);
    }
    let tpe = sweep.method == SweepMethod::Tpe;
    if tpe {
        fp.str("tpe")
            .str(&sweep.seed.to_string())
            .str(&sweep.trials.unwrap_or(0).to_string())
            .str(
                &sweep
                    .n_startup_trials
                    .unwrap_or(DEFAULT_STARTUP)
                    .to_string(),
            )
            .str(&serde_yaml::to_string(&base).unwrap_or_default())
            .str(&serde_json::to_string(&sweep.parameters).unwrap_or_default());
    }
    // Only when set, so the ids (and directories) of existing sweeps stay.
    if let Some(es) = &sweep.early_stop {
        fp.str(&serde_json::to_string(es).unwrap_or_default());
    }
    Ok(Plan {
        version: PLAN_VERSION,
        id: fp.hex()[..12].to_string(),
        experiment: exp.name.clone(),
        source: path.to_path_buf(),
        runs_dir: exp.runs_dir.clone(),
        method: sweep.method,
        metric: sweep.metric.clone(),
        goal: sweep.goal,
        parallel: sweep.parallel,
        parameters: sweep.parameters.keys().cloned().collect(),
        trials,
        seed: sweep.seed,
        budget: if tpe { sweep.trials.unwrap_or(0) } else { 0 },
        n_startup_trials: sweep.n_startup_trials.unwrap_or(DEFAULT_STARTUP),
        space: if tpe {
            sweep.parameters.clone()
        } else {
            BTreeMap::new()
        },
        base: if tpe { base } else { Value::Null },
        early_stop: sweep.early_stop.clone(),
    })
}

/// Optuna's default number of random trials before TPE takes over.
pub const DEFAULT_STARTUP: usize = 10;

/// A trial from the base config and its overrides; its id is the hash of the
/// resolved config.
pub fn make_trial(
    base: &Value,
    overrides: BTreeMap<String, Value>,
    index: usize,
    path: &Path,
) -> Result<Trial, ConfigError> {
    let mut v = base.clone();
    for (k, val) in &overrides {
        set_path(&mut v, k, val.clone()).map_err(|msg| ConfigError::Invalid {
            file: path.to_path_buf(),
            key: format!("sweep.parameters.{k}"),
            msg,
        })?;
    }
    let exp = Experiment::from_value(v, path).map_err(|e| ConfigError::Invalid {
        file: path.to_path_buf(),
        key: "sweep.parameters".into(),
        msg: format!(
            "the trial {} is not a valid experiment: {e}",
            label(&overrides)
        ),
    })?;
    let config = exp.to_value();
    Ok(Trial {
        index,
        id: config_id(&config),
        overrides,
        config,
    })
}

fn label(o: &BTreeMap<String, Value>) -> String {
    o.iter()
        .map(|(k, v)| format!("{k}={}", flow(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Hash of a resolved config; the id of the trial that runs it. The config
/// is hashed in a canonical form (sorted-key JSON), not as emitted YAML, so
/// an id survives a change of YAML library or of key order.
fn config_id(config: &Value) -> String {
    let text = crate::util::canonical::canonical_json(config);
    Fingerprint::new().str(&text).hex()[..12].to_string()
}

/// Every combination, in the order of the parameters (last varies fastest),
/// capped at `trials` when given.
fn grid(s: &SweepConfig) -> Vec<BTreeMap<String, Value>> {
    let mut out = vec![BTreeMap::new()];
    for (k, space) in &s.parameters {
        let ParamSpace::Values(values) = space else {
            continue; // rejected by SweepConfig::check
        };
        out = out
            .into_iter()
            .flat_map(|o| {
                values.iter().map(move |v| {
                    let mut o = o.clone();
                    o.insert(k.clone(), v.clone());
                    o
                })
            })
            .collect();
    }
    if let Some(n) = s.trials {
        out.truncate(n);
    }
    out
}

/// `trials` seeded draws; repeats are retried a bounded number of times.
fn random(s: &SweepConfig) -> Vec<BTreeMap<String, Value>> {
    let want = s.trials.unwrap_or(0);
    let mut rng = Pcg64::seed_from_u64(s.seed);
    let mut out: Vec<BTreeMap<String, Value>> = Vec::new();
    for _ in 0..want.saturating_mul(20) {
        if out.len() == want {
            break;
        }
        let o: BTreeMap<String, Value> = s
            .parameters
            .iter()
            .map(|(k, space)| (k.clone(), draw(space, &mut rng)))
            .collect();
        if !out.contains(&o) {
            out.push(o);
        }
    }
    out
}

pub(crate) fn draw(space: &ParamSpace, rng: &mut Pcg64) -> Value {
    match space {
        ParamSpace::Values(v) => v[rng.random_range(0..v.len())].clone(),
        ParamSpace::Uniform { uniform: [lo, hi] } => round(lo + rng.random::<f64>() * (hi - lo)),
        ParamSpace::LogUniform {
            log_uniform: [lo, hi],
        } => round((lo.ln() + rng.random::<f64>() * (hi.ln() - lo.ln())).exp()),
        ParamSpace::IntUniform {
            int_uniform: [lo, hi],
        } => Value::from(rng.random_range(*lo..=*hi)),
    }
}

/// Four significant digits: enough resolution for a hyper-parameter, and
/// configs, tables and Comet parameters stay readable.
pub(crate) fn round(x: f64) -> Value {
    let s = format!("{x:.3e}");
    Value::from(s.parse::<f64>().unwrap_or(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join("exp.yaml");
        std::fs::write(&p, body).unwrap();
        p
    }

    const BASE: &str = "name: s\ndata: {format: synthetic}\neval: {k: [10]}\n";

    #[test]
    fn grid_is_the_cartesian_product_with_stable_ids() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            &format!(
                "{BASE}model: {{kind: ease}}\nsweep:\n  parameters:\n    model.l2: [10, 100]\n    eval.relevance_threshold: [6, 7, 8]\n"
            ),
        );
        let a = plan(&p, &[]).unwrap();
        assert_eq!(a.trials.len(), 6);
        assert_eq!(a.parameters, ["eval.relevance_threshold", "model.l2"]);
        assert_eq!(a.trials[1].overrides["model.l2"], Value::from(100));
        assert_eq!(
            a.trials[1].overrides["eval.relevance_threshold"],
            Value::from(6)
        );
        let ids: std::collections::HashSet<_> = a.trials.iter().map(|t| &t.id).collect();
        assert_eq!(ids.len(), 6);
        // Same file, same plan: this is what makes a re-run resume.
        let b = plan(&p, &[]).unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(a.trials[5].id, b.trials[5].id);
        // A trial's config is a valid experiment without the sweep.
        let e = Experiment::from_value(a.trials[0].config.clone(), &p).unwrap();
        assert!(e.sweep.is_none());
        // --set changes the base and therefore every id.
        let c = plan(&p, &["eval.k=[5, 10]".into()]).unwrap();
        assert_ne!(c.id, a.id);
    }

    #[test]
    fn whole_model_sections_sweep_across_families() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            &format!(
                "{BASE}model: {{kind: ease}}\nsweep:\n  parameters:\n    model:\n      - {{kind: ease, l2: 50}}\n      - {{kind: user_knn, neighbors: 20}}\n"
            ),
        );
        let a = plan(&p, &[]).unwrap();
        let kinds: Vec<_> = a
            .trials
            .iter()
            .map(|t| {
                Experiment::from_value(t.config.clone(), &p)
                    .unwrap()
                    .model
                    .kind()
            })
            .collect();
        assert_eq!(kinds, ["ease", "user_knn"]);
    }

    #[test]
    fn random_draws_are_seeded_in_range_and_unique() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            &format!(
                "{BASE}model: {{kind: ease}}\nsweep:\n  method: random\n  trials: 5\n  seed: 3\n  parameters:\n    model.l2: {{log_uniform: [1.0, 1000.0]}}\n    model.prune_top_k: {{int_uniform: [0, 3]}}\n"
            ),
        );
        let a = plan(&p, &[]).unwrap();
        assert_eq!(a.trials.len(), 5);
        for t in &a.trials {
            let l2 = t.overrides["model.l2"].as_f64().unwrap();
            assert!((1.0..=1000.0).contains(&l2), "{l2}");
            let k = t.overrides["model.prune_top_k"].as_i64().unwrap();
            assert!((0..=3).contains(&k));
        }
        assert_eq!(a.id, plan(&p, &[]).unwrap().id);
    }

    #[test]
    fn a_trial_that_is_not_a_valid_experiment_names_itself() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            &format!("{BASE}model: {{kind: ease}}\nsweep:\n  parameters:\n    model.l2: [-1]\n"),
        );
        let e = plan(&p, &[]).unwrap_err().to_string();
        assert!(e.contains("model.l2=-1"), "{e}");
        let v: Value = serde_yaml::from_str("{kind: ease, l2: 5, tags: [a, b]}").unwrap();
        assert_eq!(flow(&v), "{kind: ease, l2: 5, tags: [a, b]}");
    }

    #[test]
    fn no_sweep_section_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), &format!("{BASE}model: {{kind: ease}}\n"));
        let e = plan(&p, &[]).unwrap_err().to_string();
        assert!(e.contains("sweep"), "{e}");
    }
}
