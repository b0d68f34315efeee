//! Training of the two learnt models, on burn 0.21 (CPU `NdArray` backend with
//! reverse-mode `Autodiff`).
//!
//! * [`train_recommender_net`]: a faithful reproduction of the original Keras
//!   `RecommenderNet` (cosine of two embeddings → Dense(1) → BatchNorm →
//!   sigmoid, binary cross-entropy on min-max scaled ratings, Adam, per-epoch
//!   learning rate, early stopping that keeps the best weights), with atomic
//!   per-epoch checkpoints and resume.
//! * [`train_bpr`]: matrix factorisation with item bias trained with the BPR
//!   ranking loss and sampled negatives.
//!
//! Speed: the model graphs are tiny but the tensors are not (a batch touches
//! 2 × 10 000 × 128 embedding floats and Adam updates every row of both
//! tables each step, as Keras does). Composed from stock burn pieces on
//! burn-ndarray (single-threaded, no SIMD in this feature set) one MAL-scale
//! batch costs ~70 ms (forward 21, backward 35, Adam 12–17): ~22 s an epoch,
//! twice the 10.3 s of the original Keras model (`benches/train.rs`).
//! burn's `Module`/`Param`/`Optimizer`/record machinery is kept; the hot
//! paths are replaced:
//! * gather + (normalised) dot is one custom autodiff op (`Fused`) whose
//!   forward and backward are rayon loops over the tables' host slices
//!   (zero-copy, `Host`), with the row gradients scatter-added straight
//!   into the dense table gradient;
//! * the Dense(1) + BatchNorm head runs on 1-D tensors (see
//!   `RecNet::head`), avoiding burn-ndarray's row-by-row reduction of
//!   [batch, 1] broadcast gradients;
//! * Adam is [`KerasAdam`], a burn [`SimpleOptimizer`] doing the update in
//!   one parallel pass over buffers it takes over without copying;
//! * dense gradient buffers are recycled (`pool`) instead of re-mapped.
//!
//! Result at MAL scale (3.18 M rows, 4 200 × 17 000, dim 128, batch 10 000,
//! 2 cores): ~2.1–2.7 s an epoch (`benches/pipeline.rs`, `benches/train.rs`).
//!
//! Everything random (initial weights, shuffles, negatives) comes from
//! `rand_pcg` streams derived from the caller's seed and the epoch number, so
//! a run is reproducible and resuming from a checkpoint continues exactly.

use std::time::Instant;

use burn::module::{AutodiffModule, Module, Param};
use burn::nn::Embedding;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::activation::log_sigmoid;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use rand::Rng;
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;

mod adam;
mod checkpoint;
mod error;
mod host;
mod input;
mod kernels;
mod metrics;
mod pool;
mod recnet;
mod rng;
#[cfg(test)]
mod testutil;

pub use adam::KerasAdam;
pub use error::TrainError;
pub use host::{EvalBackend, TrainBackend};
pub use input::{TrainInput, Triplets};
pub use metrics::{EpochMetrics, Probe};
pub use recnet::{train_recommender_net, train_recommender_net_probed, RecNetModel, RecNetParams};

use error::invalid;
use host::{host_vec, tensor_from};
use kernels::Fused;
use rng::{epoch_order, std_normal, stream_rng, STREAM_INIT, STREAM_NEG, STREAM_VAL_NEG};
// ---------------------------------------------------------------------------

/// Parameters of [`train_bpr`].
#[derive(Debug, Clone)]
pub struct BprParams {
    /// Embedding size.
    pub factors: usize,
    /// Number of epochs (no early stopping).
    pub epochs: u32,
    /// (user, positive, negative) triples per mini-batch.
    pub batch_size: usize,
    /// Constant Adam learning rate.
    pub lr: f64,
    /// L2 weight on ‖u‖² + ‖v_pos‖² + ‖v_neg‖² per triple.
    pub reg: f64,
    /// Seed of initial weights, shuffles and negative sampling.
    pub seed: u64,
    /// Train rows with a rating ≥ this are positives (use −∞ for all rows).
    pub min_rating: f32,
}

