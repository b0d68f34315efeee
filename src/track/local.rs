//! The local tracker: params.json, metrics.jsonl (one event per line,
//! flushed as it is written so a crash loses nothing already logged) and
//! summary.json in the run directory.

use super::store::RunDir;
use crate::util::{fsx, time};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};

/// One metric event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetricEvent {
    /// Metric name, e.g. `train_loss`.
    pub name: String,
    pub value: f64,
    /// Step (monotone per run).
    pub step: u64,
    /// Epoch, for per-epoch metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
    /// Unix milliseconds.
    pub timestamp: u64,
}

/// Writes the run's local record.
pub struct LocalTracker {
    run: RunDir,
    metrics: BufWriter<File>,
    step: u64,
}

impl LocalTracker {
    /// Opens (appending to) the run's metrics journal.
    pub fn open(run: &RunDir) -> io::Result<Self> {
        // A resumed run continues the step count, so (name, step) pairs stay
        // unique across the whole journal (Comet reconciles on them).
        let step = read_metrics(run)
            .map(|m| m.iter().map(|e| e.step).max().unwrap_or(0))
            .unwrap_or(0);
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(run.file("metrics.jsonl"))?;
        Ok(Self {
            run: run.clone(),
            metrics: BufWriter::new(f),
            step,
        })
    }

    /// Saves the flattened parameters.
    pub fn log_params(&mut self, params: &[(String, String)]) -> io::Result<()> {
        let map: BTreeMap<&str, &str> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        fsx::write_json_atomic(&self.run.file("params.json"), &map)
    }

    /// Appends one metric event.
    pub fn log_metric(
        &mut self,
        name: &str,
        value: f64,
        epoch: Option<u32>,
    ) -> io::Result<MetricEvent> {
        self.step += 1;
        let ev = MetricEvent {
            name: name.into(),
            value,
            step: self.step,
            epoch,
            timestamp: time::unix_millis(),
        };
        serde_json::to_writer(&mut self.metrics, &ev).map_err(io::Error::other)?;
        self.metrics.write_all(b"\n")?;
        self.metrics.flush()?;
        Ok(ev)
    }

    /// Writes summary.json (final metrics).
    pub fn log_summary(&mut self, summary: &BTreeMap<String, f64>) -> io::Result<()> {
        fsx::write_json_atomic(&self.run.file("summary.json"), summary)
    }
}

/// Reads a run's metrics journal.
pub fn read_metrics(run: &RunDir) -> io::Result<Vec<MetricEvent>> {
    let text = std::fs::read_to_string(run.file("metrics.jsonl"))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)))
        .collect()
}
