//! `anirec sweep worker`: any number of processes (Kubernetes pods, shells)
//! share one sweep directory and take trials until none is left. Choosing a
//! trial (and, for TPE, suggesting it) happens under `suggest.lock`; running
//! it happens under the trial's own lock, so a trial runs in one process at
//! a time and a live trial is never taken for an interrupted one.

use super::collect::{self, Summary};
use super::plan::{make_trial, Plan, Trial};
use super::tpe::{self, Observation};
use super::{
    claim, ensure_plan, finished, read_plan, run_claimed, state, sweep_lock, trial_dir, SweepError,
};
use crate::config::{SweepGoal, SweepMethod};
use crate::track::RunStatus;
use crate::util::{fsx, time};
use crate::Result;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

/// Options of a worker.
#[derive(Debug, Clone, Default)]
pub struct WorkerOptions {
    /// Re-run trials that failed earlier.
    pub retry_failed: bool,
    /// Stop after this many trials (default: until the sweep is complete).
    pub max_trials: Option<usize>,
}

/// One recorded suggestion (`suggested/NNN.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Suggestion {
    trial: Trial,
    /// The finished trials it was computed from, in index order.
    based_on: Vec<usize>,
    at: String,
}

fn suggested_dir(sweep_dir: &Path) -> PathBuf {
    sweep_dir.join("suggested")
}

/// The TPE trials suggested so far, in order. Each file is written once,
/// atomically, under the suggestion lock.
pub(super) fn suggested(sweep_dir: &Path) -> io::Result<Vec<Trial>> {
    let mut names: Vec<String> = match std::fs::read_dir(suggested_dir(sweep_dir)) {
        Ok(e) => e
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.') && n.ends_with(".json"))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    names.sort_by_key(|n| {
        n.trim_end_matches(".json")
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    });
    let mut out = Vec::with_capacity(names.len());
    for (pos, n) in names.iter().enumerate() {
        let p = suggested_dir(sweep_dir).join(n);
        let bad = |msg: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {msg}", p.display()),
            )
        };
        let s: Suggestion =
            serde_json::from_slice(&std::fs::read(&p)?).map_err(|e| bad(e.to_string()))?;
        s.trial.check(pos).map_err(bad)?;
        out.push(s.trial);
    }
    Ok(out)
}

/// The next TPE trial to run: a recorded suggestion that is not finished,
/// not failed (unless retried) and accepted by `free`, else a new
/// suggestion while the budget lasts.
pub(super) fn next_tpe(
    dir: &Path,
    plan: &Plan,
    retry_failed: bool,
    free: &dyn Fn(&Trial) -> bool,
) -> Result<Option<Trial>> {
    let known = suggested(dir)?;
    let states = state::read_all(dir)?;
    for t in &known {
        let failed = states
            .get(&t.id)
            .is_some_and(|s| s.state == RunStatus::Failed);
        if finished(&trial_dir(dir, t)).is_none() && (retry_failed || !failed) && free(t) {
            return Ok(Some(t.clone()));
        }
    }
    if known.len() >= plan.budget {
        return Ok(None);
    }
    suggest_next(dir, plan, &known).map(Some)
}

/// The metric of each finished trial, oriented so that higher is better.
fn history(dir: &Path, plan: &Plan, known: &[Trial]) -> (Vec<usize>, Vec<Observation>) {
    let mut idx = Vec::new();
    let mut obs = Vec::new();
    for t in known {
        let td = trial_dir(dir, t);
        if finished(&td).is_none() {
            continue;
        }
        let v = std::fs::read(td.join("summary.json"))
            .ok()
            .and_then(|b| {
                serde_json::from_slice::<std::collections::BTreeMap<String, f64>>(&b).ok()
            })
            .and_then(|m| m.get(&plan.metric).copied())
            .filter(|v| v.is_finite());
        if let Some(v) = v {
            idx.push(t.index);
            obs.push(Observation {
                overrides: t.overrides.clone(),
                score: if plan.goal == SweepGoal::Maximize {
                    v
                } else {
                    -v
                },
            });
        }
    }
    (idx, obs)
}

