//! `anirec sweep`: a local sweep (run or resumed), or the pieces of one on a
//! cluster — `plan` (plan.json), `trial` (one Indexed-Job index), `worker`
//! (trials from a shared directory until none is left) and `collect` — all
//! through [`crate::sweep`]. Every form that ends a sweep prints its summary.

use super::Sets;
use crate::config::SweepMethod;
use crate::sweep::{self, collect::Summary, plan::Plan, SweepError};
use crate::{Error, Result};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

/// `anirec sweep EXPERIMENT.yaml` or `anirec sweep plan|trial|worker|collect …`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
#[command(after_help = "Examples:
  anirec sweep experiments/sweep.yaml                       # runs, or resumes, the sweep
  anirec sweep plan experiments/sweep.yaml --out plan.json
  anirec sweep trial --plan plan.json --index 3 --sweep-dir runs/sweeps/s1
  anirec sweep collect runs/sweep-synthetic/sweep-<id>")]
pub(super) struct SweepCmd {
    #[command(subcommand)]
    sub: Option<SweepSub>,
    /// Experiment YAML with a `sweep:` section. Re-running the same command
    /// resumes: finished trials are skipped, interrupted ones re-run.
    experiment: Option<PathBuf>,
    #[command(flatten)]
    sets: Sets,
    /// Sweep directory (default: <runs_dir>/<experiment>/sweep-<id>).
    #[arg(long)]
    sweep_dir: Option<PathBuf>,
    /// Trials at once (default: the YAML's sweep.parallel).
    #[arg(long)]
    parallel: Option<usize>,
    /// Re-run trials that failed in an earlier invocation.
    #[arg(long)]
    retry_failed: bool,
}

