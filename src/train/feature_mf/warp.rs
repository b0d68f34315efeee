//! The WARP loop: for each train positive (in the epoch's shuffled order)
//! draw negatives until one scores within a margin of 1 of the positive,
//! then step user, positive-item and negative-item features by AdaGrad,
//! weighted by how hard the violator was to find.

use std::time::Instant;

use rand::Rng;
use rand_pcg::Pcg64Mcg;

use super::resume::Setup;
use super::{FeatureMfModel, FeatureMfParams};
use crate::config::LrSchedule;
use crate::model::parts::dot;
use crate::sparse::Csr;
use crate::train::epochs::{arrays_from, f32_bytes, EpochRun, Ledger, Snapshot, Trained, Watcher};
use crate::train::error::{invalid, TrainError};
use crate::train::input::{TrainInput, Triplets};
use crate::train::metrics::{epoch_bar, EpochMetrics};
use crate::train::positives::Positives;
use crate::train::rng::{epoch_order, stream_rng, STREAM_INIT, STREAM_NEG, STREAM_VAL_NEG};

/// LightFM's clip on the WARP weight, so a positive that is outscored by
/// almost every item does not blow its features up in one step.
const MAX_LOSS: f32 = 10.0;

fn check(p: &FeatureMfParams, input: &TrainInput, features: &Csr) -> Result<(), TrainError> {
    if p.factors == 0 || p.max_sampled == 0 {
        return Err(invalid("feature_mf: factors and max_sampled must be > 0"));
    }
    if !(p.lr.is_finite() && p.lr > 0.0 && p.reg.is_finite() && p.reg >= 0.0) {
        return Err(invalid(format!(
            "feature_mf: lr = {}, reg = {}; need lr > 0 and reg >= 0, finite",
            p.lr, p.reg
        )));
    }
    if p.min_rating.is_nan() {
        return Err(invalid("feature_mf: min_rating is NaN"));
    }
    if features.n_rows != input.n_items
        || features.n_cols < features.n_rows
        || features
            .indices
            .iter()
            .any(|&f| f as usize >= features.n_cols)
    {
        return Err(invalid(format!(
            "feature_mf: the feature matrix has {} rows for {} items, fewer than one id column per item, or a feature past its {} columns",
            features.n_rows, input.n_items, features.n_cols
        )));
    }
    Ok(())
}

/// Trains feature_mf on the train rows rated at least `min_rating`, kept as
/// `run` says (a checkpoint after every epoch, resumed from at the next
/// epoch when it is there; early stopping on what `watcher` watches); after
/// each epoch `watcher` sees the metrics and the model (the epochs this call
/// runs) and may stop training. Returns the best epoch's model when early
/// stopping chose one, else the last's, with the history of every epoch.
pub fn train_feature_mf(
    input: &TrainInput,
    features: &Csr,
    p: &FeatureMfParams,
    run: &EpochRun,
    watcher: Watcher<'_, FeatureMfModel>,
) -> Result<Trained<FeatureMfModel>, TrainError> {
    input.check()?;
    check(p, input, features)?;
    let select = |t: &Triplets| -> (Vec<u32>, Vec<u32>) {
        (0..t.len())
            .filter(|&k| t.ratings[k] >= p.min_rating)
            .map(|k| (t.users[k], t.items[k]))
            .unzip()
    };
    let (tu, ti) = select(&input.train);
    if tu.is_empty() {
        return Err(invalid(format!(
            "feature_mf: no train rows rated >= {}; lower min_rating",
            p.min_rating
        )));
    }
    let (vu, vi) = select(&input.val);
    let known = Positives::new(input.n_users, &tu, &ti);
    let warp = Warp {
        features,
        known: &known,
        p,
        train: (&tu, &ti),
        val: (&vu, &vi),
    };
    let user_rows = p
        .user_features
        .then(|| super::users::user_rows(input.n_users, (&tu, &ti), features));
    let mut m = init(input.n_users, features.n_cols, p, user_rows);
    let setup = Setup::of(p, features);
    let (mut ledger, state) = Ledger::open("feature_mf", &setup, input, run, &m)?;
    if let (Some(blobs), Some(path)) = (state, run.checkpoint.as_deref()) {
        // The whole state is the model's arrays, accumulators included.
        m = arrays_from(path, &m, &blobs)?;
    }
    let mut step = Step::new(p.factors);
    while let Some(epoch) = ledger.next_epoch(p.epochs) {
        let t0 = Instant::now();
        let lr = LrSchedule::rate(p.lr_schedule.as_ref(), p.lr, epoch, p.epochs);
        let loss = warp.epoch(&mut m, &mut step, epoch, lr);
        let val_loss = warp.val_loss(&m, &mut step);
        let secs = t0.elapsed().as_secs_f64();
        let metrics = EpochMetrics::ranking(epoch, lr, loss / tu.len() as f64, val_loss, secs);
        ledger.close_epoch(metrics, &m, watcher);
        ledger.save(|| Ok(m.arrays().into_iter().map(f32_bytes).collect()))?;
    }
    let (mut trained, history) = ledger.finish(m);
    trained.model.history = history;
    Ok(trained)
}

