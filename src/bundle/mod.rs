//! The model bundle: what training hands to serving. A directory with
//! `manifest.json` (format version, kind, lineage, metrics, member layout,
//! file checksums), `tensors.safetensors` (all vectors and sparse matrices)
//! and `catalog.json` (the servable items with their metadata). Reading
//! verifies checksums, format version and shapes before anything is used.

mod check;

pub use check::{MAX_DIMS, MAX_FEATURES, MAX_MANIFEST_BYTES};

use crate::config::Normalization;
use crate::model::parts::{Mat, Part, RatingHead};
use crate::model::{Engine, Member};
use crate::sparse::Csr;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Bumped on any incompatible change; readers refuse other versions.
pub const FORMAT_VERSION: u32 = 1;

/// Why a bundle cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// File missing or unreadable.
    #[error("{}: {source}", path.display())]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Checksum mismatch: the bundle was modified or truncated.
    #[error("{}: checksum mismatch (manifest says {want}, file hashes to {got}); the bundle is corrupted, promote or copy it again", path.display())]
    Checksum {
        /// File.
        path: PathBuf,
        /// Expected.
        want: String,
        /// Actual.
        got: String,
    },
    /// Anything structurally wrong.
    #[error("{}: {msg}", path.display())]
    Invalid {
        /// Bundle dir.
        path: PathBuf,
        /// What.
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
    /// Format version.
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
    /// Data fingerprint.
    pub data_fingerprint: String,
    /// Evaluation metrics of the run.
    pub metrics: BTreeMap<String, f64>,
    /// Score normalisation.
    pub normalization: Normalization,
    /// Known users.
    pub n_users: usize,
    /// Servable items.
    pub n_items: usize,
    /// Members.
    pub members: Vec<MemberMeta>,
    /// sha256 of each data file.
    pub files: BTreeMap<String, String>,
}

/// A servable item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogEntry {
    /// Raw id (MAL_ID).
    pub id: u32,
    /// Name.
    pub name: String,
    /// English name.
    pub english_name: Option<String>,
    /// Genres.
    pub genres: Vec<String>,
    /// Type.
    pub kind: Option<String>,
    /// Episodes.
    pub episodes: Option<u32>,
    /// MAL score.
    pub score: Option<f32>,
    /// Synopsis.
    pub synopsis: Option<String>,
}

/// A loaded bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Manifest.
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

struct Tensors {
    bufs: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
}

impl Tensors {
    fn f32(&mut self, name: &str, shape: Vec<usize>, v: &[f32]) {
        self.bufs.push((
            name.into(),
            Dtype::F32,
            shape,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ));
    }
    fn u32(&mut self, name: &str, v: &[u32]) {
        self.bufs.push((
            name.into(),
            Dtype::U32,
            vec![v.len()],
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ));
    }
    fn u64(&mut self, name: &str, v: &[usize]) {
        self.bufs.push((
            name.into(),
            Dtype::U64,
            vec![v.len()],
            v.iter().flat_map(|&x| (x as u64).to_le_bytes()).collect(),
        ));
    }
    fn mat(&mut self, name: &str, m: &Mat) {
        self.f32(name, vec![m.rows, m.cols], &m.data);
    }
    fn csr(&mut self, name: &str, m: &Csr) {
        self.u64(&format!("{name}.indptr"), &m.indptr);
        self.u32(&format!("{name}.indices"), &m.indices);
        self.f32(&format!("{name}.values"), vec![m.values.len()], &m.values);
        self.u64(&format!("{name}.shape"), &[m.n_rows, m.n_cols]);
    }
}

fn head_params(h: &RatingHead, p: &mut BTreeMap<String, f64>) {
    for (k, v) in [
        ("head.w", h.w),
        ("head.b", h.b),
        ("head.bn_mean", h.bn_mean),
        ("head.bn_var", h.bn_var),
        ("head.bn_gamma", h.bn_gamma),
        ("head.bn_beta", h.bn_beta),
        ("head.bn_eps", h.bn_eps),
        ("head.rating_min", h.rating_min),
        ("head.rating_max", h.rating_max),
    ] {
        p.insert(k.into(), f64::from(v));
    }
}

