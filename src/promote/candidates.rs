//! The runs a promotion chooses from: found in run, sweep or runs folders,
//! qualified (finished, with the metric) and ranked locally or on Comet.

use super::{Options, PromoteError};
use crate::config::SweepGoal;
use crate::track::comet::outbox::{Outbox, State as CometState};
use crate::track::store::{Meta, RunDir};
use crate::track::RunStatus;
use crate::Result;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A finished run with the ranking metric.
pub(super) struct Candidate {
    pub(super) dir: PathBuf,
    pub(super) meta: Meta,
    pub(super) metrics: BTreeMap<String, f64>,
    pub(super) value: f64,
}

/// Every candidate run, and why others were left out. A run named directly
/// must qualify; runs found inside a sweep or a runs folder are skipped with
/// a reason when they don't.
pub(super) fn gather(opts: &Options) -> Result<(Vec<Candidate>, Vec<String>)> {
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

pub(super) fn best_local(c: &[Candidate], goal: SweepGoal) -> Option<usize> {
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
pub(super) fn best_on_comet(c: &[Candidate], opts: &Options) -> Result<Option<usize>> {
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
pub(super) fn comet_identity(run_dir: &Path) -> Option<CometState> {
    if !run_dir.join("outbox").join("state.json").is_file() {
        return None;
    }
    let st = Outbox::open(run_dir).ok()?.state().ok()?;
    st.key.is_some().then_some(st)
}
