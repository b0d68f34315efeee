//! Fitting: turns a model config and a dataset into an [`Engine`].

mod content;
mod ease;
mod learned;

use super::engine::{Engine, Member};
use super::parts::Part;
use crate::config::{ModelConfig, Normalization};
use crate::data::Dataset;

/// Why fitting failed.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// A numerical failure (e.g. a singular Gram matrix).
    #[error("{model}: {msg}")]
    Numerical {
        /// Model kind.
        model: &'static str,
        /// What happened and what to try.
        msg: String,
    },
    /// A setting this build or this data cannot honour.
    #[error("{0}")]
    Unsupported(String),
}

/// Everything fitting may need besides the model section.
pub struct FitContext<'a> {
    /// The data.
    pub data: &'a Dataset,
    /// The experiment (train loop settings, seed).
    pub exp: &'a crate::config::Experiment,
    /// Per-epoch metric events: (name, value, epoch).
    pub on_metric: &'a mut dyn FnMut(&str, f64, u32),
    /// Where iterative trainers keep resumable checkpoints (None: none kept).
    pub checkpoint_dir: Option<std::path::PathBuf>,
}

/// Fits `cfg` on `ctx.data.train`.
pub fn fit(cfg: &ModelConfig, ctx: &mut FitContext) -> Result<Engine, FitError> {
    let history = ctx.data.train.clone();
    let (members, norm) = match cfg {
        ModelConfig::Hybrid {
            members,
            normalization,
        } => {
            let mut out = Vec::new();
            for m in members {
                let part = fit_part(&m.model, ctx)?;
                out.push(Member {
                    name: m.model.kind().into(),
                    weight: m.weight,
                    part,
                });
            }
            (out, *normalization)
        }
        single => (
            vec![Member {
                name: single.kind().into(),
                weight: 1.0,
                part: fit_part(single, ctx)?,
            }],
            Normalization::Minmax,
        ),
    };
    Ok(Engine::new(members, norm, history))
}

fn fit_part(cfg: &ModelConfig, ctx: &mut FitContext) -> Result<Part, FitError> {
    let ds = ctx.data;
    let t0 = std::time::Instant::now();
    let part = match cfg {
        ModelConfig::Popularity => Part::Popularity {
            scores: popularity(ds),
        },
        ModelConfig::Ease { l2, prune_top_k } => ease::fit(&ds.train, *l2, *prune_top_k)?,
        ModelConfig::Content { .. } => content::fit(ds, cfg)?,
        ModelConfig::UserKnn {
            neighbors,
            similarity,
            like_quantile,
            factors,
        } => {
            let user_vectors = if *similarity == crate::config::Similarity::Embeddings {
                // Neighbours by cosine of BPR user embeddings (mf_bpr defaults).
                let mut v = learned::bpr(ctx, *factors, 30, 0.01, 1e-5, 4096, 0.0)?.user;
                v.normalize_rows();
                Some(v)
            } else {
                None
            };
            Part::UserKnn {
                neighbors: *neighbors,
                like_quantile: *like_quantile,
                user_vectors,
            }
        }
        ModelConfig::RecommenderNet { embedding_dim } => {
            learned::recommender_net(ctx, *embedding_dim)?
        }
        ModelConfig::MfBpr {
            factors,
            epochs,
            lr,
            reg,
            batch_size,
            min_rating,
        } => {
            let m = learned::bpr(ctx, *factors, *epochs, *lr, *reg, *batch_size, *min_rating)?;
            Part::Factors {
                user: m.user,
                item: m.item,
                item_bias: Some(m.bias),
                head: None,
            }
        }
        ModelConfig::Hybrid { .. } => {
            return Err(FitError::Unsupported(
                "a hybrid cannot contain a hybrid".into(),
            ))
        }
    };
    tracing::info!(
        model = cfg.kind(),
        secs = t0.elapsed().as_secs_f64(),
        "fitted"
    );
    Ok(part)
}

/// ln(1 + train ratings per item): the popularity prior.
pub fn popularity(ds: &Dataset) -> Vec<f32> {
    ds.train
        .col_counts()
        .iter()
        .map(|&c| (1.0 + c as f32).ln())
        .collect()
}
