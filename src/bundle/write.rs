//! Writing a bundle: every tensor into one safetensors file, the catalogue
//! as JSON, and a manifest that names both by checksum, staged in a sibling
//! temporary folder and renamed into place.

use super::{replace_dir, sha256, CatalogEntry, Manifest, MemberMeta, FORMAT_VERSION};
use crate::model::parts::{Mat, Part, RatingHead};
use crate::model::Engine;
use crate::sparse::Csr;
use crate::util::{fsx, time};
use safetensors::Dtype;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// Lineage fields the manifest records besides the engine.
pub struct Lineage<'a> {
    /// `model.kind` of the experiment (`hybrid` for a blend).
    pub model_kind: &'a str,
    /// Run id in the run store.
    pub run_id: &'a str,
    /// Experiment name.
    pub experiment: &'a str,
    /// Commit of the code that trained it, when built from a git checkout.
    pub git_commit: Option<String>,
    /// Fingerprint of the processed data the model saw.
    pub data_fingerprint: &'a str,
    /// The run's evaluation metrics (summary.json).
    pub metrics: BTreeMap<String, f64>,
}

/// Everything a bundle holds, borrowed from the run that produced it: the
/// writing side of [`super::Bundle`].
pub struct Contents<'a> {
    /// The engine (members, normalisation, histories).
    pub engine: &'a Engine,
    /// Dense user → raw user id.
    pub users: &'a [u32],
    /// Dense item → raw anime id.
    pub items: &'a [u32],
    /// Dense item → metadata, one entry per item.
    pub catalog: &'a [CatalogEntry],
    /// Where it came from.
    pub lineage: Lineage<'a>,
}

/// Writes `c` into `dir` atomically: each file is fsynced, then the staging
/// folder, then the rename, so a power loss leaves either the old bundle or
/// a complete new one, never empty files under the final name.
pub fn write(dir: &Path, c: &Contents) -> io::Result<()> {
    let (tensors, members) = tensors(c)?;
    let catalog_json = serde_json::to_vec(c.catalog).map_err(io::Error::other)?;
    let mut files = BTreeMap::new();
    files.insert("tensors.safetensors".to_string(), sha256(&tensors));
    files.insert("catalog.json".to_string(), sha256(&catalog_json));
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        model_kind: c.lineage.model_kind.into(),
        run_id: c.lineage.run_id.into(),
        experiment: c.lineage.experiment.into(),
        created: time::rfc3339(time::unix_now() as u64),
        git_commit: c.lineage.git_commit.clone(),
        data_fingerprint: c.lineage.data_fingerprint.into(),
        metrics: c.lineage.metrics.clone(),
        normalization: c.engine.normalization,
        n_users: c.users.len(),
        n_items: c.items.len(),
        members,
        files,
    };
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fsx::create_dir_all(parent)?;
    let stage = tempfile::Builder::new()
        .prefix(".bundle-tmp-")
        .tempdir_in(parent)?;
    fsx::write_synced(&stage.path().join("tensors.safetensors"), &tensors)?;
    fsx::write_synced(&stage.path().join("catalog.json"), &catalog_json)?;
    fsx::write_synced(
        &stage.path().join("manifest.json"),
        &serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?,
    )?;
    fsx::sync_dir(stage.path())?;
    let staged = stage.keep();
    replace_dir(&staged, dir).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&staged);
    })
}

/// The serialised safetensors file and each member's manifest entry.
fn tensors(c: &Contents) -> io::Result<(Vec<u8>, Vec<MemberMeta>)> {
    let mut t = Tensors { bufs: Vec::new() };
    t.u32("users", c.users);
    t.u32("items", c.items);
    t.csr("history", &c.engine.history);
    let members = c
        .engine
        .members
        .iter()
        .enumerate()
        .map(|(k, m)| MemberMeta {
            name: m.name.clone(),
            weight: m.weight,
            part: m.part.name().into(),
            params: t.part(&format!("m{k}"), &m.part),
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = t
        .bufs
        .iter()
        .map(|(n, d, s, b)| {
            safetensors::tensor::TensorView::new(*d, s.clone(), b).map(|v| (n.clone(), v))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| io::Error::other(format!("safetensors: {e}")))?;
    let bytes = safetensors::serialize(views, None)
        .map_err(|e| io::Error::other(format!("safetensors: {e}")))?;
    Ok((bytes, members))
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

    /// Adds one member's tensors under the prefix `p`; returns its scalar
    /// settings for the manifest.
    fn part(&mut self, p: &str, part: &Part) -> BTreeMap<String, f64> {
        let mut params = BTreeMap::new();
        match part {
            Part::Factors {
                user,
                item,
                item_bias,
                head,
            } => {
                self.mat(&format!("{p}.user"), user);
                self.mat(&format!("{p}.item"), item);
                if let Some(b) = item_bias {
                    self.f32(&format!("{p}.item_bias"), vec![b.len()], b);
                }
                if let Some(h) = head {
                    head_params(h, &mut params);
                }
            }
            Part::ItemItem {
                weights,
                min_rating,
            } => {
                self.csr(&format!("{p}.weights"), weights);
                if let Some(m) = min_rating {
                    params.insert("min_rating".into(), f64::from(*m));
                }
            }
            Part::Content {
                vectors,
                like_quantile,
            } => {
                self.csr(&format!("{p}.vectors"), vectors);
                params.insert("like_quantile".into(), f64::from(*like_quantile));
            }
            Part::UserKnn {
                neighbors,
                like_quantile,
                user_vectors,
                index,
            } => {
                params.insert("neighbors".into(), *neighbors as f64);
                params.insert("like_quantile".into(), f64::from(*like_quantile));
                if let Some(v) = user_vectors {
                    self.mat(&format!("{p}.user_vectors"), v);
                }
                if let Some(x) = index {
                    self.csr(&format!("{p}.neighbours"), x.lists());
                }
            }
            Part::Popularity { scores } => {
                self.f32(&format!("{p}.scores"), vec![scores.len()], scores)
            }
            Part::Autoencoder(a) => {
                params.insert("layers".into(), a.layers.len() as f64);
                params.insert("min_rating".into(), f64::from(a.min_rating));
                for (k, l) in a.layers.iter().enumerate() {
                    self.mat(&format!("{p}.layer{k}.w"), &l.w);
                    self.f32(&format!("{p}.layer{k}.b"), vec![l.b.len()], &l.b);
                    params.insert(format!("layer{k}.tanh"), f64::from(u8::from(l.tanh)));
                }
                self.mat(&format!("{p}.item"), &a.item);
                let n = a.item_bias.len();
                self.f32(&format!("{p}.item_bias"), vec![n], &a.item_bias);
            }
        }
        params
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
