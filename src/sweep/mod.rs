//! Config sweeps: expand (`plan`), run trials locally `parallel` at a time,
//! one per Kubernetes pod (`trial`), or from any number of workers sharing
//! the sweep directory (`worker`, needed for TPE, whose trials are suggested
//! as the sweep goes), and merge the results (`collect`).
//!
//! Each trial is a normal run in `<sweep>/trials/<index>-<id>/`, started as a
//! child process of the local sweeper (the same `anirec sweep trial` a pod
//! runs), so a trial that crashes or leaks memory cannot take the sweep with
//! it, and the local and cluster paths are one code path.
//!
//! ```text
//! <runs_dir>/<experiment>/sweep-<id>/
//!   plan.json  sweep.lock  suggest.lock
//!   state/000-<trial id>.json   (one state file per trial; state.rs)
//!   locks/000-<trial id>.lock   (held by the process running the trial)
//!   suggested/000.json          (TPE: each suggestion, in order)
//!   trials/000-<trial id>/      (a run directory)
//!   logs/000-<trial id>.log
//!   summary.csv  summary.md  sweep.json
//! ```
//!
//! Sweeps started by an older anirec kept a shared `ledger.jsonl`; it is
//! still read, never written.

pub mod collect;
mod error;
pub mod ledger;
mod local;
pub mod plan;
pub mod prune;
pub mod state;
pub mod tpe;
mod worker;

pub use error::SweepError;
pub use local::{run_local, LocalOptions};
pub use worker::{run_worker, WorkerOptions};

use crate::config::{Experiment, SweepMethod};
use crate::pipeline::{self, RunOptions};
use crate::track::store::RunDir;
use crate::track::RunStatus;
use crate::util::lock::{FileLock, LockError};
use crate::util::{fsx, time};
use crate::{Error, Result};
use collect::Summary;
use plan::{Plan, Trial, PLAN_VERSION};
use std::path::{Path, PathBuf};

/// Where a plan's sweep lives by default. The id is a content hash, so the
/// same command finds the same directory again, which is how it resumes.
pub fn default_dir(plan: &Plan) -> PathBuf {
    plan.runs_dir
        .join(&plan.experiment)
        .join(format!("sweep-{}", plan.id))
}

