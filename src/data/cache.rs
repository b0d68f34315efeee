//! Parquet cache of processed rows, one folder per fingerprint. A folder is
//! written under a temporary name and renamed, so a reader sees all or nothing.

use super::{CleanStats, DataError, Ratings};
use polars::prelude::*;
use std::fs::File;
use std::path::Path;

pub(super) fn load(dir: &Path) -> Result<Option<(Ratings, Ratings, CleanStats)>, DataError> {
    let meta = dir.join("clean.json");
    if !meta.exists() {
        return Ok(None);
    }
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
    let clean: CleanStats = match std::fs::read(&meta)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
    {
        Some(c) => c,
        None => return Ok(None),
    };
    Ok(Some((read("train.parquet")?, read("test.parquet")?, clean)))
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
    if let Err(e) = std::fs::rename(&staged, dir) {
        // Another process won the race; its copy is just as good.
        let _ = std::fs::remove_dir_all(&staged);
        if !dir.exists() {
            return Err(DataError::io(dir, e));
        }
    }
    Ok(())
}
