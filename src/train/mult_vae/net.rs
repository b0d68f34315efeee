//! The Mult-VAE network as a burn module: stock burn layers, except that the
//! first layer reads the sparse liked lists and the likelihood compares
//! with the sparse targets through fused ops.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::tanh;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use rand::Rng;
use rand_pcg::Pcg64Mcg;

use crate::train::host::tensor_from;
use crate::train::kernels::{Fused, SparseRows};
use crate::train::rng::std_normal;

#[derive(Module, Debug)]
pub(super) struct MultVaeNet<B: Backend> {
    pub(super) enc: Linear<B>,
    /// hidden → [mean | log-variance].
    pub(super) enc_out: Linear<B>,
    pub(super) dec: Linear<B>,
    pub(super) dec_out: Linear<B>,
}

/// Liang et al.'s initialisation: Xavier-uniform weights, biases N(0, 0.001).
fn linear<B: Backend>(
    d_in: usize,
    d_out: usize,
    rng: &mut Pcg64Mcg,
    device: &B::Device,
) -> Linear<B> {
    let a = (6.0 / (d_in + d_out) as f64).sqrt();
    let w: Vec<f32> = (0..d_in * d_out)
        .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * a) as f32)
        .collect();
    let b: Vec<f32> = (0..d_out)
        .map(|_| (std_normal(rng) * 1e-3) as f32)
        .collect();
    Linear {
        weight: Param::from_tensor(tensor_from(w, [d_in, d_out], device)),
        bias: Some(Param::from_tensor(tensor_from(b, [d_out], device))),
    }
}

/// The two terms of the loss, each averaged over the batch's users.
pub(super) struct Losses<B: Backend> {
    pub(super) nll: Tensor<B, 1>,
    pub(super) kl: Tensor<B, 1>,
}

impl<B: Backend> MultVaeNet<B> {
    pub(super) fn init(
        n_items: usize,
        hidden: usize,
        latent: usize,
        rng: &mut Pcg64Mcg,
        device: &B::Device,
    ) -> Self {
        Self {
            enc: linear(n_items, hidden, rng, device),
            enc_out: linear(hidden, 2 * latent, rng, device),
            dec: linear(latent, hidden, rng, device),
            dec_out: linear(hidden, n_items, rng, device),
        }
    }
}

impl<B: Fused> MultVaeNet<B> {
    fn latent(&self) -> usize {
        self.dec.weight.dims()[0]
    }

    /// (mean, log-variance) of q(z | x).
    fn encode(&self, x: &SparseRows) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let b = x.rows();
        let l = self.latent();
        let w = self.enc.weight.val();
        let bias = match &self.enc.bias {
            Some(bias) => bias.val(),
            None => Tensor::zeros([w.dims()[1]], &w.device()),
        };
        let q = self.enc_out.forward(tanh(B::sparse_linear(w, bias, x)));
        (q.clone().slice([0..b, 0..l]), q.slice([0..b, l..2 * l]))
    }

    fn decode(&self, z: Tensor<B, 2>) -> Tensor<B, 2> {
        self.dec_out.forward(tanh(self.dec.forward(z)))
    }

    /// Losses of a batch: `x` the encoder input, `y` the positives to
    /// reconstruct, `eps` the standard-normal draws of the reparameterised
    /// sample (`None`: decode the mean, as at evaluation).
    pub(super) fn losses(
        &self,
        x: &SparseRows,
        y: &SparseRows,
        eps: Option<Tensor<B, 2>>,
    ) -> Losses<B> {
        let (mu, logvar) = self.encode(x);
        let z = match eps {
            Some(e) => mu.clone() + e * logvar.clone().mul_scalar(0.5).exp(),
            None => mu.clone(),
        };
        let nll = B::multinomial_nll(self.decode(z), y).mean();
        // KL(q ‖ N(0, I)) = ½ Σ (−log σ² + σ² + μ² − 1).
        let kl = (logvar.clone().exp() - logvar + mu.powi_scalar(2))
            .sub_scalar(1.0)
            .sum_dim(1)
            .mean()
            .mul_scalar(0.5);
        Losses { nll, kl }
    }
}

/// `rows × cols` standard-normal draws.
pub(super) fn normal(rows: usize, cols: usize, rng: &mut Pcg64Mcg) -> Vec<f32> {
    (0..rows * cols).map(|_| std_normal(rng) as f32).collect()
}