/// Reads a plan.json, refusing one whose trial ids could name paths.
pub fn read_plan(path: &Path) -> Result<Plan> {
    let bad = |msg: String| SweepError::BadPlan {
        path: path.to_path_buf(),
        msg,
    };
    let bytes = std::fs::read(path).map_err(|source| SweepError::PlanUnreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let plan: Plan =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a sweep plan: {e}")))?;
    if plan.version != PLAN_VERSION {
        return Err(bad(format!(
            "plan format {} is not supported (this anirec writes {PLAN_VERSION}); re-plan it",
            plan.version
        ))
        .into());
    }
    plan.check()
        .map_err(|m| bad(format!("{m}; re-plan it with `anirec sweep plan`")))?;
    Ok(plan)
}

/// Writes the plan into the sweep directory, or checks that the one there is
/// the same sweep (another sweep's directory must not be mixed into).
fn ensure_plan(sweep_dir: &Path, plan: &Plan) -> Result<()> {
    let p = sweep_dir.join("plan.json");
    if p.exists() {
        let there = read_plan(&p)?;
        if there.id != plan.id {
            return Err(SweepError::OtherSweep {
                dir: sweep_dir.to_path_buf(),
                there: there.id,
                ours: plan.id.clone(),
            }
            .into());
        }
        return Ok(());
    }
    Ok(fsx::write_json_atomic(&p, plan)?)
}

/// Writes a plan file for `anirec sweep trial` (Kubernetes Indexed Job).
pub fn write_plan(plan: &Plan, out: &Path) -> Result<()> {
    Ok(fsx::write_json_atomic(out, plan)?)
}

fn trial_dir(sweep_dir: &Path, t: &Trial) -> PathBuf {
    sweep_dir.join("trials").join(t.dir_name())
}

/// How a trial directory ended: Done or Pruned when its run finished and
/// left its summary, None otherwise.
fn finished(dir: &Path) -> Option<RunStatus> {
    if !dir.join("summary.json").is_file() {
        return None;
    }
    let status = RunDir::open(dir).and_then(|r| r.read_meta()).ok()?.status;
    status.has_metrics().then_some(status)
}

/// The trials of a sweep so far: the plan's, or (TPE) those suggested.
pub fn trials(sweep_dir: &Path, plan: &Plan) -> std::io::Result<Vec<Trial>> {
    if plan.method == SweepMethod::Tpe {
        worker::suggested(sweep_dir)
    } else {
        Ok(plan.trials.clone())
    }
}

/// The OS lock a process holds while it runs a trial: nobody else runs it
/// or moves its directory while it is held.
pub(crate) struct Claim {
    _lock: FileLock,
}

fn claim_path(sweep_dir: &Path, t: &Trial) -> PathBuf {
    sweep_dir
        .join("locks")
        .join(format!("{}.lock", t.dir_name()))
}

/// A sweep's processes coordinate only through these locks, so a file
/// system without OS locks is an error here (a run directory only warns).
fn os_lock(l: FileLock) -> Result<FileLock> {
    if l.is_os_lock() {
        return Ok(l);
    }
    Err(SweepError::NoFileLocks(l.path().to_path_buf()).into())
}

/// Takes trial `t`'s lock, or says who runs it.
fn claim(sweep_dir: &Path, t: &Trial) -> Result<Claim> {
    let path = claim_path(sweep_dir, t);
    if let Some(locks) = path.parent() {
        fsx::create_dir_all(locks)?;
    }
    match FileLock::try_acquire(&path, &format!("trial {} ({})", t.index, t.id)) {
        Ok(l) => Ok(Claim { _lock: os_lock(l)? }),
        Err(LockError::Held { holder, .. }) => Err(SweepError::TrialBusy {
            index: t.index,
            id: t.id.clone(),
            holder,
        }
        .into()),
        Err(e) => Err(e.into()),
    }
}

/// The sweep lock, exclusive (a local sweeper) or shared (workers).
fn sweep_lock(dir: &Path, exclusive: bool) -> Result<FileLock> {
    let p = dir.join("sweep.lock");
    let what = format!("sweep {}", dir.display());
    let r = if exclusive {
        FileLock::try_acquire(&p, &what)
    } else {
        FileLock::try_acquire_shared(&p, &what)
    };
    r.map_err(|e| match e {
        LockError::Held { holder, .. } => Error::from(SweepError::SweepBusy {
            dir: dir.to_path_buf(),
            holders: if exclusive {
                // Workers hold it shared and leave no text; a local sweeper
                // holds it exclusively and describes itself.
                format!("another `anirec sweep` ({holder}) or `anirec sweep worker` processes")
            } else {
                format!("a local `anirec sweep` ({holder})")
            },
            lock: p.clone(),
        }),
        other => other.into(),
    })
    .and_then(os_lock)
}

/// What `anirec sweep trial` did.
#[derive(Debug)]
pub enum TrialOutcome {
    /// The trial had already finished; nothing ran.
    AlreadyDone(PathBuf),
    /// The trial ran now.
    Ran(pipeline::RunOutcome),
}

/// Runs one trial of a plan into `<sweep_dir>/trials/`: what a Kubernetes
/// pod (index = JOB_COMPLETION_INDEX) and the local sweeper's children do.
/// Idempotent: a finished trial is not run again, an interrupted one is moved
/// aside to `interrupted/` and re-run, and one that another process is
/// running (it holds the trial's lock) is an error that touches nothing.
pub fn run_trial(
    plan_path: &Path,
    index: usize,
    sweep_dir: Option<&Path>,
    exit_with_parent: bool,
) -> Result<TrialOutcome> {
    let plan = read_plan(plan_path)?;
    let dir = match sweep_dir {
        Some(d) => d.to_path_buf(),
        None => plan_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf(),
    };
    fsx::create_dir_all(&dir)?;
    ensure_plan(&dir, &plan)?;
    let all = trials(&dir, &plan)?;
    let Some(t) = all.get(index) else {
        return Err(SweepError::IndexOutOfRange {
            index,
            n: all.len(),
        }
        .into());
    };
    if exit_with_parent {
        exit_when_orphaned();
    }
    let c = claim(&dir, t)?;
    run_claimed(&dir, &plan, t, &c)
}

/// Runs a trial whose lock this process holds.
fn run_claimed(dir: &Path, plan: &Plan, t: &Trial, _claim: &Claim) -> Result<TrialOutcome> {
    let td = trial_dir(dir, t);
    let name = t.dir_name();
    if finished(&td).is_some() {
        eprintln!(
            "trial {} ({}) is already done: {}",
            t.index,
            t.id,
            td.display()
        );
        return Ok(TrialOutcome::AlreadyDone(td));
    }
    if td.exists() {
        // Nobody runs it (we hold its lock): an interrupted attempt. Keep
        // what it wrote (its outbox may hold events Comet has not
        // acknowledged yet); never mix it into the new run.
        let aside = dir.join("interrupted").join(format!(
            "{name}-{}-{}",
            time::compact(time::unix_now() as u64),
            std::process::id()
        ));
        fsx::create_dir_all(&dir.join("interrupted"))?;
        fsx::rename_synced(&td, &aside)?;
        eprintln!(
            "trial {}: moved the interrupted attempt to {}",
            t.index,
            aside.display()
        );
    }
    state::update(dir, t.index, &t.id, &name, |st| {
        st.state = RunStatus::Running;
        st.error = None;
        st.epochs.clear();
        st.pruned_at = None;
    })?;
    eprintln!("trial {} of sweep {}: {}", t.index, plan.id, t.label());
    let guard = plan
        .early_stop
        .clone()
        .map(|r| prune::install(dir.to_path_buf(), t.index, &t.id, &name, r));
    let result = Experiment::from_value(t.config.clone(), &plan.source)
        .map_err(Error::from)
        .and_then(|exp| {
            pipeline::run_with(
                &exp,
                &RunOptions {
                    run_dir: Some(td.clone()),
                    tags: vec![format!("sweep:{}", plan.id), format!("trial:{}", t.index)],
                },
            )
        });
    let pruned_at = guard.as_ref().and_then(|g| g.pruned_at());
    drop(guard);
    match result {
        Ok(out) => {
            match pruned_at {
                Some(epoch) => mark_pruned(dir, t, &td, epoch)?,
                None => {
                    state::set(dir, t.index, &t.id, &name, RunStatus::Done, None)?;
                }
            }
            Ok(TrialOutcome::Ran(out))
        }
        Err(e) => {
            state::set(
                dir,
                t.index,
                &t.id,
                &name,
                RunStatus::Failed,
                Some(e.to_string()),
            )?;
            Err(e)
        }
    }
}

/// A pruned trial's run keeps its metrics but says `pruned` in meta.json, so
/// promotion (which takes only `done` runs) skips it; Comet gets a tag.
fn mark_pruned(dir: &Path, t: &Trial, td: &Path, epoch: u32) -> Result<()> {
    let run = RunDir::open(td)?;
    let mut meta = run.read_meta()?;
    meta.status = RunStatus::Pruned;
    run.write_meta(&meta)?;
    state::update(dir, t.index, &t.id, &t.dir_name(), |st| {
        st.state = RunStatus::Pruned;
        st.pruned_at = Some(epoch);
    })?;
    use crate::track::comet::outbox::Event;
    let line = crate::compare::track::append(
        td,
        &[
            Event::Tags {
                tags: vec!["pruned".into()],
            },
            Event::Other {
                key: "pruned_at_epoch".into(),
                value: epoch.to_string(),
            },
        ],
    );
    if let Some(l) = line {
        eprintln!("{l}");
    }
    Ok(())
}

/// Reads a sweep directory's plan and writes its summary files.
pub fn collect_dir(sweep_dir: &Path) -> Result<Summary> {
    let plan = read_plan(&sweep_dir.join("plan.json"))?;
    Ok(collect::collect(sweep_dir, &plan)?)
}

/// A child of the local sweeper stops when the sweeper dies (killed, or
/// Ctrl-C in another terminal), so a resumed sweep never races an orphan.
#[cfg(unix)]
fn exit_when_orphaned() {
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_millis(200));
        if std::os::unix::process::parent_id() != parent {
            // A watchdog thread has no caller to return the error to: it
            // reports it and exits with the code the table gives it.
            let e = Error::from(SweepError::Orphaned);
            eprintln!("{e}");
            std::process::exit(i32::from(e.exit_code()));
        }
    });
}

#[cfg(not(unix))]
fn exit_when_orphaned() {}