/// What the WARP passes read: the features, the positives to train and
/// validate on, and every train positive per user (which negatives avoid).
struct Warp<'a> {
    features: &'a Csr,
    known: &'a Positives,
    p: &'a FeatureMfParams,
    train: (&'a [u32], &'a [u32]),
    val: (&'a [u32], &'a [u32]),
}

impl Warp<'_> {
    /// One pass over the train positives in epoch `epoch`'s shuffled order
    /// (negatives from the epoch's own stream, so a resumed epoch draws as a
    /// straight one); returns the summed WARP weights.
    fn epoch(&self, m: &mut FeatureMfModel, step: &mut Step, epoch: u32, lr: f64) -> f64 {
        let (p, (tu, ti)) = (self.p, self.train);
        let order = epoch_order(tu.len(), p.seed, epoch);
        let mut rng = stream_rng(p.seed, STREAM_NEG, u64::from(epoch));
        let mut loss = 0f64;
        let bar = epoch_bar("feature_mf", epoch, p.epochs, order.len(), "positives");
        for (k, &r) in order.iter().enumerate() {
            if k % 4096 == 4095 {
                bar.inc(4096);
            }
            let (u, i) = (tu[r as usize], ti[r as usize]);
            let w = step.violator(m, self.features, self.known, u, i, p.max_sampled, &mut rng);
            if let Some((j, weight)) = w {
                step.update(m, self.features, u, i, j, weight, lr as f32, p.reg as f32);
                loss += f64::from(weight);
            }
        }
        loss
    }

    /// Mean WARP weight of the val positives (no update; the same draws
    /// every epoch), NaN without any.
    fn val_loss(&self, m: &FeatureMfModel, step: &mut Step) -> f64 {
        let (vu, vi) = self.val;
        if vu.is_empty() {
            return f64::NAN;
        }
        let mut vrng = stream_rng(self.p.seed, STREAM_VAL_NEG, 0);
        let mut val = 0f64;
        for (&u, &i) in vu.iter().zip(vi) {
            let w = step.violator(
                m,
                self.features,
                self.known,
                u,
                i,
                self.p.max_sampled,
                &mut vrng,
            );
            val += w.map_or(0.0, |(_, weight)| f64::from(weight));
        }
        val / vu.len() as f64
    }
}

/// LightFM's initialisation: embeddings uniform in ±0.5 / factors, biases
/// 0, AdaGrad accumulators 1 (so the first step is a plain `lr` step).
/// Without user features the draws are those of before they existed (the
/// users' rows, then the items'), so old runs repeat; the user-side tag rows
/// come last.
fn init(
    n_users: usize,
    n_features: usize,
    p: &FeatureMfParams,
    user_rows: Option<Csr>,
) -> FeatureMfModel {
    let d = p.factors;
    let mut rng = stream_rng(p.seed, STREAM_INIT, 0);
    let mut uniform = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| (rng.random::<f32>() - 0.5) / d as f32)
            .collect()
    };
    let mut user_emb = uniform(n_users * d);
    let feat_emb = uniform(n_features * d);
    if let Some(rows) = &user_rows {
        user_emb.extend(uniform((rows.n_cols - n_users) * d));
    }
    FeatureMfModel {
        factors: d,
        user_acc: vec![1.0; user_emb.len()],
        feat_acc: vec![1.0; feat_emb.len()],
        bias_acc: vec![1.0; n_features],
        user_emb,
        feat_emb,
        feat_bias: vec![0.0; n_features],
        user_rows,
        history: Vec::new(),
    }
}

