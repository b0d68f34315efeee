//! `anirec promote`: pick the best run by a metric, verify its bundle, copy
//! it atomically to the serving location with its lineage in `PROMOTED.json`,
//! and register it in Comet's model registry when Comet is configured.
//!
//! The copy is staged next to the destination and swapped in with renames,
//! so `models/promoted` is always either the old complete bundle or the new
//! one. A crash between the two renames leaves the old bundle beside it as
//! `<dest>.old-<pid>`; the next promote puts it back before doing anything.
//!
//! Only an absent path, an empty folder or an anirec bundle is ever replaced
//! (`--to runs` is refused, not wiped), and promotes to one destination are
//! serialised by an OS lock on `<parent>/.<name>.promote.lock`: a second one
//! is refused with the holder named, and each cleans up what a crashed one
//! left (`.<name>.promote-tmp-*`, `<name>.old-*`).

use crate::bundle;
use crate::config::SweepGoal;
use crate::track::comet::client::{Client, CometError, Settings};
use crate::track::comet::outbox::{Outbox, State as CometState};
use crate::track::store::{Meta, RunDir};
use crate::track::RunStatus;
use crate::util::{fsx, time};
use crate::Result;
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

/// Why a promotion was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// `--to` has no folder name (`/`, `..`).
    #[error("--to {}: give a folder path such as models/promoted", .0.display())]
    BadDestination(PathBuf),
    /// `--to` exists and is not something promotion may replace.
    #[error("refusing to promote to {}: it exists and is neither an empty folder nor an anirec bundle (no manifest.json), and promotion replaces what is there; choose a new path such as models/promoted", .0.display())]
    DestinationTaken(PathBuf),
    /// A source folder holds no runs.
    #[error("{} is not a run directory, a sweep directory or a folder of runs", .0.display())]
    NotRuns(PathBuf),
    /// A source folder does not exist.
    #[error("{}: no such directory", .0.display())]
    NoSuchSource(PathBuf),
    /// A run named directly does not qualify (failed, unfinished, no metric).
    #[error("refusing to promote {}: {why}", dir.display())]
    NotPromotable {
        /// The run.
        dir: PathBuf,
        /// Why.
        why: String,
    },
    /// No candidate finished with the metric.
    #[error("no run to promote: none finished with {metric}{skipped}")]
    NothingToPromote {
        /// The ranking metric.
        metric: String,
        /// ` (why each run was skipped)`, or empty.
        skipped: String,
    },
    /// The best run's bundle does not verify.
    #[error("refusing to promote {}: its bundle does not verify ({source}); re-run it or promote another run", dir.display())]
    BadBundle {
        /// The run.
        dir: PathBuf,
        /// Cause.
        source: crate::bundle::BundleError,
    },
    /// The staged copy does not verify (disk trouble); nothing was replaced.
    #[error("the copied bundle does not verify ({source}); {} is unchanged", to.display())]
    CopyCorrupt {
        /// The destination.
        to: PathBuf,
        /// Cause.
        source: crate::bundle::BundleError,
    },
    /// `--from comet` but no run was tracked there.
    #[error("--from comet: none of these runs was tracked in Comet (no outbox/state.json with an experiment key)")]
    NotOnComet,
    /// `--from comet` and Comet failed.
    #[error("--from comet: {0}")]
    Comet(CometError),
    /// `--require-significant`: the candidate is the promoted run.
    #[error("refusing to promote {}: it is the run already promoted; nothing to gain", .0.display())]
    AlreadyPromoted(PathBuf),
    /// `--require-significant`: a run has no per-user column for the metric.
    #[error("{}: per_user.csv has no column {metric}; --require-significant needs a ranking metric", run.display())]
    NoPerUserColumn {
        /// The run.
        run: PathBuf,
        /// The metric.
        metric: String,
    },
    /// `--require-significant`: the improvement is not significant.
    #[error("refusing to promote {}: {detail}; promote without --require-significant to override", run.display())]
    NotSignificant {
        /// The candidate.
        run: PathBuf,
        /// The test's figures.
        detail: String,
    },
}

