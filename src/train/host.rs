//! The backends, and fast host access to their f32 tensors: buffers handed
//! over without copies, and the parallel scatter-add of row gradients into a
//! dense table gradient that the fused kernels share.

use burn::backend::ndarray::NdArrayTensor;
use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData, TensorPrimitive};
use rayon::prelude::*;

use super::pool;

/// Backend used for training: CPU ndarray (f32) with autodiff.
pub type TrainBackend = Autodiff<NdArray<f32>>;
/// Backend used for evaluation: no autodiff graph, so BatchNorm uses its
/// running statistics (Keras inference mode).
pub type EvalBackend = NdArray<f32>;

/// Tensor data as an owned `Vec<f32>`. On ndarray a uniquely owned contiguous
/// tensor hands its buffer over without a copy.
pub(crate) fn host_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    let data = t.into_data().convert::<f32>();
    if data.as_slice::<f32>().is_err() {
        // Misaligned bytes (e.g. deserialised); convert element by element.
        return data.iter::<f32>().collect();
    }
    match data.into_vec::<f32>() {
        Ok(v) => v,
        Err(e) => unreachable!("f32 data that passed as_slice failed into_vec: {e:?}"),
    }
}

pub(crate) fn tensor_from<B: Backend, const D: usize>(
    v: Vec<f32>,
    shape: [usize; D],
    device: &B::Device,
) -> Tensor<B, D> {
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// Fast host access to a backend's f32 tensors. burn's generic paths are
/// slow here: `select` on ndarray builds one dynamic-rank view per gathered
/// row, and `into_data` of a shared tensor copies element by element.
pub(crate) trait Host: Backend {
    /// Runs `f` on the tensor's row-major f32 data (no copy when possible).
    fn with_slice<R, const D: usize>(t: &Tensor<Self, D>, f: impl FnOnce(&[f32]) -> R) -> R;
    /// The tensor's data as an owned buffer (moved out when not shared).
    fn take_vec<const D: usize>(t: Tensor<Self, D>) -> Vec<f32>;
}

impl Host for NdArray<f32> {
    fn with_slice<R, const D: usize>(t: &Tensor<Self, D>, f: impl FnOnce(&[f32]) -> R) -> R {
        let prim = t.clone().into_primitive().tensor();
        if let NdArrayTensor::F32(storage) = &prim {
            if let Some(slice) = storage.view().as_slice() {
                return f(slice);
            }
        }
        f(&host_vec(t.clone()))
    }

    fn take_vec<const D: usize>(t: Tensor<Self, D>) -> Vec<f32> {
        let prim = t.into_primitive().tensor();
        if let NdArrayTensor::F32(storage) = &prim {
            if !storage.is_unique() {
                if let Some(slice) = storage.view().as_slice() {
                    return slice.to_vec();
                }
            }
        }
        host_vec(Tensor::<Self, D>::from_primitive(TensorPrimitive::Float(
            prim,
        )))
    }
}

/// Adds batch row `r`'s gradient into `dst` (one table row).
pub(crate) type RowGrad<'a> = &'a (dyn Fn(usize, &mut [f32]) + Sync);

/// Dense [n_rows, dim] table gradient: for each source (indices, row
/// gradient) and batch row r, the gradient of r is added into table row
/// `idx[r]`. Row gradients are computed on the fly, so no [batch, dim]
/// buffer is materialised. Parallel over disjoint blocks of table rows;
/// within a table row additions happen in source then batch order, so the
/// result does not depend on the thread count.
pub(crate) fn scatter_grad(sources: &[(&[u32], RowGrad)], n_rows: usize, dim: usize) -> Vec<f32> {
    let mut out = pool::take_zeroed(n_rows * dim);
    if dim == 0 || n_rows == 0 {
        return out;
    }
    let blocks = rayon::current_num_threads().max(1);
    let rows_per = n_rows.div_ceil(blocks).max(1);
    out.par_chunks_mut(rows_per * dim)
        .enumerate()
        .for_each(|(b, block)| {
            let lo = b * rows_per;
            let hi = lo + block.len() / dim;
            for (idx, grad) in sources {
                for (r, &i) in idx.iter().enumerate() {
                    let i = i as usize;
                    if i >= lo && i < hi {
                        grad(r, &mut block[(i - lo) * dim..(i - lo + 1) * dim]);
                    }
                }
            }
        });
    out
}
