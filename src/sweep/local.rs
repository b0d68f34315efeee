//! The local sweeper: runs a sweep's trials as child processes, `parallel`
//! at a time, holding the sweep's lock exclusively.

use super::collect::{self, Summary};
use super::plan::{Plan, Trial};
use super::{
    default_dir, ensure_plan, finished, state, sweep_lock, trial_dir, trials, worker, SweepError,
};
use crate::config::SweepMethod;
use crate::track::RunStatus;
use crate::util::fsx;
use crate::{Error, Result};
use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Options of a local sweep.
#[derive(Debug, Clone, Default)]
pub struct LocalOptions {
    /// Sweep directory (default `<runs_dir>/<experiment>/sweep-<id>`).
    pub sweep_dir: Option<PathBuf>,
    /// Re-run trials that failed in an earlier invocation.
    pub retry_failed: bool,
    /// Override the plan's `parallel`.
    pub parallel: Option<usize>,
}

/// Where the next trial comes from.
enum Source {
    /// Grid and random: the plan's list.
    Queue(VecDeque<usize>),
    /// TPE: recorded suggestions first (a resume), then new ones.
    Tpe { taken: HashSet<usize> },
}

/// Runs the trials of a plan that are not done yet, `parallel` at a time,
/// then collects the summary. A failed trial is recorded and the sweep goes
/// on; re-running the same command resumes.
pub fn run_local(plan: &Plan, opts: &LocalOptions) -> Result<Summary> {
    let dir = opts.sweep_dir.clone().unwrap_or_else(|| default_dir(plan));
    fsx::create_dir_all(&dir.join("logs"))?;
    ensure_plan(&dir, plan)?;
    let _lock = sweep_lock(&dir, true)?;
    let states = state::read_all(&dir)?;
    let known = trials(&dir, plan)?;
    let (mut done, mut failed) = (0, 0);
    let mut todo = VecDeque::new();
    for t in &known {
        if finished(&trial_dir(&dir, t)).is_some() {
            done += 1;
        } else if !opts.retry_failed
            && states
                .get(&t.id)
                .is_some_and(|e| e.state == RunStatus::Failed)
        {
            failed += 1;
        } else {
            todo.push_back(t.index);
        }
    }
    let tpe = plan.method == SweepMethod::Tpe;
    let total = if tpe {
        plan.budget.saturating_sub(done + failed)
    } else {
        todo.len()
    };
    let parallel = opts.parallel.unwrap_or(plan.parallel).max(1);
    eprintln!(
        "sweep {} ({}): {} trials in {}; {done} done earlier, {failed} failed earlier{}, {total} to run, {} at a time",
        plan.id,
        plan.experiment,
        if tpe { plan.budget } else { known.len() },
        dir.display(),
        if failed > 0 { " (--retry-failed re-runs them)" } else { "" },
        parallel.min(total.max(1)),
    );
    let source = Mutex::new(if tpe {
        Source::Tpe {
            taken: HashSet::new(),
        }
    } else {
        Source::Queue(todo)
    });
    let exe = std::env::current_exe()?;
    let finished_n = AtomicUsize::new(0);
    let first_err: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..parallel.min(total) {
            s.spawn(|| loop {
                let next = match source.lock() {
                    Ok(mut src) => next_trial(&mut src, &dir, plan, &known, opts.retry_failed),
                    Err(_) => Ok(None),
                };
                let t = match next {
                    Ok(Some(t)) => t,
                    Ok(None) => break,
                    Err(e) => {
                        if let Ok(mut slot) = first_err.lock() {
                            slot.get_or_insert(e);
                        }
                        break;
                    }
                };
                if let Err(e) = run_child(&exe, &dir, &t, plan, &finished_n, total) {
                    // Only infrastructure errors (cannot spawn, cannot write
                    // a state file) land here; a failing trial is not one.
                    if let Ok(mut slot) = first_err.lock() {
                        slot.get_or_insert(e);
                    }
                    break;
                }
            });
        }
    });
    if let Some(e) = first_err.into_inner().ok().flatten() {
        return Err(e);
    }
    let summary = collect::collect(&dir, plan)?;
    eprintln!(
        "sweep {}: {} done, {} pruned, {} failed; summary: {}",
        plan.id,
        summary.counts["done"],
        summary.counts["pruned"],
        summary.counts["failed"],
        dir.join("summary.md").display()
    );
    Ok(summary)
}

