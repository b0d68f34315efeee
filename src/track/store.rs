//! The local run store: `runs/<experiment>/<run-id>/` with the resolved
//! config, meta.json (lineage), params, metrics and summary.

use crate::config::Experiment;
use crate::track::RunStatus;
use crate::util::lock::FileLock;
use crate::util::url::strip_credentials;
use crate::util::{fsx, time};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Git state of the working tree a run came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GitInfo {
    /// HEAD commit.
    pub commit: String,
    /// Branch name (None when detached).
    pub branch: Option<String>,
    /// `origin` URL, credentials removed.
    pub remote: Option<String>,
    /// Uncommitted changes present.
    pub dirty: bool,
}

impl GitInfo {
    /// Reads git state of the current directory; None outside a repository.
    pub fn detect() -> Option<Self> {
        Self::detect_in(Path::new("."))
    }

    /// Reads git state of `dir`.
    pub fn detect_in(dir: &Path) -> Option<Self> {
        let git = |args: &[&str]| -> Option<String> {
            let out = Command::new("git")
                .arg("-C")
                .arg(dir)
                .args(args)
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        let commit = git(&["rev-parse", "HEAD"])?;
        let branch = git(&["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD");
        let remote = git(&["config", "--get", "remote.origin.url"])
            .filter(|r| !r.is_empty())
            .map(|r| strip_credentials(&r));
        let dirty =
            git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        Some(Self {
            commit,
            branch,
            remote,
            dirty,
        })
    }

    /// The uncommitted changes (`git diff HEAD` in the current directory)
    /// when the checkout is dirty, so a tracked run can be reproduced.
    pub fn uncommitted_patch(&self) -> Option<String> {
        if !self.dirty {
            return None;
        }
        let out = Command::new("git").args(["diff", "HEAD"]).output().ok()?;
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The same state with credentials stripped from the remote: for records
    /// made from a GitInfo read back from disk (a meta.json written before
    /// remotes were cleaned, a hand-edited one).
    pub fn redacted(&self) -> Self {
        Self {
            remote: self.remote.as_deref().map(strip_credentials),
            ..self.clone()
        }
    }
}

/// meta.json: who, what, when, from which code and data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub run_id: String,
    /// Experiment name.
    pub experiment: String,
    /// Running, done, failed (or pruned: a sweep trial stopped early).
    pub status: RunStatus,
    /// Start (RFC 3339).
    pub started_at: String,
    /// End (RFC 3339).
    pub ended_at: Option<String>,
    /// Git state.
    pub git: Option<GitInfo>,
    /// Fingerprint of the processed data.
    pub data_fingerprint: Option<String>,
    /// Versions of anirec and its main libraries.
    pub versions: std::collections::BTreeMap<String, String>,
    /// Host name.
    pub host: String,
    /// Command line.
    pub command: Vec<String>,
    /// Error message of a failed run.
    pub error: Option<String>,
}

/// The run lock's file name inside a run directory.
pub const LOCK_FILE: &str = ".anirec.lock";

/// A run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// Its path.
    pub path: PathBuf,
    /// Run id (the folder name).
    pub id: String,
    /// Experiment name.
    pub experiment: String,
}

impl RunDir {
    /// Creates `runs_dir/<experiment>/<timestamp>-<n>/`; the suffix makes
    /// concurrent runs (sweep trials) never collide.
    pub fn create(runs_dir: &Path, experiment: &str) -> io::Result<Self> {
        let base = runs_dir.join(experiment);
        fsx::create_dir_all(&base)?;
        let stamp = time::compact(time::unix_now() as u64);
        for n in 0..10_000u32 {
            let id = format!("{stamp}-{n:02}");
            let path = base.join(&id);
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    return Ok(Self {
                        path,
                        id,
                        experiment: experiment.to_string(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot create {}: {e}", path.display()),
                    ))
                }
            }
        }
        Err(io::Error::other(format!(
            "no free run id under {}",
            base.display()
        )))
    }

