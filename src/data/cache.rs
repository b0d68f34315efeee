//! Parquet cache of processed rows, one folder per fingerprint. A folder is
//! written under a temporary name and renamed, so a reader sees all or nothing.

use super::{CleanStats, DataError, Ratings};
use polars::prelude::*;
use std::fs::File;
use std::path::Path;

type Cached = (Ratings, Ratings, CleanStats);

/// The cached rows, or None on a miss. A cache folder that cannot be read
/// back (truncated Parquet, bad clean.json, missing column) is a miss too:
/// it is reported, removed so the fresh result can take its place, and the
/// data is processed again. A cache never fails a run.
pub(super) fn load(dir: &Path) -> Result<Option<Cached>, DataError> {
    if !dir.exists() {
        return Ok(None);
    }
    match read_all(dir) {
        Ok(c) => Ok(Some(c)),
        Err(e) => {
            tracing::warn!(
                dir = %dir.display(),
                "the processed-data cache is unreadable ({e}); discarding it and processing again"
            );
            discard(dir);
            Ok(None)
        }
    }
}

/// Moves a bad cache folder aside (one rename, so a concurrent reader sees
/// it whole or not at all) and deletes it.
fn discard(dir: &Path) {
    let parent = dir.parent().unwrap_or(Path::new("."));
    match tempfile::Builder::new()
        .prefix(".processed-bad-")
        .tempdir_in(parent)
    {
        Ok(aside) => {
            let target = aside.path().join("x");
            if std::fs::rename(dir, &target).is_err() {
                let _ = std::fs::remove_dir_all(dir);
            }
            // `aside` (and what was moved into it) is removed on drop.
        }
        Err(_) => {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn read_all(dir: &Path) -> Result<Cached, DataError> {
    let meta = dir.join("clean.json");
    let read = |name: &str| -> Result<Ratings, DataError> {
        let p = dir.join(name);
        let f = File::open(&p).map_err(|e| DataError::io(&p, e))?;
        let df = ParquetReader::new(f).finish().map_err(|e| DataError::Csv {
            path: p.clone(),
            msg: e.to_string(),
        })?;
        let err = |e: PolarsError| DataError::Csv {
            path: p.clone(),
            msg: e.to_string(),
        };
        let u = df
            .column("user_id")
            .and_then(|c| c.u32().cloned())
            .map_err(err)?;
        let i = df
            .column("item_id")
            .and_then(|c| c.u32().cloned())
            .map_err(err)?;
        let r = df
            .column("rating")
            .and_then(|c| c.f32().cloned())
            .map_err(err)?;
        Ok(Ratings {
            user: u.into_no_null_iter().collect(),
            item: i.into_no_null_iter().collect(),
            rating: r.into_no_null_iter().collect(),
        })
    };
    let bytes = std::fs::read(&meta).map_err(|e| DataError::io(&meta, e))?;
    let clean: CleanStats = serde_json::from_slice(&bytes).map_err(|e| DataError::Csv {
        path: meta.clone(),
        msg: e.to_string(),
    })?;
    Ok((read("train.parquet")?, read("test.parquet")?, clean))
}

pub(super) fn store(
    dir: &Path,
    train: &Ratings,
    test: &Ratings,
    clean: &CleanStats,
) -> Result<(), DataError> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    crate::util::fsx::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".processed-tmp-")
        .tempdir_in(parent)
        .map_err(|e| DataError::io(parent, e))?;
    for (name, r) in [("train.parquet", train), ("test.parquet", test)] {
        let mut df = DataFrame::new(
            r.len(),
            vec![
                Column::new("user_id".into(), &r.user),
                Column::new("item_id".into(), &r.item),
                Column::new("rating".into(), &r.rating),
            ],
        )
        .map_err(|e| DataError::Csv {
            path: dir.join(name),
            msg: e.to_string(),
        })?;
        let p = tmp.path().join(name);
        let f = File::create(&p).map_err(|e| DataError::io(&p, e))?;
        ParquetWriter::new(f)
            .finish(&mut df)
            .map_err(|e| DataError::Csv {
                path: p.clone(),
                msg: e.to_string(),
            })?;
    }
    let meta = serde_json::to_vec_pretty(clean).map_err(|e| DataError::Unusable(e.to_string()))?;
    std::fs::write(tmp.path().join("clean.json"), meta)
        .map_err(|e| DataError::io(tmp.path(), e))?;
    let staged = tmp.keep();
    if let Err(e) = crate::util::fsx::rename_synced(&staged, dir) {
        // Another process won the race; its copy is just as good.
        let _ = std::fs::remove_dir_all(&staged);
        if !dir.exists() {
            return Err(DataError::io(dir, e));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_cache_is_a_miss_and_is_replaced() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("processed-x");
        let mut r = Ratings::default();
        r.push(1, 2, 3.0);
        let clean = CleanStats::default();
        store(&dir, &r, &r, &clean).unwrap();
        assert!(load(&dir).unwrap().is_some());
        // Truncate a Parquet file, as a full disk or a killed copy would.
        let p = dir.join("train.parquet");
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        assert!(
            load(&dir).unwrap().is_none(),
            "a corrupt cache must be a miss"
        );
        assert!(!dir.exists(), "the corrupt folder is removed");
        store(&dir, &r, &r, &clean).unwrap();
        assert_eq!(load(&dir).unwrap().unwrap().0.rating, vec![3.0]);
        // A bad clean.json too.
        std::fs::write(dir.join("clean.json"), "{not json").unwrap();
        assert!(load(&dir).unwrap().is_none());
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert!(names.is_empty(), "nothing left behind: {names:?}");
    }
}
