//! What a promotion records: the Comet registry outcome and `PROMOTED.json`
//! (which run, ranked how, its metrics, config, git, data and Comet
//! identity, the significance test, and every candidate considered).

use super::candidates::Candidate;
use super::{Options, Ranking};
use crate::bundle::Manifest;
use crate::config::SweepGoal;
use crate::track::comet::outbox::State as CometState;
use crate::track::comet::registry::{self, Registration};
use crate::util::time;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The body of `PROMOTED.json`.
#[derive(Serialize)]
pub(super) struct PromotedJson<'a> {
    promoted_at: String,
    metric: &'a str,
    goal: SweepGoal,
    value: f64,
    ranked_by: &'static str,
    run: Value,
    metrics: &'a BTreeMap<String, f64>,
    config: Value,
    git: Value,
    data_fingerprint: Option<String>,
    model_kind: String,
    bundle_files: BTreeMap<String, String>,
    comet: Value,
    registry: Value,
    #[serde(skip_serializing_if = "Value::is_null")]
    significance: Value,
    candidates: Vec<Value>,
}

/// Everything a promotion decided, gathered for the record.
pub(super) struct Decision<'a> {
    pub(super) opts: &'a Options,
    pub(super) chosen: &'a Candidate,
    pub(super) candidates: &'a [Candidate],
    pub(super) skipped: &'a [String],
    pub(super) manifest: &'a Manifest,
    pub(super) comet: Option<&'a CometState>,
    pub(super) registry: Value,
    pub(super) significance: Value,
}

impl<'a> Decision<'a> {
    /// The record written beside the promoted bundle.
    pub(super) fn record(self) -> PromotedJson<'a> {
        let c = self.chosen;
        PromotedJson {
            promoted_at: time::rfc3339(time::unix_now() as u64),
            metric: &self.opts.metric,
            goal: self.opts.goal,
            value: c.value,
            ranked_by: match self.opts.from {
                Ranking::Local => "local run store (summary.json)",
                Ranking::Comet => "Comet",
            },
            run: json!({
                "id": c.meta.run_id,
                "experiment": c.meta.experiment,
                "dir": std::path::absolute(&c.dir).unwrap_or_else(|_| c.dir.clone()),
                "started_at": c.meta.started_at,
                "ended_at": c.meta.ended_at,
                "command": c.meta.command,
            }),
            metrics: &c.metrics,
            config: read_config(&c.dir),
            git: serde_json::to_value(c.meta.git.as_ref().map(|g| g.redacted()))
                .unwrap_or(Value::Null),
            data_fingerprint: c.meta.data_fingerprint.clone(),
            model_kind: self.manifest.model_kind.clone(),
            bundle_files: self.manifest.files.clone(),
            comet: self.comet
                .map(|st| json!({"workspace": st.workspace, "project": st.project, "experiment_key": st.key, "link": st.link}))
                .unwrap_or(Value::Null),
            registry: self.registry,
            significance: self.significance,
            candidates: self
                .candidates
                .iter()
                .map(|c| json!({"run_dir": c.dir, "value": c.value}))
                .chain(self.skipped.iter().map(|s| json!({"skipped": s})))
                .collect(),
        }
    }
}

/// Registers the promoted run's model in Comet's registry: `Null` when the
/// run has no Comet experiment, `{"error": …}` when Comet is unreachable or
/// refuses (promotion itself does not depend on Comet).
pub(super) fn register(
    comet: Option<&CometState>,
    model_kind: &str,
    opts: &Options,
    c: &Candidate,
) -> Value {
    let Some((st, key)) = comet.and_then(|st| Some((st, st.key.as_deref()?))) else {
        return Value::Null;
    };
    let result = registry::register(&Registration {
        workspace: &st.workspace,
        experiment_key: key,
        experiment_model: model_kind,
        registry_name: &opts.registry_name,
        comment: format!(
            "promoted by anirec: {} = {:.4} (run {})",
            opts.metric, c.value, c.meta.run_id
        ),
        tags: vec![
            format!("{}={:.4}", opts.metric, c.value),
            format!("run:{}", c.meta.run_id),
        ],
    });
    match result {
        Ok(r) => json!({
            "registry_model_name": r.name,
            "version": r.version,
            "workspace": st.workspace,
            "registry_model_item_id": r.item_id,
        }),
        Err(e) => json!({"error": e.to_string()}),
    }
}

/// The registry outcome as the one line `anirec promote` prints.
pub(super) fn registry_line(registry: &Value) -> String {
    match registry {
        Value::Null => "Comet model registry: skipped (the run was not tracked in Comet)".into(),
        v if v.get("error").is_some() => format!(
            "Comet model registry: NOT registered: {}",
            v["error"].as_str().unwrap_or_default()
        ),
        v => format!(
            "Comet model registry: {} version {}",
            v["registry_model_name"].as_str().unwrap_or_default(),
            v["version"].as_str().unwrap_or_default()
        ),
    }
}

/// The run's config as JSON, or `null` when it cannot be read.
fn read_config(dir: &Path) -> Value {
    std::fs::read_to_string(dir.join("config.yaml"))
        .ok()
        .and_then(|t| serde_yaml::from_str::<Value>(&t).ok())
        .unwrap_or(Value::Null)
}