/// Lineage fields the writer needs besides the engine.
pub struct Lineage<'a> {
    /// Model kind.
    pub model_kind: &'a str,
    /// Run id.
    pub run_id: &'a str,
    /// Experiment.
    pub experiment: &'a str,
    /// Git commit.
    pub git_commit: Option<String>,
    /// Data fingerprint.
    pub data_fingerprint: &'a str,
    /// Metrics.
    pub metrics: BTreeMap<String, f64>,
}

/// Writes a bundle into `dir` atomically (staged in a sibling temp dir, then renamed).
pub fn write(
    dir: &Path,
    engine: &Engine,
    users: &[u32],
    items: &[u32],
    catalog: &[CatalogEntry],
    lineage: &Lineage,
) -> std::io::Result<()> {
    let mut t = Tensors { bufs: Vec::new() };
    t.u32("users", users);
    t.u32("items", items);
    t.csr("history", &engine.history);
    let mut members = Vec::new();
    for (k, m) in engine.members.iter().enumerate() {
        let p = format!("m{k}");
        let mut params = BTreeMap::new();
        match &m.part {
            Part::Factors {
                user,
                item,
                item_bias,
                head,
            } => {
                t.mat(&format!("{p}.user"), user);
                t.mat(&format!("{p}.item"), item);
                if let Some(b) = item_bias {
                    t.f32(&format!("{p}.item_bias"), vec![b.len()], b);
                }
                if let Some(h) = head {
                    head_params(h, &mut params);
                }
            }
            Part::ItemItem {
                weights,
                min_rating,
            } => {
                t.csr(&format!("{p}.weights"), weights);
                if let Some(m) = min_rating {
                    params.insert("min_rating".into(), f64::from(*m));
                }
            }
            Part::Content {
                vectors,
                like_quantile,
            } => {
                t.csr(&format!("{p}.vectors"), vectors);
                params.insert("like_quantile".into(), f64::from(*like_quantile));
            }
            Part::UserKnn {
                neighbors,
                like_quantile,
                user_vectors,
            } => {
                params.insert("neighbors".into(), *neighbors as f64);
                params.insert("like_quantile".into(), f64::from(*like_quantile));
                if let Some(v) = user_vectors {
                    t.mat(&format!("{p}.user_vectors"), v);
                }
            }
            Part::Popularity { scores } => {
                t.f32(&format!("{p}.scores"), vec![scores.len()], scores)
            }
        }
        members.push(MemberMeta {
            name: m.name.clone(),
            weight: m.weight,
            part: m.part.name().into(),
            params,
        });
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = t
        .bufs
        .iter()
        .map(|(n, d, s, b)| {
            safetensors::tensor::TensorView::new(*d, s.clone(), b).map(|v| (n.clone(), v))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| std::io::Error::other(format!("safetensors: {e}")))?;
    let tensors = safetensors::serialize(views, None)
        .map_err(|e| std::io::Error::other(format!("safetensors: {e}")))?;
    let catalog_json = serde_json::to_vec(catalog).map_err(std::io::Error::other)?;
    let mut files = BTreeMap::new();
    files.insert("tensors.safetensors".to_string(), sha256(&tensors));
    files.insert("catalog.json".to_string(), sha256(&catalog_json));
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        model_kind: lineage.model_kind.into(),
        run_id: lineage.run_id.into(),
        experiment: lineage.experiment.into(),
        created: crate::util::time::rfc3339(crate::util::time::unix_now() as u64),
        git_commit: lineage.git_commit.clone(),
        data_fingerprint: lineage.data_fingerprint.into(),
        metrics: lineage.metrics.clone(),
        normalization: engine.normalization,
        n_users: users.len(),
        n_items: items.len(),
        members,
        files,
    };
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    crate::util::fsx::create_dir_all(parent)?;
    let stage = tempfile::Builder::new()
        .prefix(".bundle-tmp-")
        .tempdir_in(parent)?;
    // Each file is fsynced, then the folder, then the rename: a power loss
    // leaves either the old bundle or a complete new one, never empty files
    // under the final name.
    let fsx_write = crate::util::fsx::write_synced;
    fsx_write(&stage.path().join("tensors.safetensors"), &tensors)?;
    fsx_write(&stage.path().join("catalog.json"), &catalog_json)?;
    fsx_write(
        &stage.path().join("manifest.json"),
        &serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?,
    )?;
    crate::util::fsx::sync_dir(stage.path())?;
    let staged = stage.keep();
    replace_dir(&staged, dir).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&staged);
    })
}

