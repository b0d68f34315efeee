//! Comet ML mirror of a run: every event is journalled in `<run>/outbox/`
//! before a background thread sends it (see [`outbox`] and [`sender`]);
//! offline runs journal only and also write Comet's offline archive.

pub(crate) mod archive;
pub mod client;
pub mod outbox;
pub mod registry;
pub(crate) mod sender;

use crate::config::{CometConfig, CometMode};
use crate::track::store::GitInfo;
use crate::track::{FileKind, RunStatus, SystemInfo, Tracker};
use crate::util::url::strip_credentials;
use client::{Client, CometError, Settings};
use outbox::{Event, JournalWriter, Outbox, State};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// File name of the offline archive in the run directory.
pub const ARCHIVE: &str = "comet-offline.zip";

/// A flush setting at the end of a run: a bad value must not fail a run
/// that already finished, so it is reported and the default used.
fn end_secs(name: &str, default: f64) -> Duration {
    client::env_secs(name, default).unwrap_or_else(|e| {
        eprintln!("Comet: {e}; using {default} s");
        Duration::from_secs_f64(default)
    })
}

/// Workspace and project: the YAML, else COMET_WORKSPACE / COMET_PROJECT_NAME
/// (or `~/.comet.config`), as the official client resolves them.
fn resolve_names(cfg: &CometConfig) -> (String, String) {
    let ws = cfg
        .workspace
        .clone()
        .or_else(|| client::setting("COMET_WORKSPACE", "workspace"))
        .unwrap_or_default();
    let project = cfg
        .project
        .clone()
        .or_else(|| client::setting("COMET_PROJECT_NAME", "project_name"))
        .unwrap_or_else(|| "general".into());
    (ws, project)
}

/// The Comet tracker of one run.
pub struct CometTracker {
    run_dir: PathBuf,
    ob: Outbox,
    /// The outbox's exclusive lock, held from start to [`Tracker::end`]: no
    /// `comet sync` delivers while the run does.
    lock: Option<crate::util::lock::FileLock>,
    w: JournalWriter,
    tx: Option<crossbeam_channel::Sender<sender::Msg>>,
    thread: Option<JoinHandle<sender::Report>>,
    offline: bool,
    start_ms: u64,
    failed_journal: bool,
}

impl CometTracker {
    /// Opens the outbox of `run_dir` and, online, starts the sender. Never
    /// fails the run for Comet's sake: without a key it journals only.
    pub fn start(run_dir: &Path, cfg: &CometConfig, name: &str) -> std::io::Result<Self> {
        let ob = Outbox::open(run_dir)?;
        let lock = ob.lock()?;
        let mut st = ob.state()?;
        if st.name.is_empty() {
            let (workspace, project) = resolve_names(cfg);
            st = State {
                workspace,
                project,
                name: name.to_string(),
                offline: cfg.mode == CometMode::Offline,
                ..State::default()
            };
            ob.save_state(&st)?;
        }
        let w = JournalWriter::open(&ob.events_path())?;
        let mut me = Self {
            run_dir: run_dir.to_path_buf(),
            ob,
            lock: Some(lock),
            w,
            tx: None,
            thread: None,
            offline: cfg.mode == CometMode::Offline,
            start_ms: crate::util::time::unix_millis(),
            failed_journal: false,
        };
        if !me.offline {
            match Settings::from_env().and_then(Client::new) {
                Ok(client) => {
                    let (tx, rx) = crossbeam_channel::bounded(1);
                    let dir = me.run_dir.clone();
                    let h = std::thread::Builder::new()
                        .name("comet-sender".into())
                        .spawn(move || match sender::Delivery::new(client, &dir) {
                            Ok(mut d) => {
                                sender::pump(&mut d, &mut sender::Channel { rx, finish: None })
                            }
                            Err(e) => {
                                tracing::warn!("Comet outbox: {e}");
                                sender::Report::default()
                            }
                        })?;
                    me.tx = Some(tx);
                    me.thread = Some(h);
                }
                Err(e) => {
                    eprintln!("Comet: {e}; events are kept in the outbox for `anirec comet sync`")
                }
            }
        }
        Ok(me)
    }

    fn push(&mut self, ev: Event) {
        if let Err(e) = self.w.append(&ev) {
            if !self.failed_journal {
                tracing::warn!("Comet outbox write failed: {e}");
                self.failed_journal = true;
            }
            return;
        }
        if let Some(tx) = &self.tx {
            // A doorbell: never blocks; the sender reads the journal itself.
            let _ = tx.try_send(sender::Msg::Wake);
        }
    }

    fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.run_dir)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    }
}

impl Tracker for CometTracker {
    fn log_params(&mut self, params: &[(String, String)]) {
        for (name, value) in params {
            self.push(Event::Param {
                name: name.clone(),
                value: value.clone(),
            });
        }
    }
    fn log_metric(&mut self, name: &str, value: f64, step: u64, epoch: Option<u32>, ts: u64) {
        self.push(Event::Metric {
            name: name.into(),
            value,
            step,
            epoch,
            ts,
        });
    }
    fn log_other(&mut self, key: &str, value: &str) {
        self.push(Event::Other {
            key: key.into(),
            value: value.into(),
        });
    }
    fn add_tags(&mut self, tags: &[String]) {
        self.push(Event::Tags {
            tags: tags.to_vec(),
        });
    }
    fn log_git(&mut self, git: &GitInfo, patch: Option<&str>) {
        let patch = patch.and_then(|p| {
            let path = self.ob.dir.join("git.patch");
            std::fs::write(&path, p).ok()?;
            Some(self.rel(&path))
        });
        let root = std::process::Command::new("git")
            .args(["rev-list", "--max-parents=0", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .map(str::to_string)
            });
        self.push(Event::Git {
            commit: git.commit.clone(),
            root,
            branch: git.branch.clone(),
            remote: git.remote.as_deref().map(strip_credentials),
            dirty: git.dirty,
            user: std::env::var("USER").unwrap_or_default(),
            patch,
        });
    }
    fn log_system(&mut self, info: &SystemInfo) {
        self.push(Event::System {
            info: Box::new(info.clone()),
        });
    }
    fn log_file(&mut self, kind: FileKind, path: PathBuf, name: &str, group: Option<&str>) {
        let id = archive::hex_id(&self.run_dir.to_string_lossy(), &format!("{kind:?}{name}"));
        let path = self.rel(&path);
        // The journal names files inside the run only (sync and the
        // archive refuse anything else), so one outside is not journalled.
        if outbox::run_relative(&path).is_none() {
            tracing::warn!("Comet: {path} is outside the run directory; not uploaded");
            return;
        }
        self.push(Event::File {
            kind,
            path,
            name: name.into(),
            group: group.map(str::to_string),
            id,
        });
    }
    fn end(&mut self, status: RunStatus, error: Option<&str>) -> Option<String> {
        self.push(Event::End {
            start_ms: self.start_ms,
            end_ms: crate::util::time::unix_millis(),
            failed: status == RunStatus::Failed,
            error: error.map(str::to_string),
        });
        let _ = self.w.sync();
        if let (Some(tx), Some(h)) = (self.tx.take(), self.thread.take()) {
            let _ = tx.send(sender::Msg::Finish {
                deadline: Instant::now() + end_secs("ANIREC_COMET_FLUSH_SECS", 60.0),
                grace: end_secs("ANIREC_COMET_GRACE_SECS", 2.0),
            });
            let _ = h.join();
        }
        let (delivered, pending) = counts(&self.ob).unwrap_or((0, 0));
        if self.offline {
            let line = match write_archive(&self.run_dir) {
                Ok(p) => format!(
                    "Comet (offline): {} events journalled; upload with `anirec comet sync {}` or `comet upload {}`",
                    group(pending),
                    self.run_dir.display(),
                    p.display()
                ),
                Err(e) => format!("Comet (offline): {} events journalled; archive failed: {e}", group(pending)),
            };
            self.lock = None;
            return Some(line);
        }
        // Delivery is over for this process: `comet sync` may take over.
        self.lock = None;
        Some(format!(
            "Comet: {} events delivered, {} pending",
            group(delivered),
            group(pending)
        ))
    }
}

impl Drop for CometTracker {
    fn drop(&mut self) {
        // A run that unwinds without end(): let the sender go at once.
        if let (Some(tx), Some(h)) = (self.tx.take(), self.thread.take()) {
            let _ = tx.send(sender::Msg::Finish {
                deadline: Instant::now(),
                grace: Duration::ZERO,
            });
            let _ = h.join();
        }
    }
}

