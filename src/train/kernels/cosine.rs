//! The cosine kernel of recommender_net: cosine of row `ui[r]` of one table
//! and row `vi[r]` of the other, rows normalised like Keras
//! `Dot(normalize=True)`, with its backward as one scatter-add per table.

use std::fmt;
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorPrimitive};
use rayon::prelude::*;

use super::{inv_norm, row, L2_EPS};
use crate::train::host::{host_vec, scatter_grad, tensor_from, Host};

/// Forward state of `cosine_pairs`, kept for the backward pass. It holds the
/// tables themselves (reference-counted, no copy) rather than gathered rows:
/// they cannot change between forward and backward, and the graph (so this
/// state) is gone before the optimizer updates them in place.
#[derive(Clone)]
pub(super) struct CosineState<B: Backend> {
    pub(super) u: Tensor<B, 2>,
    v: Tensor<B, 2>,
    ui: Vec<u32>,
    vi: Vec<u32>,
    /// Σu², Σv² per batch row.
    su: Vec<f32>,
    sv: Vec<f32>,
    pub(super) cos: Vec<f32>,
    dim: usize,
}

impl<B: Backend> fmt::Debug for CosineState<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CosineState(rows={}, dim={})", self.cos.len(), self.dim)
    }
}
pub(super) fn cosine_forward<B: Host>(
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
pub(super) struct CosineBackward;

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

#[cfg(test)]
mod tests {
    use burn::tensor::Tensor;
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    use crate::train::host::{host_vec, tensor_from, TrainBackend};
    use crate::train::kernels::{Fused, L2_EPS};
    use crate::train::rng::std_normal;
    use crate::train::testutil::{close, index_tensor};

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

        assert!(close(&host_vec(fused), &host_vec(stock), 1e-5));
        assert!(close(&gu, &su, 1e-5), "{gu:?}\n{su:?}");
        assert!(close(&gv, &sv, 1e-5));
    }
}
