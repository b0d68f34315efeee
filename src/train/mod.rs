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

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{AutodiffModule, Module, Param, RunningState};
use burn::nn::{BatchNorm, Embedding, Linear};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, Optimizer};
use burn::record::Recorder;
use burn::tensor::activation::log_sigmoid;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use rand::Rng;
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

mod adam;
mod checkpoint;
mod error;
mod host;
mod input;
mod kernels;
mod metrics;
mod pool;
mod rng;
#[cfg(test)]
mod testutil;

pub use adam::KerasAdam;
pub use error::TrainError;
pub use host::{EvalBackend, TrainBackend};
pub use input::{TrainInput, Triplets};
pub use metrics::{EpochMetrics, Probe};

use checkpoint::{blobs_n, read_checkpoint, write_checkpoint, Rec};
use error::invalid;
use host::{host_vec, tensor_from};
use kernels::{inv_norm, Fused};
use rng::{
    epoch_order, he_normal, std_normal, stream_rng, STREAM_INIT, STREAM_NEG, STREAM_VAL_NEG,
};
// ---------------------------------------------------------------------------
// recommender_net
// ---------------------------------------------------------------------------

/// Parameters of [`train_recommender_net`].
#[derive(Debug, Clone)]
pub struct RecNetParams {
    /// Embedding size (the original uses 128).
    pub dim: usize,
    /// Maximum number of epochs.
    pub epochs: u32,
    /// Rows per mini-batch (the original uses 10 000).
    pub batch_size: usize,
    /// Stop after this many epochs without a val_loss improvement (Keras
    /// `EarlyStopping(patience)`); `None` trains all epochs.
    pub patience: Option<u32>,
    /// Seed of initial weights and per-epoch shuffles.
    pub seed: u64,
    /// Where to keep the resumable per-epoch checkpoint; `None` keeps none.
    pub checkpoint_dir: Option<PathBuf>,
}

/// The trained recommender_net, as plain numbers (no burn needed to serve).
///
/// Scoring note: the rating is sigmoid(γ·(w·cos + b − μ)/√(σ²+ε) + β), a
/// monotone function of the cosine `user_emb[u]·item_emb[i]` that is
/// increasing only if `w·γ > 0`. Ranking by the raw dot product is therefore
/// only valid when [`RecNetModel::head_increasing`] holds; [`RecNetModel::predict`]
/// is the truth.
#[derive(Debug, Clone, PartialEq)]
pub struct RecNetModel {
    /// Embedding size.
    pub dim: usize,
    /// n_users × dim, rows L2-normalised (as the model sees them).
    pub user_emb: Vec<f32>,
    /// n_items × dim, rows L2-normalised.
    pub item_emb: Vec<f32>,
    /// Dense(1) weight.
    pub dense_w: f32,
    /// Dense(1) bias.
    pub dense_b: f32,
    /// BatchNorm running (moving) mean.
    pub bn_mean: f32,
    /// BatchNorm running (moving) variance.
    pub bn_var: f32,
    /// BatchNorm scale γ.
    pub bn_gamma: f32,
    /// BatchNorm shift β.
    pub bn_beta: f32,
    /// BatchNorm epsilon.
    pub bn_eps: f32,
    /// Metrics of every epoch run (including ones before a resume).
    pub history: Vec<EpochMetrics>,
    /// 0-based epoch whose weights these are (lowest val_loss).
    pub best_epoch: u32,
}

impl RecNetModel {
    /// Predicted rating on the original scale for (user, item):
    /// sigmoid(bn(w · dot + b)) · (max − min) + min, computed on the CPU from
    /// the exported numbers (serving uses this). Out-of-range indices give NaN.
    pub fn predict(&self, u: u32, i: u32, rating_min: f32, rating_max: f32) -> f32 {
        let d = self.dim;
        let (u, i) = (u as usize, i as usize);
        if (u + 1) * d > self.user_emb.len() || (i + 1) * d > self.item_emb.len() {
            return f32::NAN;
        }
        let a = &self.user_emb[u * d..(u + 1) * d];
        let b = &self.item_emb[i * d..(i + 1) * d];
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        self.rating_from_dot(dot, rating_min, rating_max)
    }

