//! Readers for what runs and sweeps leave on disk: metrics.jsonl,
//! summary.json, sweep.json and summary.csv. They are forgiving where a
//! crash can leave a mark (a torn last line of a journal) and precise
//! (file and line) where a file is really wrong.

use super::ReportError;
use crate::track::RunStatus;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn read_text(path: &Path) -> Result<String, ReportError> {
    std::fs::read_to_string(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn bad(path: &Path, line: usize, msg: impl Into<String>) -> ReportError {
    ReportError::Parse {
        path: path.to_path_buf(),
        line,
        msg: msg.into(),
    }
}

/// One line of metrics.jsonl (the fields a plot needs).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub(crate) struct Event {
    pub name: String,
    pub value: f64,
    #[serde(default)]
    pub step: u64,
    #[serde(default)]
    pub epoch: Option<u32>,
}

/// Reads metrics.jsonl. A torn last line (the run was killed mid-write) is
/// skipped with a warning; a bad line elsewhere is an error naming it.
pub(crate) fn read_metrics(path: &Path) -> Result<Vec<Event>, ReportError> {
    let text = read_text(path)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    for (k, l) in lines.iter().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Event>(l) {
            Ok(e) => out.push(e),
            Err(_) if k + 1 == lines.len() && !text.ends_with('\n') => {
                tracing::warn!(file = %path.display(), line = k + 1, "skipping a torn last line");
            }
            Err(e) => return Err(bad(path, k + 1, e.to_string())),
        }
    }
    Ok(out)
}

/// Per-epoch curves of one trainer.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Curves {
    /// metric name → (epoch, value), ascending epoch.
    pub series: BTreeMap<String, Vec<(u32, f64)>>,
}

/// The per-epoch metrics that describe training.
pub(crate) const EPOCH_METRICS: [&str; 3] = ["train_loss", "val_loss", "lr"];

/// Splits per-epoch events into one [`Curves`] per trainer: a hybrid with
/// two trained members logs epoch 1, 2, … twice under the same names. A new
/// trainer starts where a metric's epoch goes back to 1; an epoch logged
/// again without going back to 1 (a resumed run re-logs the epochs after its
/// last checkpoint) replaces the earlier value.
pub(crate) fn epoch_curves(events: &[Event]) -> Vec<Curves> {
    let mut out: Vec<Curves> = Vec::new();
    let mut last_epoch: BTreeMap<&str, u32> = BTreeMap::new();
    for e in events {
        let Some(epoch) = e.epoch else { continue };
        if !EPOCH_METRICS.contains(&e.name.as_str()) || !e.value.is_finite() {
            continue;
        }
        let seen = last_epoch.contains_key(e.name.as_str());
        if out.is_empty() || (epoch == 1 && seen) {
            out.push(Curves::default());
            last_epoch.clear();
        }
        last_epoch.insert(&e.name, epoch);
        if let Some(c) = out.last_mut() {
            let s = c.series.entry(e.name.clone()).or_default();
            s.retain(|(ep, _)| *ep != epoch);
            s.push((epoch, e.value));
            s.sort_by_key(|p| p.0);
        }
    }
    out.retain(|c| c.series.values().any(|s| !s.is_empty()));
    out
}

/// summary.json: metric → value.
pub(crate) fn read_summary(path: &Path) -> Result<BTreeMap<String, f64>, ReportError> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| bad(path, e.line(), e.to_string()))
}

/// Reads any JSON file into `T`.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ReportError> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| bad(path, e.line(), e.to_string()))
}

/// Maximise or minimise the sweep metric (the sweep section's own type).
pub(crate) use crate::config::SweepGoal as Goal;

/// sweep.json (the fields a report needs; the rest is ignored).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SweepInfo {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub experiment: String,
    pub metric: String,
    #[serde(default)]
    pub goal: Goal,
    #[serde(default)]
    pub parameters: Vec<String>,
    #[serde(default)]
    pub trials: Option<u64>,
}