fn next_trial(
    src: &mut Source,
    dir: &Path,
    plan: &Plan,
    known: &[Trial],
    retry_failed: bool,
) -> Result<Option<Trial>> {
    match src {
        Source::Queue(q) => Ok(q.pop_front().and_then(|i| known.get(i).cloned())),
        Source::Tpe { taken } => {
            let t = worker::next_tpe(dir, plan, retry_failed, &|t: &Trial| {
                !taken.contains(&t.index)
            })?;
            if let Some(t) = &t {
                taken.insert(t.index);
            }
            Ok(t)
        }
    }
}

fn run_child(
    exe: &Path,
    dir: &Path,
    t: &Trial,
    plan: &Plan,
    finished_n: &AtomicUsize,
    total: usize,
) -> Result<()> {
    let log_path = dir.join("logs").join(format!("{}.log", t.dir_name()));
    let log = std::fs::File::create(&log_path).map_err(|source| SweepError::Spawn {
        what: log_path.display().to_string(),
        source,
    })?;
    let t0 = Instant::now();
    let status = std::process::Command::new(exe)
        .arg("sweep")
        .arg("trial")
        .arg("--plan")
        .arg(dir.join("plan.json"))
        .arg("--index")
        .arg(t.index.to_string())
        .arg("--sweep-dir")
        .arg(dir)
        .arg("--exit-with-parent")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()
        .map_err(|source| SweepError::Spawn {
            what: format!("cannot start {}", exe.display()),
            source,
        })?;
    let n = finished_n.fetch_add(1, Ordering::SeqCst) + 1;
    let td = trial_dir(dir, t);
    let secs = t0.elapsed().as_secs_f64();
    if let Some(st) = finished(&td) {
        let value = std::fs::read(td.join("summary.json"))
            .ok()
            .and_then(|b| {
                serde_json::from_slice::<std::collections::BTreeMap<String, f64>>(&b).ok()
            })
            .and_then(|m| m.get(&plan.metric).copied());
        eprintln!(
            "[{n}/{total}] trial {} {} {}: {} = {} ({secs:.1} s)",
            t.index,
            t.label(),
            st.as_str(),
            plan.metric,
            value.map_or("missing".into(), |v| format!("{v:.4}")),
        );
        return Ok(());
    }
    let recorded = state::read_one(dir, &t.dir_name()).map(|s| s.state);
    if status.code().is_none() {
        // Killed by a signal (kill -9, OOM killer): interrupted, not a
        // verdict on the config; the next invocation runs it again.
        eprintln!(
            "[{n}/{total}] trial {} {} INTERRUPTED ({status}, {secs:.1} s); it re-runs on resume; log: {}",
            t.index,
            t.label(),
            log_path.display()
        );
        return Ok(());
    }
    // A trial that another process runs (its lock is held) is not ours to
    // record: this child was refused, the other process writes its state.
    let held = super::claim(dir, t).is_err();
    if recorded != Some(RunStatus::Failed) && !held {
        // The child ended without recording why (a panic, a bad plan).
        state::set(
            dir,
            t.index,
            &t.id,
            &t.dir_name(),
            RunStatus::Failed,
            Some(format!("trial process ended with {status}")),
        )?;
    }
    eprintln!(
        "[{n}/{total}] trial {} {} FAILED ({secs:.1} s); log: {}",
        t.index,
        t.label(),
        log_path.display()
    );
    Ok(())
}
