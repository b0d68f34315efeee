//! The sparse first layer of mult_vae: `x · W + b` where each row of `x` is
//! one user's liked list (≈ 100 nonzeros among 17,500 anime). burn would
//! multiply the dense [batch, n_items] input, forward and again for W's
//! gradient: two of the three big products of a Mult-VAE step, almost all
//! of it zeros. Here the forward sums the W rows a user's items select and
//! the backward scatter-adds into those rows only.

use std::fmt;
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::tensor::{Tensor, TensorPrimitive};
use rayon::prelude::*;

use crate::train::host::{host_vec, scatter_grad, tensor_from, Host};

/// A batch of sparse rows over `n_cols` columns (CSR): row r's entries are
/// `cols[indptr[r]..indptr[r + 1]]` with values `vals` at the same places.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SparseRows {
    pub(crate) indptr: Vec<usize>,
    pub(crate) cols: Vec<u32>,
    pub(crate) vals: Vec<f32>,
    pub(crate) n_cols: usize,
}

impl SparseRows {
    /// Number of rows.
    pub(crate) fn rows(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }
}

/// What the backward needs: the input (W's gradient is xᵀ·g) and, per
/// nonzero, its row.
#[derive(Clone)]
pub(super) struct SparseState {
    x: SparseRows,
    row_of: Vec<u32>,
    n_out: usize,
}

impl fmt::Debug for SparseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SparseState(rows={}, nnz={})",
            self.x.rows(),
            self.x.cols.len()
        )
    }
}

impl SparseState {
    /// The backward's copy of `x` (only the autodiff path keeps one).
    pub(super) fn new(x: &SparseRows, n_out: usize) -> Self {
        let row_of = (0..x.rows())
            .flat_map(|r| std::iter::repeat_n(r as u32, x.indptr[r + 1] - x.indptr[r]))
            .collect();
        SparseState {
            x: x.clone(),
            row_of,
            n_out,
        }
    }
}

/// `x · w + b`, [rows, n_out] row-major; `w` is [x.n_cols, n_out] (burn's
/// `Linear` layout).
pub(super) fn sparse_forward<B: Host>(
    w: &Tensor<B, 2>,
    b: &Tensor<B, 1>,
    x: &SparseRows,
) -> Vec<f32> {
    let n_out = w.dims()[1];
    let mut out = vec![0f32; x.rows() * n_out];
    if n_out > 0 {
        B::with_slice(w, |ws| {
            B::with_slice(b, |bs| {
                out.par_chunks_mut(n_out).enumerate().for_each(|(r, o)| {
                    o.copy_from_slice(bs);
                    let (lo, hi) = (x.indptr[r], x.indptr[r + 1]);
                    for (&c, &v) in x.cols[lo..hi].iter().zip(&x.vals[lo..hi]) {
                        let wr = &ws[c as usize * n_out..(c as usize + 1) * n_out];
                        o.iter_mut().zip(wr).for_each(|(o, &w)| *o += v * w);
                    }
                })
            })
        });
    }
    out
}

#[derive(Debug)]
pub(super) struct SparseBackward;

