//! Atomic file output: everything anirec writes goes to a temporary file in the
//! destination folder and is renamed into place, so a crash or a bad input never
//! leaves a half-written file under the final name. The file is fsynced before
//! the rename and its folder after it, so a power loss cannot undo a rename
//! that a later step (an ack, a promotion) already relied on.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Creates `dir` (and parents), naming the folder in the error.
pub(crate) fn create_dir_all(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display())))
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `bytes` to `path` atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Streams into a temporary file next to `path` through `fill`, then renames it
/// into place. If `fill` fails, the temporary file is removed and `path` is untouched.
pub(crate) fn write_atomic_with<F>(path: &Path, fill: F) -> io::Result<()>
where
    F: FnOnce(&mut BufWriter<&mut fs::File>) -> io::Result<()>,
{
    let dir = parent_of(path);
    create_dir_all(&dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".anirec-tmp-")
        .tempfile_in(&dir)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write in {}: {e}", dir.display())))?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        fill(&mut w)?;
        w.flush()?;
    }
    sync_file(tmp.as_file(), path)?;
    tmp.persist(path).map_err(|e| {
        io::Error::new(
            e.error.kind(),
            format!("cannot write {}: {}", path.display(), e.error),
        )
    })?;
    sync_dir(&dir)
}

/// fsyncs an open file (`path` is only recorded for tests).
pub(crate) fn sync_file(f: &fs::File, path: &Path) -> io::Result<()> {
    f.sync_all()?;
    record_sync(path);
    Ok(())
}

/// Writes `bytes` to a new file at `path` and fsyncs it (for files inside a
/// staging folder that is renamed into place as a whole).
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = fs::File::create(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))?;
    f.write_all(bytes)?;
    sync_file(&f, path)
}

/// fsyncs a folder, making the renames and creations inside it durable. A
/// platform that cannot open folders (Windows) is not an error.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    let d = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    match fs::File::open(d) {
        Ok(f) => match f.sync_all() {
            Ok(()) => {}
            // Some file systems refuse fsync on a folder; nothing to do then.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
                ) => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot sync {}: {e}", d.display()),
                ))
            }
        },
        Err(_) if cfg!(windows) => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot sync {}: {e}", d.display()),
            ))
        }
    }
    record_sync(d);
    Ok(())
}

/// `rename(from, to)` followed by a sync of the destination's folder (and of
/// the source's, when it is another one).
pub(crate) fn rename_synced(from: &Path, to: &Path) -> io::Result<()> {
    fs::rename(from, to)?;
    let to_dir = parent_of(to);
    let from_dir = parent_of(from);
    sync_dir(&to_dir)?;
    if from_dir != to_dir {
        sync_dir(&from_dir)?;
    }
    Ok(())
}

/// Cuts `s` to at most `max` bytes without splitting a character.
pub(crate) fn truncate_at_char(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
}

#[cfg(test)]
thread_local! {
    static SYNCED: std::cell::RefCell<Vec<PathBuf>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Tests observe which paths this thread fsynced (durability cannot be
/// seen any other way short of pulling the plug).
#[cfg(test)]
fn record_sync(p: &Path) {
    SYNCED.with(|s| s.borrow_mut().push(p.to_path_buf()));
}
#[cfg(not(test))]
fn record_sync(_: &Path) {}

/// The paths this thread fsynced since the last call (tests only).
#[cfg(test)]
pub(crate) fn take_synced() -> Vec<PathBuf> {
    SYNCED.with(|s| std::mem::take(&mut *s.borrow_mut()))
}

/// Serialises `value` as pretty JSON, atomically.
pub(crate) fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_fill_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        fs::write(&target, b"old").unwrap();
        let err = write_atomic_with(&target, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("boom"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&target).unwrap(), b"old");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "temporary file left behind: {names:?}");
    }

    #[test]
    fn atomic_write_syncs_the_file_and_then_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.json");
        take_synced();
        write_atomic(&target, b"{}").unwrap();
        let synced = take_synced();
        // The temp file, then the folder holding the rename.
        assert_eq!(synced.len(), 2, "{synced:?}");
        assert_eq!(synced[1], dir.path());
    }

    #[test]
    fn truncation_never_splits_a_character() {
        let mut s = "é".repeat(200); // 400 bytes, 2 per char
        truncate_at_char(&mut s, 301);
        assert_eq!(s.len(), 300);
        let mut t = "abc".to_string();
        truncate_at_char(&mut t, 300);
        assert_eq!(t, "abc");
    }

    #[test]
    fn write_creates_parents() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a/b/c.json");
        write_json_atomic(&target, &serde_json::json!({"x": 1})).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&fs::read(&target).unwrap()).unwrap();
        assert_eq!(v["x"], 1);
    }
}
