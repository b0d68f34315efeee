//! The model bundle: what training hands to serving. A directory with
//! `manifest.json` (format version, kind, lineage, metrics, member layout,
//! file checksums), `tensors.safetensors` (all vectors and sparse matrices)
//! and `catalog.json` (the servable items with their metadata). Reading
//! verifies checksums, format version and shapes before anything is used.

//!
//! This module owns the folder: its name inside a run ([`in_run`]), its
//! files, the promotion record written beside them ([`promoted`]), and the
//! rename pair that replaces one bundle with another.

mod check;
pub mod promoted;
mod read;
mod write;

pub use check::{MAX_DIMS, MAX_FEATURES, MAX_MANIFEST_BYTES};
pub use read::{read, verify};
pub use write::{write, Contents, Lineage};

use crate::config::Normalization;
use crate::model::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bumped on any incompatible change; readers refuse other versions.
pub const FORMAT_VERSION: u32 = 1;

/// The bundle's folder inside a run directory.
const RUN_SUBDIR: &str = "bundle";

/// Where the run in `run_dir` keeps its bundle.
pub fn in_run(run_dir: &Path) -> PathBuf {
    run_dir.join(RUN_SUBDIR)
}

/// Why a bundle cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// File missing or unreadable.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Checksum mismatch: the bundle was modified or truncated.
    #[error("{}: checksum mismatch (manifest says {want}, file hashes to {got}); the bundle is corrupted, promote or copy it again", path.display())]
    Checksum {
        path: PathBuf,
        want: String,
        got: String,
    },
    /// Anything structurally wrong.
    #[error("{}: {msg}", path.display())]
    Invalid {
        /// Bundle dir.
        path: PathBuf,
        msg: String,
    },
}

/// One member's layout in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemberMeta {
    /// Model kind.
    pub name: String,
    /// Blend weight.
    pub weight: f32,
    /// Part type.
    pub part: String,
    /// Scalar settings of the part.
    #[serde(default)]
    pub params: BTreeMap<String, f64>,
}

/// manifest.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    /// Model kind of the experiment.
    pub model_kind: String,
    /// Run that produced it.
    pub run_id: String,
    /// Experiment name.
    pub experiment: String,
    /// Creation time (RFC 3339).
    pub created: String,
    /// Git commit of the code.
    pub git_commit: Option<String>,
    pub data_fingerprint: String,
    /// Evaluation metrics of the run.
    pub metrics: BTreeMap<String, f64>,
    /// Score normalisation.
    pub normalization: Normalization,
    /// Known users.
    pub n_users: usize,
    /// Servable items.
    pub n_items: usize,
    pub members: Vec<MemberMeta>,
    /// sha256 of each data file.
    pub files: BTreeMap<String, String>,
}

/// A servable item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogEntry {
    /// Raw id (MAL_ID).
    pub id: u32,
    pub name: String,
    pub english_name: Option<String>,
    pub genres: Vec<String>,
    /// MAL's type: TV, Movie, OVA, ONA, Special or Music.
    pub kind: Option<String>,
    pub episodes: Option<u32>,
    /// MAL score.
    pub score: Option<f32>,
    pub synopsis: Option<String>,
}

/// A loaded bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub manifest: Manifest,
    /// The engine (histories included).
    pub engine: Engine,
    /// Dense user → raw id.
    pub users: Vec<u32>,
    /// Dense item → raw id.
    pub items: Vec<u32>,
    /// Dense item → metadata.
    pub catalog: Vec<CatalogEntry>,
}

/// Where `dir` is put aside while its replacement is renamed in:
/// `<name>.old-<pid>` next to it. The whole name is kept (`v1.2` →
/// `v1.2.old-7`, not `v1.old-7`) so the promote recovery, which looks for
/// `<name>.old-*`, finds it after a crash between the two renames.
pub(crate) fn aside_path(dir: &Path) -> PathBuf {
    let mut name = dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| RUN_SUBDIR.into());
    name.push(format!(".old-{}", std::process::id()));
    dir.with_file_name(name)
}

/// Moves `staged` to `dir`, replacing an existing `dir` with a rename pair so
/// there is never a moment with a half-written `dir`. Each rename is made
/// durable (folder fsync) before the next step relies on it.
pub(crate) fn replace_dir(staged: &Path, dir: &Path) -> std::io::Result<()> {
    use crate::util::fsx::rename_synced;
    if dir.exists() {
        let old = aside_path(dir);
        rename_synced(dir, &old)?;
        if let Err(e) = rename_synced(staged, dir) {
            // Put the old one back rather than leave no bundle at all.
            let _ = rename_synced(&old, dir);
            return Err(e);
        }
        std::fs::remove_dir_all(&old)?;
    } else {
        rename_synced(staged, dir)?;
    }
    Ok(())
}