/// (delivered, pending) of an outbox: delivered excludes rejected events.
pub fn counts(ob: &Outbox) -> std::io::Result<(u64, u64)> {
    let acked = ob.acked()?;
    let st = ob.state()?;
    let last = ob.entries()?.last().map_or(0, |e| e.seq);
    Ok((
        acked.saturating_sub(st.rejected.len() as u64),
        last.saturating_sub(acked),
    ))
}

/// Writes `<run>/comet-offline.zip` from the journal.
pub fn write_archive(run_dir: &Path) -> std::io::Result<PathBuf> {
    let ob = Outbox::open(run_dir)?;
    let mut st = ob.state()?;
    let id = match &st.offline_id {
        Some(id) => id.clone(),
        None => {
            let id = archive::hex_id(
                &run_dir.to_string_lossy(),
                &format!(
                    "{}-{}",
                    crate::util::time::unix_millis(),
                    std::process::id()
                ),
            );
            st.offline_id = Some(id.clone());
            ob.save_state(&st)?;
            id
        }
    };
    let out = run_dir.join(ARCHIVE);
    archive::write(run_dir, &st, &id, &ob.entries()?, &out)?;
    Ok(out)
}

/// An event count as people read it: 12345 → "12,345".
pub fn group(n: u64) -> String {
    crate::util::fmt::thousands(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Result of syncing one run.
#[derive(Debug, Clone)]
pub struct SyncResult {
    /// Events delivered by this call (the rest of `delivered` went earlier).
    pub delivered_now: u64,
    /// Delivered in total.
    pub delivered: u64,
    /// Still pending.
    pub pending: u64,
    /// The experiment key.
    pub key: Option<String>,
    /// Comet refused the API key (401/403): nothing more was sent.
    pub halted: bool,
}

/// `anirec comet sync RUN_DIR`: delivers what is pending, exactly once
/// (see README). Gives up after ANIREC_COMET_SYNC_SECS (default 300). Holds
/// the outbox lock throughout: a second sync, or a sync beside the live run
/// that owns the outbox, is refused with the holder named.
pub fn sync(run_dir: &Path) -> Result<SyncResult, CometError> {
    let budget = client::env_secs("ANIREC_COMET_SYNC_SECS", 300.0)?;
    let no_outbox = || {
        CometError::File(format!(
            "{}: no Comet outbox (was the run tracked with Comet?)",
            run_dir.display()
        ))
    };
    if !run_dir.join("outbox").is_dir() {
        return Err(no_outbox());
    }
    let ob = Outbox::open(run_dir)
        .map_err(|e| CometError::File(format!("{}: {e}", run_dir.display())))?;
    let _lock = ob.lock().map_err(|e| match e {
        e @ crate::util::lock::LockError::Held { .. } => CometError::Busy(e.to_string()),
        e => CometError::File(e.to_string()),
    })?;
    let st = ob.state().map_err(|e| CometError::File(e.to_string()))?;
    if st.name.is_empty() {
        return Err(no_outbox());
    }
    let client = Client::new(Settings::from_env()?)?;
    let mut d =
        sender::Delivery::new(client, run_dir).map_err(|e| CometError::File(e.to_string()))?;
    let deadline = Instant::now() + budget;
    let r = sender::pump(&mut d, &mut sender::Deadline(deadline));
    let (delivered, pending) = counts(&ob).map_err(|e| CometError::File(e.to_string()))?;
    Ok(SyncResult {
        delivered_now: r.delivered,
        delivered,
        pending,
        key: d.st.key.clone(),
        halted: r.halted,
    })
}

/// One row of `anirec comet runs`.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub key: String,
    pub name: String,
    /// The chosen metric (last, max).
    pub metric: Option<(Option<f64>, Option<f64>)>,
}

/// `anirec comet runs`: a project's experiments with one metric.
pub fn runs(
    workspace: Option<&str>,
    project: &str,
    metric: &str,
) -> Result<Vec<RunRow>, CometError> {
    let c = Client::new(Settings::from_env()?)?;
    let ws = workspace
        .map(str::to_string)
        .or_else(|| client::setting("COMET_WORKSPACE", "workspace"))
        .unwrap_or_default();
    let mut out = Vec::new();
    for e in c.experiments(&ws, project)? {
        let m = c
            .metric_summary(&e.experiment_key)?
            .into_iter()
            .find(|(n, ..)| n == metric)
            .map(|(_, _, max, cur)| (cur, max));
        out.push(RunRow {
            name: e.experiment_name.unwrap_or_default(),
            key: e.experiment_key,
            metric: m,
        });
    }
    Ok(out)
}
