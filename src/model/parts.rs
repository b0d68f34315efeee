//! The scoring parts an engine blends. Each scores every item for one user
//! context (a known user, or a list of liked items) and gives similar items.

use crate::sparse::Csr;

/// Dense row-major matrix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mat {
    /// Rows.
    pub rows: usize,
    /// Columns.
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
    /// `out[i] = row(i) · v` for every row.
    pub fn matvec(&self, v: &[f32], out: &mut [f32]) {
        for (o, row) in out.iter_mut().zip(self.data.chunks_exact(self.cols.max(1))) {
            *o = dot(row, v);
        }
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

/// Dot product, written so the compiler vectorises it (8 independent lanes).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let chunks = n / 8;
    for c in 0..chunks {
        let (x, y) = (&a[c * 8..c * 8 + 8], &b[c * 8..c * 8 + 8]);
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for k in chunks * 8..n {
        s += a[k] * b[k];
    }
    s
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
        /// Neighbours.
        neighbors: usize,
        /// A neighbour's item counts as liked at or above this quantile of their ratings.
        like_quantile: f32,
        /// Optional user embeddings for similarity (else mean-centred rating vectors).
        user_vectors: Option<Mat>,
    },
    /// Log-popularity prior.
    Popularity {
        /// Per-item score.
        scores: Vec<f32>,
    },
}

impl Part {
    /// Short name for logs and reasons.
    pub fn name(&self) -> &'static str {
        match self {
            Part::Factors { .. } => "factors",
            Part::ItemItem { .. } => "item_item",
            Part::Content { .. } => "content",
            Part::UserKnn { .. } => "user_knn",
            Part::Popularity { .. } => "popularity",
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
    fn liked_quantile() {
        let f = liked_mask(&[1.0, 5.0, 7.0, 9.0, 10.0], 0.75);
        assert!(f(9.0) && f(10.0) && !f(7.0));
        let all = liked_mask(&[3.0], 0.75);
        assert!(all(3.0));
    }
}
