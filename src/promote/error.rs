//! Why a promotion was refused or failed.

use crate::track::comet::client::CometError;
use std::path::PathBuf;

/// Why a promotion was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// `--to` has no folder name (`/`, `..`).
    #[error("--to {}: give a folder path such as models/promoted", .0.display())]
    BadDestination(PathBuf),
    /// `--to` exists and is not something promotion may replace.
    #[error("refusing to promote to {}: it exists and is neither an empty folder nor an anirec bundle (no manifest.json), and promotion replaces what is there; choose a new path such as models/promoted", .0.display())]
    DestinationTaken(PathBuf),
    /// A source folder holds no runs.
    #[error("{} is not a run directory, a sweep directory or a folder of runs", .0.display())]
    NotRuns(PathBuf),
    /// A source folder does not exist.
    #[error("{}: no such directory", .0.display())]
    NoSuchSource(PathBuf),
    /// A run named directly does not qualify (failed, unfinished, no metric).
    #[error("refusing to promote {}: {why}", dir.display())]
    NotPromotable {
        /// The run.
        dir: PathBuf,
        why: String,
    },
    /// No candidate finished with the metric.
    #[error("no run to promote: none finished with {metric}{skipped}")]
    NothingToPromote {
        /// The ranking metric.
        metric: String,
        /// ` (why each run was skipped)`, or empty.
        skipped: String,
    },
    /// The best run's bundle does not verify.
    #[error("refusing to promote {}: its bundle is missing or does not verify ({source}); re-run it or promote another run", dir.display())]
    BadBundle {
        /// The run.
        dir: PathBuf,
        source: crate::bundle::BundleError,
    },
    /// The staged copy does not verify (disk trouble); nothing was replaced.
    #[error("the copied bundle does not verify ({source}); {} is unchanged", to.display())]
    CopyCorrupt {
        /// The destination.
        to: PathBuf,
        source: crate::bundle::BundleError,
    },
    /// `--from comet` but no run was tracked there.
    #[error("--from comet: none of these runs was tracked in Comet (no outbox/state.json with an experiment key)")]
    NotOnComet,
    /// `--from comet` and Comet failed.
    #[error("--from comet: {0}")]
    Comet(CometError),
    /// `--require-significant`: the candidate is the promoted run.
    #[error("refusing to promote {}: it is the run already promoted; nothing to gain", .0.display())]
    AlreadyPromoted(PathBuf),
    /// `--require-significant`: a run has no per-user column for the metric.
    #[error("{}: per_user.csv has no column {metric}; --require-significant needs a ranking metric", run.display())]
    NoPerUserColumn {
        /// The run.
        run: PathBuf,
        /// The metric.
        metric: String,
    },
    /// `--require-significant`: the improvement is not significant.
    #[error("refusing to promote {}: {detail}; promote without --require-significant to override", run.display())]
    NotSignificant {
        /// The candidate.
        run: PathBuf,
        /// The test's figures.
        detail: String,
    },
}
