//! Fitting: turns a model config and a dataset into an [`Engine`].

mod hybrid;
pub(crate) mod learned;

use super::engine::{Engine, Member};
use super::parts::Part;
use super::spec::ModelSpec;
use crate::config::{HybridWeights, ModelConfig, Normalization};
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
    /// A learned model's training loop failed.
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
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

/// What a fit chose beyond its config (a `weights: auto` hybrid's weights
/// and validation figures), for the run's parameters and summary.
#[derive(Debug, Clone, Default)]
pub struct FitNotes {
    /// Dotted parameter keys and values (`model.chosen.slim.weight`).
    pub params: Vec<(String, String)>,
    /// Summary metrics (`auto/slim/val_ndcg@10`).
    pub metrics: Vec<(String, f64)>,
}

/// Fits `cfg` on `ctx.data.train`.
pub fn fit(cfg: &ModelConfig, ctx: &mut FitContext) -> Result<Engine, FitError> {
    fit_noted(cfg, ctx).map(|(engine, _)| engine)
}

/// [`fit`], with what the fit chose on its own.
pub fn fit_noted(cfg: &ModelConfig, ctx: &mut FitContext) -> Result<(Engine, FitNotes), FitError> {
    let history = ctx.data.train.clone();
    let (members, norm, notes) = match cfg {
        ModelConfig::Hybrid {
            members,
            normalization,
            weights: HybridWeights::Auto,
        } => {
            let c = hybrid::fit_auto(members, *normalization, ctx)?;
            (c.members, c.normalization, c.notes)
        }
        ModelConfig::Hybrid {
            members,
            normalization,
            weights: HybridWeights::Fixed,
        } => {
            let names = hybrid::member_names(members);
            let mut out = Vec::new();
            for (m, name) in members.iter().zip(names) {
                let part = fit_member(&*m.model, &name, ctx)?;
                out.push(Member {
                    name,
                    weight: m.weight,
                    part,
                });
            }
            (out, normalization.unwrap_or_default(), FitNotes::default())
        }
        ModelConfig::Single(spec) => (
            vec![Member {
                name: spec.kind().into(),
                weight: 1.0,
                part: fit_part(&**spec, ctx)?,
            }],
            Normalization::Minmax,
            FitNotes::default(),
        ),
    };
    Ok((Engine::new(members, norm, history), notes))
}

fn fit_part(spec: &dyn ModelSpec, ctx: &mut FitContext) -> Result<Part, FitError> {
    let t0 = std::time::Instant::now();
    let part = spec.fit(ctx)?;
    tracing::info!(
        model = spec.kind(),
        secs = t0.elapsed().as_secs_f64(),
        "fitted"
    );
    Ok(part)
}

/// Fits a hybrid member with its checkpoints in a folder of its own
/// (`checkpoints/<member name>/`): two members of one kind, or an mf_bpr
/// member beside user_knn's BPR pre-training, would otherwise read each
/// other's `<kind>.ckpt` on resume (and refuse it, or worse, continue it).
pub(super) fn fit_member(
    spec: &dyn ModelSpec,
    name: &str,
    ctx: &mut FitContext,
) -> Result<Part, FitError> {
    let mut sub = FitContext {
        data: ctx.data,
        exp: ctx.exp,
        on_metric: &mut *ctx.on_metric,
        checkpoint_dir: ctx.checkpoint_dir.as_ref().map(|d| d.join(name)),
    };
    fit_part(spec, &mut sub)
}

/// Fits an item-item model on the ratings at or above `min` only (when
/// set) and marks the part, so that scoring counts the same "liked" history
/// items the weights were fitted on. On MAL, where relevance is a rating of
/// 7 or more, such a member carries what a model of "rated at all" lacks.
pub(crate) fn liked_only(
    train: &crate::sparse::Csr,
    min: Option<f64>,
    fit: impl FnOnce(&crate::sparse::Csr) -> Result<Part, FitError>,
) -> Result<Part, FitError> {
    let Some(min) = min else {
        return fit(train);
    };
    let min = min as f32;
    let mut part = fit(&train.at_least(min))?;
    if let Part::ItemItem { min_rating, .. } = &mut part {
        *min_rating = Some(min);
    }
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparse::Csr;

    #[test]
    fn liked_only_fits_on_high_ratings_and_marks_the_part() {
        let train = Csr::from_triplets(2, 3, &[(0, 0, 9.0), (0, 1, 4.0), (1, 2, 7.0)]);
        let part = liked_only(&train, Some(7.0), |x| {
            assert_eq!(
                (x.indices.as_slice(), x.values.as_slice()),
                ([0, 2].as_slice(), [9.0, 7.0].as_slice())
            );
            Ok(Part::ItemItem {
                weights: Csr::from_triplets(3, 3, &[]),
                min_rating: None,
            })
        })
        .unwrap();
        let Part::ItemItem { min_rating, .. } = part else {
            panic!("item-item part expected")
        };
        assert_eq!(min_rating, Some(7.0));
        // unset: every rating, part unmarked
        let part = liked_only(&train, None, |x| {
            assert_eq!(x.nnz(), 3);
            Ok(Part::ItemItem {
                weights: Csr::from_triplets(3, 3, &[]),
                min_rating: None,
            })
        })
        .unwrap();
        assert!(matches!(
            part,
            Part::ItemItem {
                min_rating: None,
                ..
            }
        ));
    }
}