#[derive(Debug, Subcommand)]
enum SweepSub {
    /// Expand the sweep into plan.json (one trial per Job index).
    #[command(after_help = "Examples:
  anirec sweep plan experiments/sweep.yaml --out plan.json
  anirec sweep plan experiments/sweep.yaml --set data.max_rows=100000 --out plan.json")]
    Plan {
        /// Experiment YAML with a `sweep:` section.
        experiment: PathBuf,
        #[command(flatten)]
        sets: Sets,
        /// Output plan file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run one trial of a plan (idempotent: a finished trial is skipped).
    #[command(after_help = "Examples:
  anirec sweep trial --plan plan.json --index 0 --sweep-dir runs/sweeps/s1
  JOB_COMPLETION_INDEX=3 anirec sweep trial --plan /plan/plan.json   # as in the Indexed Job")]
    Trial {
        /// plan.json from `anirec sweep plan`.
        #[arg(long)]
        plan: PathBuf,
        /// Trial index; a Kubernetes Indexed Job sets JOB_COMPLETION_INDEX.
        #[arg(long, env = "JOB_COMPLETION_INDEX")]
        index: usize,
        /// Sweep directory (default: the plan's folder).
        #[arg(long)]
        sweep_dir: Option<PathBuf>,
        /// Stop when the parent process dies (set by the local sweeper).
        #[arg(long, hide = true)]
        exit_with_parent: bool,
    },
    /// Take trials from a shared sweep directory until none is left (one
    /// per Kubernetes pod; required for method: tpe on a cluster).
    #[command(after_help = "Examples:
  anirec sweep worker --plan plan.json --sweep-dir runs/sweeps/s1
  anirec sweep worker --sweep-dir runs/sweeps/s1 --max-trials 4   # a second worker on the same sweep
  anirec sweep worker --plan=/plan/plan.json --sweep-dir=/workspace/sweeps/anirec-sweep   # as in k8s/sweep/worker-job.yaml")]
    Worker(WorkerArgs),
    /// Merge trial results into summary.csv, summary.md and sweep.json.
    #[command(after_help = "Examples:
  anirec sweep collect runs/sweep-synthetic/sweep-<id>")]
    Collect {
        /// Sweep directory (holds plan.json and trials/).
        sweep_dir: PathBuf,
    },
}

/// `anirec sweep worker --sweep-dir DIR [--plan plan.json]`.
#[derive(Debug, Args)]
struct WorkerArgs {
    /// The shared sweep directory (holds plan.json once one worker started).
    #[arg(long)]
    sweep_dir: PathBuf,
    /// plan.json from `anirec sweep plan` (default: the sweep directory's).
    #[arg(long)]
    plan: Option<PathBuf>,
    /// Re-run trials that failed earlier.
    #[arg(long)]
    retry_failed: bool,
    /// Stop after this many trials.
    #[arg(long)]
    max_trials: Option<usize>,
}

/// Runs the sweep command; `plan` and `trial` print one line, the others the
/// sweep's summary (and fail with exit 4 when no trial finished).
pub(super) fn run(cmd: SweepCmd) -> Result<()> {
    let summary = match cmd.sub {
        Some(SweepSub::Plan {
            experiment,
            sets,
            out,
        }) => return plan(&experiment, &sets, &out),
        Some(SweepSub::Trial {
            plan,
            index,
            sweep_dir,
            exit_with_parent,
        }) => return trial(&plan, index, sweep_dir.as_deref(), exit_with_parent),
        Some(SweepSub::Collect { sweep_dir }) => sweep::collect_dir(&sweep_dir)?,
        Some(SweepSub::Worker(a)) => worker(a)?,
        None => local(cmd)?,
    };
    print!("{}", sweep::collect::markdown(&summary));
    if summary.best().is_none() {
        return Err(SweepError::NoTrialFinished {
            metric: summary.metric,
        }
        .into());
    }
    Ok(())
}

/// `anirec sweep EXPERIMENT.yaml`: plans and runs (or resumes) the sweep here.
fn local(cmd: SweepCmd) -> Result<Summary> {
    let Some(experiment) = cmd.experiment else {
        return Err(Error::Usage(
            "give an experiment file: anirec sweep EXPERIMENT.yaml".into(),
        ));
    };
    let plan = sweep::plan::plan(&experiment, &cmd.sets.set)?;
    sweep::run_local(
        &plan,
        &sweep::LocalOptions {
            sweep_dir: cmd.sweep_dir,
            retry_failed: cmd.retry_failed,
            parallel: cmd.parallel,
        },
    )
}

/// `anirec sweep plan`: writes plan.json and says how to run its trials.
fn plan(experiment: &Path, sets: &Sets, out: &Path) -> Result<()> {
    let plan = sweep::plan::plan(experiment, &sets.set)?;
    sweep::write_plan(&plan, out)?;
    if plan.method == SweepMethod::Tpe {
        println!("{}", tpe_plan_line(&plan, out));
        return Ok(());
    }
    println!(
        "plan {}: {} trials written to {}; run trial N with `anirec sweep trial --plan {} --index N` (N = 0..{})",
        plan.id,
        plan.trials.len(),
        out.display(),
        out.display(),
        plan.trials.len().saturating_sub(1)
    );
    Ok(())
}

/// What `sweep plan` says about a TPE plan, whose trials do not exist yet.
fn tpe_plan_line(plan: &Plan, out: &Path) -> String {
    format!(
        "plan {} (tpe): {} trials, suggested as the sweep runs, written to {}; run one or more workers with `anirec sweep worker --plan {} --sweep-dir DIR` (a Kubernetes Job: k8s/sweep/worker-job.yaml)",
        plan.id,
        plan.budget,
        out.display(),
        out.display()
    )
}

/// `anirec sweep trial`: runs one trial (or finds it done) and prints its
/// run directory.
fn trial(
    plan: &Path,
    index: usize,
    sweep_dir: Option<&Path>,
    exit_with_parent: bool,
) -> Result<()> {
    let dir = match sweep::run_trial(plan, index, sweep_dir, exit_with_parent)? {
        sweep::TrialOutcome::AlreadyDone(d) => d,
        sweep::TrialOutcome::Ran(out) => out.dir,
    };
    println!("run dir: {}", dir.display());
    Ok(())
}

/// `anirec sweep worker`: runs trials until the sweep has nothing left for it.
fn worker(a: WorkerArgs) -> Result<Summary> {
    sweep::run_worker(
        a.plan.as_deref(),
        &a.sweep_dir,
        &sweep::WorkerOptions {
            retry_failed: a.retry_failed,
            max_trials: a.max_trials,
        },
    )
}