    /// The rating head applied to a dot product (cosine) of the exported rows.
    pub fn rating_from_dot(&self, dot: f32, rating_min: f32, rating_max: f32) -> f32 {
        let z = self.dense_w * dot + self.dense_b;
        let z =
            (z - self.bn_mean) / (self.bn_var + self.bn_eps).sqrt() * self.bn_gamma + self.bn_beta;
        let p = 1.0 / (1.0 + (-z).exp());
        p * (rating_max - rating_min) + rating_min
    }

    /// True when the rating increases with the dot product (w·γ > 0), i.e.
    /// when ranking items by `user_emb[u]·item_emb[i]` equals ranking by
    /// [`predict`](Self::predict).
    pub fn head_increasing(&self) -> bool {
        self.dense_w * self.bn_gamma > 0.0
    }
}

/// Keras BatchNormalization defaults: momentum 0.99 (burn counts the other
/// way: weight of the new batch = 0.01) and epsilon 1e-3.
const BN_MOMENTUM: f64 = 0.01;
const BN_EPS: f64 = 1e-3;

/// The network. Field names are the record keys in checkpoints.
#[derive(Module, Debug)]
struct RecNet<B: Backend> {
    user_emb: Embedding<B>,
    item_emb: Embedding<B>,
    dense: Linear<B>,
    bn: BatchNorm<B>,
}

impl<B: Backend> RecNet<B> {
    /// Fresh weights from `seed`: embeddings and the Dense kernel `he_normal`
    /// (fan_in = rows, as Keras computes it for a 2-D weight), Dense bias 0,
    /// BatchNorm γ=1, β=0, moving mean 0, moving variance 1.
    fn init(n_users: usize, n_items: usize, dim: usize, seed: u64, device: &B::Device) -> Self {
        let mut rng = stream_rng(seed, STREAM_INIT, 0);
        let user = he_normal(n_users * dim, n_users, &mut rng);
        let item = he_normal(n_items * dim, n_items, &mut rng);
        let w = he_normal(1, 1, &mut rng);
        RecNet {
            user_emb: Embedding {
                weight: Param::from_tensor(tensor_from(user, [n_users, dim], device)),
            },
            item_emb: Embedding {
                weight: Param::from_tensor(tensor_from(item, [n_items, dim], device)),
            },
            dense: Linear {
                weight: Param::from_tensor(tensor_from(w, [1, 1], device)),
                bias: Some(Param::from_tensor(Tensor::zeros([1], device))),
            },
            bn: BatchNorm {
                gamma: Param::from_tensor(Tensor::ones([1], device)),
                beta: Param::from_tensor(Tensor::zeros([1], device)),
                running_mean: RunningState::new(Tensor::zeros([1], device)),
                running_var: RunningState::new(Tensor::ones([1], device)),
                momentum: BN_MOMENTUM,
                epsilon: BN_EPS,
            },
        }
    }
}

impl<B: Fused> RecNet<B> {
    /// Pre-sigmoid output (logit), [batch]. BatchNorm uses batch statistics
    /// on the autodiff backend and running ones on the plain one.
    fn forward(&self, users: &[u32], items: &[u32]) -> Tensor<B, 1> {
        let cos = B::cosine_pairs(
            self.user_emb.weight.val(),
            self.item_emb.weight.val(),
            users,
            items,
        );
        self.head(cos)
    }
}

