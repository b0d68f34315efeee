//! `anirec promote`: pick the best run by a metric, verify its bundle, copy
//! it atomically to the serving location with its lineage in `PROMOTED.json`,
//! and register it in Comet's model registry when Comet is configured.
//!
//! The copy is staged next to the destination and swapped in with renames,
//! so `models/promoted` is always either the old complete bundle or the new
//! one. A crash between the two renames leaves the old bundle beside it as
//! `<dest>.old-<pid>`; the next promote puts it back before doing anything.

use crate::bundle;
use crate::config::SweepGoal;
use crate::track::comet::client::{Client, CometError, Settings};
use crate::track::comet::outbox::{Outbox, State as CometState};
use crate::track::store::{Meta, RunDir};
use crate::util::{fsx, time};
use crate::{Error, Result};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the ranking comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ranking {
    /// summary.json of each run (the source of truth).
    #[default]
    Local,
    /// The metric as Comet holds it, for runs tracked there.
    Comet,
}

/// What to promote and where.
#[derive(Debug, Clone)]
pub struct Options {
    /// Run directories, sweep directories, or folders of runs.
    pub sources: Vec<PathBuf>,
    /// Ranking metric, e.g. `ndcg@10`.
    pub metric: String,
    /// Its direction.
    pub goal: SweepGoal,
    /// Destination bundle directory.
    pub to: PathBuf,
    /// Local store or Comet.
    pub from: Ranking,
    /// Comet project for `--from comet` (default: the runs' own project).
    pub project: Option<String>,
    /// Comet model-registry name.
    pub registry_name: String,
    /// Refuse unless the run beats the promoted one significantly.
    pub require_significant: bool,
}

/// The outcome.
#[derive(Debug)]
pub struct Promoted {
    /// Run promoted.
    pub run_dir: PathBuf,
    /// Its metric value.
    pub value: f64,
    /// Where the bundle is now.
    pub dest: PathBuf,
    /// Registry outcome, one line.
    pub registry: String,
}

struct Candidate {
    dir: PathBuf,
    meta: Meta,
    metrics: BTreeMap<String, f64>,
    value: f64,
}

/// Promotes the best run of `opts.sources`.
pub fn promote(opts: &Options) -> Result<Promoted> {
    recover(&opts.to)?;
    let (candidates, skipped) = gather(opts)?;
    let best = match opts.from {
        Ranking::Local => best_local(&candidates, opts.goal),
        Ranking::Comet => best_on_comet(&candidates, opts)?,
    };
    let Some(best) = best else {
        return Err(Error::Usage(format!(
            "no run to promote: none finished with {}{}",
            opts.metric,
            if skipped.is_empty() {
                String::new()
            } else {
                format!(" ({})", skipped.join("; "))
            }
        )));
    };
    let c = &candidates[best];
    let significance = if opts.require_significant {
        crate::compare::gate::check(&c.dir, &opts.to, &opts.metric, opts.goal)?
    } else {
        Value::Null
    };
    let bundle_dir = c.dir.join("bundle");
    let b = bundle::read(&bundle_dir).map_err(|e| {
        Error::Model(format!(
            "refusing to promote {}: its bundle does not verify ({e}); re-run it or promote another run",
            c.dir.display()
        ))
    })?;
    let comet = comet_identity(&c.dir);
    let registry = register(&comet, &b.manifest.model_kind, opts, c);
    let registry_line = match &registry {
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
    };

    let record = PromotedJson {
        promoted_at: time::rfc3339(time::unix_now() as u64),
        metric: &opts.metric,
        goal: opts.goal,
        value: c.value,
        ranked_by: match opts.from {
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
        git: serde_json::to_value(&c.meta.git).unwrap_or(Value::Null),
        data_fingerprint: c.meta.data_fingerprint.clone(),
        model_kind: b.manifest.model_kind.clone(),
        bundle_files: b.manifest.files.clone(),
        comet: comet
            .as_ref()
            .map(|st| json!({"workspace": st.workspace, "project": st.project, "experiment_key": st.key, "link": st.link}))
            .unwrap_or(Value::Null),
        registry,
        significance,
        candidates: candidates
            .iter()
            .map(|c| json!({"run_dir": c.dir, "value": c.value}))
            .chain(skipped.iter().map(|s| json!({"skipped": s})))
            .collect(),
    };

    // Stage a full copy beside the destination, then swap it in.
    let parent = opts
        .to
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fsx::create_dir_all(parent)?;
    let stage = tempfile::Builder::new()
        .prefix(".promote-tmp-")
        .tempdir_in(parent)?;
    for entry in std::fs::read_dir(&bundle_dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), stage.path().join(entry.file_name()))?;
        }
    }
    let body = serde_json::to_vec_pretty(&record).map_err(std::io::Error::other)?;
    std::fs::write(stage.path().join("PROMOTED.json"), body)?;
    // The copy must verify before it replaces what serving reads.
    bundle::read(stage.path()).map_err(|e| {
        Error::Io(std::io::Error::other(format!(
            "the copied bundle does not verify ({e}); {} is unchanged",
            opts.to.display()
        )))
    })?;
    for entry in std::fs::read_dir(stage.path())? {
        std::fs::File::open(entry?.path())?.sync_all()?;
    }
    let staged = stage.keep();
    bundle::replace_dir(&staged, &opts.to)?;
    Ok(Promoted {
        run_dir: c.dir.clone(),
        value: c.value,
        dest: opts.to.clone(),
        registry: registry_line,
    })
}

