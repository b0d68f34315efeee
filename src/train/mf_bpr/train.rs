//! The mf_bpr training loop: positives and their sampled negatives in
//! mini-batches through Adam, and the per-epoch validation loss.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use rayon::prelude::*;

use super::net::MfBprNet;
use super::resume::{self, MfBprOptim, Setup};
use super::{MfBprModel, MfBprParams};
use crate::config::LrSchedule;
use crate::train::epochs::{EpochRun, Ledger, Trained, Verdict, Watcher};
use crate::train::error::{invalid, TrainError};
use crate::train::host::{host_vec, EvalBackend, TrainBackend};
use crate::train::input::{TrainInput, Triplets};
use crate::train::metrics::{epoch_bar, EpochMetrics};
use crate::train::optim::AnyOptim;
use crate::train::pool;
use crate::train::positives::Positives;
use crate::train::rng::{epoch_order, stream_rng, STREAM_NEG, STREAM_VAL_NEG};

fn check_bpr_params(p: &MfBprParams) -> Result<(), TrainError> {
    if p.factors == 0 || p.batch_size == 0 {
        return Err(invalid("mf_bpr: factors and batch_size must be > 0"));
    }
    if !(p.lr.is_finite() && p.lr > 0.0) {
        return Err(invalid(format!("mf_bpr: lr = {}; need finite > 0", p.lr)));
    }
    if !(p.reg.is_finite() && p.reg >= 0.0) {
        return Err(invalid(format!(
            "mf_bpr: reg = {}; need finite >= 0",
            p.reg
        )));
    }
    if p.min_rating.is_nan() {
        return Err(invalid("mf_bpr: min_rating is NaN"));
    }
    if !(p.weight_decay.is_finite() && p.weight_decay >= 0.0) {
        return Err(invalid(format!(
            "mf_bpr: weight_decay = {}; need finite >= 0",
            p.weight_decay
        )));
    }
    Ok(())
}

/// Trains matrix factorisation with item bias on the BPR loss.
///
/// Positives are the train rows with rating ≥ `min_rating`; each epoch they
/// are shuffled and every positive gets one negative drawn uniformly from the
/// items that are not train positives of that user. Users who are positive
/// on every item are skipped. Steps with `p.optimizer` (Keras-flavoured
/// Adam by default) at a constant `lr` or its schedule.
/// Validation: BPR term on the val rows ≥ `min_rating`, with negatives drawn
/// once (fixed across epochs) avoiding train positives and the val item.
pub fn train_mf_bpr(
    input: &TrainInput,
    p: &MfBprParams,
    on_epoch: &mut dyn FnMut(&EpochMetrics),
) -> Result<MfBprModel, TrainError> {
    let run = EpochRun::default();
    let t = train_mf_bpr_probed(input, p, &run, &mut |m, _| {
        on_epoch(m);
        Verdict::default()
    })?;
    Ok(t.model)
}

/// [`train_mf_bpr`] kept as `run` says (a checkpoint after every epoch,
/// resumed from at the next epoch when it is there; early stopping on what
/// `watcher` watches), with `watcher` after each epoch (which replaces
/// `on_epoch`; it sees only the epochs this call runs). The model returned
/// is the best epoch's when early stopping chose one, else the last's; its
/// history holds every epoch, those before a resume too.
pub fn train_mf_bpr_probed(
    input: &TrainInput,
    p: &MfBprParams,
    run: &EpochRun,
    watcher: Watcher<'_, MfBprModel>,
) -> Result<Trained<MfBprModel>, TrainError> {
    input.check()?;
    check_bpr_params(p)?;
    let device = Default::default();
    let (nu, ni, f) = (input.n_users, input.n_items, p.factors);
    let rows = Rows::new(input, p)?;

    let mut model = MfBprNet::<TrainBackend>::init(nu, ni, f, p.seed, &device);
    let mut optim: MfBprOptim = AnyOptim::new(p.optimizer, p.weight_decay, p.lazy_adam);
    let template = export_bpr(&model.valid(), f);
    let (mut ledger, state) = Ledger::open("mf_bpr", &Setup::of(p), input, run, &template)?;
    if let (Some(blobs), Some(path)) = (state, run.checkpoint.as_deref()) {
        (model, optim) = resume::load_state(path, blobs, model, optim, &device)?;
    }

    while let Some(epoch) = ledger.next_epoch(p.epochs) {
        let t0 = Instant::now();
        let lr = LrSchedule::rate(p.lr_schedule.as_ref(), p.lr, epoch, p.epochs);
        let (next, loss_sum, n) = run_epoch(model, &mut optim, &rows, p, ni, lr, epoch);
        model = next;
        let exported = export_bpr(&model.valid(), f);
        let val_loss = bpr_val_loss(&exported, &rows.vu, &rows.vi, &rows.val_neg);
        let train_loss = loss_sum / n.max(1) as f64;
        let secs = t0.elapsed().as_secs_f64();
        let m = EpochMetrics::ranking(epoch, lr, train_loss, val_loss, secs);
        ledger.close_epoch(m, &exported, watcher);
        ledger.save(|| resume::state_blobs(&model, &optim))?;
    }
    pool::clear();
    let (mut trained, history) = ledger.finish(export_bpr(&model.valid(), f));
    trained.model.history = history;
    Ok(trained)
}

