//! Mult-VAE's reconstruction term as one op: per user, the multinomial
//! negative log-likelihood −Σ y_i · log softmax(logits)_i over the user's
//! targets (sparse). In stock burn ops it is log_softmax, a product with the
//! dense target matrix and a row sum, each a fresh [batch, n_items] tensor
//! forward and backward; here the forward is one pass per row (max, then the
//! log-sum-exp) and the backward one pass writing the logits' gradient,
//! g · (softmax · Σy − y).

use std::fmt;
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorPrimitive};
use rayon::prelude::*;

use super::SparseRows;
use crate::train::host::{host_vec, tensor_from, Host};

/// What the backward needs: the logits (reference-counted, no copy), each
/// row's log-sum-exp and the targets.
#[derive(Clone)]
pub(super) struct NllState<B: Backend> {
    logits: Tensor<B, 2>,
    lse: Vec<f32>,
    y: SparseRows,
}

impl<B: Backend> fmt::Debug for NllState<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NllState(rows={})", self.lse.len())
    }
}

impl<B: Backend> NllState<B> {
    /// The backward's state (only the autodiff path keeps one); `lse` from
    /// [`nll_forward`].
    pub(super) fn new(logits: Tensor<B, 2>, lse: Vec<f32>, y: &SparseRows) -> Self {
        NllState {
            logits,
            lse,
            y: y.clone(),
        }
    }
}

/// Per-row NLL of `logits` ([y.rows(), y.n_cols]) against targets `y`, and
/// each row's log-sum-exp.
pub(super) fn nll_forward<B: Host>(logits: &Tensor<B, 2>, y: &SparseRows) -> (Vec<f32>, Vec<f32>) {
    let n = y.n_cols.max(1);
    let rows = y.rows();
    let mut lse = vec![0f32; rows];
    let mut out = vec![0f32; rows];
    B::with_slice(logits, |l| {
        lse.par_iter_mut()
            .zip(out.par_iter_mut())
            .enumerate()
            .for_each(|(r, (lse, out))| {
                let row = &l[r * n..(r + 1) * n];
                let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                let s: f32 = row.iter().map(|&x| (x - m).exp()).sum();
                *lse = m + s.ln();
                let (lo, hi) = (y.indptr[r], y.indptr[r + 1]);
                *out = y.cols[lo..hi]
                    .iter()
                    .zip(&y.vals[lo..hi])
                    .map(|(&i, &v)| v * (*lse - row[i as usize]))
                    .sum();
            })
    });
    (out, lse)
}

#[derive(Debug)]
pub(super) struct NllBackward;

impl<B: Host> Backward<B, 1> for NllBackward {
    type State = Arc<NllState<B>>;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let st = ops.state;
        let [parent] = ops.parents;
        let g = host_vec(Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(
            grads.consume::<B>(&ops.node),
        )));
        let Some(node) = parent else {
            return;
        };
        let (y, n) = (&st.y, st.y.n_cols.max(1));
        let mut d = vec![0f32; y.rows() * n];
        B::with_slice(&st.logits, |l| {
            d.par_chunks_mut(n).enumerate().for_each(|(r, d)| {
                let (lo, hi) = (y.indptr[r], y.indptr[r + 1]);
                let total: f32 = y.vals[lo..hi].iter().sum();
                let (scale, lse) = (g[r] * total, st.lse[r]);
                let row = &l[r * n..(r + 1) * n];
                d.iter_mut()
                    .zip(row)
                    .for_each(|(d, &x)| *d = scale * (x - lse).exp());
                for (&i, &v) in y.cols[lo..hi].iter().zip(&y.vals[lo..hi]) {
                    d[i as usize] -= g[r] * v;
                }
            })
        });
        let t = tensor_from::<B, 2>(d, [y.rows(), n], &st.logits.device());
        grads.register::<B>(node.id, t.into_primitive().tensor());
    }
}

#[cfg(test)]
mod tests {
    use crate::train::testutil::close;
    use burn::tensor::activation::log_softmax;

    use super::SparseRows;
    use crate::train::host::{host_vec, tensor_from, EvalBackend, TrainBackend};
    use crate::train::kernels::Fused;

    #[test]
    fn multinomial_nll_matches_log_softmax_in_stock_burn() {
        type B = TrainBackend;
        let device = Default::default();
        let n = 6;
        let y = SparseRows {
            indptr: vec![0, 2, 2, 5],
            cols: vec![1, 4, 0, 2, 5],
            vals: vec![1.0, 1.0, 1.0, 0.5, 2.0],
            n_cols: n,
        };
        let mut dense = vec![0f32; 3 * n];
        for r in 0..3 {
            for k in y.indptr[r]..y.indptr[r + 1] {
                dense[r * n + y.cols[k] as usize] = y.vals[k];
            }
        }
        let l0: Vec<f32> = (0..3 * n).map(|k| (k as f32 * 0.53).sin() * 3.0).collect();
        let up = tensor_from::<B, 1>(vec![0.7, -1.3, 0.4], [3], &device);

        let l = tensor_from::<B, 2>(l0.clone(), [3, n], &device).require_grad();
        let fused = <B as Fused>::multinomial_nll(l.clone(), &y);
        let g = (fused.clone() * up.clone()).sum().backward();
        let fg = host_vec(l.grad(&g).unwrap());

        let l2 = tensor_from::<B, 2>(l0.clone(), [3, n], &device).require_grad();
        let yd = tensor_from::<B, 2>(dense, [3, n], &device);
        let stock = (log_softmax(l2.clone(), 1) * yd)
            .sum_dim(1)
            .neg()
            .reshape([3]);
        let g2 = (stock.clone() * up).sum().backward();
        let sg = host_vec(l2.grad(&g2).unwrap());

        let out = host_vec(fused);
        assert!(close(&out, &host_vec(stock), 1e-5), "{out:?}");
        assert_eq!(out[1], 0.0, "a user with no targets adds nothing");
        assert!(close(&fg, &sg, 1e-5), "{fg:?}\n{sg:?}");

        let le = tensor_from::<EvalBackend, 2>(l0, [3, n], &device);
        let eval = host_vec(<EvalBackend as Fused>::multinomial_nll(le, &y));
        assert_eq!(eval, out);
    }
}
