//! Fused row kernels: gather + (normalised) dot products, a linear layer
//! over sparse input rows and a multinomial likelihood against sparse
//! targets, as custom autodiff ops whose forward and backward
//! are rayon loops over the tables' host slices (zero-copy, [`Host`]), with
//! the row gradients scatter-added straight into the dense table gradient.
//! Stock burn ops for the same model cost ~9× more per batch
//! (`benches/train.rs`, stock burn batch).

mod bpr;
mod cosine;
mod multinomial;
mod sparse;

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::ops::{Backward, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};

use super::host::{tensor_from, EvalBackend, Host};
use bpr::{bpr_forward, BprBackward};
use cosine::{cosine_forward, CosineBackward};
use multinomial::{nll_forward, NllBackward, NllState};
pub(crate) use sparse::SparseRows;
use sparse::{sparse_forward, SparseBackward, SparseState};

/// Keras `l2_normalize` epsilon: x * rsqrt(max(Σx², 1e-12)).
const L2_EPS: f32 = 1e-12;

/// Backends on which the fused kernels run. Implemented for the plain
/// ndarray backend (forward only) and for `Autodiff` of it (forward +
/// custom backward).
pub(crate) trait Fused: Backend {
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

    /// `x · w + b` for sparse rows `x` over `w`'s input dimension (`w` is
    /// [x.n_cols, n_out], burn's `Linear` layout), shape [x.rows(), n_out].
    /// No gradient flows to `x`.
    fn sparse_linear(w: Tensor<Self, 2>, b: Tensor<Self, 1>, x: &SparseRows) -> Tensor<Self, 2>;

    /// Per row r, −Σ_i y[r, i] · log softmax(logits[r])_i for sparse
    /// targets `y` over the logits' columns, shape [y.rows()].
    fn multinomial_nll(logits: Tensor<Self, 2>, y: &SparseRows) -> Tensor<Self, 1>;
}

// The small helpers below run per batch row from other files; `#[inline]`
// keeps them inlined there now that each file is its own codegen unit
// (incremental release builds), as when the kernels shared one module.
#[inline]
pub(crate) fn inv_norm(s: f32) -> f32 {
    1.0 / s.max(L2_EPS).sqrt()
}

#[inline]
fn row(m: &[f32], i: u32, d: usize) -> &[f32] {
    &m[i as usize * d..(i as usize + 1) * d]
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

    fn sparse_linear(w: Tensor<Self, 2>, b: Tensor<Self, 1>, x: &SparseRows) -> Tensor<Self, 2> {
        let device = w.device();
        let n_out = w.dims()[1];
        tensor_from(sparse_forward(&w, &b, x), [x.rows(), n_out], &device)
    }

    fn multinomial_nll(logits: Tensor<Self, 2>, y: &SparseRows) -> Tensor<Self, 1> {
        let device = logits.device();
        let (out, _) = nll_forward(&logits, y);
        tensor_from(out, [y.rows()], &device)
    }
}

/// The inner-backend tensor of an autodiff tensor (shares the buffer).
fn inner<B: Backend, const D: usize>(t: &FloatTensor<Autodiff<B>>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t.primitive.clone()))
}

/// `out` as the result of the custom op `op` on `parents`: recorded in the
/// graph, with `state` kept for its backward, when a parent is tracked.
fn tracked<B: Backend, O: Backward<B, N>, const N: usize, const D: usize>(
    op: O,
    parents: [&FloatTensor<Autodiff<B>>; N],
    state: O::State,
    out: FloatTensor<B>,
) -> Tensor<Autodiff<B>, D> {
    let prep = op.prepare::<NoCheckpointing>(parents.map(|t| t.node.clone()));
    let t = match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(state, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive(TensorPrimitive::Float(t))
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
        tracked(CosineBackward, [&u, &v], Arc::new(st), out)
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
        tracked(BprBackward, [&u, &v, &b], Arc::new(st), out)
    }

    fn sparse_linear(w: Tensor<Self, 2>, b: Tensor<Self, 1>, x: &SparseRows) -> Tensor<Self, 2> {
        let n_out = w.dims()[1];
        let w = w.into_primitive().tensor();
        let b = b.into_primitive().tensor();
        let wi = inner::<B, 2>(&w);
        let out = sparse_forward(&wi, &inner::<B, 1>(&b), x);
        let st = SparseState::new(x, n_out);
        let out = tensor_from::<B, 2>(out, [x.rows(), n_out], &wi.device())
            .into_primitive()
            .tensor();
        tracked(SparseBackward, [&w, &b], Arc::new(st), out)
    }

    fn multinomial_nll(logits: Tensor<Self, 2>, y: &SparseRows) -> Tensor<Self, 1> {
        let l = logits.into_primitive().tensor();
        let li = inner::<B, 2>(&l);
        let device = li.device();
        let (out, lse) = nll_forward(&li, y);
        let st = NllState::new(li, lse, y);
        let out = tensor_from::<B, 1>(out, [y.rows()], &device)
            .into_primitive()
            .tensor();
        tracked(NllBackward, [&l], Arc::new(st), out)
    }
}