impl<B: Backend> RecNet<B> {
    /// Dense(1) then BatchNorm(1) on a [batch] tensor: the same arithmetic
    /// as `bn.forward(dense.forward(x))` on [batch, 1] (a test checks values,
    /// gradients and running statistics). Why not call them: burn-ndarray
    /// reduces the broadcast gradients of a [batch, 1] tensor over axis 0
    /// one row at a time (one array allocation per row), which cost ~5 ms a
    /// batch; on a 1-D tensor the same reduction is a single lane.
    fn head(&self, x: Tensor<B, 1>) -> Tensor<B, 1> {
        let z = x * self.dense.weight.val().reshape([1]);
        let z = match &self.dense.bias {
            Some(b) => z + b.val(),
            None => z,
        };
        let bn = &self.bn;
        let (mean, var) = if B::ad_enabled(&z.device()) {
            // Batch statistics (biased variance), and the moving averages
            // updated exactly as burn's BatchNorm::forward_train does.
            let mean = z.clone().mean();
            let var = (z.clone() - mean.clone()).square().mean();
            let m = bn.momentum;
            let rm = bn.running_mean.value_sync().mul_scalar(1.0 - m)
                + mean.clone().detach().mul_scalar(m);
            let rv = bn.running_var.value_sync().mul_scalar(1.0 - m)
                + var.clone().detach().mul_scalar(m);
            bn.running_mean.update(rm.detach());
            bn.running_var.update(rv.detach());
            (mean, var)
        } else {
            (bn.running_mean.value(), bn.running_var.value())
        };
        (z - mean) / var.add_scalar(bn.epsilon).sqrt() * bn.gamma.val() + bn.beta.val()
    }
}

impl RecNet<EvalBackend> {
    fn export(&self, history: Vec<EpochMetrics>, best_epoch: u32) -> RecNetModel {
        let dim = self.user_emb.weight.dims()[1];
        let scalar = |t: Tensor<EvalBackend, 1>| host_vec(t).first().copied().unwrap_or(f32::NAN);
        RecNetModel {
            dim,
            user_emb: normalized_rows(host_vec(self.user_emb.weight.val()), dim),
            item_emb: normalized_rows(host_vec(self.item_emb.weight.val()), dim),
            dense_w: scalar(self.dense.weight.val().reshape([1])),
            dense_b: self
                .dense
                .bias
                .as_ref()
                .map(|b| scalar(b.val()))
                .unwrap_or(0.0),
            bn_mean: scalar(self.bn.running_mean.value()),
            bn_var: scalar(self.bn.running_var.value()),
            bn_gamma: scalar(self.bn.gamma.val()),
            bn_beta: scalar(self.bn.beta.val()),
            bn_eps: self.bn.epsilon as f32,
            history,
            best_epoch,
        }
    }
}

/// Rows scaled exactly as the model scales them (Keras `l2_normalize`).
fn normalized_rows(mut m: Vec<f32>, dim: usize) -> Vec<f32> {
    if dim > 0 {
        m.par_chunks_mut(dim).for_each(|row| {
            let k = inv_norm(row.iter().map(|x| x * x).sum());
            row.iter_mut().for_each(|x| *x *= k);
        });
    }
    m
}

type RecNetOptim = OptimizerAdaptor<KerasAdam, RecNet<TrainBackend>, TrainBackend>;

/// Binary cross-entropy from logits: max(z,0) − z·y + ln(1 + e^{−|z|}),
/// the stable form TF-Keras switches to when the output is a sigmoid.
fn bce_with_logits<B: Backend>(z: Tensor<B, 1>, y: Tensor<B, 1>) -> Tensor<B, 1> {
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

/// Resumable state of a recommender_net run (checkpoint metadata).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RecNetMeta {
    format: u32,
    kind: String,
    n_users: usize,
    n_items: usize,
    dim: usize,
    batch_size: usize,
    seed: u64,
    data_fingerprint: u64,
    /// First epoch still to run.
    next_epoch: u32,
    history: Vec<EpochMetrics>,
    /// Lowest monitored loss so far (None before the first epoch).
    best_loss: Option<f64>,
    best_epoch: Option<u32>,
    /// Epochs since the last improvement (Keras EarlyStopping `wait`).
    bad_epochs: u32,
    /// Early stopping fired; nothing more to train.
    stopped: bool,
}

