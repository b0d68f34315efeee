//! The durable outbox: `outbox/events.jsonl` (one `{"seq":N,"ev":{...}}` per
//! line, append-only), `outbox/acked` (append-only lines of the highest
//! sequence number Comet acknowledged, fsynced per batch) and
//! `outbox/state.json` (the experiment key, written before anything else is
//! sent or retried). Replaying the journal past the acked mark is idempotent.

use crate::track::FileKind;
use crate::util::lock::{FileLock, LockError};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// One tracking event as journalled.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Event {
    /// A parameter.
    Param {
        /// Dotted name.
        name: String,
        /// Value as text.
        value: String,
    },
    /// A metric point.
    Metric {
        name: String,
        /// Value (NaN/Inf allowed; sent as strings).
        #[serde(with = "f64_text")]
        value: f64,
        step: u64,
        /// Epoch.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<u32>,
        /// Unix ms.
        ts: u64,
    },
    /// An "other" key/value.
    Other { key: String, value: String },
    Tags {
        /// Tags to add.
        tags: Vec<String>,
    },
    /// Git metadata.
    Git {
        /// HEAD commit.
        commit: String,
        /// Root commit.
        root: Option<String>,
        branch: Option<String>,
        /// origin URL.
        remote: Option<String>,
        /// Dirty flag.
        dirty: bool,
        user: String,
        /// Patch file (relative to the run dir) when dirty.
        patch: Option<String>,
    },
    /// System details.
    System {
        /// The details.
        info: Box<crate::track::SystemInfo>,
    },
    /// A file upload.
    File {
        /// Asset, image or model element.
        kind: FileKind,
        /// Path relative to the run directory (or absolute).
        path: String,
        /// Logical name.
        name: String,
        /// Model name for model files.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        /// Client-made asset id (uuid hex), fixed so retries overwrite.
        id: String,
    },
    /// The run ended.
    End {
        /// Start (unix ms).
        start_ms: u64,
        /// End (unix ms).
        end_ms: u64,
        failed: bool,
        /// Error message of a failed run.
        error: Option<String>,
    },
}

/// NaN and ±Inf cannot live in JSON numbers: write them as Comet does.
mod f64_text {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_str(super::nonfinite(*v))
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum N {
            F(f64),
            S(String),
        }
        Ok(match N::deserialize(d)? {
            N::F(f) => f,
            N::S(s) => match s.as_str() {
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                _ => f64::NAN,
            },
        })
    }
}

/// Comet's spelling of a non-finite value.
pub(crate) fn nonfinite(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// A journal line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// Sequence number, 1-based, dense.
    pub seq: u64,
    /// The event.
    pub ev: Event,
}

/// Persistent delivery state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub workspace: String,
    pub project: String,
    /// Experiment name on Comet (unique per run).
    pub name: String,
    /// Online or offline run.
    pub offline: bool,
    /// Set (and fsynced) before `write/experiment/create` is sent, so an
    /// uncertain create is reconciled by name instead of repeated.
    pub create_sent: bool,
    /// The experiment key, persisted as soon as Comet returns it.
    pub key: Option<String>,
    /// Experiment page.
    pub link: Option<String>,
    /// Sequence numbers Comet refused for good (4xx other than 429/401/403).
    #[serde(default)]
    pub rejected: Vec<u64>,
    /// The archive's `offline_id` (fixed once written).
    #[serde(default)]
    pub offline_id: Option<String>,
    /// A metric batch was sent whose answer never came (crash, dropped
    /// connection): read back before re-sending.
    #[serde(default)]
    pub uncertain: bool,
}

/// The outbox folder of a run.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// `<run>/outbox`.
    pub dir: PathBuf,
}

