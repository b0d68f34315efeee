//! Reading a bundle: the manifest (bounded), then each file against its
//! checksum, then shapes and ids, before any tensor becomes a model part.
//! [`verify`] does the first two without decoding anything, for callers
//! that copy a bundle rather than use it.

use super::check::{self, MAX_MANIFEST_BYTES};
use super::{sha256, Bundle, BundleError, CatalogEntry, Manifest, MemberMeta, FORMAT_VERSION};
use crate::model::autoencoder::{Autoencoder, Dense, MAX_LAYERS};
use crate::model::knn_index::NeighbourIndex;
use crate::model::parts::{Mat, Part, RatingHead};
use crate::model::{Engine, Member};
use crate::sparse::Csr;
use safetensors::{Dtype, SafeTensors};
use std::path::Path;

/// The data files a manifest names by checksum.
const DATA_FILES: [&str; 2] = ["tensors.safetensors", "catalog.json"];

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn invalid(dir: &Path) -> impl Fn(String) -> BundleError + '_ {
    move |msg| BundleError::Invalid {
        path: dir.to_path_buf(),
        msg,
    }
}

/// The manifest of the bundle in `dir`, size-bounded and version-checked.
fn manifest(dir: &Path) -> Result<Manifest, BundleError> {
    let bad = invalid(dir);
    let mp = dir.join("manifest.json");
    let mlen = std::fs::metadata(&mp).map_err(io_err(&mp))?.len();
    if mlen > MAX_MANIFEST_BYTES {
        return Err(bad(format!(
            "manifest.json is {mlen} bytes; a manifest is at most {MAX_MANIFEST_BYTES}"
        )));
    }
    let mbytes = std::fs::read(&mp).map_err(io_err(&mp))?;
    let manifest: Manifest =
        serde_json::from_slice(&mbytes).map_err(|e| bad(format!("manifest.json: {e}")))?;
    if manifest.format_version != FORMAT_VERSION {
        return Err(bad(format!(
            "format version {} but this anirec reads version {FORMAT_VERSION}; re-export the bundle with a matching anirec",
            manifest.format_version
        )));
    }
    Ok(manifest)
}

/// Reads one data file and checks it against the manifest's checksum.
fn checked_file(dir: &Path, manifest: &Manifest, name: &str) -> Result<Vec<u8>, BundleError> {
    let p = dir.join(name);
    let b = std::fs::read(&p).map_err(io_err(&p))?;
    let want = manifest.files.get(name).cloned().unwrap_or_default();
    let got = sha256(&b);
    if want != got {
        return Err(BundleError::Checksum { path: p, want, got });
    }
    Ok(b)
}

/// Checks the manifest and every file's checksum without decoding a tensor:
/// proof that the files are the ones the run wrote, at the cost of hashing.
pub fn verify(dir: &Path) -> Result<Manifest, BundleError> {
    let manifest = manifest(dir)?;
    for name in DATA_FILES {
        checked_file(dir, &manifest, name)?;
    }
    Ok(manifest)
}

/// Reads and verifies a bundle: checksums, format version, shapes, ids and
/// every member's sanity bounds, before anything is used.
pub fn read(dir: &Path) -> Result<Bundle, BundleError> {
    let bad = invalid(dir);
    let manifest = manifest(dir)?;
    let tensors = checked_file(dir, &manifest, "tensors.safetensors")?;
    let catalog = checked_file(dir, &manifest, "catalog.json")?;
    let catalog: Vec<CatalogEntry> =
        serde_json::from_slice(&catalog).map_err(|e| bad(format!("catalog.json: {e}")))?;
    let st =
        SafeTensors::deserialize(&tensors).map_err(|e| bad(format!("tensors.safetensors: {e}")))?;
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
        let part = member_part(&r, k, mm, users.len(), items.len())?;
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

/// Member `k`'s part from its tensors `m<k>.*`, shapes checked against the
/// bundle's `n_users` × `n_items`.
fn member_part(
    r: &Reader,
    k: usize,
    mm: &MemberMeta,
    n_users: usize,
    n_items: usize,
) -> Result<Part, BundleError> {
    let bad = invalid(r.dir);
    let p = format!("m{k}");
    let param = |name: &str| {
        mm.params
            .get(name)
            .copied()
            .ok_or_else(|| bad(format!("member {k} ({}) lacks parameter {name}", mm.name)))
    };
    Ok(match mm.part.as_str() {
        "factors" => {
            let user = r.mat(&format!("{p}.user"))?;
            let item = r.mat(&format!("{p}.item"))?;
            if item.rows != n_items || user.rows != n_users || user.cols != item.cols {
                return Err(bad(format!(
                    "member {k}: factor shapes {}×{} / {}×{} do not fit {} users × {} items",
                    user.rows, user.cols, item.rows, item.cols, n_users, n_items
                )));
            }
            let item_bias = if r.st.names().contains(&format!("{p}.item_bias").as_str()) {
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
            if weights.n_rows != n_items || weights.n_cols != n_items {
                return Err(bad(format!(
                    "member {k}: item-item weights are {}×{}, expected {n}×{n}",
                    weights.n_rows,
                    weights.n_cols,
                    n = n_items
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
            if vectors.n_rows != n_items {
                return Err(bad(format!(
                    "member {k}: {} content vectors for {} items",
                    vectors.n_rows, n_items
                )));
            }
            Part::Content {
                vectors,
                like_quantile: param("like_quantile")? as f32,
            }
        }
        "user_knn" => {
            let name = format!("{p}.user_vectors");
            let user_vectors = if r.st.names().contains(&name.as_str()) {
                Some(r.mat(&name)?)
            } else {
                None
            };
            // Absent in bundles from before the fit-time index (and for
            // embedding similarity): neighbours are then searched per request.
            let name = format!("{p}.neighbours.indptr");
            let index = if r.st.names().contains(&name.as_str()) {
                Some(NeighbourIndex::from_lists(
                    r.csr(&format!("{p}.neighbours"))?,
                ))
            } else {
                None
            };
            Part::UserKnn {
                neighbors: param("neighbors")? as usize,
                like_quantile: param("like_quantile")? as f32,
                user_vectors,
                index,
            }
        }
        "popularity" => {
            let scores = r.f32(&format!("{p}.scores"))?;
            if scores.len() != n_items {
                return Err(bad(format!(
                    "member {k}: {} popularity scores for {} items",
                    scores.len(),
                    n_items
                )));
            }
            Part::Popularity { scores }
        }
        "autoencoder" => {
            let n = param("layers")?;
            if !(1.0..=MAX_LAYERS as f64).contains(&n) || n.fract() != 0.0 {
                return Err(bad(format!(
                    "member {k}: {n} encoder layers, expected a whole number from 1 to {MAX_LAYERS}"
                )));
            }
            let layers = (0..n as usize)
                .map(|l| {
                    Ok(Dense {
                        w: r.mat(&format!("{p}.layer{l}.w"))?,
                        b: r.f32(&format!("{p}.layer{l}.b"))?,
                        tanh: param(&format!("layer{l}.tanh"))? != 0.0,
                    })
                })
                .collect::<Result<Vec<_>, BundleError>>()?;
            Part::Autoencoder(Autoencoder {
                layers,
                item: r.mat(&format!("{p}.item"))?,
                item_bias: r.f32(&format!("{p}.item_bias"))?,
                min_rating: param("min_rating")? as f32,
            })
        }
        other => return Err(bad(format!("member {k}: unknown part type {other:?}"))),
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
