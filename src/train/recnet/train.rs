//! The recommender_net training loop: mini-batches through Adam on binary
//! cross-entropy, per-epoch validation, early stopping and checkpoints.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::net::RecNet;
use super::resume::{self, RecNetMeta, RecNetOptim, RunState, RECNET_CKPT};
use super::{RecNetModel, RecNetParams};
use crate::train::early_stop::{EarlyStop, Goal};
use crate::train::epochs::Watcher;
use crate::train::error::{invalid, TrainError};
use crate::train::host::{host_vec, tensor_from, EvalBackend, TrainBackend};
use crate::train::input::{TrainInput, Triplets};
use crate::train::metrics::{epoch_bar, EpochMetrics};
use crate::train::optim::AnyOptim;
use crate::train::pool;
use crate::train::rng::epoch_order;

/// Binary cross-entropy from logits: max(z,0) − z·y + ln(1 + e^{−|z|}),
/// the stable form TF-Keras switches to when the output is a sigmoid.
pub(super) fn bce_with_logits<B: Backend>(z: Tensor<B, 1>, y: Tensor<B, 1>) -> Tensor<B, 1> {
    (z.clone().clamp_min(0.0) - z.clone() * y + z.abs().neg().exp().log1p()).mean()
}

fn bce_host(z: f32, y: f32) -> f64 {
    let (z, y) = (z as f64, y as f64);
    z.max(0.0) - z * y + (-z.abs()).exp().ln_1p()
}

fn scale01(r: f32, min: f32, span: f32) -> f32 {
    ((r - min) / span).clamp(0.0, 1.0)
}

/// (BCE, MAE, MSE on the original scale) of `model` on `t`, in eval mode.
fn eval_recnet(
    model: &RecNet<EvalBackend>,
    t: &Triplets,
    rating_min: f32,
    rating_max: f32,
) -> (f64, f64, f64) {
    if t.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let span = rating_max - rating_min;
    let (mut loss, mut ae, mut se) = (0f64, 0f64, 0f64);
    const EVAL_BATCH: usize = 1 << 16;
    for start in (0..t.len()).step_by(EVAL_BATCH) {
        let end = (start + EVAL_BATCH).min(t.len());
        let z = host_vec(model.forward(&t.users[start..end], &t.items[start..end]));
        for (k, &zk) in z.iter().enumerate() {
            let r = t.ratings[start + k];
            loss += bce_host(zk, scale01(r, rating_min, span));
            let pred = (1.0 / (1.0 + (-zk).exp())) * span + rating_min;
            let e = (pred - r) as f64;
            ae += e.abs();
            se += e * e;
        }
    }
    let n = t.len() as f64;
    (loss / n, ae / n, se / n)
}

fn check_recnet_params(p: &RecNetParams) -> Result<(), TrainError> {
    if p.dim == 0 {
        return Err(invalid("recommender_net: dim must be > 0"));
    }
    if p.batch_size == 0 {
        return Err(invalid("recommender_net: batch_size must be > 0"));
    }
    if p.patience == Some(0) {
        return Err(invalid("recommender_net: patience must be >= 1 (or None)"));
    }
    Ok(())
}

/// Trains the original Keras `RecommenderNet`.
///
/// Per epoch `e` (0-based): learning rate `lr_at(e)`, rows shuffled with a
/// stream of `seed` and `e`, mini-batches of `batch_size` through Adam
/// (Keras flavour, see [`KerasAdam`]) on binary cross-entropy against
/// `(r − min)/(max − min)`; then, in eval mode (BatchNorm running stats), val
/// BCE and MAE/MSE on the original scale. Early stopping monitors val_loss
/// (train_loss when there are no val rows) like Keras `EarlyStopping` with
/// `min_delta = 0`; the returned weights are always those of the best epoch.
///
/// With `checkpoint_dir` the run is checkpointed atomically after every
/// epoch (`recommender_net.ckpt`: weights, Adam state, best weights,
/// history, early-stopping state) and, when a checkpoint for the same data
/// and parameters is there, resumed from it at the next epoch; shuffles
/// depend only on (seed, epoch), so a resumed run equals a straight one.
/// `on_epoch` is called for the epochs run by this call, while the returned
/// history also holds earlier ones. A checkpoint of a run that already
/// stopped early, or reached `epochs`, is returned without training. A
/// checkpoint written for other data, dim, batch_size or seed is an error
/// (it is not overwritten).
pub fn train_recommender_net(
    input: &TrainInput,
    p: &RecNetParams,
    lr_at: &dyn Fn(u32) -> f64,
    on_epoch: &mut dyn FnMut(&EpochMetrics),
) -> Result<RecNetModel, TrainError> {
    train_recnet_inner(input, p, lr_at, on_epoch, None).map(|(_, m, _)| m)
}

