//! The legacy sweep ledger: an append-only JSON-lines journal of trial
//! states. Sweeps now keep one state file per trial (`state.rs`); this file
//! is still read so that sweeps started by an older anirec resume.
//!
//! Append-only because several processes write it (the local sweeper and its
//! trial children): each event is one `write` of one line on an `O_APPEND`
//! file, so lines never interleave on a local file system, and a crash can at
//! worst leave a torn last line, which the reader skips. The last event of a
//! trial is its state.

use crate::track::RunStatus;
use crate::util::time;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// One ledger line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Trial index.
    pub trial: usize,
    /// Trial id (config hash).
    pub id: String,
    /// New state.
    pub state: RunStatus,
    /// When (RFC 3339).
    pub at: String,
    /// Process that wrote it.
    pub pid: u32,
    /// Why a trial failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `<sweep>/ledger.jsonl`.
#[derive(Debug, Clone)]
pub struct Ledger {
    path: PathBuf,
}

impl Ledger {
    /// The ledger of a sweep directory.
    pub fn at(sweep_dir: &Path) -> Self {
        Self {
            path: sweep_dir.join("ledger.jsonl"),
        }
    }

    /// Appends one event.
    pub fn append(
        &self,
        trial: usize,
        id: &str,
        state: RunStatus,
        error: Option<String>,
    ) -> io::Result<()> {
        let ev = Event {
            trial,
            id: id.to_string(),
            state,
            at: time::rfc3339(time::unix_now() as u64),
            pid: std::process::id(),
            error,
        };
        let mut line = serde_json::to_vec(&ev).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))?;
        // After a torn line, start on a fresh one so this event stays readable.
        let len = f.metadata()?.len();
        if len > 0 {
            let mut last = [0u8];
            f.seek(io::SeekFrom::Start(len - 1))?;
            f.read_exact(&mut last)?;
            if last[0] != b'\n' {
                line.insert(0, b'\n');
            }
        }
        f.write_all(&line)?;
        f.sync_data()
    }

    /// The last event of each trial id.
    pub fn last_states(&self) -> io::Result<HashMap<String, Event>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{}: {e}", self.path.display()),
                ))
            }
        };
        let mut out = HashMap::new();
        for line in text.lines() {
            // A torn line from a crash mid-append carries no state.
            if let Ok(ev) = serde_json::from_str::<Event>(line) {
                out.insert(ev.id.clone(), ev);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_event_wins_and_torn_lines_are_skipped() {
        let d = tempfile::tempdir().unwrap();
        let l = Ledger::at(d.path());
        l.append(0, "a", RunStatus::Queued, None).unwrap();
        l.append(1, "b", RunStatus::Queued, None).unwrap();
        l.append(0, "a", RunStatus::Running, None).unwrap();
        l.append(0, "a", RunStatus::Failed, Some("boom".into()))
            .unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(d.path().join("ledger.jsonl"))
            .unwrap();
        f.write_all(br#"{"trial":1,"id":"b","sta"#).unwrap();
        let s = l.last_states().unwrap();
        assert_eq!(s["b"].state, RunStatus::Queued);
        l.append(1, "b", RunStatus::Done, None).unwrap();
        let s = l.last_states().unwrap();
        assert_eq!(
            s["b"].state,
            RunStatus::Done,
            "an append after a torn line is readable"
        );
        assert_eq!(s["a"].state, RunStatus::Failed);
        assert_eq!(s["a"].error.as_deref(), Some("boom"));
    }

    #[test]
    fn a_missing_ledger_is_empty() {
        let d = tempfile::tempdir().unwrap();
        assert!(Ledger::at(d.path()).last_states().unwrap().is_empty());
    }
}
