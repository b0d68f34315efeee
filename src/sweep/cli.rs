//! `anirec sweep worker` arguments.

use super::{collect::Summary, run_worker, WorkerOptions};
use crate::Result;
use clap::Args;
use std::path::PathBuf;

/// `anirec sweep worker --sweep-dir DIR [--plan plan.json]`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
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

/// Runs a worker until the sweep has nothing left for it.
pub fn worker(a: WorkerArgs) -> Result<Summary> {
    run_worker(
        a.plan.as_deref(),
        &a.sweep_dir,
        &WorkerOptions {
            retry_failed: a.retry_failed,
            max_trials: a.max_trials,
        },
    )
}

/// What `sweep plan` says about a TPE plan, whose trials do not exist yet.
pub fn tpe_plan_line(plan: &super::plan::Plan, out: &std::path::Path) -> String {
    format!(
        "plan {} (tpe): {} trials, suggested as the sweep runs, written to {}; run one or more workers with `anirec sweep worker --plan {} --sweep-dir DIR` (a Kubernetes Job: k8s/sweep/worker-job.yaml)",
        plan.id,
        plan.budget,
        out.display(),
        out.display()
    )
}
