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

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::module::{AutodiffModule, Module, Param, RunningState};
use burn::nn::{BatchNorm, Embedding, Linear};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{
    AdamState, AdaptiveMomentumState, GradientsParams, LearningRate, Optimizer, SimpleOptimizer,
};
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::activation::log_sigmoid;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorData, TensorPrimitive};
use rand::Rng;
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

mod error;
mod host;
mod input;
mod metrics;
mod pool;
mod rng;
#[cfg(test)]
mod testutil;

pub use error::TrainError;
pub use host::{EvalBackend, TrainBackend};
pub use input::{TrainInput, Triplets};
pub use metrics::{EpochMetrics, Probe};

use error::{invalid, io_err};
use host::{host_vec, scatter_grad, tensor_from, Host};
use rng::{
    epoch_order, he_normal, std_normal, stream_rng, STREAM_INIT, STREAM_NEG, STREAM_VAL_NEG,
};
// ---------------------------------------------------------------------------
// Fused row kernels (custom autodiff ops)
// ---------------------------------------------------------------------------

/// Keras `l2_normalize` epsilon: x * rsqrt(max(Σx², 1e-12)).
const L2_EPS: f32 = 1e-12;

/// Backends on which the fused kernels run. Implemented for the plain
/// ndarray backend (forward only) and for `Autodiff` of it (forward +
/// custom backward).
trait Fused: Backend {
    /// Cosine of row `ui[r]` of `u` and row `vi[r]` of `v` (rows normalised
    /// exactly like Keras `Dot(normalize=True)`), shape [len].
    fn cosine_pairs(
        u: Tensor<Self, 2>,
        v: Tensor<Self, 2>,
        ui: &[u32],
        vi: &[u32],
    ) -> Tensor<Self, 1>;

    /// BPR pieces, shape [2, len]: row 0 = u·(v_pos − v_neg) + b_pos − b_neg
    /// (score difference), row 1 = ‖u‖² + ‖v_pos‖² + ‖v_neg‖². The item bias
    /// is inside the op because burn-ndarray's `select` backward is slow.
    fn bpr_pairs(
        u: Tensor<Self, 2>,
        v: Tensor<Self, 2>,
        bias: Tensor<Self, 1>,
        ui: &[u32],
        pi: &[u32],
        ni: &[u32],
    ) -> Tensor<Self, 2>;
}

/// Forward state of `cosine_pairs`, kept for the backward pass. It holds the
/// tables themselves (reference-counted, no copy) rather than gathered rows:
/// they cannot change between forward and backward, and the graph (so this
/// state) is gone before the optimizer updates them in place.
#[derive(Clone)]
struct CosineState<B: Backend> {
    u: Tensor<B, 2>,
    v: Tensor<B, 2>,
    ui: Vec<u32>,
    vi: Vec<u32>,
    /// Σu², Σv² per batch row.
    su: Vec<f32>,
    sv: Vec<f32>,
    cos: Vec<f32>,
    dim: usize,
}

impl<B: Backend> fmt::Debug for CosineState<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CosineState(rows={}, dim={})", self.cos.len(), self.dim)
    }
}

fn inv_norm(s: f32) -> f32 {
    1.0 / s.max(L2_EPS).sqrt()
}

fn row(m: &[f32], i: u32, d: usize) -> &[f32] {
    &m[i as usize * d..(i as usize + 1) * d]
}

fn cosine_forward<B: Host>(
    u: Tensor<B, 2>,
    v: Tensor<B, 2>,
    ui: &[u32],
    vi: &[u32],
) -> CosineState<B> {
    let dim = u.dims()[1];
    let n = ui.len();
    let (mut su, mut sv, mut cos) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
    B::with_slice(&u, |us| {
        B::with_slice(&v, |vs| {
            su.par_iter_mut()
                .zip(sv.par_iter_mut())
                .zip(cos.par_iter_mut())
                .enumerate()
                .with_min_len(256)
                .for_each(|(r, ((su, sv), c))| {
                    let (a, b) = (row(us, ui[r], dim), row(vs, vi[r], dim));
                    let (mut aa, mut bb, mut ab) = (0f32, 0f32, 0f32);
                    for (x, y) in a.iter().zip(b) {
                        aa += x * x;
                        bb += y * y;
                        ab += x * y;
                    }
                    *su = aa;
                    *sv = bb;
                    *c = ab * inv_norm(aa) * inv_norm(bb);
                })
        })
    });
    CosineState {
        u,
        v,
        ui: ui.to_vec(),
        vi: vi.to_vec(),
        su,
        sv,
        cos,
        dim,
    }
}