/// Puts back a bundle left aside by a crash mid-swap.
fn recover(dest: &Path) -> Result<()> {
    if dest.exists() {
        return Ok(());
    }
    let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
        return Ok(());
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let prefix = format!("{}.old-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Ok(());
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            std::fs::rename(e.path(), dest)?;
            eprintln!(
                "restored {} from {} (an earlier promote was interrupted)",
                dest.display(),
                e.path().display()
            );
            break;
        }
    }
    Ok(())
}

/// Every candidate run, and why others were left out. A run named directly
/// must qualify; runs found inside a sweep or a runs folder are skipped with
/// a reason when they don't.
fn gather(opts: &Options) -> Result<(Vec<Candidate>, Vec<String>)> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for src in &opts.sources {
        let (dirs, explicit) = if src.join("meta.json").is_file() {
            (vec![src.clone()], true)
        } else if src.join("plan.json").is_file() {
            (subdirs_with_meta(&src.join("trials")), false)
        } else if src.is_dir() {
            let found = subdirs_with_meta(src);
            if found.is_empty() {
                return Err(Error::Usage(format!(
                    "{} is not a run directory, a sweep directory or a folder of runs",
                    src.display()
                )));
            }
            (found, false)
        } else {
            return Err(Error::Usage(format!(
                "{}: no such directory",
                src.display()
            )));
        };
        for dir in dirs {
            match candidate(&dir, &opts.metric) {
                Ok(c) => out.push(c),
                Err(why) if explicit => {
                    return Err(Error::Usage(format!(
                        "refusing to promote {}: {why}",
                        dir.display()
                    )))
                }
                Err(why) => skipped.push(format!("{}: {why}", dir.display())),
            }
        }
    }
    Ok((out, skipped))
}

fn subdirs_with_meta(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("meta.json").is_file())
        .collect();
    v.sort();
    v
}

fn candidate(dir: &Path, metric: &str) -> std::result::Result<Candidate, String> {
    let meta = RunDir::open(dir)
        .and_then(|r| r.read_meta())
        .map_err(|e| e.to_string())?;
    match meta.status.as_str() {
        "done" => {}
        "failed" => {
            return Err(format!(
                "the run failed ({})",
                meta.error.as_deref().unwrap_or("no error recorded")
            ))
        }
        other => return Err(format!("the run has not finished (status {other})")),
    }
    let p = dir.join("summary.json");
    let metrics: BTreeMap<String, f64> = std::fs::read(&p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| format!("{} is missing or unreadable", p.display()))?;
    let value = metrics
        .get(metric)
        .copied()
        .filter(|v| v.is_finite())
        .ok_or_else(|| {
            let names: Vec<_> = metrics
                .keys()
                .filter(|k| !k.contains('/') && !k.ends_with("_seconds"))
                .cloned()
                .collect();
            format!("it has no metric {metric} (it has: {})", names.join(", "))
        })?;
    Ok(Candidate {
        dir: dir.to_path_buf(),
        meta,
        metrics,
        value,
    })
}

fn best_local(c: &[Candidate], goal: SweepGoal) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, x) in c.iter().enumerate() {
        if best.is_none_or(|b| goal.better(x.value, c[b].value)) {
            best = Some(i);
        }
    }
    best
}