/// Promotes the best run of `opts.sources`.
pub fn promote(opts: &Options) -> Result<Promoted> {
    let dest = Destination::claim(&opts.to)?;
    let (candidates, skipped) = gather(opts)?;
    let best = match opts.from {
        Ranking::Local => best_local(&candidates, opts.goal),
        Ranking::Comet => best_on_comet(&candidates, opts)?,
    };
    let Some(best) = best else {
        return Err(PromoteError::NothingToPromote {
            metric: opts.metric.clone(),
            skipped: if skipped.is_empty() {
                String::new()
            } else {
                format!(" ({})", skipped.join("; "))
            },
        }
        .into());
    };
    let c = &candidates[best];
    let significance = if opts.require_significant {
        crate::compare::gate::check(&c.dir, &opts.to, &opts.metric, opts.goal)?
    } else {
        Value::Null
    };
    let bundle_dir = c.dir.join("bundle");
    let b = bundle::read(&bundle_dir).map_err(|source| PromoteError::BadBundle {
        dir: c.dir.clone(),
        source,
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
        git: serde_json::to_value(c.meta.git.as_ref().map(|g| g.redacted()))
            .unwrap_or(Value::Null),
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

    dest.install(&bundle_dir, &record)?;
    Ok(Promoted {
        run_dir: c.dir.clone(),
        value: c.value,
        dest: opts.to.clone(),
        registry: registry_line,
    })
}

/// The promotion destination, locked for this process.
struct Destination {
    to: PathBuf,
    parent: PathBuf,
    name: String,
    _lock: crate::util::lock::FileLock,
}

impl Destination {
    /// Locks `to`, repairs what an interrupted promote left, and checks that
    /// whatever is there may be replaced.
    fn claim(to: &Path) -> Result<Self> {
        let name = to
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| PromoteError::BadDestination(to.to_path_buf()))?;
        let parent = to
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        fsx::create_dir_all(&parent)?;
        let lock = crate::util::lock::FileLock::try_acquire(
            &parent.join(format!(".{name}.promote.lock")),
            &format!("promotion to {}", to.display()),
        )?;
        let d = Self {
            to: to.to_path_buf(),
            parent,
            name,
            _lock: lock,
        };
        d.recover()?;
        d.check_replaceable()?;
        Ok(d)
    }

    fn stage_prefix(&self) -> String {
        format!(".{}.promote-tmp-", self.name)
    }

    /// Under the lock, anything named like our temporaries is a crashed
    /// promote's: a staged copy is removed; a bundle put aside is restored
    /// when the destination is missing, removed when it is there.
    fn recover(&self) -> Result<()> {
        let aside = format!("{}.old-", self.name);
        let stage = self.stage_prefix();
        let Ok(entries) = std::fs::read_dir(&self.parent) else {
            return Ok(());
        };
        let mut left: Vec<PathBuf> = Vec::new();
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&stage) {
                std::fs::remove_dir_all(e.path())?;
            } else if n
                .strip_prefix(&aside)
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
            {
                left.push(e.path());
            }
        }
        left.sort();
        for old in left {
            if self.to.exists() {
                std::fs::remove_dir_all(&old)?;
            } else {
                fsx::rename_synced(&old, &self.to)?;
                eprintln!(
                    "restored {} from {} (an earlier promote was interrupted)",
                    self.to.display(),
                    old.display()
                );
            }
        }
        Ok(())
    }

    /// Absent, an empty folder or an anirec bundle; anything else (a run
    /// store, a home folder, a file) is refused, never deleted.
    fn check_replaceable(&self) -> Result<()> {
        let md = match std::fs::symlink_metadata(&self.to) {
            Ok(md) => md,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let empty =
            md.is_dir() && std::fs::read_dir(&self.to).is_ok_and(|mut d| d.next().is_none());
        if empty || (md.is_dir() && self.to.join("manifest.json").is_file()) {
            return Ok(());
        }
        Err(PromoteError::DestinationTaken(self.to.clone()).into())
    }

    /// Stages a verified copy of `bundle_dir` plus PROMOTED.json beside the
    /// destination, then swaps it in.
    fn install(&self, bundle_dir: &Path, record: &PromotedJson) -> Result<()> {
        let stage = tempfile::Builder::new()
            .prefix(&self.stage_prefix())
            .tempdir_in(&self.parent)?;
        for entry in std::fs::read_dir(bundle_dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), stage.path().join(entry.file_name()))?;
            }
        }
        let body = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
        std::fs::write(stage.path().join("PROMOTED.json"), body)?;
        // The copy must verify before it replaces what serving reads.
        bundle::read(stage.path()).map_err(|source| PromoteError::CopyCorrupt {
            to: self.to.clone(),
            source,
        })?;
        for entry in std::fs::read_dir(stage.path())? {
            let p = entry?.path();
            fsx::sync_file(&std::fs::File::open(&p)?, &p)?;
        }
        fsx::sync_dir(stage.path())?;
        let staged = stage.keep();
        bundle::replace_dir(&staged, &self.to).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&staged);
        })?;
        Ok(())
    }
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
                return Err(PromoteError::NotRuns(src.clone()).into());
            }
            (found, false)
        } else {
            return Err(PromoteError::NoSuchSource(src.clone()).into());
        };
        for dir in dirs {
            match candidate(&dir, &opts.metric) {
                Ok(c) => out.push(c),
                Err(why) if explicit => return Err(PromoteError::NotPromotable { dir, why }.into()),
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
    match meta.status {
        RunStatus::Done => {}
        RunStatus::Failed => {
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
        return Err(PromoteError::NotOnComet.into());
    };
    let project = opts.project.clone().unwrap_or_else(|| st.project.clone());
    let rows = crate::track::comet::runs(Some(&st.workspace), &project, &opts.metric)
        .map_err(PromoteError::Comet)?;
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

    fn fake_bundle(dir: &Path, tag: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("manifest.json"), tag).unwrap();
    }

    #[test]
    fn a_dotted_destination_is_restored_after_a_crash_between_the_renames() {
        let d = tempfile::tempdir().unwrap();
        let to = d.path().join("models/v1.2");
        fake_bundle(&to, "old");
        // What replace_dir's first rename leaves when the process dies next.
        std::fs::rename(&to, bundle::aside_path(&to)).unwrap();
        std::fs::create_dir_all(d.path().join("models/.v1.2.promote-tmp-abc")).unwrap();
        let dest = Destination::claim(&to).unwrap();
        assert_eq!(
            std::fs::read_to_string(to.join("manifest.json")).unwrap(),
            "old"
        );
        let left: Vec<String> = std::fs::read_dir(d.path().join("models"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".v1.2.promote.lock")
            .collect();
        assert_eq!(left, vec!["v1.2".to_string()], "stray entries");
        drop(dest);
    }

    #[test]
    fn only_absent_empty_or_bundle_destinations_are_replaced() {
        let d = tempfile::tempdir().unwrap();
        let runs = d.path().join("runs");
        std::fs::create_dir_all(runs.join("exp/1")).unwrap();
        let e = Destination::claim(&runs).err().unwrap().to_string();
        assert!(
            e.contains("neither an empty folder nor an anirec bundle"),
            "{e}"
        );
        assert!(runs.join("exp/1").is_dir());
        let file = d.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(Destination::claim(&file).is_err());
        std::fs::create_dir_all(d.path().join("empty")).unwrap();
        Destination::claim(&d.path().join("empty")).unwrap();
        Destination::claim(&d.path().join("absent")).unwrap();
        fake_bundle(&d.path().join("b"), "x");
        Destination::claim(&d.path().join("b")).unwrap();
        assert!(Destination::claim(Path::new("..")).is_err());
    }

    #[test]
    fn one_promote_per_destination() {
        let d = tempfile::tempdir().unwrap();
        let to = d.path().join("promoted");
        let first = Destination::claim(&to).unwrap();
        let e = Destination::claim(&to).err().unwrap().to_string();
        assert!(e.contains("promotion to") && e.contains("in use"), "{e}");
        drop(first);
        Destination::claim(&to).unwrap();
    }

    #[test]
    fn registry_names_are_normalised_like_comet() {
        assert_eq!(registry_name("Anirec Hybrid_v2!"), "anirec-hybrid-v2");
        assert_eq!(registry_name("--x--"), "x");
    }
}
