//! `anirec run` and the `anirec data` stages, as library calls.

use crate::config::Experiment;
use crate::data::{self, stats::DatasetStats, synth};
use crate::track::store::RunDir;
use crate::util::{fsx, time};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// What a finished run left behind.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run directory.
    pub dir: PathBuf,
    /// Dataset statistics.
    pub stats: DatasetStats,
}

/// Runs an experiment: creates the run directory, loads and processes the
/// data, and records the outcome (a failed run is marked failed, not deleted).
pub fn run(exp: &Experiment) -> Result<RunOutcome> {
    let run = RunDir::create(&exp.runs_dir, &exp.name)?;
    run.write_config(exp)?;
    let mut meta = run.new_meta();
    run.write_meta(&meta)?;
    eprintln!("run {}", run.path.display());
    let result = run_stages(exp, &run, &mut meta);
    meta.ended_at = Some(time::rfc3339(time::unix_now() as u64));
    match &result {
        Ok(_) => meta.status = "done".into(),
        Err(e) => {
            meta.status = "failed".into();
            meta.error = Some(e.to_string());
        }
    }
    run.write_meta(&meta)?;
    result
}

fn run_stages(exp: &Experiment, run: &RunDir, meta: &mut crate::track::store::Meta) -> Result<RunOutcome> {
    let t0 = std::time::Instant::now();
    let ds = data::load(&exp.data, exp.seed)?;
    meta.data_fingerprint = Some(ds.fingerprint.clone());
    run.write_meta(meta)?;
    let stats = DatasetStats::of(&ds);
    tracing::info!(secs = t0.elapsed().as_secs_f64(), "data stage done");
    fsx::write_json_atomic(&run.file("data_stats.json"), &stats)?;
    println!("{stats}");
    Ok(RunOutcome { dir: run.path.clone(), stats })
}

/// `anirec data synth`.
pub fn synth(spec: &synth::SynthSpec, out: &Path) -> Result<synth::SynthSummary> {
    synth::write_mal2020(spec, out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidInput {
            Error::Usage(e.to_string())
        } else {
            Error::Io(std::io::Error::new(e.kind(), format!("{}: {e}", out.display())))
        }
    })
}

/// `anirec data split`: writes train.csv and test.csv in the PROTOCOL format.
pub fn split(exp: &Experiment, out: &Path) -> Result<(usize, usize)> {
    let p = data::process(&exp.data, exp.seed)?;
    p.train.write_protocol_csv(&out.join("train.csv"))?;
    p.test.write_protocol_csv(&out.join("test.csv"))?;
    let info = serde_json::json!({
        "fingerprint": p.fingerprint,
        "train_rows": p.train.len(),
        "test_rows": p.test.len(),
        "min_user_ratings": exp.data.min_user_ratings,
        "test_ratio": exp.data.split.test_ratio,
        "seed": exp.data.split.seed,
        "clean": p.clean,
    });
    fsx::write_json_atomic(&out.join("split.json"), &info)?;
    Ok((p.train.len(), p.test.len()))
}

/// `anirec data stats` / `anirec data process`.
pub fn stats(exp: &Experiment) -> Result<DatasetStats> {
    let ds = data::load(&exp.data, exp.seed)?;
    Ok(DatasetStats::of(&ds))
}