/// [`train_recommender_net`] with a [`Watcher`] called after each epoch,
/// before its checkpoint (a stop is recorded there, so a resume does not
/// continue), and early stopping on what it watches when `ranking` is set
/// (which way it improves, patience): that state is checkpointed with the
/// weights, so a resume remembers the best epoch before it. The weights
/// returned are those of the best watched epoch when `ranking` chose one
/// (its `best_epoch` says which), else those of the lowest validation loss.
pub fn train_recommender_net_probed(
    input: &TrainInput,
    p: &RecNetParams,
    lr_at: &dyn Fn(u32) -> f64,
    ranking: Option<(Goal, u32)>,
    watcher: Watcher<'_, RecNetModel>,
) -> Result<RecNetModel, TrainError> {
    let (_, m, ranked) =
        train_recnet_inner(input, p, lr_at, &mut |_| {}, Some((ranking, watcher)))?;
    Ok(match ranked {
        Some((epoch, best)) => RecNetModel {
            history: m.history,
            best_epoch: epoch,
            ..best
        },
        None => m,
    })
}

/// The watcher and the early stopping on what it watches (which way it
/// improves, patience).
pub(super) type Watched<'a> = (Option<(Goal, u32)>, Watcher<'a, RecNetModel>);

/// The trained network, its export, and the ranked best epoch and model
/// when early stopping on the watched value chose one.
type Inner = (RecNet<EvalBackend>, RecNetModel, Option<(u32, RecNetModel)>);

pub(super) fn train_recnet_inner(
    input: &TrainInput,
    p: &RecNetParams,
    lr_at: &dyn Fn(u32) -> f64,
    on_epoch: &mut dyn FnMut(&EpochMetrics),
    watched: Option<Watched<'_>>,
) -> Result<Inner, TrainError> {
    input.check()?;
    check_recnet_params(p)?;
    let (ranking, mut watcher) = match watched {
        Some((ranking, w)) => (ranking, Some(w)),
        None => (None, None),
    };
    let ckpt_path = p.checkpoint_dir.as_ref().map(|d| d.join(RECNET_CKPT));
    let mut st = start(input, p, ranking, ckpt_path.as_deref())?;

    let train = &input.train;
    let (rmin, rmax) = (input.rating_min, input.rating_max);
    let targets: Vec<f32> = train
        .ratings
        .iter()
        .map(|&r| scale01(r, rmin, rmax - rmin))
        .collect();

    let mut epoch = st.meta.next_epoch;
    while epoch < p.epochs && !st.meta.stopped {
        let lr = lr_at(epoch);
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(invalid(format!(
                "lr_at({epoch}) = {lr}; need a finite value >= 0"
            )));
        }
        let t0 = Instant::now();
        let (model, loss_sum) = run_epoch(st.model, &mut st.optim, train, &targets, p, epoch, lr);
        st.model = model;
        let train_loss = loss_sum / train.len() as f64;
        let eval_model = st.model.valid();
        let (val_loss, val_mae, val_mse) = eval_recnet(&eval_model, &input.val, rmin, rmax);
        let metrics = EpochMetrics {
            epoch,
            lr,
            train_loss,
            val_loss,
            val_mae,
            val_mse,
            secs: t0.elapsed().as_secs_f64(),
        };

        let monitored = if input.val.is_empty() {
            train_loss
        } else {
            val_loss
        };
        if let Some(w) = watcher.as_mut() {
            look(&mut st, *w, &metrics, &eval_model);
        }
        if st.meta.note_epoch(epoch, monitored, p.patience) {
            st.best = Some(eval_model);
        }
        st.meta.history.push(metrics.clone());
        st.meta.next_epoch = epoch + 1;

        if let Some(path) = &ckpt_path {
            resume::save(path, &mut st)?;
        }
        on_epoch(&metrics);
        epoch += 1;
    }

    pool::clear();
    // No epoch ran (epochs == 0): the initial weights are the result.
    let best = st.best.unwrap_or_else(|| st.model.valid());
    let exported = best.export(st.meta.history.clone(), st.meta.best_epoch.unwrap_or(0));
    Ok((best, exported, st.ranked.and_then(EarlyStop::into_best)))
}

