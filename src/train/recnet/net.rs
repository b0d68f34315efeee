//! The recommender_net network as a burn module: its initialisation, its
//! forward pass on the fused cosine kernel, the Dense + BatchNorm head, and
//! its export into plain numbers.

use burn::module::{Module, Param, RunningState};
use burn::nn::{BatchNorm, Embedding, Linear};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::RecNetModel;
use crate::train::host::{host_vec, tensor_from, EvalBackend};
use crate::train::kernels::{inv_norm, Fused};
use crate::train::metrics::EpochMetrics;
use crate::train::rng::{he_normal, stream_rng, STREAM_INIT};

/// Keras BatchNormalization defaults: momentum 0.99 (burn counts the other
/// way: weight of the new batch = 0.01) and epsilon 1e-3.
const BN_MOMENTUM: f64 = 0.01;
const BN_EPS: f64 = 1e-3;

/// The network. Field names are the record keys in checkpoints.
#[derive(Module, Debug)]
pub(super) struct RecNet<B: Backend> {
    pub(super) user_emb: Embedding<B>,
    pub(super) item_emb: Embedding<B>,
    pub(super) dense: Linear<B>,
    pub(super) bn: BatchNorm<B>,
}

impl<B: Backend> RecNet<B> {
    /// Fresh weights from `seed`: embeddings and the Dense kernel `he_normal`
    /// (fan_in = rows, as Keras computes it for a 2-D weight), Dense bias 0,
    /// BatchNorm γ=1, β=0, moving mean 0, moving variance 1.
    pub(super) fn init(
        n_users: usize,
        n_items: usize,
        dim: usize,
        seed: u64,
        device: &B::Device,
    ) -> Self {
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
    pub(super) fn forward(&self, users: &[u32], items: &[u32]) -> Tensor<B, 1> {
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
    pub(super) fn head(&self, x: Tensor<B, 1>) -> Tensor<B, 1> {
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
    pub(super) fn export(&self, history: Vec<EpochMetrics>, best_epoch: u32) -> RecNetModel {
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