/// The rows one run trains and validates on.
struct Rows {
    /// Train positives (user, item), without users positive on every item.
    tu: Vec<u32>,
    ti: Vec<u32>,
    /// Every train positive per user, which negatives must avoid.
    known: Positives,
    /// Val positives (user, item) and their negative, drawn once.
    vu: Vec<u32>,
    vi: Vec<u32>,
    val_neg: Vec<Option<u32>>,
}

impl Rows {
    fn new(input: &TrainInput, p: &MfBprParams) -> Result<Self, TrainError> {
        let (nu, ni) = (input.n_users, input.n_items);
        let select = |t: &Triplets| -> (Vec<u32>, Vec<u32>) {
            t.users
                .iter()
                .zip(t.items)
                .zip(t.ratings)
                .filter(|(_, &r)| r >= p.min_rating)
                .map(|((&u, &i), _)| (u, i))
                .unzip()
        };
        let (tu, ti) = select(&input.train);
        let known = Positives::new(nu, &tu, &ti);
        // Users positive on every item have no negative to contrast with.
        let full: Vec<bool> = (0..nu as u32).map(|u| known.distinct(u) >= ni).collect();
        let (tu, ti): (Vec<u32>, Vec<u32>) = tu
            .into_iter()
            .zip(ti)
            .filter(|(u, _)| !full[*u as usize])
            .unzip();
        if tu.is_empty() {
            return Err(invalid(format!(
                "mf_bpr: no usable positives (train rows with rating >= {})",
                p.min_rating
            )));
        }
        let (vu, vi) = select(&input.val);
        let val_neg: Vec<Option<u32>> = {
            let mut rng = stream_rng(p.seed, STREAM_VAL_NEG, 0);
            vu.iter()
                .zip(&vi)
                .map(|(&u, &i)| known.negative(u, Some(i), ni, &mut rng))
                .collect()
        };
        Ok(Rows {
            tu,
            ti,
            known,
            vu,
            vi,
            val_neg,
        })
    }
}

/// One pass over the train positives in epoch `epoch`'s shuffled order,
/// each with a fresh negative. Returns the model, the sum of the batch
/// losses weighted by batch size, and the number of triples trained on.
fn run_epoch(
    mut model: MfBprNet<TrainBackend>,
    optim: &mut MfBprOptim,
    rows: &Rows,
    p: &MfBprParams,
    n_items: usize,
    lr: f64,
    epoch: u32,
) -> (MfBprNet<TrainBackend>, f64, usize) {
    let order = epoch_order(rows.tu.len(), p.seed, epoch);
    let mut loss_sum = 0f64;
    let mut n = 0usize;
    let bar = epoch_bar(
        "mf_bpr",
        epoch,
        p.epochs,
        order.len().div_ceil(p.batch_size),
        "batches",
    );
    let chunks_per_batch = p.batch_size.div_ceil(NEG_CHUNK) as u64;
    let mut sorted = Vec::with_capacity(p.batch_size.min(order.len()));
    for (b, batch) in order.chunks(p.batch_size).enumerate() {
        bar.inc(1);
        // A batch is a set (its gradient is a sum), so it is taken in row
        // order: train rows are grouped by user, and sorted indices turn the
        // batch's random reads of rows, positive lists and user factors into
        // one forward sweep over each table.
        sorted.clear();
        sorted.extend_from_slice(batch);
        sorted.sort_unstable();
        let first_chunk = b as u64 * chunks_per_batch;
        let (users, pos, neg) = batch_triples(rows, &sorted, n_items, p.seed, epoch, first_chunk);
        if users.is_empty() {
            continue;
        }
        let loss = model.loss(&users, &pos, &neg, p.reg);
        loss_sum += loss.clone().into_scalar() as f64 * users.len() as f64;
        n += users.len();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
    }
    (model, loss_sum, n)
}