impl<B: Host> CosineState<B> {
    /// Adds `g[r]`·∂cos_r/∂(row) into `dst`, for the u side (`side_u`) or the
    /// v side. With û = u/‖u‖: ∂(û·v̂)/∂u = (v̂ − cos·û)/‖u‖; when the norm is
    /// clamped at the epsilon the scale is a constant and the projection
    /// term vanishes.
    #[allow(clippy::too_many_arguments)]
    fn add_row_grad(
        &self,
        us: &[f32],
        vs: &[f32],
        g: &[f32],
        side_u: bool,
        r: usize,
        dst: &mut [f32],
    ) {
        let d = self.dim;
        let (a, b, s_own, s_other) = if side_u {
            (
                row(us, self.ui[r], d),
                row(vs, self.vi[r], d),
                self.su[r],
                self.sv[r],
            )
        } else {
            (
                row(vs, self.vi[r], d),
                row(us, self.ui[r], d),
                self.sv[r],
                self.su[r],
            )
        };
        let (io, ix) = (inv_norm(s_own), inv_norm(s_other));
        let proj = if s_own > L2_EPS {
            self.cos[r] * io
        } else {
            0.0
        };
        let k = g[r] * io;
        for ((o, x), y) in dst.iter_mut().zip(a).zip(b) {
            *o += k * (y * ix - proj * x);
        }
    }

    /// Dense gradient of Σ g[r]·cos_r for one table.
    fn table_grad(&self, g: &[f32], side_u: bool) -> Tensor<B, 2> {
        let (idx, n_rows) = if side_u {
            (&self.ui, self.u.dims()[0])
        } else {
            (&self.vi, self.v.dims()[0])
        };
        let dense = B::with_slice(&self.u, |us| {
            B::with_slice(&self.v, |vs| {
                let f = |r: usize, dst: &mut [f32]| self.add_row_grad(us, vs, g, side_u, r, dst);
                scatter_grad(&[(idx, &f)], n_rows, self.dim)
            })
        });
        tensor_from(dense, [n_rows, self.dim], &self.u.device())
    }
}

#[derive(Debug)]
struct CosineBackward;

impl<B: Host> Backward<B, 2> for CosineBackward {
    type State = Arc<CosineState<B>>;

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let st = ops.state;
        let [parent_u, parent_v] = ops.parents;
        let g = host_vec(Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(
            grads.consume::<B>(&ops.node),
        )));
        if let Some(node) = parent_u {
            let t = st.table_grad(&g, true);
            grads.register::<B>(node.id, t.into_primitive().tensor());
        }
        if let Some(node) = parent_v {
            let t = st.table_grad(&g, false);
            grads.register::<B>(node.id, t.into_primitive().tensor());
        }
    }
}

/// Forward state of `bpr_pairs` (tables held like in [`CosineState`]).
#[derive(Clone)]
struct BprState<B: Backend> {
    u: Tensor<B, 2>,
    v: Tensor<B, 2>,
    n_bias: usize,
    ui: Vec<u32>,
    pi: Vec<u32>,
    ni: Vec<u32>,
    dim: usize,
}

impl<B: Backend> fmt::Debug for BprState<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BprState(rows={}, dim={})", self.ui.len(), self.dim)
    }
}