/// The trained BPR model: `score(u, i) = user_emb[u]·item_emb[i] + item_bias[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct BprModel {
    /// Embedding size.
    pub factors: usize,
    /// n_users × factors (not normalised).
    pub user_emb: Vec<f32>,
    /// n_items × factors (not normalised).
    pub item_emb: Vec<f32>,
    /// Per-item bias.
    pub item_bias: Vec<f32>,
    /// Per-epoch metrics: train_loss = BPR + reg objective; val_loss = BPR
    /// term on val positives with sampled negatives; val_mae/val_mse = NaN.
    pub history: Vec<EpochMetrics>,
}

impl BprModel {
    /// Ranking score of item `i` for user `u` (NaN for out-of-range indices).
    pub fn score(&self, u: u32, i: u32) -> f32 {
        let d = self.factors;
        let (u, i) = (u as usize, i as usize);
        if (u + 1) * d > self.user_emb.len() || i >= self.item_bias.len() {
            return f32::NAN;
        }
        let a = &self.user_emb[u * d..(u + 1) * d];
        let b = &self.item_emb[i * d..(i + 1) * d];
        a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() + self.item_bias[i]
    }
}

#[derive(Module, Debug)]
struct BprNet<B: Backend> {
    user_emb: Embedding<B>,
    item_emb: Embedding<B>,
    item_bias: Param<Tensor<B, 1>>,
}

/// Standard deviation of the initial BPR factors.
const BPR_INIT_STD: f64 = 0.1;

impl<B: Backend> BprNet<B> {
    fn init(n_users: usize, n_items: usize, f: usize, seed: u64, device: &B::Device) -> Self {
        let mut rng = stream_rng(seed, STREAM_INIT, 0);
        let mut normal = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| (std_normal(&mut rng) * BPR_INIT_STD) as f32)
                .collect()
        };
        let (u, v) = (normal(n_users * f), normal(n_items * f));
        BprNet {
            user_emb: Embedding {
                weight: Param::from_tensor(tensor_from(u, [n_users, f], device)),
            },
            item_emb: Embedding {
                weight: Param::from_tensor(tensor_from(v, [n_items, f], device)),
            },
            item_bias: Param::from_tensor(Tensor::zeros([n_items], device)),
        }
    }
}

impl<B: Fused> BprNet<B> {
    /// Mean BPR objective of a batch of (user, pos, neg) triples.
    fn loss(&self, u: &[u32], pos: &[u32], neg: &[u32], reg: f64) -> Tensor<B, 1> {
        let n = u.len();
        let parts = B::bpr_pairs(
            self.user_emb.weight.val(),
            self.item_emb.weight.val(),
            self.item_bias.val(),
            u,
            pos,
            neg,
        );
        let x = parts.clone().slice([0..1, 0..n]).reshape([n]);
        let sq = parts.slice([1..2, 0..n]).reshape([n]);
        // −ln σ(x) + reg·(‖u‖² + ‖v_pos‖² + ‖v_neg‖²), averaged over the batch.
        (log_sigmoid(x).neg() + sq.mul_scalar(reg)).mean()
    }
}

/// Per-user sorted positive items (CSR), for rejecting sampled negatives.
struct Positives {
    offsets: Vec<usize>,
    items: Vec<u32>,
}

impl Positives {
    fn new(n_users: usize, users: &[u32], items: &[u32]) -> Self {
        let mut offsets = vec![0usize; n_users + 1];
        users.iter().for_each(|&u| offsets[u as usize + 1] += 1);
        for k in 0..n_users {
            offsets[k + 1] += offsets[k];
        }
        let mut fill = offsets.clone();
        let mut out = vec![0u32; users.len()];
        for (&u, &i) in users.iter().zip(items) {
            out[fill[u as usize]] = i;
            fill[u as usize] += 1;
        }
        for u in 0..n_users {
            let s = &mut out[offsets[u]..offsets[u + 1]];
            s.sort_unstable();
        }
        Positives {
            offsets,
            items: out,
        }
    }

