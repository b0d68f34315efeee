//! Adam in the Keras flavour, as a burn [`SimpleOptimizer`] that updates a
//! parameter in one parallel pass over buffers it takes over without copying.

use burn::optim::{AdamState, AdaptiveMomentumState, LearningRate, SimpleOptimizer};
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use super::host::Host;
use super::pool;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::host::{host_vec, tensor_from, EvalBackend, TrainBackend};

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
}
