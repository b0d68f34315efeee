//! The burn-trained models: recommender_net (the original project's model)
//! and BPR matrix factorisation, turned into factor parts.

use super::{FitContext, FitError};
use crate::config::Experiment;
use crate::data::{process, Csr, Dataset, Ratings, VALIDATION_SEED};
use crate::model::parts::{Mat, Part, RatingHead};
use crate::train::{self, BprParams, EpochMetrics, RecNetParams, TrainInput, Triplets};

/// Dense-index triplets of a CSR.
fn triplets(m: &Csr) -> Ratings {
    let mut r = Ratings::with_capacity(m.nnz());
    for u in 0..m.n_rows {
        let (items, vals) = m.row(u);
        for (&i, &v) in items.iter().zip(vals) {
            r.push(u as u32, i, v);
        }
    }
    r
}

/// Train rows split per user (seed 43, `train.val_ratio`) into fit and
/// validation rows, so early stopping never looks at the test set.
struct Rows {
    fit: Ratings,
    val: Ratings,
    n_users: usize,
    n_items: usize,
    range: (f32, f32),
}

impl Rows {
    fn carve(ds: &Dataset, exp: &Experiment) -> Self {
        let (fit, val) =
            process::split_per_user(&triplets(&ds.train), exp.train.val_ratio, VALIDATION_SEED);
        Self {
            fit,
            val,
            n_users: ds.train.n_rows,
            n_items: ds.train.n_cols,
            range: ds.rating_range(),
        }
    }

    fn input(&self) -> TrainInput<'_> {
        fn t(r: &Ratings) -> Triplets<'_> {
            Triplets {
                users: &r.user,
                items: &r.item,
                ratings: &r.rating,
            }
        }
        TrainInput {
            n_users: self.n_users,
            n_items: self.n_items,
            train: t(&self.fit),
            val: t(&self.val),
            rating_min: self.range.0,
            rating_max: self.range.1,
        }
    }
}

fn emit(ctx: &mut FitContext, m: &EpochMetrics, with_rating_errors: bool) {
    let e = m.epoch + 1;
    (ctx.on_metric)("lr", m.lr, e);
    (ctx.on_metric)("train_loss", m.train_loss, e);
    (ctx.on_metric)("val_loss", m.val_loss, e);
    if with_rating_errors {
        (ctx.on_metric)("val_mae", m.val_mae, e);
        (ctx.on_metric)("val_mse", m.val_mse, e);
    }
    (ctx.on_metric)("epoch_seconds", m.secs, e);
    tracing::info!(
        epoch = e,
        lr = m.lr,
        train_loss = m.train_loss,
        val_loss = m.val_loss,
        secs = m.secs,
        "epoch"
    );
}

fn train_err(e: train::TrainError) -> FitError {
    FitError::Unsupported(e.to_string())
}

pub(super) fn recommender_net(ctx: &mut FitContext, dim: usize) -> Result<Part, FitError> {
    let (ds, exp) = (ctx.data, ctx.exp);
    let rows = Rows::carve(ds, exp);
    let input = rows.input();
    let (lo, hi) = (input.rating_min, input.rating_max);
    let es = &exp.train.early_stopping;
    let params = RecNetParams {
        dim,
        epochs: exp.train.epochs,
        batch_size: exp.train.batch_size,
        patience: es.enabled.then_some(es.patience),
        seed: exp.seed,
        checkpoint_dir: ctx.checkpoint_dir.clone(),
    };
    let schedule = exp.train.lr_schedule.clone();
    let lr_at = move |e: u32| schedule.at(e);
    let m = train::train_recommender_net(&input, &params, &lr_at, &mut |e| emit(ctx, e, true))
        .map_err(train_err)?;
    (ctx.on_metric)("best_epoch", f64::from(m.best_epoch + 1), m.best_epoch + 1);
    let mut user = Mat {
        rows: input.n_users,
        cols: dim,
        data: m.user_emb.clone(),
    };
    let item = Mat {
        rows: input.n_items,
        cols: dim,
        data: m.item_emb.clone(),
    };
    let mut head = RatingHead {
        w: m.dense_w,
        b: m.dense_b,
        bn_mean: m.bn_mean,
        bn_var: m.bn_var,
        bn_gamma: m.bn_gamma,
        bn_beta: m.bn_beta,
        bn_eps: m.bn_eps,
        rating_min: lo,
        rating_max: hi,
    };
    // Rank by predicted rating: when the head decreases with the cosine,
    // flip the user vectors (and the head's weight) so a higher dot product
    // still means a higher predicted rating.
    if !m.head_increasing() {
        user.data.iter_mut().for_each(|x| *x = -*x);
        head.w = -head.w;
    }
    Ok(Part::Factors {
        user,
        item,
        item_bias: None,
        head: Some(head),
    })
}

pub(super) struct Bpr {
    pub user: Mat,
    pub item: Mat,
    pub bias: Vec<f32>,
}

pub(super) fn bpr(
    ctx: &mut FitContext,
    factors: usize,
    epochs: u32,
    lr: f64,
    reg: f64,
    batch_size: usize,
    min_rating: f32,
) -> Result<Bpr, FitError> {
    let (ds, exp) = (ctx.data, ctx.exp);
    let rows = Rows::carve(ds, exp);
    let input = rows.input();
    let p = BprParams {
        factors,
        epochs,
        batch_size,
        lr,
        reg,
        seed: exp.seed,
        min_rating,
    };
    let m = train::train_bpr(&input, &p, &mut |e| emit(ctx, e, false)).map_err(train_err)?;
    Ok(Bpr {
        user: Mat {
            rows: input.n_users,
            cols: factors,
            data: m.user_emb,
        },
        item: Mat {
            rows: input.n_items,
            cols: factors,
            data: m.item_emb,
        },
        bias: m.item_bias,
    })
}