    fn of(&self, u: u32) -> &[u32] {
        &self.items[self.offsets[u as usize]..self.offsets[u as usize + 1]]
    }

    /// Distinct positives of `u`.
    fn distinct(&self, u: u32) -> usize {
        let s = self.of(u);
        s.len() - s.windows(2).filter(|w| w[0] == w[1]).count()
    }

    /// A uniformly drawn item that is not a positive of `u` (and not
    /// `also_avoid`). Rejection sampling; after many misses (a user who rated
    /// almost everything) it walks from the last draw to the next allowed
    /// item. `None` if every item is a positive.
    fn negative(
        &self,
        u: u32,
        also_avoid: Option<u32>,
        n_items: usize,
        rng: &mut Pcg64Mcg,
    ) -> Option<u32> {
        let pos = self.of(u);
        let bad = |i: u32| pos.binary_search(&i).is_ok() || also_avoid == Some(i);
        let mut i = 0u32;
        for _ in 0..64 {
            i = rng.random_range(0..n_items as u32);
            if !bad(i) {
                return Some(i);
            }
        }
        (1..n_items as u32)
            .map(|k| (i + k) % n_items as u32)
            .find(|&j| !bad(j))
    }
}

fn check_bpr_params(p: &BprParams) -> Result<(), TrainError> {
    if p.factors == 0 || p.batch_size == 0 {
        return Err(invalid("bpr: factors and batch_size must be > 0"));
    }
    if !(p.lr.is_finite() && p.lr > 0.0) {
        return Err(invalid(format!("bpr: lr = {}; need finite > 0", p.lr)));
    }
    if !(p.reg.is_finite() && p.reg >= 0.0) {
        return Err(invalid(format!("bpr: reg = {}; need finite >= 0", p.reg)));
    }
    if p.min_rating.is_nan() {
        return Err(invalid("bpr: min_rating is NaN"));
    }
    Ok(())
}

/// Trains matrix factorisation with item bias on the BPR loss.
///
/// Positives are the train rows with rating ≥ `min_rating`; each epoch they
/// are shuffled and every positive gets one negative drawn uniformly from the
/// items that are not train positives of that user. Users who are positive
/// on every item are skipped. Adam (Keras flavour) with constant `lr`.
/// Validation: BPR term on the val rows ≥ `min_rating`, with negatives drawn
/// once (fixed across epochs) avoiding train positives and the val item.
pub fn train_bpr(
    input: &TrainInput,
    p: &BprParams,
    on_epoch: &mut dyn FnMut(&EpochMetrics),
) -> Result<BprModel, TrainError> {
    train_bpr_probed(input, p, &mut |m, _| {
        on_epoch(m);
        false
    })
}

