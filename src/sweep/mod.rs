//! Config sweeps: expand (`plan`), run trials locally `parallel` at a time
//! or one per Kubernetes pod (`trial`), and merge the results (`collect`).
//!
//! Each trial is a normal run in `<sweep>/trials/<index>-<id>/`, started as a
//! child process of the local sweeper (the same `anirec sweep trial` a pod
//! runs), so a trial that crashes or leaks memory cannot take the sweep with
//! it, and the local and cluster paths are one code path.
//!
//! ```text
//! <runs_dir>/<experiment>/sweep-<id>/
//!   plan.json  ledger.jsonl  sweep.lock
//!   trials/000-<trial id>/   (a run directory)
//!   logs/000-<trial id>.log
//!   summary.csv  summary.md  sweep.json
//! ```

pub mod collect;
pub mod ledger;
pub mod plan;

use crate::config::Experiment;
use crate::pipeline::{self, RunOptions};
use crate::track::store::RunDir;
use crate::util::{fsx, time};
use crate::{Error, Result};
use collect::Summary;
use ledger::{Ledger, State};
use plan::{Plan, Trial, PLAN_VERSION};
use std::collections::VecDeque;
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

/// Where a plan's sweep lives by default. The id is a content hash, so the
/// same command finds the same directory again, which is how it resumes.
pub fn default_dir(plan: &Plan) -> PathBuf {
    plan.runs_dir
        .join(&plan.experiment)
        .join(format!("sweep-{}", plan.id))
}

/// Reads a plan.json.
pub fn read_plan(path: &Path) -> Result<Plan> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::Usage(format!(
            "{}: {e} (write one with `anirec sweep plan EXPERIMENT.yaml --out plan.json`)",
            path.display()
        ))
    })?;
    let plan: Plan = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Usage(format!("{}: not a sweep plan: {e}", path.display())))?;
    if plan.version != PLAN_VERSION {
        return Err(Error::Usage(format!(
            "{}: plan format {} is not supported (this anirec writes {PLAN_VERSION}); re-plan it",
            path.display(),
            plan.version
        )));
    }
    Ok(plan)
}

