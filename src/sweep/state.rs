//! Per-trial state files and the OS locks of a sweep directory.
//!
//! ```text
//! <sweep>/state/<NNN>-<id>.json   one file per trial, replaced atomically
//! <sweep>/locks/<NNN>-<id>.lock   held (flock) by the process running it
//! <sweep>/sweep.lock              exclusive: a local sweeper; shared: workers
//! <sweep>/suggest.lock            held while a worker picks its next trial
//! ```
//!
//! A trial's state file is written only by the process that holds the
//! trial's lock (and by the local sweeper after that process has exited),
//! so no two processes ever write one file at the same time, and nothing is
//! appended to a shared file: on Cloud Storage FUSE, appends from different
//! pods are not atomic, whole-object writes are. Locks are OS locks
//! (`flock`): the kernel drops them when their holder dies, so there is no
//! stale lock to clean up and no pid to trust after its reuse. The locks
//! are the crate's (`util::lock`); this module names the files.

use super::ledger::Ledger;
use crate::track::RunStatus;
use crate::util::{fsx, time};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};

/// What one trial's state file holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialState {
    /// Trial index.
    pub trial: usize,
    /// Trial id (config hash).
    pub id: String,
    /// Current state.
    pub state: RunStatus,
    /// When it was last written (RFC 3339).
    pub at: String,
    /// The process that wrote it, as `pid@host`.
    #[serde(default)]
    pub by: String,
    /// Why the trial failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// 1-based epoch → value of the early-stop metric, as the trial reported
    /// them (what ASHA and the median rule compare against).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub epochs: BTreeMap<u32, f64>,
    /// Epoch at which the pruner stopped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruned_at: Option<u32>,
}

impl TrialState {
    fn new(trial: usize, id: &str) -> Self {
        Self {
            trial,
            id: id.to_string(),
            state: RunStatus::Queued,
            at: String::new(),
            by: String::new(),
            error: None,
            epochs: BTreeMap::new(),
            pruned_at: None,
        }
    }
}

fn state_dir(sweep_dir: &Path) -> PathBuf {
    sweep_dir.join("state")
}

fn state_path(sweep_dir: &Path, dir_name: &str) -> PathBuf {
    state_dir(sweep_dir).join(format!("{dir_name}.json"))
}

/// `pid@host` of this process, for state files and lock holders.
pub fn whoami() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "?".into());
    format!("{}@{host}", std::process::id())
}

/// Reads one trial's state file (None when there is none or it is torn).
pub fn read_one(sweep_dir: &Path, dir_name: &str) -> Option<TrialState> {
    let bytes = std::fs::read(state_path(sweep_dir, dir_name)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Changes one trial's state file (read, modify, atomic replace). Only the
/// holder of the trial's lock calls this, so there is no lost update.
pub fn update(
    sweep_dir: &Path,
    index: usize,
    id: &str,
    dir_name: &str,
    f: impl FnOnce(&mut TrialState),
) -> io::Result<TrialState> {
    let mut st = read_one(sweep_dir, dir_name).unwrap_or_else(|| TrialState::new(index, id));
    f(&mut st);
    st.trial = index;
    st.id = id.to_string();
    st.at = time::rfc3339(time::unix_now() as u64);
    st.by = whoami();
    fsx::write_json_atomic(&state_path(sweep_dir, dir_name), &st)?;
    Ok(st)
}

/// Sets a trial's state (and error), keeping its per-epoch values.
pub fn set(
    sweep_dir: &Path,
    index: usize,
    id: &str,
    dir_name: &str,
    state: RunStatus,
    error: Option<String>,
) -> io::Result<TrialState> {
    update(sweep_dir, index, id, dir_name, |st| {
        st.state = state;
        st.error = error;
    })
}

/// Every trial's last known state, by trial id: an old `ledger.jsonl` first
/// (sweeps started before state files existed), then the state files.
pub fn read_all(sweep_dir: &Path) -> io::Result<HashMap<String, TrialState>> {
    let mut out: HashMap<String, TrialState> = Ledger::at(sweep_dir)
        .last_states()?
        .into_iter()
        .map(|(id, ev)| {
            let mut st = TrialState::new(ev.trial, &id);
            st.state = ev.state;
            st.at = ev.at;
            st.by = ev.pid.to_string();
            st.error = ev.error;
            (id, st)
        })
        .collect();
    let entries = match std::fs::read_dir(state_dir(sweep_dir)) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue; // temporary files of an atomic write
        }
        // A torn or foreign file carries no state.
        let Ok(bytes) = std::fs::read(e.path()) else {
            continue;
        };
        if let Ok(st) = serde_json::from_slice::<TrialState>(&bytes) {
            out.insert(st.id.clone(), st);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_files_win_over_the_old_ledger_and_keep_epochs() {
        let d = tempfile::tempdir().unwrap();
        Ledger::at(d.path())
            .append(0, "a", RunStatus::Failed, Some("old".into()))
            .unwrap();
        Ledger::at(d.path())
            .append(1, "b", RunStatus::Done, None)
            .unwrap();
        update(d.path(), 0, "a", "000-a", |st| {
            st.state = RunStatus::Running;
            st.epochs.insert(1, 0.25);
        })
        .unwrap();
        set(d.path(), 0, "a", "000-a", RunStatus::Pruned, None).unwrap();
        std::fs::write(d.path().join("state/001-b.json"), b"{\"tri").unwrap();
        let all = read_all(d.path()).unwrap();
        assert_eq!(all["a"].state, RunStatus::Pruned);
        assert_eq!(all["a"].epochs[&1], 0.25);
        assert_eq!(
            all["b"].state,
            RunStatus::Done,
            "a torn file falls back to the ledger"
        );
    }
}