/// A fresh run's state, continued from the checkpoint at `path` when there
/// is one for this run.
fn start(
    input: &TrainInput,
    p: &RecNetParams,
    ranking: Option<(Goal, u32)>,
    path: Option<&std::path::Path>,
) -> Result<RunState, TrainError> {
    let device = Default::default();
    let fresh = RecNetMeta::fresh(input, p, ranking);
    let st = RunState {
        model: RecNet::<TrainBackend>::init(input.n_users, input.n_items, p.dim, p.seed, &device),
        optim: AnyOptim::new(p.optimizer, p.weight_decay, false),
        best: None,
        ranked: ranking.map(|(goal, patience)| EarlyStop::new(goal, patience)),
        meta: fresh.clone(),
    };
    match path {
        Some(path) => resume::load(path, st, &fresh, &device),
        None => Ok(st),
    }
}

/// The watcher's look at the epoch of `metrics` (the model in eval mode),
/// and early stopping on what it watched; a stop is recorded in `st`.
fn look(
    st: &mut RunState,
    watcher: &mut dyn FnMut(&EpochMetrics, &RecNetModel) -> crate::train::Verdict,
    metrics: &EpochMetrics,
    eval_model: &RecNet<EvalBackend>,
) {
    let exported = eval_model.export(Vec::new(), metrics.epoch);
    let v = watcher(metrics, &exported);
    let ranked_stop = match (st.ranked.as_mut(), v.watched) {
        (Some(s), Some(x)) => s.observe(metrics.epoch, x, &exported),
        _ => false,
    };
    st.meta.stopped |= v.stop || ranked_stop;
}

/// One pass over the training rows in epoch `epoch`'s shuffled order, in
/// mini-batches of `p.batch_size` at learning rate `lr`. Returns the model
/// and the sum of the batch losses weighted by batch size.
fn run_epoch(
    mut model: RecNet<TrainBackend>,
    optim: &mut RecNetOptim,
    train: &Triplets,
    targets: &[f32],
    p: &RecNetParams,
    epoch: u32,
    lr: f64,
) -> (RecNet<TrainBackend>, f64) {
    let device = Default::default();
    let order = epoch_order(train.len(), p.seed, epoch);
    let mut loss_sum = 0f64;
    let bar = epoch_bar(
        "recommender_net",
        epoch,
        p.epochs,
        order.len().div_ceil(p.batch_size),
        "batches",
    );
    for batch in order.chunks(p.batch_size) {
        bar.inc(1);
        let users: Vec<u32> = batch.iter().map(|&r| train.users[r as usize]).collect();
        let items: Vec<u32> = batch.iter().map(|&r| train.items[r as usize]).collect();
        let y: Vec<f32> = batch.iter().map(|&r| targets[r as usize]).collect();
        let y = tensor_from::<TrainBackend, 1>(y, [batch.len()], &device);
        let loss = bce_with_logits(model.forward(&users, &items), y);
        loss_sum += loss.clone().into_scalar() as f64 * batch.len() as f64;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
    }
    (model, loss_sum)
}