/// [`train_bpr`] with a [`Probe`] after each epoch (which replaces
/// `on_epoch`); the model returned is the one of the last epoch run.
pub fn train_bpr_probed(
    input: &TrainInput,
    p: &BprParams,
    probe: Probe<'_, BprModel>,
) -> Result<BprModel, TrainError> {
    input.check()?;
    check_bpr_params(p)?;
    let device = Default::default();
    let (nu, ni, f) = (input.n_users, input.n_items, p.factors);

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
            "bpr: no usable positives (train rows with rating >= {})",
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

    let mut model = BprNet::<TrainBackend>::init(nu, ni, f, p.seed, &device);
    let mut optim: OptimizerAdaptor<KerasAdam, BprNet<TrainBackend>, TrainBackend> =
        OptimizerAdaptor::from(KerasAdam::default());
    let mut history = Vec::new();

    for epoch in 0..p.epochs {
        let t0 = Instant::now();
        let order = epoch_order(tu.len(), p.seed, epoch);
        let mut rng = stream_rng(p.seed, STREAM_NEG, epoch as u64);
        let mut loss_sum = 0f64;
        let mut rows = 0usize;
        for batch in order.chunks(p.batch_size) {
            let mut users = Vec::with_capacity(batch.len());
            let mut pos = Vec::with_capacity(batch.len());
            let mut neg = Vec::with_capacity(batch.len());
            for &r in batch {
                let u = tu[r as usize];
                if let Some(j) = known.negative(u, None, ni, &mut rng) {
                    users.push(u);
                    pos.push(ti[r as usize]);
                    neg.push(j);
                }
            }
            if users.is_empty() {
                continue;
            }
            let loss = model.loss(&users, &pos, &neg, p.reg);
            loss_sum += loss.clone().into_scalar() as f64 * users.len() as f64;
            rows += users.len();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(p.lr, model, grads);
        }
        let exported = export_bpr(&model.valid(), f);
        let val_loss = bpr_val_loss(&exported, &vu, &vi, &val_neg);
        let m = EpochMetrics {
            epoch,
            lr: p.lr,
            train_loss: loss_sum / rows.max(1) as f64,
            val_loss,
            val_mae: f64::NAN,
            val_mse: f64::NAN,
            secs: t0.elapsed().as_secs_f64(),
        };
        let stop = probe(&m, &exported);
        history.push(m);
        if stop {
            break;
        }
    }
    pool::clear();
    let mut out = export_bpr(&model.valid(), f);
    out.history = history;
    Ok(out)
}

fn export_bpr(m: &BprNet<EvalBackend>, factors: usize) -> BprModel {
    BprModel {
        factors,
        user_emb: host_vec(m.user_emb.weight.val()),
        item_emb: host_vec(m.item_emb.weight.val()),
        item_bias: host_vec(m.item_bias.val()),
        history: Vec::new(),
    }
}

/// Mean −ln σ(s_pos − s_neg) over val positives that have a negative.
fn bpr_val_loss(m: &BprModel, vu: &[u32], vi: &[u32], neg: &[Option<u32>]) -> f64 {
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

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::testutil::{strip_secs, Planted};
    use super::*;

    #[test]
    fn bpr_ranks_held_out_positives() {
        let data = Planted::new(200, 100, 0.5, 0.5, 11);
        let input = data.input();
        let p = BprParams {
            factors: 8,
            epochs: 20,
            batch_size: 128,
            lr: 0.01,
            reg: 1e-2,
            seed: 3,
            min_rating: 8.0,
        };
        let m = train_bpr(&input, &p, &mut |_| {}).unwrap();
        assert_eq!(m.history.len(), 20);

        assert!(m.history.last().unwrap().train_loss < m.history[0].train_loss);
        assert!(m.history.iter().all(|e| e.val_mae.is_nan()));
        // AUC of held-out positives vs items the user never rated.
        let mut rated = vec![false; data.n_users * data.n_items];
        for t in [&data.train, &data.val] {
            for k in 0..t.0.len() {
                rated[t.0[k] as usize * data.n_items + t.1[k] as usize] = true;
            }
        }
        let (mut wins, mut total) = (0f64, 0f64);
        for k in 0..data.val.0.len() {
            if data.val.2[k] < p.min_rating {
                continue;
            }
            let (u, i) = (data.val.0[k], data.val.1[k]);
            for j in 0..data.n_items as u32 {
                if !rated[u as usize * data.n_items + j as usize] {
                    let (a, b) = (m.score(u, i), m.score(u, j));
                    wins += if a > b {
                        1.0
                    } else if a == b {
                        0.5
                    } else {
                        0.0
                    };
                    total += 1.0;
                }
            }
        }
        let auc = wins / total;
        eprintln!("BPR held-out AUC {auc:.3}");
        assert!(auc > 0.8, "AUC {auc}");
        // Same seed, same model.
        let again = train_bpr(&input, &p, &mut |_| {}).unwrap();
        assert_eq!(strip_secs(&again.history), strip_secs(&m.history));
        assert_eq!(again.user_emb, m.user_emb);
    }
}