/// Scratch vectors of one step, reused so the loop never allocates.
struct Step {
    user: Vec<f32>,
    pos: Vec<f32>,
    neg: Vec<f32>,
}

impl Step {
    fn new(d: usize) -> Self {
        Self {
            user: vec![0.0; d],
            pos: vec![0.0; d],
            neg: vec![0.0; d],
        }
    }

    /// Draws up to `max_sampled` items that are not positives of `u` and
    /// returns the first whose score is within 1 of item `i`'s, with its
    /// WARP weight `ln ⌊(n − 1) / draws⌋` (the rank of `i` estimated from
    /// how many draws it took). Leaves the user's and both items' vectors
    /// in the scratch buffers.
    #[allow(clippy::too_many_arguments)]
    fn violator(
        &mut self,
        m: &FeatureMfModel,
        features: &Csr,
        known: &Positives,
        u: u32,
        i: u32,
        max_sampled: u32,
        rng: &mut Pcg64Mcg,
    ) -> Option<(u32, f32)> {
        let n = features.n_rows;
        m.user_into(u as usize, &mut self.user);
        let bi = m.item_into(features, i as usize, &mut self.pos);
        let pos = dot(&self.user, &self.pos) + bi;
        let liked = known.of(u);
        // Draws of the user's own positives do not count (as in LightFM);
        // the cap on all draws ends the search for a user who is positive
        // on nearly every item.
        let mut draws = 0usize;
        for _ in 0..64 * max_sampled {
            let j = rng.random_range(0..n as u32);
            if liked.binary_search(&j).is_ok() {
                continue;
            }
            draws += 1;
            let bj = m.item_into(features, j as usize, &mut self.neg);
            if dot(&self.user, &self.neg) + bj > pos - 1.0 {
                let rank = ((n - 1) / draws).max(1);
                return Some((j, (rank as f32).ln().min(MAX_LOSS)));
            }
            if draws == max_sampled as usize {
                break;
            }
        }
        None
    }

    /// One AdaGrad step on `weight · (s_uj − s_ui)`: every feature row of
    /// the user, of `i` and of `j` (each scaled by its feature weight) and
    /// the items' biases. Gradients use the vectors from before the step.
    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        m: &mut FeatureMfModel,
        features: &Csr,
        u: u32,
        i: u32,
        j: u32,
        weight: f32,
        lr: f32,
        reg: f32,
    ) {
        let d = m.factors;
        let u = u as usize;
        let (id, one) = ([u as u32], [1.0f32]);
        let (cols, ws) = match &m.user_rows {
            Some(rows) => rows.row(u),
            None => (&id[..], &one[..]),
        };
        for (&c, &w) in cols.iter().zip(ws) {
            let c = c as usize;
            let (emb, acc) = (
                &mut m.user_emb[c * d..(c + 1) * d],
                &mut m.user_acc[c * d..(c + 1) * d],
            );
            for k in 0..d {
                let g = weight * w * (self.neg[k] - self.pos[k]);
                adagrad(&mut emb[k], &mut acc[k], g, lr, reg);
            }
        }
        for (item, sign) in [(i, -1.0f32), (j, 1.0)] {
            let (fs, ws) = features.row(item as usize);
            for (&f, &w) in fs.iter().zip(ws) {
                let f = f as usize;
                let scale = sign * weight * w;
                let (emb, acc) = (
                    &mut m.feat_emb[f * d..(f + 1) * d],
                    &mut m.feat_acc[f * d..(f + 1) * d],
                );
                for k in 0..d {
                    adagrad(&mut emb[k], &mut acc[k], scale * self.user[k], lr, reg);
                }
                adagrad(&mut m.feat_bias[f], &mut m.bias_acc[f], scale, lr, 0.0);
            }
        }
    }
}

/// `x -= lr / √acc · (g + reg·x)`, then `acc += g²` (LightFM's order).
#[inline(always)]
fn adagrad(x: &mut f32, acc: &mut f32, g: f32, lr: f32, reg: f32) {
    let g = g + reg * *x;
    *x -= lr / acc.sqrt() * g;
    *acc += g * g;
}
