//! The BPR network as a burn module: initial factors, and the batch
//! objective on the fused BPR kernel.

use burn::module::{Module, Param};
use burn::nn::Embedding;
use burn::tensor::activation::log_sigmoid;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::train::host::tensor_from;
use crate::train::kernels::Fused;
use crate::train::rng::{std_normal, stream_rng, STREAM_INIT};

#[derive(Module, Debug)]
pub(super) struct MfBprNet<B: Backend> {
    pub(super) user_emb: Embedding<B>,
    pub(super) item_emb: Embedding<B>,
    pub(super) item_bias: Param<Tensor<B, 1>>,
}

/// Standard deviation of the initial BPR factors.
const BPR_INIT_STD: f64 = 0.1;

impl<B: Backend> MfBprNet<B> {
    pub(super) fn init(
        n_users: usize,
        n_items: usize,
        f: usize,
        seed: u64,
        device: &B::Device,
    ) -> Self {
        let mut rng = stream_rng(seed, STREAM_INIT, 0);
        let mut normal = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| (std_normal(&mut rng) * BPR_INIT_STD) as f32)
                .collect()
        };
        let (u, v) = (normal(n_users * f), normal(n_items * f));
        MfBprNet {
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

impl<B: Fused> MfBprNet<B> {
    /// Mean BPR objective of a batch of (user, pos, neg) triples.
    pub(super) fn loss(&self, u: &[u32], pos: &[u32], neg: &[u32], reg: f64) -> Tensor<B, 1> {
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
