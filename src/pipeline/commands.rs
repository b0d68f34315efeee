//! The commands around a run: `anirec recommend` from a run's bundle and
//! the `anirec data` stages (synth, split, stats).

use super::RunError;
use crate::bundle::{self, CatalogEntry};
use crate::config::Experiment;
use crate::data::{self, stats::DatasetStats, synth, Dataset};
use crate::eval::evaluator;
use crate::model::Engine;
use crate::util::fsx;
use crate::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Catalogue entries for the dataset's items, in dense order.
pub fn catalog_entries(ds: &Dataset) -> Vec<CatalogEntry> {
    ds.items
        .iter()
        .map(|&id| match ds.catalog.get(id) {
            Some(a) => CatalogEntry {
                id,
                name: a.name.clone(),
                english_name: a.english_name.clone(),
                genres: a.genres.clone(),
                kind: a.kind.clone(),
                episodes: a.episodes,
                score: a.score,
                synopsis: a.synopsis.clone(),
            },
            None => CatalogEntry {
                id,
                name: format!("#{id}"),
                english_name: None,
                genres: Vec::new(),
                kind: None,
                episodes: None,
                score: None,
                synopsis: None,
            },
        })
        .collect()
}

/// Which users `anirec recommend` writes lists for.
#[derive(Debug, Clone)]
pub enum UserSelection {
    /// Every known user.
    All,
    /// These raw user ids.
    Ids(Vec<u32>),
}

/// `anirec recommend`: top-k lists from a run's bundle in the PROTOCOL recs
/// format (`user_id,item_id,rank,score`), train items excluded.
pub fn recommend(run_dir: &Path, users: &UserSelection, k: usize, out: &Path) -> Result<usize> {
    let b = bundle::read(&bundle::in_run(run_dir))?;
    let dense: Vec<u32> = match users {
        UserSelection::All => (0..b.users.len() as u32).collect(),
        UserSelection::Ids(ids) => {
            let index = crate::util::ids::dense_index(&b.users);
            ids.iter()
                .map(|u| {
                    index
                        .get(u)
                        .copied()
                        .ok_or(Error::Run(RunError::UnknownUser(*u)))
                })
                .collect::<Result<_>>()?
        }
    };
    let lists = recommend_lists(&b.engine, &dense, k);
    let mut rows = 0;
    fsx::write_atomic_with(out, |w| {
        w.write_all(b"user_id,item_id,rank,score\n")?;
        for (&u, list) in dense.iter().zip(&lists) {
            for (rank, &(i, s)) in list.iter().enumerate() {
                writeln!(
                    w,
                    "{},{},{},{}",
                    b.users[u as usize],
                    b.items[i as usize],
                    rank + 1,
                    s
                )?;
                rows += 1;
            }
        }
        Ok(())
    })?;
    Ok(rows)
}

/// Top-k lists (dense ids) for dense users, train items excluded.
pub fn recommend_lists(engine: &Engine, users: &[u32], k: usize) -> Vec<Vec<(u32, f32)>> {
    evaluator::recommend(&engine.history, users, engine, k, 256)
}

/// `anirec data synth`.
pub fn synth(spec: &synth::SynthSpec, out: &Path) -> Result<synth::SynthSummary> {
    synth::write_mal2020(spec, out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidInput {
            Error::Run(RunError::SynthSpec(e))
        } else {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", out.display()),
            ))
        }
    })
}

/// `anirec data split`: writes train.csv and test.csv in the PROTOCOL format.
pub fn split(exp: &Experiment, out: &Path) -> Result<(usize, usize)> {
    let p = data::process(&exp.data, exp.seed)?;
    p.train.write_protocol_csv(&out.join("train.csv"))?;
    p.test.write_protocol_csv(&out.join("test.csv"))?;
    let info = serde_json::json!({
        "fingerprint": p.fingerprint,
        "train_rows": p.train.len(),
        "test_rows": p.test.len(),
        "min_user_ratings": exp.data.min_user_ratings,
        "test_ratio": exp.data.split.test_ratio,
        "seed": exp.data.split.seed,
        "clean": p.clean,
    });
    fsx::write_json_atomic(&out.join("split.json"), &info)?;
    Ok((p.train.len(), p.test.len()))
}

/// `anirec data stats` / `anirec data process`.
pub fn stats(exp: &Experiment) -> Result<DatasetStats> {
    let ds = data::load(&exp.data, exp.seed)?;
    Ok(DatasetStats::of(&ds))
}
