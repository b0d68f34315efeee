//! OS file locks (`flock` on Unix, `LockFileEx` on Windows, via
//! `std::fs::File::try_lock`) for one-writer resources: a run directory, a
//! Comet outbox, a promotion destination, a sweep and its trials (shared:
//! a sweep's workers).
//!
//! The lock is the OS lock on the open file, so it dies with the process: a
//! crashed holder never leaves a stale lock behind, and nothing is ever
//! deleted on release (deleting a lock file races with the next opener). The
//! file's *contents* only describe the holder (pid, host, command) so the
//! process that is refused can say who holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Why a lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds it.
    #[error("{what} is in use by another process ({holder}; lock file {}); wait for it to finish or stop it, then try again", path.display())]
    Held {
        /// What is locked, e.g. "run runs/x/123".
        what: String,
        /// The lock file.
        path: PathBuf,
        /// Who holds it, as the holder wrote it.
        holder: String,
    },
    /// The lock file cannot be opened or locked.
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        source: io::Error,
    },
}

impl From<LockError> for io::Error {
    fn from(e: LockError) -> Self {
        let kind = match &e {
            LockError::Held { .. } => io::ErrorKind::WouldBlock,
            LockError::Io { source, .. } => source.kind(),
        };
        io::Error::new(kind, e.to_string())
    }
}

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct FileLock {
    file: Option<File>,
    path: PathBuf,
    /// Only an exclusive holder describes itself in (and clears) the file.
    exclusive: bool,
}

impl FileLock {
    /// Takes the exclusive lock on `path` (created when missing) without
    /// waiting. `what` names the locked thing in the error. On a file system
    /// without locks (some network mounts) it warns and goes on unlocked.
    pub fn try_acquire(path: &Path, what: &str) -> Result<Self, LockError> {
        Self::take(path, what, true)
    }

    /// Takes the lock shared (any number of shared holders, no exclusive
    /// one) without waiting; otherwise as [`FileLock::try_acquire`]. A shared
    /// holder leaves the file's text alone.
    pub fn try_acquire_shared(path: &Path, what: &str) -> Result<Self, LockError> {
        Self::take(path, what, false)
    }

    fn take(path: &Path, what: &str, exclusive: bool) -> Result<Self, LockError> {
        let io_err = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err)?;
        let taken = if exclusive {
            file.try_lock()
        } else {
            file.try_lock_shared()
        };
        match taken {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    what: what.to_string(),
                    path: path.to_path_buf(),
                    holder: read_holder(&mut file),
                })
            }
            Err(TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => {
                tracing::warn!(
                    "{}: this file system has no file locks; {what} is NOT protected against a second process",
                    path.display()
                );
                return Ok(Self {
                    file: None,
                    path: path.to_path_buf(),
                    exclusive,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        if exclusive {
            // Best effort: the lock is what counts, the text is for messages.
            let _ = write_holder(&mut file);
        }
        Ok(Self {
            file: Some(file),
            path: path.to_path_buf(),
            exclusive,
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the OS lock is really held (false on a file system without
    /// locks, where [`FileLock::try_acquire`] only warned).
    pub fn is_os_lock(&self) -> bool {
        self.file.is_some()
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        if let Some(f) = self.file.take() {
            if self.exclusive {
                // Clear the description first so nobody reads a stale holder.
                let _ = f.set_len(0);
            }
            let _ = f.unlock();
        }
    }
}

/// One line: `pid 123 on host h: anirec run exp.yaml` (at most 300 bytes).
fn holder_line() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let cmd: Vec<String> = std::env::args().collect();
    let mut line = format!(
        "pid {} on host {host} since {}: {}",
        std::process::id(),
        super::time::rfc3339(super::time::unix_now() as u64),
        cmd.join(" ")
    );
    super::fsx::truncate_at_char(&mut line, 300);
    line
}

fn write_holder(f: &mut File) -> io::Result<()> {
    f.set_len(0)?;
    f.seek(SeekFrom::Start(0))?;
    f.write_all(holder_line().as_bytes())?;
    f.flush()
}

fn read_holder(f: &mut File) -> String {
    let mut buf = Vec::new();
    let _ = f.seek(SeekFrom::Start(0));
    let _ = f.take(1024).read_to_end(&mut buf);
    let s = String::from_utf8_lossy(&buf).trim().to_string();
    if s.is_empty() {
        "holder unknown: it is just starting or did not say".into()
    } else {
        s
    }
}

/// An exclusive OS lock on `path` (created if missing), waiting for the
/// holder; released when the returned file is dropped or the process dies.
pub(crate) fn wait_exclusive(path: &Path) -> std::io::Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    f.lock()?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_taker_is_refused_with_the_holder_named_then_succeeds() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".lock");
        let first = FileLock::try_acquire(&p, "run x").unwrap();
        // flock locks belong to the open file: a second open is refused
        // even inside the same process.
        let e = FileLock::try_acquire(&p, "run x").unwrap_err().to_string();
        assert!(e.contains("run x is in use"), "{e}");
        assert!(
            e.contains(&format!("pid {}", std::process::id())),
            "holder not named: {e}"
        );
        drop(first);
        let again = FileLock::try_acquire(&p, "run x").unwrap();
        assert_eq!(again.path(), p);
        assert!(again.is_os_lock());
        assert!(p.exists(), "the lock file is never deleted");
    }

    #[test]
    fn shared_holders_coexist_and_exclude_an_exclusive_one() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.lock");
        let a = FileLock::try_acquire(&p, "sweep").unwrap();
        let e = FileLock::try_acquire(&p, "sweep").unwrap_err().to_string();
        assert!(e.contains(&std::process::id().to_string()), "{e}");
        assert!(FileLock::try_acquire_shared(&p, "sweep").is_err());
        drop(a);
        let s1 = FileLock::try_acquire_shared(&p, "sweep").unwrap();
        let _s2 = FileLock::try_acquire_shared(&p, "sweep").unwrap();
        assert!(FileLock::try_acquire(&p, "sweep").is_err());
        drop(s1);
        assert!(
            FileLock::try_acquire(&p, "sweep").is_err(),
            "s2 still holds it"
        );
    }
}
