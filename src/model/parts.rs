//! The scoring parts an engine blends. Each scores every item for one user
//! context (a known user, or a list of liked items) and gives similar items.

use crate::sparse::Csr;

/// Dense row-major matrix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mat {
    pub rows: usize,
    pub cols: usize,
    /// rows × cols values.
    pub data: Vec<f32>,
}

impl Mat {
    /// Zero matrix.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }
    /// Row `r`.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
    /// Row `r`, mutable.
    pub fn row_mut(&mut self, r: usize) -> &mut [f32] {
        &mut self.data[r * self.cols..(r + 1) * self.cols]
    }
    /// `out[i] = row(i) · v` for every row; each value is bit-identical to
    /// [`dot`]`(row(i), v)`.
    pub fn matvec(&self, v: &[f32], out: &mut [f32]) {
        let c = self.cols.max(1);
        let rows = out.len().min(self.data.len() / c);
        matvec(&self.data[..rows * c], c, v, &mut out[..rows]);
    }
    /// [`Mat::matvec`] for several vectors in one pass over the matrix:
    /// `outs[j][i] = row(i) · vs[j]`, bit-identical to [`dot`]. The rows are
    /// taken a tile at a time (128 KiB, which stays in L2) and every vector
    /// is run over the tile, so the matrix is read from memory once per
    /// batch instead of once per vector; at 17,000 × 128 that read is what
    /// one user's scoring waits on.
    pub fn matvec_many(&self, vs: &[&[f32]], outs: &mut [Vec<f32>]) {
        matvec_tiled(&self.data, self.cols, vs, outs);
    }

    /// Scales every row to unit L2 norm (zero rows stay zero).
    pub fn normalize_rows(&mut self) {
        let c = self.cols.max(1);
        for row in self.data.chunks_exact_mut(c) {
            let n = dot(row, row).sqrt();
            if n > 0.0 {
                row.iter_mut().for_each(|x| *x /= n);
            }
        }
    }
}

/// [`Mat::matvec_many`] over a row-major `data` with `cols` columns that
/// the caller holds as a slice (a model's factor table): `outs[j][i] =
/// dot(row i, vs[j])` for the rows every output has room for.
pub(crate) fn matvec_tiled<O: AsMut<[f32]>>(
    data: &[f32],
    cols: usize,
    vs: &[&[f32]],
    outs: &mut [O],
) {
    const TILE_BYTES: usize = 128 * 1024;
    let c = cols.max(1);
    let tile = (TILE_BYTES / (4 * c)).max(4);
    let rows = outs
        .iter_mut()
        .take(vs.len())
        .map(|o| o.as_mut().len())
        .fold(data.len() / c, usize::min);
    let mut t0 = 0;
    while t0 < rows {
        let t1 = (t0 + tile).min(rows);
        let block = &data[t0 * c..t1 * c];
        for (v, o) in vs.iter().zip(outs.iter_mut()) {
            matvec(block, c, v, &mut o.as_mut()[t0..t1]);
        }
        t0 = t1;
    }
}

/// Dot product, written so the compiler vectorises it (8 independent lanes).
///
/// The summation order (lane `l` sums elements `l, l + 8, ...`; the lanes are
/// then added in order; then the tail) is the one every scoring path uses, so
/// the fast kernels below give bit-identical scores and rankings.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a8, _) = a[..n].as_chunks::<8>();
    let (b8, _) = b[..n].as_chunks::<8>();
    let mut acc = [0f32; 8];
    for (x, y) in a8.iter().zip(b8) {
        lanes(&mut acc, x, y);
    }
    let mut s: f32 = acc.iter().sum();
    for k in a8.len() * 8..n {
        s += a[k] * b[k];
    }
    s
}

#[inline(always)]
fn lanes(acc: &mut [f32; 8], x: &[f32; 8], y: &[f32; 8]) {
    for l in 0..8 {
        acc[l] += x[l] * y[l];
    }
}

/// `out[i] = dot(data[i*cols..(i+1)*cols], v)` for `out.len()` rows (`cols`
/// at least 1), with AVX2 when the CPU has it. The crate builds for baseline
/// x86-64 (SSE2) so one binary runs anywhere; this loop is where serving
/// spends its time, and AVX2 holds one row's 8 lanes in one register. Plain
/// `mul` + `add` (no FMA) in [`dot`]'s order, so both paths give exactly the
/// bits of [`dot`].
fn matvec(data: &[f32], cols: usize, v: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked on the line above.
        unsafe { matvec_avx2(data, cols, v, out) };
        return;
    }
    matvec_rows(data, cols, v, out);
}