/// Rows per independently seeded stream of negatives: a batch's draws are
/// split into fixed chunks with a stream each, so they run in parallel (one
/// thread drawing them serially was ≈ 25 % of an epoch at full MAL) and are
/// the same whatever the number of threads.
const NEG_CHUNK: usize = 8192;

/// Marks a row with no negative to draw (its user is positive on every item).
const NO_NEGATIVE: u32 = u32::MAX;

/// The (user, positive, negative) triples of one batch of train-row indices,
/// a fresh negative each; chunk k of the batch draws from stream
/// (`epoch`, `first_chunk` + k).
fn batch_triples(
    rows: &Rows,
    batch: &[u32],
    n_items: usize,
    seed: u64,
    epoch: u32,
    first_chunk: u64,
) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let mut neg = vec![NO_NEGATIVE; batch.len()];
    neg.par_chunks_mut(NEG_CHUNK)
        .zip(batch.par_chunks(NEG_CHUNK))
        .enumerate()
        .for_each(|(k, (out, rs))| {
            let stream = (u64::from(epoch) << 32) | (first_chunk + k as u64);
            let mut rng = stream_rng(seed, STREAM_NEG, stream);
            for (o, &r) in out.iter_mut().zip(rs) {
                let u = rows.tu[r as usize];
                if let Some(j) = rows.known.negative(u, None, n_items, &mut rng) {
                    *o = j;
                }
            }
        });
    let users: Vec<u32> = batch.iter().map(|&r| rows.tu[r as usize]).collect();
    let pos: Vec<u32> = batch.iter().map(|&r| rows.ti[r as usize]).collect();
    if !neg.contains(&NO_NEGATIVE) {
        return (users, pos, neg);
    }
    let kept = |v: Vec<u32>| -> Vec<u32> {
        v.into_iter()
            .zip(&neg)
            .filter(|(_, &j)| j != NO_NEGATIVE)
            .map(|(x, _)| x)
            .collect()
    };
    let (users, pos) = (kept(users), kept(pos));
    neg.retain(|&j| j != NO_NEGATIVE);
    (users, pos, neg)
}

fn export_bpr(m: &MfBprNet<EvalBackend>, factors: usize) -> MfBprModel {
    MfBprModel {
        factors,
        user_emb: host_vec(m.user_emb.weight.val()),
        item_emb: host_vec(m.item_emb.weight.val()),
        item_bias: host_vec(m.item_bias.val()),
        history: Vec::new(),
    }
}

/// Mean −ln σ(s_pos − s_neg) over val positives that have a negative.
fn bpr_val_loss(m: &MfBprModel, vu: &[u32], vi: &[u32], neg: &[Option<u32>]) -> f64 {
    // Per-row terms in parallel, summed serially: a rayon `reduce` groups the
    // additions by work stealing, which would make the sum non-deterministic.
    let terms: Vec<f64> = vu
        .par_iter()
        .zip(vi)
        .zip(neg)
        .map(|((&u, &i), &j)| match j {
            Some(j) => {
                let x = (m.score(u, i) - m.score(u, j)) as f64;
                // −ln σ(x) = ln(1 + e^{−x}), stable for both signs.
                (-x).max(0.0) + (-x.abs()).exp().ln_1p()
            }
            None => f64::NAN,
        })
        .collect();
    let (sum, n) = terms
        .iter()
        .filter(|t| !t.is_nan())
        .fold((0f64, 0usize), |(s, n), t| (s + t, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}