/// Forward of `bpr_pairs`; the output is [2, len] row-major.
fn bpr_forward<B: Host>(
    u: Tensor<B, 2>,
    v: Tensor<B, 2>,
    bias: &Tensor<B, 1>,
    ui: &[u32],
    pi: &[u32],
    ni: &[u32],
) -> (BprState<B>, Vec<f32>) {
    let dim = u.dims()[1];
    let n = ui.len();
    let mut out = vec![0f32; n * 2];
    let (diff, sq) = out.split_at_mut(n);
    B::with_slice(&u, |us| {
        B::with_slice(&v, |vs| {
            B::with_slice(bias, |b| {
                diff.par_iter_mut()
                    .zip(sq.par_iter_mut())
                    .enumerate()
                    .with_min_len(256)
                    .for_each(|(r, (diff, sq))| {
                        let a = row(us, ui[r], dim);
                        let p = row(vs, pi[r], dim);
                        let q = row(vs, ni[r], dim);
                        let (mut d, mut s) = (0f32, 0f32);
                        for ((x, y), z) in a.iter().zip(p).zip(q) {
                            d += x * (y - z);
                            s += x * x + y * y + z * z;
                        }
                        *diff = d + b[pi[r] as usize] - b[ni[r] as usize];
                        *sq = s;
                    })
            })
        })
    });
    let st = BprState {
        u,
        v,
        n_bias: bias.dims()[0],
        ui: ui.to_vec(),
        pi: pi.to_vec(),
        ni: ni.to_vec(),
        dim,
    };
    (st, out)
}

#[derive(Debug)]
struct BprBackward;

impl<B: Host> Backward<B, 3> for BprBackward {
    type State = Arc<BprState<B>>;

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let st = ops.state;
        let [parent_u, parent_v, parent_b] = ops.parents;
        // gd[r] = ∂L/∂diff_r, gs[r] = ∂L/∂sq_r.
        let g = host_vec(Tensor::<B, 2>::from_primitive(TensorPrimitive::Float(
            grads.consume::<B>(&ops.node),
        )));
        let (gd, gs) = g.split_at(st.ui.len());
        let (d, device) = (st.dim, st.u.device());
        if let Some(node) = parent_b {
            // ∂/∂b_pos = gd, ∂/∂b_neg = −gd.
            let mut db = vec![0f32; st.n_bias];
            for (r, (&p, &q)) in st.pi.iter().zip(&st.ni).enumerate() {
                db[p as usize] += gd[r];
                db[q as usize] -= gd[r];
            }
            let t = tensor_from::<B, 1>(db, [st.n_bias], &device);
            grads.register::<B>(node.id, t.into_primitive().tensor());
        }
        let (n_u, n_v) = (st.u.dims()[0], st.v.dims()[0]);
        // Per batch row r, with g0 = ∂L/∂diff and g1 = ∂L/∂sq:
        //   ∂/∂u = g0·(v_pos − v_neg) + 2·g1·u
        //   ∂/∂v_pos = g0·u + 2·g1·v_pos ; ∂/∂v_neg = −g0·u + 2·g1·v_neg
        let (du, dv) = B::with_slice(&st.u, |us| {
            B::with_slice(&st.v, |vs| {
                let gu = |r: usize, dst: &mut [f32]| {
                    let (g0, g1) = (gd[r], 2.0 * gs[r]);
                    let (u, p, q) = (
                        row(us, st.ui[r], d),
                        row(vs, st.pi[r], d),
                        row(vs, st.ni[r], d),
                    );
                    for k in 0..d {
                        dst[k] += g0 * (p[k] - q[k]) + g1 * u[k];
                    }
                };
                let gp = |r: usize, dst: &mut [f32]| {
                    let (g0, g1) = (gd[r], 2.0 * gs[r]);
                    let (u, p) = (row(us, st.ui[r], d), row(vs, st.pi[r], d));
                    for k in 0..d {
                        dst[k] += g0 * u[k] + g1 * p[k];
                    }
                };
                let gn = |r: usize, dst: &mut [f32]| {
                    let (g0, g1) = (gd[r], 2.0 * gs[r]);
                    let (u, q) = (row(us, st.ui[r], d), row(vs, st.ni[r], d));
                    for k in 0..d {
                        dst[k] += -g0 * u[k] + g1 * q[k];
                    }
                };
                let du = parent_u
                    .as_ref()
                    .map(|_| scatter_grad(&[(&st.ui, &gu)], n_u, d));
                let dv = parent_v
                    .as_ref()
                    .map(|_| scatter_grad(&[(&st.pi, &gp), (&st.ni, &gn)], n_v, d));
                (du, dv)
            })
        });
        if let (Some(node), Some(du)) = (parent_u, du) {
            let t = tensor_from::<B, 2>(du, [n_u, d], &device);
            grads.register::<B>(node.id, t.into_primitive().tensor());
        }
        if let (Some(node), Some(dv)) = (parent_v, dv) {
            let t = tensor_from::<B, 2>(dv, [n_v, d], &device);
            grads.register::<B>(node.id, t.into_primitive().tensor());
        }
    }
}