fn matvec_rows(data: &[f32], cols: usize, v: &[f32], out: &mut [f32]) {
    for (o, row) in out.iter_mut().zip(data.chunks_exact(cols)) {
        *o = dot(row, v);
    }
}

/// Four rows at a time: each chunk of `v` is loaded once per four rows, and
/// four independent accumulators hide the add latency. Written with
/// intrinsics because the auto-vectoriser packed across rows instead of
/// lanes (and was 2.5× slower than plain [`dot`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn matvec_avx2(data: &[f32], cols: usize, v: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };
    #[inline(always)]
    fn load(x: &[f32; 8]) -> __m256 {
        // SAFETY: `x` is 8 readable f32 (unaligned loads are allowed).
        unsafe { _mm256_loadu_ps(x.as_ptr()) }
    }
    #[inline(always)]
    fn finish(acc: __m256, row: &[f32], v: &[f32], from: usize) -> f32 {
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` is 8 writable f32.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
        let mut s: f32 = lanes.iter().sum();
        for k in from..row.len().min(v.len()) {
            s += row[k] * v[k];
        }
        s
    }
    let n = cols.min(v.len());
    let (v8, _) = v[..n].as_chunks::<8>();
    let from = v8.len() * 8;
    let mut o4 = out.chunks_exact_mut(4);
    let mut r4 = data.chunks_exact(4 * cols);
    for (o, r) in (&mut o4).zip(&mut r4) {
        let (r0, r) = r.split_at(cols);
        let (r1, r) = r.split_at(cols);
        let (r2, r3) = r.split_at(cols);
        let m = v8.len();
        let (c0, c1, c2, c3) = (
            &r0.as_chunks::<8>().0[..m],
            &r1.as_chunks::<8>().0[..m],
            &r2.as_chunks::<8>().0[..m],
            &r3.as_chunks::<8>().0[..m],
        );
        let (mut a0, mut a1, mut a2, mut a3) = (
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
        );
        for k in 0..v8.len() {
            let y = load(&v8[k]);
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(load(&c0[k]), y));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(load(&c1[k]), y));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(load(&c2[k]), y));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(load(&c3[k]), y));
        }
        o[0] = finish(a0, r0, v, from);
        o[1] = finish(a1, r1, v, from);
        o[2] = finish(a2, r2, v, from);
        o[3] = finish(a3, r3, v, from);
    }
    matvec_rows(r4.remainder(), cols, v, o4.into_remainder());
}

/// Rating head of the original recommender_net: sigmoid(BN(w·cos + b)) scaled
/// back to the rating range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatingHead {
    /// Dense weight.
    pub w: f32,
    /// Dense bias.
    pub b: f32,
    /// BatchNorm running mean.
    pub bn_mean: f32,
    /// BatchNorm running variance.
    pub bn_var: f32,
    /// BatchNorm scale.
    pub bn_gamma: f32,
    /// BatchNorm shift.
    pub bn_beta: f32,
    /// BatchNorm epsilon.
    pub bn_eps: f32,
    /// Smallest train rating.
    pub rating_min: f32,
    /// Largest train rating.
    pub rating_max: f32,
}

impl RatingHead {
    /// Rating on the original scale from the embedding dot product.
    pub fn rating(&self, d: f32) -> f32 {
        let z = self.w * d + self.b;
        let z =
            (z - self.bn_mean) / (self.bn_var + self.bn_eps).sqrt() * self.bn_gamma + self.bn_beta;
        let p = 1.0 / (1.0 + (-z).exp());
        p * (self.rating_max - self.rating_min) + self.rating_min
    }
}

/// A scoring component.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// `score(u, i) = u · v_i + b_i`. A new user is folded in as the mean of
    /// the liked items' vectors. Similar items by cosine of item vectors.
    Factors {
        /// User vectors (n_users × d).
        user: Mat,
        /// Item vectors (n_items × d).
        item: Mat,
        /// Optional item bias.
        item_bias: Option<Vec<f32>>,
        /// Optional rating head (recommender_net).
        head: Option<RatingHead>,
    },
    /// `score(x, i) = Σ_{j ∈ x} W[j, i]`: EASE (pruned to the strongest
    /// weights per row) or item-item neighbourhoods.
    ItemItem {
        /// n_items × n_items sparse weights.
        weights: Csr,
        /// When set, only history items rated at least this much count
        /// (the weights were fitted on such "liked" ratings only).
        min_rating: Option<f32>,
    },
    /// Content vectors (L2-normalised rows, n_items × features); a user
    /// profile is the rating-weighted sum of the vectors of liked items.
    Content {
        /// Sparse item vectors.
        vectors: Csr,
        /// Items at or above this quantile of the user's ratings form the profile.
        like_quantile: f32,
    },
    /// User-based CF over rating histories.
    UserKnn {
        neighbors: usize,
        /// A neighbour's item counts as liked at or above this quantile of their ratings.
        like_quantile: f32,
        /// Optional user embeddings for similarity (else cosine of the raw rating vectors).
        user_vectors: Option<Mat>,
        /// Each known user's neighbours, found at fit time (rating
        /// similarity only); without it they are searched per request.
        index: Option<crate::model::knn_index::NeighbourIndex>,
    },
    /// A user-history autoencoder (`mult_vae`): liked items → dense
    /// layers → `h · v_i + b_i`; new users are encoded the same way.
    Autoencoder(super::autoencoder::Autoencoder),
    /// Log-popularity prior.
    Popularity {
        /// Per-item score.
        scores: Vec<f32>,
    },
}

impl Part {
    /// The per-item vectors whose cosines relate items (factor and
    /// autoencoder parts).
    pub fn item_vectors(&self) -> Option<&Mat> {
        match self {
            Part::Factors { item, .. } => Some(item),
            Part::Autoencoder(a) => Some(&a.item),
            _ => None,
        }
    }

    /// Short name for logs and reasons.
    pub fn name(&self) -> &'static str {
        match self {
            Part::Factors { .. } => "factors",
            Part::ItemItem { .. } => "item_item",
            Part::Content { .. } => "content",
            Part::UserKnn { .. } => "user_knn",
            Part::Popularity { .. } => "popularity",
            Part::Autoencoder(_) => "autoencoder",
        }
    }
}

/// Items at or above the `q` quantile of `ratings` (at least one item).
pub fn liked_mask(ratings: &[f32], q: f32) -> impl Fn(f32) -> bool {
    let mut v: Vec<f32> = ratings.iter().copied().filter(|r| r.is_finite()).collect();
    v.sort_unstable_by(f32::total_cmp);
    let cut = if v.is_empty() {
        f32::NEG_INFINITY
    } else {
        let pos = ((v.len() - 1) as f32 * q.clamp(0.0, 1.0)).round() as usize;
        v[pos.min(v.len() - 1)]
    };
    move |r: f32| r >= cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..37).map(|x| x as f32 * 0.5).collect();
        let b: Vec<f32> = (0..37).map(|x| 1.0 - x as f32 * 0.1).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
    }

    #[test]
    fn matvec_is_bit_identical_to_dot() {
        for (rows, cols) in [(13, 37), (9, 128), (4, 8), (3, 5), (0, 16)] {
            let mut m = Mat::zeros(rows, cols);
            for (k, x) in m.data.iter_mut().enumerate() {
                *x = ((k * 7919 % 1000) as f32 - 500.0) / 333.0;
            }
            let v: Vec<f32> = (0..cols).map(|k| (k as f32 * 0.37).sin()).collect();
            let mut out = vec![f32::NAN; rows];
            m.matvec(&v, &mut out);
            for (r, o) in out.iter().enumerate() {
                assert_eq!(
                    o.to_bits(),
                    dot(m.row(r), &v).to_bits(),
                    "row {r} of {rows}x{cols}"
                );
            }
            // The generic path (what non-AVX2 CPUs run) agrees too.
            let mut generic = vec![f32::NAN; rows];
            matvec_rows(&m.data, cols, &v, &mut generic);
            assert_eq!(
                generic.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                out.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn matvec_many_is_bit_identical_to_matvec() {
        let (rows, cols) = (1003, 40);
        let mut m = Mat::zeros(rows, cols);
        for (k, x) in m.data.iter_mut().enumerate() {
            *x = ((k * 7919 % 1000) as f32 - 500.0) / 333.0;
        }
        let vs: Vec<Vec<f32>> = (0..5)
            .map(|j| {
                (0..cols)
                    .map(|k| ((k + j * 31) as f32 * 0.37).sin())
                    .collect()
            })
            .collect();
        let refs: Vec<&[f32]> = vs.iter().map(Vec::as_slice).collect();
        let mut outs = vec![vec![f32::NAN; rows]; 5];
        m.matvec_many(&refs, &mut outs);
        for (v, o) in vs.iter().zip(&outs) {
            let mut one = vec![0.0; rows];
            m.matvec(v, &mut one);
            assert_eq!(
                one.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                o.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn liked_quantile() {
        let f = liked_mask(&[1.0, 5.0, 7.0, 9.0, 10.0], 0.75);
        assert!(f(9.0) && f(10.0) && !f(7.0));
        let all = liked_mask(&[3.0], 0.75);
        assert!(all(3.0));
    }
}
