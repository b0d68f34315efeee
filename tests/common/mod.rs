//! What the end-to-end test crates share: [`Fx`], a temporary project folder
//! with the `anirec` binary run inside it, isolated from the caller's
//! environment, plus small readers of what a command left behind.
//!
//! Shared by several test crates (`mod common;`); each uses a subset, and
//! adds the experiment files it needs through its own extension trait.
#![allow(dead_code)]

use serde_json::Value as Json;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tempfile::TempDir;

/// A small synthetic data section (300 users, 200 anime): a run on it takes
/// seconds. Indented for a `data:` block.
pub const SYNTH: &str =
    "format: synthetic\n  synth: {users: 300, anime: 200, rows: 20000, seed: 1}";

/// Comet settings a developer's shell may hold; a test must never use them.
const COMET_VARS: [&str; 7] = [
    "COMET_API_KEY",
    "COMET_URL_OVERRIDE",
    "COMET_WORKSPACE",
    "COMET_PROJECT_NAME",
    "COMET_CONFIG",
    "ANIREC_COMET_SYNC_SECS",
    "ANIREC_COMET_TIMEOUT_SECS",
];

/// A temporary folder that a test's commands run in; removed when dropped.
pub struct Fx {
    dir: TempDir,
}

impl Fx {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    /// `p` inside the folder.
    pub fn path(&self, p: &str) -> PathBuf {
        self.root().join(p)
    }
    /// Where experiments written by the tests keep their runs.
    pub fn runs(&self) -> PathBuf {
        self.path("runs")
    }
    /// Where experiments written by the tests keep their processed data.
    pub fn cache(&self) -> PathBuf {
        self.path("cache")
    }
    /// The `anirec` binary, run in the folder, logging warnings only and
    /// without colour (so stderr holds what the command itself says), with
    /// no Comet settings from the caller's environment or home folder, and
    /// no stdin.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_anirec"));
        c.current_dir(self.root())
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .env("HOME", self.root())
            .stdin(Stdio::null());
        for v in COMET_VARS {
            c.env_remove(v);
        }
        c
    }
}

/// Runs a command to its end.
pub fn run(c: &mut Command) -> Output {
    c.output().expect("spawn anirec")
}

/// The exit status and both streams, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A JSON file, or a panic naming it.
pub fn json(path: &Path) -> Json {
    let b = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
