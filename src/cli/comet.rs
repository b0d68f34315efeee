//! `anirec comet sync|runs`: delivers what runs' outboxes hold and lists a
//! project's experiments, through [`crate::track::comet`].

use crate::error::exit;
use crate::track::comet::{self, group};
use crate::{Error, Result};
use clap::Subcommand;
use std::path::{Path, PathBuf};

/// `anirec comet …`.
#[derive(Debug, Subcommand)]
pub(super) enum CometCommand {
    /// Deliver what is pending in the runs' outboxes (exactly once).
    #[command(after_help = "Examples:
  anirec comet sync runs/quickstart/<run-id>
  anirec comet sync runs/quickstart/*      # every run of an experiment")]
    Sync {
        /// Run directories (holding outbox/).
        #[arg(required = true)]
        run_dirs: Vec<PathBuf>,
    },
    /// List a project's experiments with one metric.
    #[command(after_help = "Examples:
  anirec comet runs --project anirec --metric ndcg@10
  anirec comet runs --workspace my-team --project anirec --metric rmse")]
    Runs {
        /// Project.
        #[arg(long)]
        project: String,
        /// Workspace (default: COMET_WORKSPACE or ~/.comet.config).
        #[arg(long)]
        workspace: Option<String>,
        /// Metric to show.
        #[arg(long, default_value = "ndcg@10")]
        metric: String,
    },
}

/// Runs the `comet` subcommand.
pub(super) fn run(c: CometCommand) -> Result<()> {
    match c {
        CometCommand::Sync { run_dirs } => sync(&run_dirs),
        CometCommand::Runs {
            project,
            workspace,
            metric,
        } => runs(&project, workspace.as_deref(), &metric),
    }
}

/// Why one run's outbox was not fully delivered.
enum SyncFailure {
    /// Comet refused (the API key, the settings): exit 2 unless another run
    /// failed for want of Comet.
    Refused,
    /// Comet could not be reached or did not answer in time: exit 5.
    Unreachable,
}

/// Syncs every run, reporting each; keeps going past failures so one bad
/// run does not leave the others pending.
fn sync(run_dirs: &[PathBuf]) -> Result<()> {
    let (mut failed, mut unreachable) = (0, false);
    for dir in run_dirs {
        if let Err(f) = sync_one(dir) {
            failed += 1;
            unreachable |= matches!(f, SyncFailure::Unreachable);
        }
    }
    if failed > 0 {
        // The worst failure decides the exit code: Comet or the network (5)
        // over the settings or the arguments (2); see `Error::exit_code`.
        return Err(Error::NotSynced {
            failed,
            unreachable,
        });
    }
    Ok(())
}

/// Syncs one run: a line on stdout when everything went, an error log when
/// not.
fn sync_one(dir: &Path) -> std::result::Result<(), SyncFailure> {
    match comet::sync(dir) {
        Ok(r) if r.halted => {
            tracing::error!(
                "{}: Comet refused the API key; {} events still pending",
                dir.display(),
                group(r.pending)
            );
            Err(SyncFailure::Refused)
        }
        Ok(r) if r.pending > 0 => {
            tracing::error!(
                "{}: Comet did not take {} events before the deadline \
                 (ANIREC_COMET_SYNC_SECS); they stay pending",
                dir.display(),
                group(r.pending)
            );
            Err(SyncFailure::Unreachable)
        }
        Ok(r) => {
            println!(
                "{}: Comet: {} events delivered ({} now), {} pending{}",
                dir.display(),
                group(r.delivered),
                group(r.delivered_now),
                group(r.pending),
                r.key
                    .map(|k| format!(" (experiment {k})"))
                    .unwrap_or_default()
            );
            Ok(())
        }
        Err(e) => {
            tracing::error!("{}: {e}", dir.display());
            // Whether it counts as "unreachable" is the exit-code table's call.
            if Error::from(e).exit_code() == exit::IO {
                Err(SyncFailure::Unreachable)
            } else {
                Err(SyncFailure::Refused)
            }
        }
    }
}

/// Prints a project's experiments with the last and best value of `metric`.
fn runs(project: &str, workspace: Option<&str>, metric: &str) -> Result<()> {
    let rows = comet::runs(workspace, project, metric)?;
    println!(
        "{:<34} {:<40} {metric} (last / max)",
        "experiment key", "name"
    );
    let value = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
    for r in rows {
        let m = match r.metric {
            Some((cur, max)) => format!("{} / {}", value(cur), value(max)),
            None => "-".into(),
        };
        println!("{:<34} {:<40} {m}", r.key, r.name);
    }
    Ok(())
}
