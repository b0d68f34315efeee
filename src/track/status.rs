//! The one status a run or sweep trial is in, wherever it is stored: a run's
//! `meta.json`, a trial's state file, the legacy sweep ledger and
//! `summary.csv` all write the same lower-case names.

use serde::{Deserialize, Serialize};

/// Where a run (or a sweep trial, which is a run) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// A sweep trial waiting for a slot (never a run's own status).
    Queued,
    /// Started, or interrupted when no process holds its lock.
    Running,
    /// Finished with a summary.
    Done,
    /// Finished with an error (the message is kept beside the status).
    Failed,
    /// Stopped early by a sweep's pruner (ASHA, median); its metrics are
    /// those of the stopped model.
    Pruned,
}

impl RunStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [RunStatus; 5] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Done,
        RunStatus::Failed,
        RunStatus::Pruned,
    ];

    /// The lower-case name every file uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Done => "done",
            RunStatus::Failed => "failed",
            RunStatus::Pruned => "pruned",
        }
    }

    /// Ended with a model and metrics (done, or pruned with its last ones).
    pub fn has_metrics(self) -> bool {
        matches!(self, RunStatus::Done | RunStatus::Pruned)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RunStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown run status {s:?} (expected queued, running, done, failed or pruned)"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for st in RunStatus::ALL {
            assert_eq!(st.as_str().parse::<RunStatus>(), Ok(st));
            let json = serde_json::to_string(&st).unwrap();
            assert_eq!(json, format!("\"{}\"", st.as_str()));
            assert_eq!(serde_json::from_str::<RunStatus>(&json).unwrap(), st);
        }
        assert!("finished".parse::<RunStatus>().is_err());
    }
}
