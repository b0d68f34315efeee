//! `anirec run` as a library call: a run's lifecycle — its folder, its lock,
//! meta.json's status, the remote trackers — around the stages in
//! [`stages`] (data → fit → evaluate → record → bundle → plots). The
//! commands that use a run or its data (`recommend`, `data synth|split|
//! stats`) are in [`commands`].

mod commands;
mod remote;
mod stages;

pub use commands::{
    catalog_entries, recommend, recommend_lists, split, stats, synth, UserSelection,
};

use crate::config::Experiment;
use crate::data::stats::DatasetStats;
use crate::track::store::{Meta, RunDir};
use crate::track::{RunStatus, Tracker};
use crate::util::time;
use crate::{Error, Result};
use remote::remote_trackers;
use stages::run_stages;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a run cannot start, resume or answer as asked. Every case is the
/// caller's to fix; failures of the stages themselves arrive as their own
/// modules' errors.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `--run-dir` names a folder that is not empty.
    #[error("{0}")]
    RunDirTaken(std::io::Error),
    /// Another process holds the run's lock.
    #[error("{0}")]
    Busy(std::io::Error),
    /// `--resume` names a folder without a readable config.yaml.
    #[error("{}: {source} (is this a run directory?)", path.display())]
    NotARun {
        /// The config file looked for.
        path: PathBuf,
        source: std::io::Error,
    },
    /// The saved config.yaml does not parse.
    #[error("{}: {msg}", path.display())]
    SavedConfig {
        /// The config file.
        path: PathBuf,
        /// Parser message.
        msg: String,
    },
    /// `--resume` of a run that already finished.
    #[error("{} already finished; start a new run instead", .0.display())]
    Finished(PathBuf),
    /// `recommend --users` names a user the model does not know.
    #[error("user {0} is not a known user of this model")]
    UnknownUser(u32),
    /// `data synth` sizes out of range.
    #[error("{0}")]
    SynthSpec(std::io::Error),
}

/// What a finished run left behind.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run directory.
    pub dir: PathBuf,
    /// Dataset statistics.
    pub stats: DatasetStats,
    /// Final metrics (summary.json).
    pub summary: BTreeMap<String, f64>,
}

/// Where a run goes and how it is labelled, beyond its config.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Use exactly this directory (sweep trials, DVC stages) instead of
    /// `runs_dir/<experiment>/<id>/`.
    pub run_dir: Option<PathBuf>,
    /// Extra tracker tags, e.g. `sweep:<id>` and `trial:<n>`.
    pub tags: Vec<String>,
}

/// Runs an experiment: creates the run directory (or uses `opts.run_dir`),
/// loads and processes the data, and records the outcome (a failed run is
/// marked failed, not deleted). `opts` adds the sweep's tags.
pub fn run_with(exp: &Experiment, opts: &RunOptions) -> Result<RunOutcome> {
    let run = match &opts.run_dir {
        // A non-empty directory is the caller's mistake (exit 2), not an I/O failure.
        Some(dir) => RunDir::create_at(dir, &exp.name).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::Run(RunError::RunDirTaken(e)),
            _ => Error::Io(e),
        })?,
        None => RunDir::create(&exp.runs_dir, &exp.name)?,
    };
    let _lock = run.lock().map_err(busy)?;
    run.write_config(exp)?;
    let meta = run.new_meta();
    run.write_meta(&meta)?;
    finish(exp, &run, meta, &opts.tags)
}

/// Resumes an interrupted run in place: same run directory, the config it
/// saved, and the trainer's last checkpoint under `checkpoints/`.
pub fn resume(run_dir: &Path) -> Result<RunOutcome> {
    let run = RunDir::open(run_dir)?;
    // Held until the run ends: a second resume, or a resume of a run still
    // going, is refused instead of training twice into one folder.
    let _lock = run.lock().map_err(busy)?;
    let cfg_path = run.file("config.yaml");
    let text = std::fs::read_to_string(&cfg_path).map_err(|source| RunError::NotARun {
        path: cfg_path.clone(),
        source,
    })?;
    let value: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| RunError::SavedConfig {
            path: cfg_path.clone(),
            msg: e.to_string(),
        })?;
    let exp = Experiment::from_value(value, &cfg_path)?;
    let mut meta = run.read_meta()?;
    if meta.status == RunStatus::Done {
        return Err(RunError::Finished(run_dir.to_path_buf()).into());
    }
    meta.status = RunStatus::Running;
    meta.error = None;
    meta.ended_at = None;
    run.write_meta(&meta)?;
    tracing::info!("resuming {}", run.path.display());
    finish(&exp, &run, meta, &[])
}

/// A run locked by another process is the caller's mistake (exit 2).
fn busy(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::WouldBlock {
        Error::Run(RunError::Busy(e))
    } else {
        Error::Io(e)
    }
}

fn finish(exp: &Experiment, run: &RunDir, mut meta: Meta, tags: &[String]) -> Result<RunOutcome> {
    tracing::info!("run {}", run.path.display());
    let mut remote = remote_trackers(exp, run, &meta, tags)?;
    let result = run_stages(exp, run, &mut meta, &mut remote);
    meta.ended_at = Some(time::rfc3339(time::unix_now() as u64));
    match &result {
        Ok(_) => meta.status = RunStatus::Done,
        Err(e) => {
            meta.status = RunStatus::Failed;
            meta.error = Some(e.to_string());
        }
    }
    run.write_meta(&meta)?;
    if let Some(line) = remote.end(meta.status, meta.error.as_deref()) {
        eprintln!("{line}");
    }
    result
}