/// Hex sha256.
pub fn sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parts::{Mat, Part};
    use crate::model::Member;
    use crate::sparse::Csr;

    fn contents<'a>(e: &'a Engine, catalog: &'a [CatalogEntry]) -> Contents<'a> {
        Contents {
            engine: e,
            users: &[5, 6],
            items: &[10, 11, 12],
            catalog,
            lineage: lineage(),
        }
    }

    fn engine() -> Engine {
        let history = Csr::from_triplets(2, 3, &[(0, 0, 9.0), (1, 2, 7.0)]);
        let members = vec![
            Member {
                name: "ease".into(),
                weight: 0.7,
                part: Part::ItemItem {
                    weights: Csr::from_triplets(3, 3, &[(0, 1, 0.5), (2, 0, -0.25)]),
                    // Some(_) so that the round trip covers the optional parameter.
                    min_rating: Some(7.0),
                },
            },
            Member {
                name: "mf".into(),
                weight: 0.2,
                part: Part::Factors {
                    user: Mat {
                        rows: 2,
                        cols: 2,
                        data: vec![1.0, 0.0, 0.0, 1.0],
                    },
                    item: Mat {
                        rows: 3,
                        cols: 2,
                        data: vec![0.5; 6],
                    },
                    item_bias: Some(vec![0.1, 0.2, 0.3]),
                    head: None,
                },
            },
            Member {
                name: "user_knn".into(),
                weight: 0.1,
                part: Part::UserKnn {
                    neighbors: 5,
                    like_quantile: 0.5,
                    user_vectors: None,
                    // Some(_) so that the round trip covers the neighbour index.
                    index: Some(crate::model::knn_index::NeighbourIndex::from_lists(
                        Csr::from_triplets(2, 2, &[(0, 1, 0.5), (1, 0, 0.25)]),
                    )),
                },
            },
            Member {
                name: "popularity".into(),
                weight: 0.1,
                part: Part::Popularity {
                    scores: vec![1.0, 2.0, 3.0],
                },
            },
        ];
        Engine::new(members, Normalization::Rank, history)
    }

    fn catalog() -> Vec<CatalogEntry> {
        (0..3)
            .map(|i| CatalogEntry {
                id: 10 + i,
                name: format!("A{i}"),
                english_name: None,
                genres: vec!["Action".into()],
                kind: None,
                episodes: Some(12),
                score: Some(7.5),
                synopsis: None,
            })
            .collect()
    }

    fn lineage() -> Lineage<'static> {
        Lineage {
            model_kind: "hybrid",
            run_id: "r1",
            experiment: "e",
            git_commit: None,
            data_fingerprint: "fp",
            metrics: BTreeMap::from([("ndcg@10".to_string(), 0.3)]),
        }
    }

    #[test]
    fn write_syncs_every_file_and_both_folders() {
        let d = tempfile::tempdir().unwrap();
        let dir = in_run(d.path());
        let e = engine();
        for _ in 0..2 {
            crate::util::fsx::take_synced();
            write(&dir, &contents(&e, &catalog())).unwrap();
            let synced = crate::util::fsx::take_synced();
            let names: Vec<String> = synced
                .iter()
                .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
                .collect();
            for f in ["tensors.safetensors", "catalog.json", "manifest.json"] {
                assert!(names.iter().any(|n| n == f), "{f} not synced: {synced:?}");
            }
            assert!(
                synced.iter().any(|p| p == d.path()),
                "parent folder not synced after the rename: {synced:?}"
            );
        }
    }

    #[test]
    fn a_dotted_bundle_name_is_put_aside_under_its_whole_name() {
        let p = aside_path(Path::new("models/v1.2"));
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("v1.2.old-"), "{name}");
        assert_eq!(p.parent(), Some(Path::new("models")));
    }

    #[test]
    fn round_trip_preserves_the_engine() {
        let d = tempfile::tempdir().unwrap();
        let dir = in_run(d.path());
        let e = engine();
        write(&dir, &contents(&e, &catalog())).unwrap();
        let b = read(&dir).unwrap();
        assert_eq!(b.engine.members, e.members);
        assert_eq!(b.engine.history, e.history);
        assert_eq!(b.engine.normalization, Normalization::Rank);
        assert_eq!((b.users, b.items), (vec![5, 6], vec![10, 11, 12]));
        assert_eq!(b.catalog, catalog());
        assert_eq!(b.manifest.metrics["ndcg@10"], 0.3);
        // rewriting replaces atomically
        write(&dir, &contents(&e, &catalog())).unwrap();
        assert!(read(&dir).is_ok());
    }

    #[test]
    fn a_neighbour_index_past_its_bounds_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let dir = in_run(d.path());
        let mut e = engine();
        for m in &mut e.members {
            if let Part::UserKnn { index, .. } = &mut m.part {
                // User 0 listed as its own neighbour.
                *index = Some(crate::model::knn_index::NeighbourIndex::from_lists(
                    Csr::from_triplets(2, 2, &[(0, 0, 0.5)]),
                ));
            }
        }
        write(&dir, &contents(&e, &catalog())).unwrap();
        let err = read(&dir).unwrap_err().to_string();
        assert!(err.contains("own neighbour"), "{err}");
    }

    #[test]
    fn corruption_and_version_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let dir = in_run(d.path());
        write(&dir, &contents(&engine(), &catalog())).unwrap();
        let t = dir.join("tensors.safetensors");
        let mut bytes = std::fs::read(&t).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 0xff;
        std::fs::write(&t, &bytes).unwrap();
        let e = read(&dir).unwrap_err().to_string();
        assert!(e.contains("checksum mismatch"), "{e}");

        write(&dir, &contents(&engine(), &catalog())).unwrap();
        let m = dir.join("manifest.json");
        let text = std::fs::read_to_string(&m)
            .unwrap()
            .replace("\"format_version\": 1", "\"format_version\": 99");
        std::fs::write(&m, text).unwrap();
        let e = read(&dir).unwrap_err().to_string();
        assert!(e.contains("format version 99"), "{e}");
    }
}