impl Fused for EvalBackend {
    fn cosine_pairs(
        u: Tensor<Self, 2>,
        v: Tensor<Self, 2>,
        ui: &[u32],
        vi: &[u32],
    ) -> Tensor<Self, 1> {
        let device = u.device();
        let st = cosine_forward(u, v, ui, vi);
        tensor_from(st.cos, [ui.len()], &device)
    }

    fn bpr_pairs(
        u: Tensor<Self, 2>,
        v: Tensor<Self, 2>,
        bias: Tensor<Self, 1>,
        ui: &[u32],
        pi: &[u32],
        ni: &[u32],
    ) -> Tensor<Self, 2> {
        let device = u.device();
        let (_, out) = bpr_forward(u, v, &bias, ui, pi, ni);
        tensor_from(out, [2, ui.len()], &device)
    }
}

/// The inner-backend tensor of an autodiff tensor (shares the buffer).
fn inner<B: Backend, const D: usize>(t: &FloatTensor<Autodiff<B>>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t.primitive.clone()))
}

impl<B: Host> Fused for Autodiff<B> {
    fn cosine_pairs(
        u: Tensor<Self, 2>,
        v: Tensor<Self, 2>,
        ui: &[u32],
        vi: &[u32],
    ) -> Tensor<Self, 1> {
        let u = u.into_primitive().tensor();
        let v = v.into_primitive().tensor();
        let st = cosine_forward(inner::<B, 2>(&u), inner::<B, 2>(&v), ui, vi);
        let out = tensor_from::<B, 1>(st.cos.clone(), [ui.len()], &st.u.device())
            .into_primitive()
            .tensor();
        let prep = <CosineBackward as Backward<B, 2>>::prepare::<NoCheckpointing>(
            CosineBackward,
            [u.node.clone(), v.node.clone()],
        );
        let t = match prep.compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(Arc::new(st), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        Tensor::from_primitive(TensorPrimitive::Float(t))
    }

    fn bpr_pairs(
        u: Tensor<Self, 2>,
        v: Tensor<Self, 2>,
        bias: Tensor<Self, 1>,
        ui: &[u32],
        pi: &[u32],
        ni: &[u32],
    ) -> Tensor<Self, 2> {
        let u = u.into_primitive().tensor();
        let v = v.into_primitive().tensor();
        let b = bias.into_primitive().tensor();
        let (st, out) = bpr_forward(
            inner::<B, 2>(&u),
            inner::<B, 2>(&v),
            &inner::<B, 1>(&b),
            ui,
            pi,
            ni,
        );
        let out = tensor_from::<B, 2>(out, [2, ui.len()], &st.u.device())
            .into_primitive()
            .tensor();
        let prep = <BprBackward as Backward<B, 3>>::prepare::<NoCheckpointing>(
            BprBackward,
            [u.node.clone(), v.node.clone(), b.node.clone()],
        );
        let t = match prep.compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(Arc::new(st), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        Tensor::from_primitive(TensorPrimitive::Float(t))
    }
}

// ---------------------------------------------------------------------------
// Adam, Keras flavour, fused
// ---------------------------------------------------------------------------

/// Adam exactly as Keras applies it: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
/// θ ← θ − lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m / (√v + ε) — note ε is added to the
/// *uncorrected* √v (Keras' "epsilon hat"), unlike burn/PyTorch Adam.
/// Dense: every row of an embedding moves each step, as in Keras.
///
/// One parallel pass over the parameter, reusing the tensors' buffers; the
/// state is burn's own [`AdamState`], so records look like burn Adam's.
#[derive(Debug, Clone)]
pub struct KerasAdam {
    /// β₁ (Keras default 0.9).
    pub beta_1: f32,
    /// β₂ (Keras default 0.999).
    pub beta_2: f32,
    /// ε (Keras default 1e-7).
    pub epsilon: f32,
}

impl Default for KerasAdam {
    fn default() -> Self {
        KerasAdam {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
        }
    }
}

impl<B: Host> SimpleOptimizer<B> for KerasAdam {
    type State<const D: usize> = AdamState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let device = tensor.device();
        let dims = tensor.dims();
        let mut p = B::take_vec(tensor);
        let g = B::take_vec(grad);
        let n = p.len();
        let (time, mut m, mut v) = match state {
            Some(s) => (
                s.momentum.time + 1,
                B::take_vec(s.momentum.moment_1),
                B::take_vec(s.momentum.moment_2),
            ),
            None => (1, vec![0f32; n], vec![0f32; n]),
        };
        let t = time.min(i32::MAX as usize) as i32;
        let (b1, b2) = (self.beta_1 as f64, self.beta_2 as f64);
        let lr_t = (lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t))) as f32;
        let (b1, b2, eps) = (self.beta_1, self.beta_2, self.epsilon);
        const CHUNK: usize = 1 << 14;
        p.par_chunks_mut(CHUNK)
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .zip(g.par_chunks(CHUNK))
            .for_each(|(((p, m), v), g)| {
                for k in 0..p.len() {
                    let gk = g[k];
                    let mk = b1 * m[k] + (1.0 - b1) * gk;
                    let vk = b2 * v[k] + (1.0 - b2) * gk * gk;
                    m[k] = mk;
                    v[k] = vk;
                    p[k] -= lr_t * mk / (vk.sqrt() + eps);
                }
            });
        pool::give(g);
        let mk = |x: Vec<f32>| Tensor::<B, D>::from_data(TensorData::new(x, dims), &device);
        let state = AdamState::new(AdaptiveMomentumState::new(time, mk(m), mk(v)));
        (mk(p), Some(state))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

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

type Rec = NamedMpkBytesRecorder<FullPrecisionSettings>;

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
// Checkpoint file: magic, JSON metadata, then length-prefixed record blobs.
// ---------------------------------------------------------------------------

const MAGIC: &[u8; 12] = b"ANIREC-CKPT\n";

/// Writes `path` atomically (the crate's temp file + fsync + rename +
/// folder sync), so a crash leaves either the old or the new checkpoint.
fn write_checkpoint<M: Serialize>(
    path: &Path,
    meta: &M,
    blobs: &[&[u8]],
) -> Result<(), TrainError> {
    let meta =
        serde_json::to_vec(meta).map_err(|e| invalid(format!("checkpoint metadata: {e}")))?;
    crate::util::fsx::write_atomic_with(path, |f| {
        f.write_all(MAGIC)?;
        for part in std::iter::once(meta.as_slice()).chain(blobs.iter().copied()) {
            f.write_all(&(part.len() as u64).to_le_bytes())?;
            f.write_all(part)?;
        }
        Ok(())
    })
    .map_err(|e| io_err(path, "writing checkpoint", e))
}

/// A checkpoint as read: metadata and the record blobs.
type Checkpoint<M> = (M, Vec<Vec<u8>>);

/// Reads a checkpoint; `Ok(None)` when there is none.
fn read_checkpoint<M: for<'de> Deserialize<'de>>(
    path: &Path,
) -> Result<Option<Checkpoint<M>>, TrainError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path, "reading checkpoint", e)),
    };
    let corrupt = |why: &str| invalid(format!("checkpoint {} is corrupt: {why}", path.display()));
    let mut rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| corrupt("bad magic"))?;
    let mut parts = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<8>()
            .ok_or_else(|| corrupt("truncated"))?;
        let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| corrupt("length"))?;
        if tail.len() < len {
            return Err(corrupt("truncated"));
        }
        parts.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    if parts.is_empty() {
        return Err(corrupt("no metadata"));
    }
    let blobs = parts.split_off(1);
    let meta = serde_json::from_slice(&parts[0]).map_err(|e| corrupt(&e.to_string()))?;
    Ok(Some((meta, blobs)))
}