impl<B: Host> Backward<B, 2> for SparseBackward {
    type State = Arc<SparseState>;

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let st = ops.state;
        let [parent_w, parent_b] = ops.parents;
        let g = host_vec(Tensor::<B, 2>::from_primitive(TensorPrimitive::Float(
            grads.consume::<B>(&ops.node),
        )));
        let (n, device) = (st.n_out, Default::default());
        if let Some(node) = parent_b {
            let mut db = vec![0f32; n];
            for gr in g.chunks_exact(n.max(1)) {
                db.iter_mut().zip(gr).for_each(|(d, &x)| *d += x);
            }
            let t = tensor_from::<B, 1>(db, [n], &device);
            grads.register::<B>(node.id, t.into_primitive().tensor());
        }
        if let Some(node) = parent_w {
            // ∂/∂W[c] = Σ over nonzeros (r, c) of x[r, c] · g[r].
            let add = |k: usize, dst: &mut [f32]| {
                let r = st.row_of[k] as usize;
                let v = st.x.vals[k];
                dst.iter_mut()
                    .zip(&g[r * n..(r + 1) * n])
                    .for_each(|(d, &x)| *d += v * x);
            };
            let dw = scatter_grad(&[(&st.x.cols, &add)], st.x.n_cols, n);
            let t = tensor_from::<B, 2>(dw, [st.x.n_cols, n], &device);
            grads.register::<B>(node.id, t.into_primitive().tensor());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SparseRows;
    use crate::train::host::{host_vec, tensor_from, EvalBackend, TrainBackend};
    use crate::train::kernels::Fused;
    use crate::train::testutil::close;

    #[test]
    fn sparse_linear_matches_a_dense_matmul() {
        type B = TrainBackend;
        let device = Default::default();
        let (n_in, n_out) = (7, 5);
        let x = SparseRows {
            indptr: vec![0, 3, 3, 5],
            cols: vec![0, 4, 6, 4, 1],
            vals: vec![0.5, -1.0, 2.0, 0.25, 3.0],
            n_cols: n_in,
        };
        let mut dense = vec![0f32; 3 * n_in];
        for r in 0..3 {
            for k in x.indptr[r]..x.indptr[r + 1] {
                dense[r * n_in + x.cols[k] as usize] = x.vals[k];
            }
        }
        let w0: Vec<f32> = (0..n_in * n_out).map(|k| (k as f32 * 0.37).sin()).collect();
        let b0: Vec<f32> = (0..n_out).map(|k| k as f32 * 0.1 - 0.2).collect();
        let up: Vec<f32> = (0..3 * n_out).map(|k| (k as f32 * 0.71).cos()).collect();
        let up = tensor_from::<B, 2>(up, [3, n_out], &device);

        let w = tensor_from::<B, 2>(w0.clone(), [n_in, n_out], &device).require_grad();
        let b = tensor_from::<B, 1>(b0.clone(), [n_out], &device).require_grad();
        let fused = <B as Fused>::sparse_linear(w.clone(), b.clone(), &x);
        let g = (fused.clone() * up.clone()).sum().backward();
        let (fw, fb) = (host_vec(w.grad(&g).unwrap()), host_vec(b.grad(&g).unwrap()));

        let w2 = tensor_from::<B, 2>(w0.clone(), [n_in, n_out], &device).require_grad();
        let b2 = tensor_from::<B, 1>(b0.clone(), [n_out], &device).require_grad();
        let xd = tensor_from::<B, 2>(dense, [3, n_in], &device);
        let stock = xd.matmul(w2.clone()) + b2.clone().unsqueeze::<2>();
        let g2 = (stock.clone() * up).sum().backward();
        let (sw, sb) = (
            host_vec(w2.grad(&g2).unwrap()),
            host_vec(b2.grad(&g2).unwrap()),
        );

        let out = host_vec(fused);
        assert!(close(&out, &host_vec(stock), 1e-5), "{out:?}");
        assert_eq!(&out[n_out..2 * n_out], &b0[..], "an empty row is the bias");
        assert!(close(&fw, &sw, 1e-5), "{fw:?}\n{sw:?}");
        assert!(close(&fb, &sb, 1e-5), "{fb:?}\n{sb:?}");
        // Rows of W no user's items select get no gradient.
        assert!(fw[2 * n_out..4 * n_out].iter().all(|&v| v == 0.0));

        // The forward-only backend gives the same numbers.
        let we = tensor_from::<EvalBackend, 2>(w0, [n_in, n_out], &device);
        let be = tensor_from::<EvalBackend, 1>(b0, [n_out], &device);
        let eval = host_vec(<EvalBackend as Fused>::sparse_linear(we, be, &x));
        assert_eq!(eval, out);
    }
}