const RECNET_CKPT: &str = "recommender_net.ckpt";
const CKPT_FORMAT: u32 = 1;

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
    train_recnet_inner(input, p, lr_at, on_epoch, None).map(|(_, m)| m)
}

/// [`train_recommender_net`] with a [`Probe`] called after each epoch, before
/// its checkpoint (a stop is recorded there, so a resume does not continue).
/// The weights returned are still those of the lowest validation loss.
pub fn train_recommender_net_probed(
    input: &TrainInput,
    p: &RecNetParams,
    lr_at: &dyn Fn(u32) -> f64,
    probe: Probe<'_, RecNetModel>,
) -> Result<RecNetModel, TrainError> {
    train_recnet_inner(input, p, lr_at, &mut |_| {}, Some(probe)).map(|(_, m)| m)
}

fn train_recnet_inner(
    input: &TrainInput,
    p: &RecNetParams,
    lr_at: &dyn Fn(u32) -> f64,
    on_epoch: &mut dyn FnMut(&EpochMetrics),
    mut probe: Option<Probe<'_, RecNetModel>>,
) -> Result<(RecNet<EvalBackend>, RecNetModel), TrainError> {
    input.check()?;
    check_recnet_params(p)?;
    let device = Default::default();
    let (nu, ni, dim) = (input.n_users, input.n_items, p.dim);
    let fresh_meta = RecNetMeta {
        format: CKPT_FORMAT,
        kind: "recommender_net".into(),
        n_users: nu,
        n_items: ni,
        dim,
        batch_size: p.batch_size,
        seed: p.seed,
        data_fingerprint: input.fingerprint(),
        next_epoch: 0,
        history: Vec::new(),
        best_loss: None,
        best_epoch: None,
        bad_epochs: 0,
        stopped: false,
    };
    let ckpt_path = p.checkpoint_dir.as_ref().map(|d| d.join(RECNET_CKPT));

    let mut model = RecNet::<TrainBackend>::init(nu, ni, dim, p.seed, &device);
    let mut optim: RecNetOptim = OptimizerAdaptor::from(KerasAdam::default());
    let mut best: Option<RecNet<EvalBackend>> = None;
    let mut meta = fresh_meta.clone();

    if let Some(path) = &ckpt_path {
        if let Some((m, blobs)) = read_checkpoint::<RecNetMeta>(path)? {
            check_resume(path, &m, &fresh_meta)?;
            let [model_b, optim_b, best_b] = blobs_n::<3>(path, blobs)?;
            let rec = Rec::default();
            let load = |what: &str, e: burn::record::RecorderError| {
                invalid(format!("checkpoint {}: {what} record: {e}", path.display()))
            };
            model = model.load_record(rec.load(model_b, &device).map_err(|e| load("model", e))?);
            optim = optim.load_record(
                rec.load(optim_b, &device)
                    .map_err(|e| load("optimizer", e))?,
            );
            if m.best_epoch.is_some() {
                let b = RecNet::<EvalBackend>::init(nu, ni, dim, p.seed, &device);
                best = Some(b.load_record(rec.load(best_b, &device).map_err(|e| load("best", e))?));
            }
            meta = m;
        }
    }

    let train = &input.train;
    let (rmin, rmax) = (input.rating_min, input.rating_max);
    let span = rmax - rmin;
    let targets: Vec<f32> = train
        .ratings
        .iter()
        .map(|&r| scale01(r, rmin, span))
        .collect();

    let mut epoch = meta.next_epoch;
    while epoch < p.epochs && !meta.stopped {
        let lr = lr_at(epoch);
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(invalid(format!(
                "lr_at({epoch}) = {lr}; need a finite value >= 0"
            )));
        }
        let t0 = Instant::now();
        let order = epoch_order(train.len(), p.seed, epoch);
        let mut loss_sum = 0f64;
        for batch in order.chunks(p.batch_size) {
            let users: Vec<u32> = batch.iter().map(|&r| train.users[r as usize]).collect();
            let items: Vec<u32> = batch.iter().map(|&r| train.items[r as usize]).collect();
            let y: Vec<f32> = batch.iter().map(|&r| targets[r as usize]).collect();
            let y = tensor_from::<TrainBackend, 1>(y, [batch.len()], &device);
            let loss = bce_with_logits(model.forward(&users, &items), y);
            loss_sum += loss.clone().into_scalar() as f64 * batch.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
        }
        let train_loss = loss_sum / train.len() as f64;
        let eval_model = model.valid();
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

        // Keras EarlyStopping: improvement iff strictly below the best.
        let monitored = if input.val.is_empty() {
            train_loss
        } else {
            val_loss
        };
        if let Some(probe) = probe.as_mut() {
            if probe(&metrics, &eval_model.export(Vec::new(), epoch)) {
                meta.stopped = true;
            }
        }
        if meta.best_loss.is_none_or(|b| monitored < b) {
            meta.best_loss = Some(monitored);
            meta.best_epoch = Some(epoch);
            meta.bad_epochs = 0;
            best = Some(eval_model);
        } else {
            meta.bad_epochs += 1;
            if p.patience.is_some_and(|pat| meta.bad_epochs >= pat) {
                meta.stopped = true;
            }
        }
        meta.history.push(metrics.clone());
        meta.next_epoch = epoch + 1;

        if let Some(path) = &ckpt_path {
            let rec = Rec::default();
            let enc = |what: &str, r: Result<Vec<u8>, burn::record::RecorderError>| {
                r.map_err(|e| invalid(format!("encoding the {what} record: {e}")))
            };
            let model_b = enc("model", rec.record(model.clone().into_record(), ()))?;
            let optim_b = enc("optimizer", rec.record(optim.to_record(), ()))?;
            let best_b = match &best {
                Some(b) => enc("best", rec.record(b.clone().into_record(), ()))?,
                None => Vec::new(),
            };
            write_checkpoint(path, &meta, &[&model_b, &optim_b, &best_b])?;
        }
        on_epoch(&metrics);
        epoch += 1;
    }

    pool::clear();
    // No epoch ran (epochs == 0): the initial weights are the result.
    let best = best.unwrap_or_else(|| model.valid());
    let exported = best.export(meta.history.clone(), meta.best_epoch.unwrap_or(0));
    Ok((best, exported))
}

