//! `PROMOTED.json`: the lineage record `anirec promote` leaves beside a
//! promoted bundle (which run, ranked by what, its config, git and Comet
//! identity). Serving publishes a redacted view of it; `promote
//! --require-significant` reads which run is being served now.

use super::MAX_MANIFEST_BYTES;
use serde::Serialize;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The record's file name inside the bundle folder.
const FILE: &str = "PROMOTED.json";

/// The promotion record of the bundle in `dir`. `None` when there is none
/// or it cannot be read: the record is lineage only and never blocks
/// serving. Reads at most [`MAX_MANIFEST_BYTES`], like the manifest.
pub fn read(dir: &Path) -> Option<Value> {
    let f = std::fs::File::open(dir.join(FILE)).ok()?;
    let mut bytes = Vec::new();
    f.take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

/// The run directory whose bundle is served from `dir`.
pub fn run_dir(dir: &Path) -> Option<PathBuf> {
    read(dir)?["run"]["dir"].as_str().map(PathBuf::from)
}

/// Writes `record` into the (staged) bundle folder `dir`; the caller syncs
/// the folder and renames it into place.
pub fn write(dir: &Path, record: &impl Serialize) -> std::io::Result<()> {
    let body = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
    std::fs::write(dir.join(FILE), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_an_oversized_record_is_ignored() {
        let d = tempfile::tempdir().unwrap();
        assert!(read(d.path()).is_none());
        write(d.path(), &serde_json::json!({"run": {"dir": "/runs/a/1"}})).unwrap();
        assert_eq!(run_dir(d.path()), Some(PathBuf::from("/runs/a/1")));
        let big = vec![b' '; MAX_MANIFEST_BYTES as usize + 10];
        std::fs::write(d.path().join(FILE), big).unwrap();
        assert!(read(d.path()).is_none());
    }
}
