//! The BPR kernel of mf_bpr: per (user, positive, negative) triple the score
//! difference (item biases included) and the squared norms for the L2 term,
//! with its backward as scatter-adds into the two tables and the bias.

use std::fmt;
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorPrimitive};
use rayon::prelude::*;

use super::row;
use crate::train::host::{host_vec, scatter_grad, tensor_from, Host};

/// Forward state of `bpr_pairs` (tables held like in the cosine kernel's state).
#[derive(Clone)]
pub(super) struct BprState<B: Backend> {
    pub(super) u: Tensor<B, 2>,
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
pub(super) fn bpr_forward<B: Host>(
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
                        let (d, s) = diff_and_norms(a, p, q);
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

/// u·(p − q) and ‖u‖² + ‖p‖² + ‖q‖² in eight lanes, summed at the end: a
/// single running sum is one long dependency chain the compiler may not
/// reorder into packed adds (the forward was ≈ 3 % of an mf_bpr epoch at
/// full MAL as scalar code).
#[inline]
fn diff_and_norms(u: &[f32], p: &[f32], q: &[f32]) -> (f32, f32) {
    const L: usize = 8;
    let (mut d, mut s) = ([0f32; L], [0f32; L]);
    let (uc, pc, qc) = (u.chunks_exact(L), p.chunks_exact(L), q.chunks_exact(L));
    let tail = uc
        .remainder()
        .iter()
        .zip(pc.remainder())
        .zip(qc.remainder());
    for ((u, p), q) in uc.zip(pc).zip(qc) {
        for k in 0..L {
            d[k] += u[k] * (p[k] - q[k]);
            s[k] += u[k] * u[k] + p[k] * p[k] + q[k] * q[k];
        }
    }
    let (mut dt, mut st) = (0f32, 0f32);
    for ((&u, &p), &q) in tail {
        dt += u * (p - q);
        st += u * u + p * p + q * q;
    }
    (d.iter().sum::<f32>() + dt, s.iter().sum::<f32>() + st)
}

#[derive(Debug)]
pub(super) struct BprBackward;

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
                    for (((o, &p), &q), &u) in dst.iter_mut().zip(p).zip(q).zip(u) {
                        *o += g0 * (p - q) + g1 * u;
                    }
                };
                let gp = |r: usize, dst: &mut [f32]| {
                    let (g0, g1) = (gd[r], 2.0 * gs[r]);
                    let (u, p) = (row(us, st.ui[r], d), row(vs, st.pi[r], d));
                    for ((o, &u), &p) in dst.iter_mut().zip(u).zip(p) {
                        *o += g0 * u + g1 * p;
                    }
                };
                let gn = |r: usize, dst: &mut [f32]| {
                    let (g0, g1) = (gd[r], 2.0 * gs[r]);
                    let (u, q) = (row(us, st.ui[r], d), row(vs, st.ni[r], d));
                    for ((o, &u), &q) in dst.iter_mut().zip(u).zip(q) {
                        *o += -g0 * u + g1 * q;
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

#[cfg(test)]
mod tests {
    use burn::tensor::Tensor;
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    use crate::train::host::{host_vec, tensor_from, TrainBackend};
    use crate::train::kernels::Fused;
    use crate::train::rng::std_normal;
    use crate::train::testutil::{close, index_tensor};

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

        assert!(close(&host_vec(fused), &host_vec(stock), 1e-4));
        for (f, s) in fused_grads.iter().zip(&stock_grads) {
            assert!(close(f, s, 1e-4), "{f:?}\n{s:?}");
        }
    }
}