/// Ranks by the metric Comet holds, then maps the winner back to its local
/// run (the bundle lives in the run store, not on Comet).
fn best_on_comet(c: &[Candidate], opts: &Options) -> Result<Option<usize>> {
    let ids: Vec<_> = c.iter().map(|x| comet_identity(&x.dir)).collect();
    let Some(st) = ids.iter().flatten().next() else {
        return Err(Error::Usage(
            "--from comet: none of these runs was tracked in Comet (no outbox/state.json with an experiment key)".into(),
        ));
    };
    let project = opts.project.clone().unwrap_or_else(|| st.project.clone());
    let rows = crate::track::comet::runs(Some(&st.workspace), &project, &opts.metric)
        .map_err(|e| Error::Usage(format!("--from comet: {e}")))?;
    let mut best: Option<(usize, f64)> = None;
    for r in rows {
        let Some(v) = r.metric.and_then(|(cur, _)| cur) else {
            continue;
        };
        let local = ids.iter().position(|id| {
            id.as_ref()
                .is_some_and(|s| s.key.as_deref() == Some(&r.key))
        });
        let Some(i) = local else { continue };
        if best.is_none_or(|(_, b)| opts.goal.better(v, b)) {
            best = Some((i, v));
        }
    }
    Ok(best.map(|(i, _)| i))
}

/// The run's Comet experiment (state of its outbox), when it has one.
fn comet_identity(run_dir: &Path) -> Option<CometState> {
    if !run_dir.join("outbox").join("state.json").is_file() {
        return None;
    }
    let st = Outbox::open(run_dir).ok()?.state().ok()?;
    st.key.is_some().then_some(st)
}

/// Registers the promoted run's model in Comet's registry: `Null` when the
/// run has no Comet experiment, `{"error": …}` when Comet is unreachable or
/// refuses (promotion itself does not depend on Comet).
fn register(comet: &Option<CometState>, model_kind: &str, opts: &Options, c: &Candidate) -> Value {
    let Some(st) = comet else {
        return Value::Null;
    };
    let Some(key) = st.key.as_deref() else {
        return Value::Null;
    };
    let result = (|| -> std::result::Result<Value, CometError> {
        let client = Client::new(Settings::from_env()?)?;
        let name = registry_name(&opts.registry_name);
        let version = next_version(&client, &st.workspace, &name)?;
        let reply = client.rest_post(
            "write/registry-model/item/create",
            &json!({
                "experimentKey": key,
                "experimentModelName": model_kind,
                "registryModelName": name,
                "registryModelDescription": "anirec recommender bundle (anirec-serve)",
                "version": version,
                "versionComment": format!("promoted by anirec: {} = {:.4} (run {})", opts.metric, c.value, c.meta.run_id),
                "tags": [format!("{}={:.4}", opts.metric, c.value), format!("run:{}", c.meta.run_id)],
                "publicModel": false,
            }),
        )?;
        Ok(json!({
            "registry_model_name": name,
            "version": version,
            "workspace": st.workspace,
            "registry_model_item_id": reply.get("registryModelItemId"),
        }))
    })();
    match result {
        Ok(v) => v,
        Err(e) => json!({"error": e.to_string()}),
    }
}

/// Comet normalises registry names: lower case, other characters to `-`.
fn registry_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').to_string()
}

/// One minor version above the highest registered (1.0.0 for a new model).
fn next_version(
    c: &Client,
    workspace: &str,
    name: &str,
) -> std::result::Result<String, CometError> {
    let details = match c.rest_get(
        "registry-model/details",
        &[
            ("workspaceName", workspace.to_string()),
            ("modelName", name.to_string()),
        ],
    ) {
        Ok(v) => v,
        Err(CometError::Status { status: 404, .. }) => return Ok("1.0.0".into()),
        Err(CometError::Status {
            status: 400,
            ref msg,
            ..
        }) if msg.to_lowercase().contains("not") => return Ok("1.0.0".into()),
        Err(e) => return Err(e),
    };
    let max = details["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["version"].as_str())
        .filter_map(|v| {
            let mut p = v.split('.').map(|x| x.parse::<u64>().ok());
            Some((p.next()??, p.next()??, p.next()??))
        })
        .max();
    Ok(match max {
        Some((a, b, _)) => format!("{a}.{}.0", b + 1),
        None => "1.0.0".into(),
    })
}

fn read_config(dir: &Path) -> Value {
    std::fs::read_to_string(dir.join("config.yaml"))
        .ok()
        .and_then(|t| serde_yaml::from_str::<Value>(&t).ok())
        .unwrap_or(Value::Null)
}

#[derive(Serialize)]
struct PromotedJson<'a> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_normalised_like_comet() {
        assert_eq!(registry_name("Anirec Hybrid_v2!"), "anirec-hybrid-v2");
        assert_eq!(registry_name("--x--"), "x");
    }
}
