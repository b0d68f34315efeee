//! Why a sweep cannot plan, claim or run a trial.

use std::path::PathBuf;

/// A sweep's own failures (a trial's run fails with the run's error).
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// plan.json cannot be read.
    #[error("{}: {source} (write one with `anirec sweep plan EXPERIMENT.yaml --out plan.json`)", path.display())]
    PlanUnreadable {
        /// The plan file.
        path: PathBuf,
        source: std::io::Error,
    },
    /// plan.json is not a plan, is of another format, or names unsafe paths.
    #[error("{}: {msg}", path.display())]
    BadPlan {
        /// The plan file.
        path: PathBuf,
        /// What is wrong and what to do.
        msg: String,
    },
    /// The sweep directory belongs to another sweep.
    #[error("{} holds sweep {there}, not {ours}; choose another --sweep-dir", dir.display())]
    OtherSweep {
        /// The sweep directory.
        dir: PathBuf,
        /// The sweep id found there.
        there: String,
        /// This sweep's id.
        ours: String,
    },
    /// `sweep trial --index` beyond the plan.
    #[error("--index {index} is out of range: the sweep has {n} trials (0..{n})")]
    IndexOutOfRange {
        /// Asked for.
        index: usize,
        /// Trials in the sweep.
        n: usize,
    },
    /// Another process runs this trial.
    #[error("trial {index} ({id}) is being run by {holder}; it is left alone")]
    TrialBusy {
        /// Trial index.
        index: usize,
        /// Trial id.
        id: String,
        /// Who holds it.
        holder: String,
    },
    /// Another sweeper (or workers) holds the sweep.
    #[error("this sweep is in use in {} ({holders} holds {}); wait for it or stop it", dir.display(), lock.display())]
    SweepBusy {
        /// The sweep directory.
        dir: PathBuf,
        /// Who holds it, in words.
        holders: String,
        /// The lock file.
        lock: PathBuf,
    },
    /// The file system has no OS locks, which a sweep needs.
    #[error("{}: this file system has no file locks, which a sweep needs; put the sweep directory on one that has them", .0.display())]
    NoFileLocks(PathBuf),
    /// A lock file cannot be opened or locked.
    #[error("cannot lock {}: {source}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        source: std::io::Error,
    },
    /// A trial's log file cannot be created, or its process started.
    #[error("{what}: {source}")]
    Spawn {
        /// What was attempted.
        what: String,
        source: std::io::Error,
    },
    /// The local sweeper that started this trial went away (killed, or
    /// Ctrl-C in another terminal); the trial stops rather than race an
    /// orphan when the sweep resumes.
    #[error("the sweep process is gone; stopping this trial (it re-runs on resume)")]
    Orphaned,
    /// TPE proposed nothing new (every suggestion repeated a trial).
    #[error("the TPE sampler proposed no new trial")]
    NoSuggestion,
    /// No trial finished with the metric.
    #[error("no trial finished with {metric}; see the logs under the sweep directory")]
    NoTrialFinished {
        /// The sweep metric.
        metric: String,
    },
}