fn check_resume(path: &Path, got: &RecNetMeta, want: &RecNetMeta) -> Result<(), TrainError> {
    let same = got.format == want.format
        && got.kind == want.kind
        && got.n_users == want.n_users
        && got.n_items == want.n_items
        && got.dim == want.dim
        && got.batch_size == want.batch_size
        && got.seed == want.seed
        && got.data_fingerprint == want.data_fingerprint;
    if same {
        Ok(())
    } else {
        Err(invalid(format!(
            "checkpoint {} was written for other data or parameters \
             (users {} vs {}, items {} vs {}, dim {} vs {}, batch {} vs {}, seed {} vs {}, \
             data {:016x} vs {:016x}); delete it or use another checkpoint_dir",
            path.display(),
            got.n_users,
            want.n_users,
            got.n_items,
            want.n_items,
            got.dim,
            want.dim,
            got.batch_size,
            want.batch_size,
            got.seed,
            want.seed,
            got.data_fingerprint,
            want.data_fingerprint
        )))
    }
}

// ---------------------------------------------------------------------------
// mf_bpr
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
    use super::testutil::{scratch_dir, strip_secs, Planted};
    use super::*;
    use std::fs;

    fn params(dim: usize, epochs: u32, batch: usize) -> RecNetParams {
        RecNetParams {
            dim,
            epochs,
            batch_size: batch,
            patience: None,
            seed: 7,
            checkpoint_dir: None,
        }
    }

    #[test]
    fn recnet_beats_global_mean() {
        let data = Planted::new(200, 100, 0.5, 0.5, 1);
        let input = data.input();
        let mean = data.train.2.iter().map(|&r| r as f64).sum::<f64>() / data.train.2.len() as f64;
        let base_mse = data
            .val
            .2
            .iter()
            .map(|&r| (r as f64 - mean).powi(2))
            .sum::<f64>()
            / data.val.2.len() as f64;
        let m =
            train_recommender_net(&input, &params(16, 25, 256), &|_| 0.01, &mut |_| {}).unwrap();
        let best = &m.history[m.best_epoch as usize];
        eprintln!(
            "global-mean MSE {base_mse:.3}, recnet val MSE {:.3} (epoch {})",
            best.val_mse, m.best_epoch
        );
        assert!(
            best.val_mse < 0.6 * base_mse,
            "{} vs {base_mse}",
            best.val_mse
        );
        // The exported numbers reproduce the reported val MSE.
        let mse = (0..data.val.0.len())
            .map(|k| (m.predict(data.val.0[k], data.val.1[k], 1.0, 10.0) - data.val.2[k]) as f64)
            .map(|e| e * e)
            .sum::<f64>()
            / data.val.0.len() as f64;
        assert!(
            (mse - best.val_mse).abs() < 1e-4,
            "{mse} vs {}",
            best.val_mse
        );
    }

    #[test]
    fn recnet_is_deterministic() {
        let data = Planted::new(60, 40, 0.5, 0.5, 2);
        let p = params(8, 3, 64);
        let a = train_recommender_net(&data.input(), &p, &|_| 0.01, &mut |_| {}).unwrap();
        let b = train_recommender_net(&data.input(), &p, &|_| 0.01, &mut |_| {}).unwrap();
        assert_eq!(strip_secs(&a.history), strip_secs(&b.history));
        assert_eq!(a.user_emb, b.user_emb);
        assert_eq!(a.item_emb, b.item_emb);
        let c = train_recommender_net(
            &data.input(),
            &RecNetParams { seed: 8, ..p },
            &|_| 0.01,
            &mut |_| {},
        )
        .unwrap();
        assert_ne!(a.user_emb, c.user_emb);
    }

    #[test]
    fn recnet_early_stopping_keeps_best() {
        // Sparse data, big embeddings, high lr: val loss turns up quickly.
        let data = Planted::new(100, 80, 0.12, 1.5, 3);
        let p = RecNetParams {
            patience: Some(3),
            ..params(64, 60, 32)
        };
        let mut seen = Vec::new();
        let m = train_recommender_net(&data.input(), &p, &|_| 0.05, &mut |e| seen.push(e.clone()))
            .unwrap();
        let h = &m.history;
        assert_eq!(&seen, h);
        assert!(h.len() < 60, "did not stop: {} epochs", h.len());
        let argmin = h
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.val_loss.total_cmp(&b.1.val_loss))
            .map(|x| x.0)
            .unwrap();
        assert_eq!(m.best_epoch as usize, argmin);
        assert_eq!(
            h.len(),
            argmin + 1 + 3,
            "stops `patience` epochs after the best"
        );
        // The returned weights are the best epoch's: they reproduce its val loss.
        let input = data.input();
        let loss = (0..input.val.len())
            .map(|k| {
                let pr = m.predict(input.val.users[k], input.val.items[k], 1.0, 10.0);
                let p01 = ((pr - 1.0) / 9.0) as f64;
                let y = ((input.val.ratings[k] - 1.0) / 9.0) as f64;
                -(y * p01.max(1e-12).ln() + (1.0 - y) * (1.0 - p01).max(1e-12).ln())
            })
            .sum::<f64>()
            / input.val.len() as f64;
        assert!(
            (loss - h[argmin].val_loss).abs() < 1e-4,
            "{loss} vs {}",
            h[argmin].val_loss
        );
        assert!(h.last().unwrap().val_loss > h[argmin].val_loss);
    }

    #[test]
    fn recnet_resume_matches_straight_run() {
        let data = Planted::new(60, 40, 0.5, 0.5, 4);
        let lr = |e: u32| 0.01 * 0.8f64.powi(e as i32);
        let straight =
            train_recommender_net(&data.input(), &params(8, 4, 64), &lr, &mut |_| {}).unwrap();

        let dir = scratch_dir("resume");
        let p = RecNetParams {
            checkpoint_dir: Some(dir.clone()),
            ..params(8, 2, 64)
        };
        let first = train_recommender_net(&data.input(), &p, &lr, &mut |_| {}).unwrap();
        assert_eq!(first.history.len(), 2);
        assert!(dir.join(RECNET_CKPT).exists());
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".anirec-tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
        let mut resumed_epochs = Vec::new();
        let p4 = RecNetParams {
            epochs: 4,
            ..p.clone()
        };
        let resumed = train_recommender_net(&data.input(), &p4, &lr, &mut |e| {
            resumed_epochs.push(e.epoch)
        })
        .unwrap();
        assert_eq!(resumed_epochs, vec![2, 3]);
        assert_eq!(strip_secs(&resumed.history), strip_secs(&straight.history));
        assert_eq!(resumed.user_emb, straight.user_emb);
        assert_eq!(resumed.item_emb, straight.item_emb);
        assert_eq!(resumed.best_epoch, straight.best_epoch);

        // A finished run resumes to the same answer without training.
        let again =
            train_recommender_net(&data.input(), &p4, &lr, &mut |_| panic!("trained again"))
                .unwrap();
        assert_eq!(again, resumed);

        // Other data in the same dir is refused, not mixed in.
        let other = Planted::new(60, 40, 0.5, 0.5, 5);
        let err = train_recommender_net(&other.input(), &p4, &lr, &mut |_| {}).unwrap_err();
        assert!(matches!(err, TrainError::Invalid(_)), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn corrupt_checkpoint_is_an_error() {
        let data = Planted::new(30, 20, 0.5, 0.5, 6);
        let dir = scratch_dir("corrupt");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(RECNET_CKPT), b"ANIREC-CKPT\n\x05\x00").unwrap();
        let p = RecNetParams {
            checkpoint_dir: Some(dir.clone()),
            ..params(4, 1, 32)
        };
        let err = train_recommender_net(&data.input(), &p, &|_| 0.01, &mut |_| {}).unwrap_err();
        assert!(matches!(err, TrainError::Invalid(_)), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn predict_matches_burn_eval_forward() {
        let data = Planted::new(50, 30, 0.5, 0.5, 7);
        let input = data.input();
        let (net, m) =
            train_recnet_inner(&input, &params(8, 3, 64), &|_| 0.02, &mut |_| {}, None).unwrap();
        let z = host_vec(net.forward(input.val.users, input.val.items));
        let mut worst = 0f32;
        for (k, &zk) in z.iter().enumerate() {
            let burn_pred = 1.0 / (1.0 + (-zk).exp()) * 9.0 + 1.0;
            let cpu = m.predict(input.val.users[k], input.val.items[k], 1.0, 10.0);
            worst = worst.max((burn_pred - cpu).abs());
        }
        assert_eq!(z.len(), input.val.len());
        assert!(worst < 1e-5, "max |burn - cpu| = {worst}");
        // BatchNorm statistics moved away from their initial values.
        assert!(m.bn_mean != 0.0 && m.bn_var != 1.0);
        assert!(m.predict(50, 0, 1.0, 10.0).is_nan());
    }

    /// `RecNet::head` (1-D) against burn's Linear + BatchNorm on [batch, 1]:
    /// outputs, parameter gradients and running statistics, in train mode,
    /// and outputs in eval mode.
    #[test]
    fn head_matches_burn_modules() {
        let device = Default::default();
        let n = 50;
        let x: Vec<f32> = (0..n)
            .map(|k| ((k * 37 % 11) as f32 / 5.0 - 1.0) * 0.9)
            .collect();
        let y: Vec<f32> = (0..n).map(|k| (k as f32 * 0.3).sin().abs()).collect();
        let net = || {
            let m = RecNet::<TrainBackend>::init(3, 3, 2, 5, &device);
            // A non-trivial head: weight, bias, γ, β and running stats away from defaults.
            RecNet {
                dense: Linear {
                    weight: Param::from_tensor(tensor_from(vec![-1.7], [1, 1], &device)),
                    bias: Some(Param::from_tensor(tensor_from(vec![0.3], [1], &device))),
                },
                bn: BatchNorm {
                    gamma: Param::from_tensor(tensor_from(vec![1.4], [1], &device)),
                    beta: Param::from_tensor(tensor_from(vec![-0.2], [1], &device)),
                    running_mean: RunningState::new(tensor_from(vec![0.1], [1], &device)),
                    running_var: RunningState::new(tensor_from(vec![2.0], [1], &device)),
                    ..m.bn
                },
                ..m
            }
        };
        let (a, b) = (net(), net());
        let ours = a.head(tensor_from(x.clone(), [n], &device));
        let burn_out = b
            .bn
            .forward(
                b.dense
                    .forward(tensor_from::<TrainBackend, 2>(x.clone(), [n, 1], &device)),
            )
            .reshape([n]);
        let close = |p: &[f32], q: &[f32]| {
            p.len() == q.len() && p.iter().zip(q).all(|(s, t)| (s - t).abs() < 1e-5)
        };
        assert!(close(&host_vec(ours.clone()), &host_vec(burn_out.clone())));
        let yt = || tensor_from::<TrainBackend, 1>(y.clone(), [n], &device);
        let ga = bce_with_logits(ours, yt()).backward();
        let gb = bce_with_logits(burn_out, yt()).backward();
        let grads = |m: &RecNet<TrainBackend>,
                     g: &<TrainBackend as burn::tensor::backend::AutodiffBackend>::Gradients|
         -> Vec<f32> {
            let mut v = host_vec(m.dense.weight.val().grad(g).unwrap());
            v.extend(host_vec(
                m.dense.bias.as_ref().unwrap().val().grad(g).unwrap(),
            ));
            v.extend(host_vec(m.bn.gamma.val().grad(g).unwrap()));
            v.extend(host_vec(m.bn.beta.val().grad(g).unwrap()));
            v
        };
        assert!(
            close(&grads(&a, &ga), &grads(&b, &gb)),
            "{:?} vs {:?}",
            grads(&a, &ga),
            grads(&b, &gb)
        );
        let stats = |m: &RecNet<TrainBackend>| {
            vec![
                host_vec(m.bn.running_mean.value())[0],
                host_vec(m.bn.running_var.value())[0],
            ]
        };
        assert!(close(&stats(&a), &stats(&b)));
        // Eval mode: running statistics.
        let (ea, eb) = (a.valid(), b.valid());
        let ours = ea.head(tensor_from(x.clone(), [n], &device));
        let burn_out = eb
            .bn
            .forward(
                eb.dense
                    .forward(tensor_from::<EvalBackend, 2>(x, [n, 1], &device)),
            )
            .reshape([n]);
        assert!(close(&host_vec(ours), &host_vec(burn_out)));
    }

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

    #[test]
    fn bad_input_is_rejected() {
        let (u, i, r) = (vec![0u32, 5], vec![0u32, 0], vec![5.0f32, 6.0]);
        let input = TrainInput {
            n_users: 3,
            n_items: 2,
            train: Triplets {
                users: &u,
                items: &i,
                ratings: &r,
            },
            val: Triplets {
                users: &[],
                items: &[],
                ratings: &[],
            },
            rating_min: 1.0,
            rating_max: 10.0,
        };
        let e =
            train_recommender_net(&input, &params(4, 1, 8), &|_| 0.01, &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("user 5"), "{e}");
        let ok = TrainInput {
            n_users: 6,
            ..input
        };
        assert!(train_recommender_net(&ok, &params(4, 1, 8), &|_| f64::NAN, &mut |_| {}).is_err());
        let m = train_recommender_net(&ok, &params(4, 2, 8), &|_| 0.01, &mut |_| {}).unwrap();
        assert!(m.history[0].val_loss.is_nan() && m.history[0].train_loss.is_finite());
    }
}