fn blobs_n<const N: usize>(path: &Path, blobs: Vec<Vec<u8>>) -> Result<[Vec<u8>; N], TrainError> {
    let n = blobs.len();
    blobs.try_into().map_err(|_| {
        invalid(format!(
            "checkpoint {} is corrupt: {n} record blobs, expected {N}",
            path.display()
        ))
    })
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
    use super::testutil::{index_tensor, scratch_dir, strip_secs, Planted};
    use super::*;
    use rand::SeedableRng;

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

    /// The fused cosine op against the same computation from stock burn ops:
    /// same forward, same table gradients.
    #[test]
    fn fused_cosine_matches_stock_burn() {
        type B = TrainBackend;
        let device = Default::default();
        let mut rng = Pcg64Mcg::seed_from_u64(9);
        let (nu, ni, d, n) = (7, 5, 6, 40);
        let mut mat = |r: usize| {
            tensor_from::<B, 2>(
                (0..r * d).map(|_| std_normal(&mut rng) as f32).collect(),
                [r, d],
                &device,
            )
        };
        let (u0, v0) = (mat(nu), mat(ni));
        let ui: Vec<u32> = (0..n as u32).map(|k| k * 3 % nu as u32).collect();
        let vi: Vec<u32> = (0..n as u32).map(|k| k * 7 % ni as u32).collect();
        let w: Vec<f32> = (0..n).map(|k| (k as f32 * 0.37).sin()).collect();
        let w = tensor_from::<B, 1>(w, [n], &device);

        let (u, v) = (u0.clone().require_grad(), v0.clone().require_grad());
        let fused = <B as Fused>::cosine_pairs(u.clone(), v.clone(), &ui, &vi);
        let g = (fused.clone() * w.clone()).sum().backward();
        let (gu, gv) = (host_vec(u.grad(&g).unwrap()), host_vec(v.grad(&g).unwrap()));

        let (u2, v2) = (u0.require_grad(), v0.require_grad());
        let norm =
            |x: Tensor<B, 2>| x.clone() / x.powi_scalar(2).sum_dim(1).clamp_min(L2_EPS).sqrt();
        let a = norm(u2.clone().select(0, index_tensor::<B>(&ui, &device)));
        let b = norm(v2.clone().select(0, index_tensor::<B>(&vi, &device)));
        let stock = (a * b).sum_dim(1).reshape([n]);
        let g2 = (stock.clone() * w).sum().backward();
        let (su, sv) = (
            host_vec(u2.grad(&g2).unwrap()),
            host_vec(v2.grad(&g2).unwrap()),
        );

        let close = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(a, b)| (a - b).abs() < 1e-5);
        assert!(close(&host_vec(fused), &host_vec(stock)));
        assert!(close(&gu, &su), "{gu:?}\n{su:?}");
        assert!(close(&gv, &sv));
    }

    #[test]
    fn fused_bpr_matches_stock_burn() {
        type B = TrainBackend;
        let device = Default::default();
        let mut rng = Pcg64Mcg::seed_from_u64(10);
        let (nu, ni, d, n) = (6, 9, 4, 30);
        let mut rnd =
            |k: usize| -> Vec<f32> { (0..k).map(|_| std_normal(&mut rng) as f32).collect() };
        let (u0, v0) = (
            tensor_from::<B, 2>(rnd(nu * d), [nu, d], &device),
            tensor_from::<B, 2>(rnd(ni * d), [ni, d], &device),
        );
        let b0 = tensor_from::<B, 1>(rnd(ni), [ni], &device);
        let ui: Vec<u32> = (0..n as u32).map(|k| k % nu as u32).collect();
        let pi: Vec<u32> = (0..n as u32).map(|k| k * 5 % ni as u32).collect();
        let qi: Vec<u32> = (0..n as u32).map(|k| (k * 2 + 1) % ni as u32).collect();
        let w = tensor_from::<B, 2>(
            (0..2 * n).map(|k| (k as f32 * 0.61).cos()).collect(),
            [2, n],
            &device,
        );

        let (u, v, b) = (
            u0.clone().require_grad(),
            v0.clone().require_grad(),
            b0.clone().require_grad(),
        );
        let fused = <B as Fused>::bpr_pairs(u.clone(), v.clone(), b.clone(), &ui, &pi, &qi);
        let g = (fused.clone() * w.clone()).sum().backward();
        let fused_grads = [
            host_vec(u.grad(&g).unwrap()),
            host_vec(v.grad(&g).unwrap()),
            host_vec(b.grad(&g).unwrap()),
        ];

        let (u2, v2, b2) = (u0.require_grad(), v0.require_grad(), b0.require_grad());
        let idx = |i: &[u32]| index_tensor::<B>(i, &device);
        let a = u2.clone().select(0, idx(&ui));
        let p = v2.clone().select(0, idx(&pi));
        let q = v2.clone().select(0, idx(&qi));
        let diff = (a.clone() * (p.clone() - q.clone()))
            .sum_dim(1)
            .reshape([n])
            + b2.clone().select(0, idx(&pi))
            - b2.clone().select(0, idx(&qi));
        let sq = (a.powi_scalar(2) + p.powi_scalar(2) + q.powi_scalar(2))
            .sum_dim(1)
            .reshape([n]);
        let stock = Tensor::cat(vec![diff.reshape([1, n]), sq.reshape([1, n])], 0);
        let g2 = (stock.clone() * w).sum().backward();
        let stock_grads = [
            host_vec(u2.grad(&g2).unwrap()),
            host_vec(v2.grad(&g2).unwrap()),
            host_vec(b2.grad(&g2).unwrap()),
        ];

        let close = |x: &[f32], y: &[f32]| {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| (a - b).abs() < 1e-4)
        };
        assert!(close(&host_vec(fused), &host_vec(stock)));
        for (f, s) in fused_grads.iter().zip(&stock_grads) {
            assert!(close(f, s), "{f:?}\n{s:?}");
        }
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
    fn keras_adam_matches_formula() {
        // One scalar parameter, two steps, against a hand computation.
        type B = TrainBackend;
        let device = Default::default();
        let opt = KerasAdam::default();
        let p = tensor_from::<EvalBackend, 1>(vec![1.0], [1], &device);
        let (p, s) = SimpleOptimizer::<EvalBackend>::step(
            &opt,
            0.1,
            p,
            tensor_from(vec![0.5], [1], &device),
            None,
        );
        let (p, _) = SimpleOptimizer::<EvalBackend>::step(
            &opt,
            0.1,
            p,
            tensor_from(vec![-0.2], [1], &device),
            s,
        );
        let (mut m, mut v, mut x) = (0f64, 0f64, 1f64);
        for (t, g) in [(1, 0.5f64), (2, -0.2)] {
            m = 0.9 * m + 0.1 * g;
            v = 0.999 * v + 0.001 * g * g;
            let lr_t = 0.1 * (1.0 - 0.999f64.powi(t)).sqrt() / (1.0 - 0.9f64.powi(t));
            x -= lr_t * m / (v.sqrt() + 1e-7);
        }
        assert!((host_vec(p)[0] as f64 - x).abs() < 1e-6);
        let _ = std::marker::PhantomData::<B>;
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