    /// Creates the run directory at exactly `path` (sweep trials, DVC
    /// stages). An existing empty folder is taken; anything in it is refused
    /// rather than mixed with a new run.
    pub fn create_at(path: &Path, experiment: &str) -> io::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fsx::create_dir_all(parent)?;
        }
        match std::fs::create_dir(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let empty = std::fs::read_dir(path)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false);
                if !empty {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!(
                            "run directory {} already exists and is not empty; remove it or choose another",
                            path.display()
                        ),
                    ));
                }
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot create {}: {e}", path.display()),
                ))
            }
        }
        // The folder is reused (every DVC repro writes runs/dvc/train, a
        // re-run trial its trial folder), but a run id must name one attempt:
        // it is the Comet experiment's name, which an uncertain create is
        // reconciled by.
        let folder = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into());
        let id = format!(
            "{folder}-{}-{}",
            time::compact(time::unix_now() as u64),
            std::process::id()
        );
        Ok(Self {
            path: path.to_path_buf(),
            id,
            experiment: experiment.to_string(),
        })
    }

    /// Opens an existing run directory (for --resume, recommend, promote).
    pub fn open(path: &Path) -> io::Result<Self> {
        let meta = Self::read_meta_at(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            id: meta.run_id,
            experiment: meta.experiment,
        })
    }

    /// Takes the run's exclusive lock (`<run>/.anirec.lock`), held by the
    /// process that runs or resumes it; a second one is refused with the
    /// holder's pid, host and command.
    pub fn lock(&self) -> io::Result<FileLock> {
        Ok(FileLock::try_acquire(
            &self.file(LOCK_FILE),
            &format!("run {}", self.path.display()),
        )?)
    }

    /// A file inside the run.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Saves the fully resolved config.
    pub fn write_config(&self, exp: &Experiment) -> io::Result<()> {
        fsx::write_atomic(&self.file("config.yaml"), exp.to_yaml().as_bytes())
    }

    /// Writes meta.json.
    pub fn write_meta(&self, meta: &Meta) -> io::Result<()> {
        fsx::write_json_atomic(&self.file("meta.json"), meta)
    }

    /// Reads meta.json.
    pub fn read_meta(&self) -> io::Result<Meta> {
        Self::read_meta_at(&self.path)
    }

    fn read_meta_at(path: &Path) -> io::Result<Meta> {
        let p = path.join("meta.json");
        let bytes = std::fs::read(&p).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("{}: {e} (is this a run directory?)", p.display()),
            )
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", p.display()))
        })
    }

    /// A fresh meta for a starting run.
    pub fn new_meta(&self) -> Meta {
        let mut versions = std::collections::BTreeMap::new();
        versions.insert("anirec".into(), env!("CARGO_PKG_VERSION").into());
        versions.insert("polars".into(), "0.55.2".into());
        versions.insert("burn".into(), "0.21.0".into());
        Meta {
            run_id: self.id.clone(),
            experiment: self.experiment.clone(),
            status: RunStatus::Running,
            started_at: time::rfc3339(time::unix_now() as u64),
            ended_at: None,
            git: GitInfo::detect(),
            data_fingerprint: None,
            versions,
            host: hostname(),
            command: std::env::args().collect(),
            error: None,
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_never_collide() {
        let d = tempfile::tempdir().unwrap();
        let a = RunDir::create(d.path(), "exp").unwrap();
        let b = RunDir::create(d.path(), "exp").unwrap();
        assert_ne!(a.path, b.path);
        a.write_meta(&a.new_meta()).unwrap();
        let back = RunDir::open(&a.path).unwrap();
        assert_eq!(back.id, a.id);
        assert_eq!(back.experiment, "exp");
    }

    #[test]
    fn a_running_run_cannot_be_locked_twice() {
        let d = tempfile::tempdir().unwrap();
        let a = RunDir::create(d.path(), "exp").unwrap();
        let held = a.lock().unwrap();
        let e = a.lock().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(e.to_string().contains("in use by another process"), "{e}");
        drop(held);
        a.lock().unwrap();
    }

    #[test]
    fn git_remotes_are_recorded_without_credentials() {
        let d = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(d.path())
                .args([
                    "-c",
                    "user.name=t",
                    "-c",
                    "user.email=t@t",
                    "-c",
                    "commit.gpgsign=false",
                ])
                .args(args)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        git(&["commit", "-q", "--allow-empty", "-m", "x"]);
        git(&[
            "remote",
            "add",
            "origin",
            "https://bob:ghp_SECRET123@github.com/o/r.git",
        ]);
        let g = GitInfo::detect_in(d.path()).unwrap();
        assert_eq!(g.remote.as_deref(), Some("https://github.com/o/r.git"));
        let old = GitInfo {
            remote: Some("https://x:tok@h/r".into()),
            ..g
        };
        assert_eq!(old.redacted().remote.as_deref(), Some("https://h/r"));
    }

    #[test]
    fn create_at_refuses_a_non_empty_folder() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b");
        let r = RunDir::create_at(&p, "exp").unwrap();
        assert!(r.id.starts_with("b-"), "{}", r.id);
        std::fs::remove_dir(&p).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let again = RunDir::create_at(&p, "exp").unwrap();
        assert_ne!(again.id, r.id, "one id per attempt");
        std::fs::write(p.join("x"), "1").unwrap();
        let e = RunDir::create_at(&p, "exp").unwrap_err().to_string();
        assert!(e.contains("not empty"), "{e}");
    }
}
