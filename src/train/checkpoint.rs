//! The checkpoint file: magic, JSON metadata, then length-prefixed record
//! blobs (burn records of the model, the optimizer, ...). Model-agnostic:
//! each trainer brings its own metadata type and decides what the blobs are.

use std::fs;
use std::io::Write;
use std::path::Path;

use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder};
use serde::{Deserialize, Serialize};

use super::error::{invalid, io_err, TrainError};

/// How the record blobs are encoded.
pub(crate) type Rec = NamedMpkBytesRecorder<FullPrecisionSettings>;

const MAGIC: &[u8; 12] = b"ANIREC-CKPT\n";

/// Writes `path` atomically (the crate's temp file + fsync + rename +
/// folder sync), so a crash leaves either the old or the new checkpoint.
pub(crate) fn write_checkpoint<M: Serialize>(
    path: &Path,
    meta: &M,
    blobs: &[&[u8]],
) -> Result<(), TrainError> {
    let meta =
        serde_json::to_vec(meta).map_err(|e| invalid(format!("checkpoint metadata: {e}")))?;
    crate::util::fsx::write_atomic_with(path, |f| {
        f.write_all(MAGIC)?;
        for part in std::iter::once(meta.as_slice()).chain(blobs.iter().copied()) {
            f.write_all(&(part.len() as u64).to_le_bytes())?;
            f.write_all(part)?;
        }
        Ok(())
    })
    .map_err(|e| io_err(path, "writing checkpoint", e))
}

/// A checkpoint as read: metadata and the record blobs.
pub(crate) type Checkpoint<M> = (M, Vec<Vec<u8>>);

/// Reads a checkpoint; `Ok(None)` when there is none.
pub(crate) fn read_checkpoint<M: for<'de> Deserialize<'de>>(
    path: &Path,
) -> Result<Option<Checkpoint<M>>, TrainError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path, "reading checkpoint", e)),
    };
    let corrupt = |why: &str| invalid(format!("checkpoint {} is corrupt: {why}", path.display()));
    let mut rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| corrupt("bad magic"))?;
    let mut parts = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<8>()
            .ok_or_else(|| corrupt("truncated"))?;
        let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| corrupt("length"))?;
        if tail.len() < len {
            return Err(corrupt("truncated"));
        }
        parts.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    if parts.is_empty() {
        return Err(corrupt("no metadata"));
    }
    let blobs = parts.split_off(1);
    let meta = serde_json::from_slice(&parts[0]).map_err(|e| corrupt(&e.to_string()))?;
    Ok(Some((meta, blobs)))
}

pub(crate) fn blobs_n<const N: usize>(
    path: &Path,
    blobs: Vec<Vec<u8>>,
) -> Result<[Vec<u8>; N], TrainError> {
    let n = blobs.len();
    blobs.try_into().map_err(|_| {
        invalid(format!(
            "checkpoint {} is corrupt: {n} record blobs, expected {N}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::testutil::scratch_dir;

    #[test]
    fn round_trips_and_refuses_damage() {
        let dir = scratch_dir("ckpt-file");
        let path = dir.join("x.ckpt");
        assert!(read_checkpoint::<Vec<u32>>(&path).unwrap().is_none());
        write_checkpoint(&path, &vec![1u32, 2], &[b"ab", b"", b"c"]).unwrap();
        let (meta, blobs) = read_checkpoint::<Vec<u32>>(&path).unwrap().unwrap();
        assert_eq!(meta, vec![1, 2]);
        let [a, b, c] = blobs_n::<3>(&path, blobs).unwrap();
        assert_eq!((a, b, c), (b"ab".to_vec(), vec![], b"c".to_vec()));
        let (_, blobs) = read_checkpoint::<Vec<u32>>(&path).unwrap().unwrap();
        assert!(blobs_n::<2>(&path, blobs).is_err());
        // Cut inside the last blob: truncated, not a shorter valid file.
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(matches!(
            read_checkpoint::<Vec<u32>>(&path),
            Err(TrainError::Invalid(_))
        ));
        fs::write(&path, b"NOT-A-CKPT\n").unwrap();
        assert!(read_checkpoint::<Vec<u32>>(&path).is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