/// Where `dir` is put aside while its replacement is renamed in:
/// `<name>.old-<pid>` next to it. The whole name is kept (`v1.2` →
/// `v1.2.old-7`, not `v1.old-7`) so the promote recovery, which looks for
/// `<name>.old-*`, finds it after a crash between the two renames.
pub(crate) fn aside_path(dir: &Path) -> PathBuf {
    let mut name = dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "bundle".into());
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

/// Reads and verifies a bundle.
pub fn read(dir: &Path) -> Result<Bundle, BundleError> {
    let io = |p: PathBuf| move |source| BundleError::Io { path: p, source };
    let bad = |msg: String| BundleError::Invalid {
        path: dir.to_path_buf(),
        msg,
    };
    let mp = dir.join("manifest.json");
    let mlen = std::fs::metadata(&mp).map_err(io(mp.clone()))?.len();
    if mlen > MAX_MANIFEST_BYTES {
        return Err(bad(format!(
            "manifest.json is {mlen} bytes; a manifest is at most {MAX_MANIFEST_BYTES}"
        )));
    }
    let mbytes = std::fs::read(&mp).map_err(io(mp.clone()))?;
    let manifest: Manifest =
        serde_json::from_slice(&mbytes).map_err(|e| bad(format!("manifest.json: {e}")))?;
    if manifest.format_version != FORMAT_VERSION {
        return Err(bad(format!(
            "format version {} but this anirec reads version {FORMAT_VERSION}; re-export the bundle with a matching anirec",
            manifest.format_version
        )));
    }
    let mut data: HashMap<String, Vec<u8>> = HashMap::new();
    for name in ["tensors.safetensors", "catalog.json"] {
        let p = dir.join(name);
        let b = std::fs::read(&p).map_err(io(p.clone()))?;
        let want = manifest.files.get(name).cloned().unwrap_or_default();
        let got = sha256(&b);
        if want != got {
            return Err(BundleError::Checksum { path: p, want, got });
        }
        data.insert(name.into(), b);
    }
    let catalog: Vec<CatalogEntry> = serde_json::from_slice(&data["catalog.json"])
        .map_err(|e| bad(format!("catalog.json: {e}")))?;
    let st = SafeTensors::deserialize(&data["tensors.safetensors"])
        .map_err(|e| bad(format!("tensors.safetensors: {e}")))?;
    let r = Reader { st: &st, dir };
    let users = r.u32("users")?;
    let items = r.u32("items")?;
    let history = r.csr("history")?;
    if history.n_rows != users.len()
        || history.n_cols != items.len()
        || catalog.len() != items.len()
        || manifest.n_items != items.len()
        || manifest.n_users != users.len()
    {
        return Err(bad(format!(
            "shapes disagree: {} users / {} items in the tensors, history {}×{}, {} catalogue entries, manifest {}×{}",
            users.len(),
            items.len(),
            history.n_rows,
            history.n_cols,
            catalog.len(),
            manifest.n_users,
            manifest.n_items
        )));
    }
    check::ids(&users, &items, &catalog).map_err(&bad)?;
    let mut members = Vec::new();
    for (k, mm) in manifest.members.iter().enumerate() {
        let p = format!("m{k}");
        let param = |name: &str| {
            mm.params
                .get(name)
                .copied()
                .ok_or_else(|| bad(format!("member {k} ({}) lacks parameter {name}", mm.name)))
        };
        let part = match mm.part.as_str() {
            "factors" => {
                let user = r.mat(&format!("{p}.user"))?;
                let item = r.mat(&format!("{p}.item"))?;
                if item.rows != items.len() || user.rows != users.len() || user.cols != item.cols {
                    return Err(bad(format!(
                        "member {k}: factor shapes {}×{} / {}×{} do not fit {} users × {} items",
                        user.rows,
                        user.cols,
                        item.rows,
                        item.cols,
                        users.len(),
                        items.len()
                    )));
                }
                let item_bias = if st.names().contains(&format!("{p}.item_bias").as_str()) {
                    Some(r.f32(&format!("{p}.item_bias"))?)
                } else {
                    None
                };
                let head = if mm.params.contains_key("head.w") {
                    let h = |n: &str| param(&format!("head.{n}")).map(|v| v as f32);
                    Some(RatingHead {
                        w: h("w")?,
                        b: h("b")?,
                        bn_mean: h("bn_mean")?,
                        bn_var: h("bn_var")?,
                        bn_gamma: h("bn_gamma")?,
                        bn_beta: h("bn_beta")?,
                        bn_eps: h("bn_eps")?,
                        rating_min: h("rating_min")?,
                        rating_max: h("rating_max")?,
                    })
                } else {
                    None
                };
                Part::Factors {
                    user,
                    item,
                    item_bias,
                    head,
                }
            }
            "item_item" => {
                let weights = r.csr(&format!("{p}.weights"))?;
                if weights.n_rows != items.len() || weights.n_cols != items.len() {
                    return Err(bad(format!(
                        "member {k}: item-item weights are {}×{}, expected {n}×{n}",
                        weights.n_rows,
                        weights.n_cols,
                        n = items.len()
                    )));
                }
                // Absent in bundles from before liked-only models: all history counts.
                let min_rating = mm.params.get("min_rating").map(|&m| m as f32);
                Part::ItemItem {
                    weights,
                    min_rating,
                }
            }
            "content" => {
                let vectors = r.csr(&format!("{p}.vectors"))?;
                if vectors.n_rows != items.len() {
                    return Err(bad(format!(
                        "member {k}: {} content vectors for {} items",
                        vectors.n_rows,
                        items.len()
                    )));
                }
                Part::Content {
                    vectors,
                    like_quantile: param("like_quantile")? as f32,
                }
            }
            "user_knn" => {
                let name = format!("{p}.user_vectors");
                let user_vectors = if st.names().contains(&name.as_str()) {
                    Some(r.mat(&name)?)
                } else {
                    None
                };
                Part::UserKnn {
                    neighbors: param("neighbors")? as usize,
                    like_quantile: param("like_quantile")? as f32,
                    user_vectors,
                }
            }
            "popularity" => {
                let scores = r.f32(&format!("{p}.scores"))?;
                if scores.len() != items.len() {
                    return Err(bad(format!(
                        "member {k}: {} popularity scores for {} items",
                        scores.len(),
                        items.len()
                    )));
                }
                Part::Popularity { scores }
            }
            other => return Err(bad(format!("member {k}: unknown part type {other:?}"))),
        };
        check::member(k, mm, &part, users.len(), items.len()).map_err(&bad)?;
        members.push(Member {
            name: mm.name.clone(),
            weight: mm.weight,
            part,
        });
    }
    if members.is_empty() {
        return Err(bad("no members".into()));
    }
    let engine = Engine::new(members, manifest.normalization, history);
    Ok(Bundle {
        manifest,
        engine,
        users,
        items,
        catalog,
    })
}

