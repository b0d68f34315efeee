//! `anirec run`: one experiment end to end, or the resumption of an
//! interrupted run, through [`pipeline::run_with`] and [`pipeline::resume`].

use super::Sets;
use crate::config::{load_experiment, CometConfig};
use crate::{pipeline, Error, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// `anirec run EXPERIMENT.yaml` or `anirec run --resume RUN_DIR`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  anirec run experiments/quickstart.yaml
  anirec run experiments/quickstart.yaml --set model.l2=200 --set eval.k=[5,10]
  anirec run experiments/quickstart.yaml --tracking comet
  anirec run --resume runs/synth-recommender_net/<run-id>")]
pub(super) struct RunArgs {
    /// Experiment YAML (omit with --resume).
    #[arg(required_unless_present = "resume")]
    experiment: Option<PathBuf>,
    /// Resume an interrupted run from its last checkpoint.
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "experiment")]
    resume: Option<PathBuf>,
    #[command(flatten)]
    sets: Sets,
    /// Mirror the run to a tracker (`comet`), even if the YAML has no
    /// `tracking.comet` section.
    #[arg(long, value_enum)]
    tracking: Option<Tracking>,
    /// Write the run to exactly this directory (missing or empty) instead
    /// of runs/<experiment>/<run-id>/; for pipelines with fixed output
    /// paths such as DVC.
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    run_dir: Option<PathBuf>,
}

/// `--tracking`: the remote tracker a run mirrors to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Tracking {
    /// Comet ML (settings from COMET_* or ~/.comet.config).
    Comet,
}

/// Runs (or resumes) the experiment and prints the run directory.
pub(super) fn run(a: RunArgs) -> Result<()> {
    let out = match (a.resume, a.experiment) {
        (Some(dir), _) => pipeline::resume(&dir)?,
        (None, Some(experiment)) => {
            let mut exp = load_experiment(&experiment, &a.sets.set)?;
            // `--tracking comet` without a `tracking.comet` section: Comet
            // with its defaults, settings from the environment.
            if a.tracking == Some(Tracking::Comet) && exp.tracking.comet.is_none() {
                exp.tracking.comet = Some(CometConfig::default());
            }
            let opts = pipeline::RunOptions {
                run_dir: a.run_dir,
                ..Default::default()
            };
            pipeline::run_with(&exp, &opts)?
        }
        // clap's `required_unless_present` makes this unreachable from the
        // command line; the library entry point still refuses it plainly.
        (None, None) => {
            return Err(Error::Usage(
                "give an experiment file or --resume RUN_DIR".into(),
            ))
        }
    };
    println!("run dir: {}", out.dir.display());
    Ok(())
}