/// Writes the plan into the sweep directory, or checks that the one there is
/// the same sweep (another sweep's directory must not be mixed into).
fn ensure_plan(sweep_dir: &Path, plan: &Plan) -> Result<()> {
    let p = sweep_dir.join("plan.json");
    if p.exists() {
        let there = read_plan(&p)?;
        if there.id != plan.id {
            return Err(Error::Usage(format!(
                "{} holds sweep {}, not {}; choose another --sweep-dir",
                sweep_dir.display(),
                there.id,
                plan.id
            )));
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

/// A trial is done when its run finished and left its summary.
fn trial_done(dir: &Path) -> bool {
    dir.join("summary.json").is_file()
        && RunDir::open(dir)
            .and_then(|r| r.read_meta())
            .is_ok_and(|m| m.status == "done")
}

/// Runs the trials of a plan that are not done yet, `parallel` at a time,
/// then collects the summary. A failed trial is recorded and the sweep goes
/// on; re-running the same command resumes.
pub fn run_local(plan: &Plan, opts: &LocalOptions) -> Result<Summary> {
    let dir = opts.sweep_dir.clone().unwrap_or_else(|| default_dir(plan));
    fsx::create_dir_all(&dir.join("logs"))?;
    ensure_plan(&dir, plan)?;
    let _lock = Lock::acquire(&dir)?;
    let ledger = Ledger::at(&dir);
    let states = ledger.last_states()?;
    let (mut done, mut failed) = (0, 0);
    let mut todo = VecDeque::new();
    for t in &plan.trials {
        let td = trial_dir(&dir, t);
        if trial_done(&td) {
            done += 1;
        } else if !opts.retry_failed && states.get(&t.id).is_some_and(|e| e.state == State::Failed)
        {
            failed += 1;
        } else {
            todo.push_back(t.index);
        }
    }
    let parallel = opts.parallel.unwrap_or(plan.parallel).max(1);
    eprintln!(
        "sweep {} ({}): {} trials in {}; {done} done earlier, {failed} failed earlier{}, {} to run, {} at a time",
        plan.id,
        plan.experiment,
        plan.trials.len(),
        dir.display(),
        if failed > 0 { " (--retry-failed re-runs them)" } else { "" },
        todo.len(),
        parallel.min(todo.len().max(1)),
    );
    for &i in &todo {
        ledger.append(i, &plan.trials[i].id, State::Queued, None)?;
    }
    let exe = std::env::current_exe()?;
    let total = todo.len();
    let queue = Mutex::new(todo);
    let finished = AtomicUsize::new(0);
    let first_err: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..parallel.min(total) {
            s.spawn(|| loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some(i) = next else { break };
                let t = &plan.trials[i];
                if let Err(e) = run_child(&exe, &dir, t, &ledger, plan, &finished, total) {
                    // Only infrastructure errors (cannot spawn, cannot write
                    // the ledger) land here; a failing trial is not one.
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
        "sweep {}: {} done, {} failed; summary: {}",
        plan.id,
        summary.counts["done"],
        summary.counts["failed"],
        dir.join("summary.md").display()
    );
    Ok(summary)
}

fn run_child(
    exe: &Path,
    dir: &Path,
    t: &Trial,
    ledger: &Ledger,
    plan: &Plan,
    finished: &AtomicUsize,
    total: usize,
) -> Result<()> {
    let log_path = dir.join("logs").join(format!("{}.log", t.dir_name()));
    let log = std::fs::File::create(&log_path)
        .map_err(|e| Error::Usage(format!("{}: {e}", log_path.display())))?;
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
        .map_err(|e| Error::Usage(format!("cannot start {}: {e}", exe.display())))?;
    let n = finished.fetch_add(1, Ordering::SeqCst) + 1;
    let td = trial_dir(dir, t);
    let secs = t0.elapsed().as_secs_f64();
    if trial_done(&td) {
        let value = std::fs::read(td.join("summary.json"))
            .ok()
            .and_then(|b| {
                serde_json::from_slice::<std::collections::BTreeMap<String, f64>>(&b).ok()
            })
            .and_then(|m| m.get(&plan.metric).copied());
        eprintln!(
            "[{n}/{total}] trial {} {} done: {} = {} ({secs:.1} s)",
            t.index,
            t.label(),
            plan.metric,
            value.map_or("missing".into(), |v| format!("{v:.4}")),
        );
    } else {
        let states = ledger.last_states()?;
        let recorded = states.get(&t.id).is_some_and(|e| e.state == State::Failed);
        if !recorded {
            // The child died without recording why (killed, panicked).
            ledger.append(
                t.index,
                &t.id,
                State::Failed,
                Some(format!("trial process ended with {status}")),
            )?;
        }
        eprintln!(
            "[{n}/{total}] trial {} {} FAILED ({secs:.1} s); log: {}",
            t.index,
            t.label(),
            log_path.display()
        );
    }
    Ok(())
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
/// aside to `interrupted/` and re-run.
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
    let Some(t) = plan.trials.get(index) else {
        return Err(Error::Usage(format!(
            "--index {index} is out of range: the plan has {} trials (0..{})",
            plan.trials.len(),
            plan.trials.len()
        )));
    };
    fsx::create_dir_all(&dir)?;
    ensure_plan(&dir, &plan)?;
    if exit_with_parent {
        exit_when_orphaned();
    }
    let td = trial_dir(&dir, t);
    if trial_done(&td) {
        eprintln!("trial {index} ({}) is already done: {}", t.id, td.display());
        return Ok(TrialOutcome::AlreadyDone(td));
    }
    if td.exists() {
        // Keep what the interrupted attempt wrote (its outbox may hold
        // events Comet has not acknowledged yet); never mix it into the new run.
        let aside = dir.join("interrupted").join(format!(
            "{}-{}",
            t.dir_name(),
            time::compact(time::unix_now() as u64)
        ));
        fsx::create_dir_all(&dir.join("interrupted"))?;
        std::fs::rename(&td, &aside)?;
        eprintln!(
            "trial {index}: moved the interrupted attempt to {}",
            aside.display()
        );
    }
    let ledger = Ledger::at(&dir);
    ledger.append(index, &t.id, State::Running, None)?;
    eprintln!("trial {index} of sweep {}: {}", plan.id, t.label());
    let result = Experiment::from_value(t.config.clone(), &plan.source)
        .map_err(Error::from)
        .and_then(|exp| {
            pipeline::run_with(
                &exp,
                &RunOptions {
                    run_dir: Some(td.clone()),
                    tags: vec![format!("sweep:{}", plan.id), format!("trial:{index}")],
                },
            )
        });
    match result {
        Ok(out) => {
            ledger.append(index, &t.id, State::Done, None)?;
            Ok(TrialOutcome::Ran(out))
        }
        Err(e) => {
            ledger.append(index, &t.id, State::Failed, Some(e.to_string()))?;
            Err(e)
        }
    }
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
            eprintln!("the sweep process is gone; stopping this trial (it re-runs on resume)");
            std::process::exit(130);
        }
    });
}

#[cfg(not(unix))]
fn exit_when_orphaned() {}

/// `sweep.lock`: one local sweeper per sweep directory.
struct Lock(PathBuf);

impl Lock {
    fn acquire(dir: &Path) -> Result<Self> {
        let p = dir.join("sweep.lock");
        if let Ok(text) = std::fs::read_to_string(&p) {
            if let Ok(pid) = text.trim().parse::<u32>() {
                // A zombie (killed, not yet reaped) holds nothing.
                let alive = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                    st.rsplit_once(") ")
                        .is_some_and(|(_, rest)| !rest.starts_with('Z'))
                });
                if alive && pid != std::process::id() {
                    return Err(Error::Usage(format!(
                        "another `anirec sweep` (pid {pid}) is running this sweep in {}; wait for it or stop it",
                        dir.display()
                    )));
                }
            }
        }
        fsx::write_atomic(&p, std::process::id().to_string().as_bytes())?;
        Ok(Self(p))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