impl Outbox {
    /// The outbox of a run dir (created when missing).
    pub fn open(run_dir: &Path) -> io::Result<Self> {
        let dir = run_dir.join("outbox");
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    /// Path of the events journal.
    pub fn events_path(&self) -> PathBuf {
        self.dir.join("events.jsonl")
    }

    /// Reads state.json (default when absent).
    pub fn state(&self) -> io::Result<State> {
        match std::fs::read(self.dir.join("state.json")) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes state.json atomically and durably.
    pub fn save_state(&self, s: &State) -> io::Result<()> {
        crate::util::fsx::write_json_atomic(&self.dir.join("state.json"), s)
    }

    /// Takes the outbox's exclusive lock (`outbox/.lock`): one deliverer at
    /// a time, the run that journals or one `anirec comet sync`.
    pub fn lock(&self) -> Result<FileLock, LockError> {
        let run = self.dir.parent().unwrap_or(&self.dir);
        FileLock::try_acquire(
            &self.dir.join(".lock"),
            &format!("the Comet outbox of {}", run.display()),
        )
    }

    /// Highest acknowledged sequence number (0 = none).
    pub fn acked(&self) -> io::Result<u64> {
        match std::fs::read_to_string(self.dir.join("acked")) {
            Ok(t) => Ok(t
                .lines()
                .filter_map(|l| l.trim().parse::<u64>().ok())
                .max()
                .unwrap_or(0)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Records that everything up to `seq` is delivered (appended, fsynced).
    pub fn ack(&self, seq: u64) -> io::Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("acked"))?;
        writeln!(f, "{seq}")?;
        f.sync_data()
    }

    /// Every journalled entry (a torn last line from a crash is ignored).
    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        let mut r = JournalReader::open(&self.events_path())?;
        let mut out = Vec::new();
        while let Some(e) = r.next_entry()? {
            out.push(e);
        }
        Ok(out)
    }

    /// Entries after the acked mark.
    pub fn pending(&self) -> io::Result<Vec<Entry>> {
        let acked = self.acked()?;
        Ok(self
            .entries()?
            .into_iter()
            .filter(|e| e.seq > acked)
            .collect())
    }
}

/// A journalled file path as a path inside the run directory: relative,
/// with no `..`, root or drive. None for anything else, which sync and the
/// archive refuse: a tampered journal must not upload `/etc/passwd` or
/// `../../.ssh/id_rsa` to Comet.
pub fn run_relative(p: &str) -> Option<PathBuf> {
    use std::path::Component;
    let path = Path::new(p);
    let normal = !p.is_empty()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    normal.then(|| path.to_path_buf())
}

/// Appends events to the journal. Writes go through a buffer that is
/// flushed to the OS on every event (a process crash loses nothing); the
/// sender fsyncs before each batch it sends.
pub struct JournalWriter {
    w: BufWriter<File>,
    /// Last sequence number written.
    pub seq: u64,
    line: Vec<u8>,
}

impl JournalWriter {
    /// Opens for appending, continuing the sequence after what is there.
    pub fn open(path: &Path) -> io::Result<Self> {
        let mut seq = 0;
        if path.exists() {
            let mut r = JournalReader::open(path)?;
            while let Some(e) = r.next_entry()? {
                seq = e.seq;
            }
        }
        let mut f = OpenOptions::new().create(true).append(true).open(path)?;
        // Terminate a line torn by a crash so the next event starts clean.
        let len = f.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            let mut r = File::open(path)?;
            r.seek(SeekFrom::Start(len - 1))?;
            io::Read::read_exact(&mut r, &mut last)?;
            if last[0] != b'\n' {
                f.write_all(b"\n")?;
            }
        }
        Ok(Self {
            w: BufWriter::with_capacity(64 * 1024, f),
            seq,
            line: Vec::with_capacity(256),
        })
    }

    /// Appends one event; returns its sequence number.
    pub fn append(&mut self, ev: &Event) -> io::Result<u64> {
        self.seq += 1;
        self.line.clear();
        serde_json::to_writer(
            &mut self.line,
            &Entry {
                seq: self.seq,
                ev: ev.clone(),
            },
        )
        .map_err(io::Error::other)?;
        self.line.push(b'\n');
        self.w.write_all(&self.line)?;
        self.w.flush()?;
        Ok(self.seq)
    }

    /// Flushes and fsyncs the journal: every event written so far survives a crash.
    pub fn sync(&mut self) -> io::Result<()> {
        self.w.flush()?;
        self.w.get_ref().sync_data()
    }
}

/// Reads the journal incrementally (the sender tails it while the run
/// appends). Only complete lines are returned.
pub struct JournalReader {
    r: BufReader<File>,
    pos: u64,
    buf: String,
}

impl JournalReader {
    /// Opens at the start (creating an empty journal when missing).
    pub fn open(path: &Path) -> io::Result<Self> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        Ok(Self {
            r: BufReader::new(f),
            pos: 0,
            buf: String::new(),
        })
    }

    /// The next complete entry, or None at the (current) end.
    pub fn next_entry(&mut self) -> io::Result<Option<Entry>> {
        loop {
            self.buf.clear();
            let n = self.r.read_line(&mut self.buf)?;
            if n == 0 {
                return Ok(None);
            }
            if !self.buf.ends_with('\n') {
                // A line still being written (or torn by a crash): retry later.
                self.r.seek(SeekFrom::Start(self.pos))?;
                return Ok(None);
            }
            self.pos += n as u64;
            match serde_json::from_str(self.buf.trim_end()) {
                Ok(e) => return Ok(Some(e)),
                Err(_) => continue,
            }
        }
    }

    /// fsyncs the journal file (any descriptor of the file will do).
    pub fn sync(&self) -> io::Result<()> {
        self.r.get_ref().sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_paths_must_stay_inside_the_run() {
        assert_eq!(
            run_relative("plots/a.png"),
            Some(PathBuf::from("plots/a.png"))
        );
        assert_eq!(
            run_relative("./summary.json"),
            Some(PathBuf::from("./summary.json"))
        );
        for bad in ["/etc/passwd", "../x", "a/../../b", "", "outbox/../../etc"] {
            assert_eq!(run_relative(bad), None, "{bad}");
        }
    }

    #[test]
    fn one_deliverer_per_outbox() {
        let d = tempfile::tempdir().unwrap();
        let ob = Outbox::open(d.path()).unwrap();
        let held = ob.lock().unwrap();
        let e = ob.lock().unwrap_err().to_string();
        assert!(e.contains("Comet outbox") && e.contains("in use"), "{e}");
        drop(held);
        ob.lock().unwrap();
    }

    #[test]
    fn journal_round_trips_and_acks() {
        let d = tempfile::tempdir().unwrap();
        let ob = Outbox::open(d.path()).unwrap();
        let mut w = JournalWriter::open(&ob.events_path()).unwrap();
        for i in 0..5 {
            w.append(&Event::Metric {
                name: "loss".into(),
                value: if i == 2 { f64::NAN } else { i as f64 },
                step: i,
                epoch: Some(0),
                ts: 1,
            })
            .unwrap();
        }
        ob.ack(3).unwrap();
        assert_eq!(ob.entries().unwrap().len(), 5);
        let p = ob.pending().unwrap();
        assert_eq!(p.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5]);
        drop(w);
        let mut w = JournalWriter::open(&ob.events_path()).unwrap();
        assert_eq!(w.append(&Event::Tags { tags: vec![] }).unwrap(), 6);
        // a torn line (crash mid-write) is skipped
        std::fs::OpenOptions::new()
            .append(true)
            .open(ob.events_path())
            .unwrap()
            .write_all(b"{\"seq\":7,")
            .unwrap();
        assert_eq!(ob.entries().unwrap().len(), 6);
    }
}