/// One row of summary.csv.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Trial {
    pub rank: Option<u64>,
    pub trial: String,
    pub trial_id: String,
    pub status: RunStatus,
    /// As written (relative to the sweep dir, or absolute).
    pub run_dir: String,
    /// Swept parameter → value as written.
    pub params: BTreeMap<String, String>,
    /// Metric → value (empty cells are absent).
    pub metrics: BTreeMap<String, f64>,
}

impl Trial {
    /// The run directory resolved against the sweep directory.
    pub fn run_path(&self, sweep_dir: &Path) -> Option<PathBuf> {
        (!self.run_dir.is_empty()).then(|| sweep_dir.join(&self.run_dir))
    }
}

/// summary.csv: the fixed columns, then the swept parameters (named in
/// sweep.json), then one column per metric.
#[derive(Debug, Clone)]
pub(crate) struct SweepTable {
    pub params: Vec<String>,
    pub metrics: Vec<String>,
    pub trials: Vec<Trial>,
}

const FIXED: [&str; 5] = ["rank", "trial", "trial_id", "status", "run_dir"];

/// Reads summary.csv; `parameters` (from sweep.json) says which of the
/// columns after the fixed ones are parameters, the rest are metrics.
pub(crate) fn read_sweep_csv(
    path: &Path,
    parameters: &[String],
) -> Result<SweepTable, ReportError> {
    let text = read_text(path)?;
    let mut rows = parse_csv(&text).map_err(|(line, msg)| bad(path, line, msg))?;
    if rows.is_empty() {
        return Err(bad(path, 1, "empty file; expected a header line"));
    }
    let header = rows.remove(0);
    for (k, want) in FIXED.iter().enumerate() {
        if header.get(k).map(String::as_str) != Some(*want) {
            return Err(bad(
                path,
                1,
                format!(
                    "column {} is {:?}, expected {want:?} (header must start with {})",
                    k + 1,
                    header.get(k).map(String::as_str).unwrap_or(""),
                    FIXED.join(",")
                ),
            ));
        }
    }
    let rest = &header[FIXED.len()..];
    let (params, metrics): (Vec<String>, Vec<String>) =
        rest.iter().cloned().partition(|c| parameters.contains(c));
    let mut trials = Vec::with_capacity(rows.len());
    for (k, row) in rows.into_iter().enumerate() {
        let line = k + 2;
        if row.len() == 1 && row[0].is_empty() {
            continue;
        }
        if row.len() != header.len() {
            return Err(bad(
                path,
                line,
                format!("{} fields, the header has {}", row.len(), header.len()),
            ));
        }
        let mut t = Trial {
            rank: row[0].trim().parse().ok(),
            trial: row[1].clone(),
            trial_id: row[2].clone(),
            status: row[3].parse().map_err(|e: String| bad(path, line, e))?,
            run_dir: row[4].clone(),
            params: BTreeMap::new(),
            metrics: BTreeMap::new(),
        };
        for (name, cell) in rest.iter().zip(&row[FIXED.len()..]) {
            if params.contains(name) {
                t.params.insert(name.clone(), cell.clone());
            } else if !cell.trim().is_empty() {
                let v: f64 = cell
                    .trim()
                    .parse()
                    .map_err(|_| bad(path, line, format!("{name}: {cell:?} is not a number")))?;
                t.metrics.insert(name.clone(), v);
            }
        }
        trials.push(t);
    }
    Ok(SweepTable {
        params,
        metrics,
        trials,
    })
}

/// RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines.
/// Returns rows, or (line, message).
fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, (usize, String)> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                line += 1;
                any = false;
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err((line, "unterminated quoted field".into()));
    }
    if any {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: &str, value: f64, epoch: Option<u32>) -> String {
        let e = epoch.map_or(String::new(), |e| format!(",\"epoch\":{e}"));
        format!("{{\"name\":\"{name}\",\"value\":{value},\"step\":1{e},\"timestamp\":0}}")
    }

    #[test]
    fn metrics_journal_splits_trainers_and_merges_resumes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("metrics.jsonl");
        let mut lines = Vec::new();
        // trainer 1: epochs 1..3, resumed after epoch 2 (epoch 2 logged again)
        for (e, v) in [(1, 0.9), (2, 0.8), (2, 0.75), (3, 0.7)] {
            lines.push(ev("lr", 0.01, Some(e)));
            lines.push(ev("train_loss", v, Some(e)));
            lines.push(ev("val_loss", v + 0.1, Some(e)));
            lines.push(ev("epoch_seconds", 0.1, Some(e)));
        }
        lines.push(ev("best_epoch", 3.0, Some(3)));
        // trainer 2 (a second learned member): epochs 1..2, no val_loss
        for (e, v) in [(1, 0.6), (2, 0.5)] {
            lines.push(ev("lr", 0.003, Some(e)));
            lines.push(ev("train_loss", v, Some(e)));
        }
        lines.push(ev("ndcg@10", 0.3, None));
        let mut text = lines.join("\n");
        text.push_str("\n{\"name\":\"ndcg@2"); // torn last line
        std::fs::write(&p, text).unwrap();

        let events = read_metrics(&p).unwrap();
        assert_eq!(events.len(), lines.len());
        let c = epoch_curves(&events);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(
            c[0].series["train_loss"],
            vec![(1, 0.9), (2, 0.75), (3, 0.7)]
        );
        assert_eq!(c[0].series["val_loss"].len(), 3);
        assert!(!c[0].series.contains_key("best_epoch"));
        assert_eq!(c[1].series["train_loss"], vec![(1, 0.6), (2, 0.5)]);
        assert_eq!(c[1].series["lr"], vec![(1, 0.003), (2, 0.003)]);
        assert!(!c[1].series.contains_key("val_loss"));
    }

    #[test]
    fn a_bad_line_in_the_middle_is_an_error_naming_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("metrics.jsonl");
        std::fs::write(
            &p,
            format!(
                "{}\nnot json\n{}\n",
                ev("lr", 1.0, Some(1)),
                ev("lr", 1.0, Some(2))
            ),
        )
        .unwrap();
        let e = read_metrics(&p).unwrap_err().to_string();
        assert!(e.contains("metrics.jsonl") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn sweep_csv_separates_parameters_from_metrics() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("summary.csv");
        std::fs::write(
            &p,
            "rank,trial,trial_id,status,run_dir,model.kind,model.l2,eval.k,ndcg@10,precision@10\n\
             1,3,ab12,done,trials/3,ease,500,\"[5, 10]\",0.41,0.3\n\
             2,0,cd34,done,/abs/run,mf_bpr,,\"[5, 10]\",0.29,0.2\n\
             ,1,ef56,failed,,ease,5000,\"[5, 10]\",,\n",
        )
        .unwrap();
        let params: Vec<String> = ["model.kind", "model.l2", "eval.k"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let t = read_sweep_csv(&p, &params).unwrap();
        assert_eq!(t.params, params);
        assert_eq!(
            t.metrics,
            vec!["ndcg@10".to_string(), "precision@10".into()]
        );
        assert_eq!(t.trials.len(), 3);
        assert_eq!(t.trials[0].params["eval.k"], "[5, 10]");
        assert_eq!(t.trials[0].metrics["ndcg@10"], 0.41);
        assert_eq!(
            t.trials[0].run_path(d.path()),
            Some(d.path().join("trials/3"))
        );
        assert_eq!(
            t.trials[1].run_path(d.path()),
            Some(PathBuf::from("/abs/run"))
        );
        assert_eq!(t.trials[2].status, RunStatus::Failed);
        assert!(t.trials[2].metrics.is_empty() && t.trials[2].rank.is_none());
        assert_eq!(t.trials[2].run_path(d.path()), None);
    }

    #[test]
    fn sweep_csv_errors_name_the_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("summary.csv");
        std::fs::write(
            &p,
            "rank,trial,trial_id,status,run_dir,ndcg@10\n1,0,a,done,r,abc\n",
        )
        .unwrap();
        let e = read_sweep_csv(&p, &[]).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("abc"), "{e}");
        std::fs::write(&p, "trial,rank\n").unwrap();
        let e = read_sweep_csv(&p, &[]).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("rank"), "{e}");
    }
}