/// Suggests trial `known.len()` and records it.
fn suggest_next(dir: &Path, plan: &Plan, known: &[Trial]) -> Result<Trial> {
    let k = known.len();
    let (based_on, obs) = history(dir, plan, known);
    let mut chosen = None;
    // A repeat of an earlier config would only run it again: draw again a
    // bounded number of times (deterministically), then accept it.
    for attempt in 0..20u32 {
        let o = tpe::suggest(plan, k, attempt, &obs);
        let t = make_trial(&plan.base, o, k, &plan.source)?;
        let repeat = known.iter().any(|x| x.id == t.id);
        chosen = Some(t);
        if !repeat {
            break;
        }
    }
    let t = chosen.ok_or(SweepError::NoSuggestion)?;
    fsx::write_json_atomic(
        &suggested_dir(dir).join(format!("{k:03}.json")),
        &Suggestion {
            trial: t.clone(),
            based_on,
            at: time::rfc3339(time::unix_now() as u64),
        },
    )?;
    Ok(t)
}

/// Picks and locks the next trial for this worker, under `suggest.lock`.
fn pick(
    dir: &Path,
    plan: &Plan,
    opts: &WorkerOptions,
    tried: &HashSet<usize>,
) -> Result<Option<(Trial, super::Claim)>> {
    let suggest = dir.join("suggest.lock");
    let _s = crate::util::lock::wait_exclusive(&suggest).map_err(|source| SweepError::Lock {
        path: suggest.clone(),
        source,
    })?;

    // A trial is free when nobody holds its lock; we keep the lock we took.
    let taken = std::cell::RefCell::new(None);
    let free = |t: &Trial| -> bool {
        if tried.contains(&t.index) {
            return false;
        }
        match claim(dir, t) {
            Ok(c) => {
                *taken.borrow_mut() = Some(c);
                true
            }
            Err(_) => false,
        }
    };
    let next = if plan.method == SweepMethod::Tpe {
        next_tpe(dir, plan, opts.retry_failed, &free)?
    } else {
        let states = state::read_all(dir)?;
        plan.trials
            .iter()
            .find(|t| {
                let failed = states
                    .get(&t.id)
                    .is_some_and(|s| s.state == RunStatus::Failed);
                finished(&trial_dir(dir, t)).is_none() && (opts.retry_failed || !failed) && free(t)
            })
            .cloned()
    };
    let Some(t) = next else {
        return Ok(None);
    };
    let c = match taken.into_inner() {
        Some(c) => c,
        // A new suggestion: nobody else can know it yet.
        None => claim(dir, &t)?,
    };
    Ok(Some((t, c)))
}

/// Takes trials from the sweep until none is left (or `max_trials`), runs
/// each in this process, then writes the summary.
pub fn run_worker(
    plan_path: Option<&Path>,
    sweep_dir: &Path,
    opts: &WorkerOptions,
) -> Result<Summary> {
    let plan = read_plan(plan_path.unwrap_or(&sweep_dir.join("plan.json")))?;
    fsx::create_dir_all(sweep_dir)?;
    ensure_plan(sweep_dir, &plan)?;
    let _shared = sweep_lock(sweep_dir, false)?;
    let mut tried = HashSet::new();
    while opts.max_trials.is_none_or(|m| tried.len() < m) {
        let Some((t, c)) = pick(sweep_dir, &plan, opts, &tried)? else {
            break;
        };
        tried.insert(t.index);
        if let Err(e) = run_claimed(sweep_dir, &plan, &t, &c) {
            eprintln!("trial {} failed: {e}", t.index);
        }
    }
    eprintln!(
        "worker {}: ran {} trials; nothing left to take",
        state::whoami(),
        tried.len()
    );
    Ok(collect::collect(sweep_dir, &plan)?)
}
