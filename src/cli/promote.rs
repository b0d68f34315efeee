//! `anirec promote`: picks the best run by a metric (local store or Comet)
//! and hands it to [`promote::promote`], which verifies and installs its
//! bundle for serving.

use crate::config::SweepGoal;
use crate::promote::{self, Ranking};
use crate::Result;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// `anirec promote SOURCES... [--metric M] [--goal G] [--to DIR] [--from F]`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  anirec promote runs/sweep-synthetic/sweep-<id> --metric ndcg@10 --to models/promoted
  anirec promote runs/quickstart --metric rmse --goal minimize
  anirec promote runs/cometexp --from comet --registry-name anirec")]
pub(super) struct PromoteArgs {
    /// Sweep directories, run directories, or folders of runs.
    #[arg(required = true)]
    sources: Vec<PathBuf>,
    /// Metric that ranks the runs.
    #[arg(long, default_value = "ndcg@10")]
    metric: String,
    /// Whether bigger is better.
    #[arg(long, value_enum, default_value_t = Goal::Maximize)]
    goal: Goal,
    /// Destination bundle directory.
    #[arg(long, default_value = "models/promoted")]
    to: PathBuf,
    /// Rank by the local run store or by what Comet holds.
    #[arg(long, value_enum, default_value_t = MetricSource::Local)]
    from: MetricSource,
    /// Comet project for --from comet (default: the runs' project).
    #[arg(long)]
    project: Option<String>,
    /// Comet model-registry name.
    #[arg(long, default_value = "anirec")]
    registry_name: String,
    /// Promote only when the best run beats the currently promoted
    /// model's run significantly (paired per-user tests on --metric).
    #[arg(long)]
    require_significant: bool,
}

/// `--goal`: the direction of the ranking metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Goal {
    /// Bigger is better (ndcg@10, recall@20).
    Maximize,
    /// Smaller is better (rmse, mae).
    Minimize,
}

impl From<Goal> for SweepGoal {
    fn from(g: Goal) -> Self {
        match g {
            Goal::Maximize => SweepGoal::Maximize,
            Goal::Minimize => SweepGoal::Minimize,
        }
    }
}

/// `--from`: where `promote` reads the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MetricSource {
    /// The local run store.
    Local,
    /// The values Comet holds.
    Comet,
}

impl From<MetricSource> for Ranking {
    fn from(s: MetricSource) -> Self {
        match s {
            MetricSource::Local => Ranking::Local,
            MetricSource::Comet => Ranking::Comet,
        }
    }
}

/// Promotes and prints the run, its value, the destination and the
/// registry's outcome.
pub(super) fn run(a: PromoteArgs) -> Result<()> {
    let p = promote::promote(&promote::Options {
        sources: a.sources,
        metric: a.metric.clone(),
        goal: a.goal.into(),
        to: a.to,
        from: a.from.into(),
        project: a.project,
        registry_name: a.registry_name,
        require_significant: a.require_significant,
    })?;
    println!(
        "promoted {} ({} = {:.4}) to {}",
        p.run_dir.display(),
        a.metric,
        p.value,
        p.dest.display()
    );
    println!("{}", p.registry);
    Ok(())
}