struct Reader<'a> {
    st: &'a SafeTensors<'a>,
    dir: &'a Path,
}

impl Reader<'_> {
    fn get(&self, name: &str, dtype: Dtype) -> Result<(Vec<usize>, &[u8]), BundleError> {
        let t = self.st.tensor(name).map_err(|e| BundleError::Invalid {
            path: self.dir.into(),
            msg: format!("tensor {name}: {e}"),
        })?;
        if t.dtype() != dtype {
            return Err(BundleError::Invalid {
                path: self.dir.into(),
                msg: format!("tensor {name} is {:?}, expected {dtype:?}", t.dtype()),
            });
        }
        Ok((t.shape().to_vec(), t.data()))
    }
    fn f32(&self, name: &str) -> Result<Vec<f32>, BundleError> {
        let (_, b) = self.get(name, Dtype::F32)?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
    fn u32(&self, name: &str) -> Result<Vec<u32>, BundleError> {
        let (_, b) = self.get(name, Dtype::U32)?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
    fn u64(&self, name: &str) -> Result<Vec<usize>, BundleError> {
        let (_, b) = self.get(name, Dtype::U64)?;
        Ok(b.chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as usize)
            .collect())
    }
    fn mat(&self, name: &str) -> Result<Mat, BundleError> {
        let (shape, _) = self.get(name, Dtype::F32)?;
        let [rows, cols] = shape[..] else {
            return Err(BundleError::Invalid {
                path: self.dir.into(),
                msg: format!("tensor {name}: expected 2 dimensions, got {shape:?}"),
            });
        };
        Ok(Mat {
            rows,
            cols,
            data: self.f32(name)?,
        })
    }
    fn csr(&self, name: &str) -> Result<Csr, BundleError> {
        let shape = self.u64(&format!("{name}.shape"))?;
        let indptr = self.u64(&format!("{name}.indptr"))?;
        let indices = self.u32(&format!("{name}.indices"))?;
        let values = self.f32(&format!("{name}.values"))?;
        let [n_rows, n_cols] = shape[..] else {
            return Err(BundleError::Invalid {
                path: self.dir.into(),
                msg: format!("{name}.shape must have 2 entries"),
            });
        };
        let ok = n_rows.checked_add(1) == Some(indptr.len())
            && indptr.first() == Some(&0)
            && indptr.windows(2).all(|w| w[0] <= w[1])
            && indptr.last() == Some(&indices.len())
            && indices.len() == values.len()
            && indices.iter().all(|&c| (c as usize) < n_cols);
        if !ok {
            return Err(BundleError::Invalid {
                path: self.dir.into(),
                msg: format!("sparse matrix {name} is inconsistent (indptr/indices/shape)"),
            });
        }
        Ok(Csr {
            n_rows,
            n_cols,
            indptr,
            indices,
            values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let dir = d.path().join("bundle");
        let e = engine();
        for _ in 0..2 {
            crate::util::fsx::take_synced();
            write(&dir, &e, &[5, 6], &[10, 11, 12], &catalog(), &lineage()).unwrap();
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
        let dir = d.path().join("bundle");
        let e = engine();
        write(&dir, &e, &[5, 6], &[10, 11, 12], &catalog(), &lineage()).unwrap();
        let b = read(&dir).unwrap();
        assert_eq!(b.engine.members, e.members);
        assert_eq!(b.engine.history, e.history);
        assert_eq!(b.engine.normalization, Normalization::Rank);
        assert_eq!((b.users, b.items), (vec![5, 6], vec![10, 11, 12]));
        assert_eq!(b.catalog, catalog());
        assert_eq!(b.manifest.metrics["ndcg@10"], 0.3);
        // rewriting replaces atomically
        write(&dir, &e, &[5, 6], &[10, 11, 12], &catalog(), &lineage()).unwrap();
        assert!(read(&dir).is_ok());
    }

    #[test]
    fn corruption_and_version_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("bundle");
        write(
            &dir,
            &engine(),
            &[5, 6],
            &[10, 11, 12],
            &catalog(),
            &lineage(),
        )
        .unwrap();
        let t = dir.join("tensors.safetensors");
        let mut bytes = std::fs::read(&t).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 0xff;
        std::fs::write(&t, &bytes).unwrap();
        let e = read(&dir).unwrap_err().to_string();
        assert!(e.contains("checksum mismatch"), "{e}");

        write(
            &dir,
            &engine(),
            &[5, 6],
            &[10, 11, 12],
            &catalog(),
            &lineage(),
        )
        .unwrap();
        let m = dir.join("manifest.json");
        let text = std::fs::read_to_string(&m)
            .unwrap()
            .replace("\"format_version\": 1", "\"format_version\": 99");
        std::fs::write(&m, text).unwrap();
        let e = read(&dir).unwrap_err().to_string();
        assert!(e.contains("format version 99"), "{e}");
    }
}
