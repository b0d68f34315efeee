//! Principal component analysis down to two dimensions, for the embedding
//! plot. Dense rows (factor embeddings, tens to a few hundred dimensions):
//! the covariance is one GEMM (faer) and its exact symmetric
//! eigendecomposition. Sparse rows (content vectors, up to tens of thousands
//! of features): orthogonal iteration on the implicitly centred covariance,
//! never forming it.

use crate::sparse::Csr;
use faer::{Accum, Mat, Par, Side};

/// Rows to project.
pub(crate) enum Rows<'a> {
    /// Row-major n × d.
    Dense { data: &'a [f32], n: usize, d: usize },
    /// n × d sparse.
    Sparse(&'a Csr),
}

impl Rows<'_> {
    fn n(&self) -> usize {
        match self {
            Rows::Dense { n, .. } => *n,
            Rows::Sparse(m) => m.n_rows,
        }
    }
    fn d(&self) -> usize {
        match self {
            Rows::Dense { d, .. } => *d,
            Rows::Sparse(m) => m.n_cols,
        }
    }
    /// Calls `f(row, col, value)` for every stored value of row `r`.
    fn for_row(&self, r: usize, mut f: impl FnMut(usize, f64)) {
        match self {
            Rows::Dense { data, d, .. } => {
                for (j, &v) in data[r * d..(r + 1) * d].iter().enumerate() {
                    f(j, f64::from(v));
                }
            }
            Rows::Sparse(m) => {
                let (cols, vals) = m.row(r);
                for (&j, &v) in cols.iter().zip(vals) {
                    f(j as usize, f64::from(v));
                }
            }
        }
    }
}

/// The top two principal components and each row's coordinates on them.
#[derive(Debug, Clone)]
pub(crate) struct Pca {
    /// Unit component vectors (length d), largest variance first. Signs
    /// are fixed so each component's largest entry is positive. (The plot
    /// needs only the scores; the tests check these.)
    #[cfg_attr(not(test), allow(dead_code))]
    pub components: Vec<Vec<f64>>,
    /// Variance along each component.
    pub variance: Vec<f64>,
    /// Total variance (trace of the covariance).
    pub total_variance: f64,
    /// Per row: (PC1, PC2).
    pub scores: Vec<(f64, f64)>,
}

impl Pca {
    /// Share of the total variance the two components explain.
    pub fn explained(&self) -> (f64, f64) {
        let t = self.total_variance.max(f64::MIN_POSITIVE);
        (
            self.variance.first().copied().unwrap_or(0.0) / t,
            self.variance.get(1).copied().unwrap_or(0.0) / t,
        )
    }
}

/// Dense inputs up to this many columns use the exact covariance route.
const DENSE_MAX_D: usize = 2048;

/// PCA to two components. `None` for fewer than 3 rows or fewer than 2
/// columns (nothing to project).
pub(crate) fn pca2(rows: &Rows) -> Option<Pca> {
    let (n, d) = (rows.n(), rows.d());
    if n < 3 || d < 2 {
        return None;
    }
    let mut mean = vec![0.0f64; d];
    let mut sq = 0.0;
    for r in 0..n {
        rows.for_row(r, |j, v| {
            mean[j] += v;
            sq += v * v;
        });
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let denom = (n - 1) as f64;
    let mean_sq: f64 = mean.iter().map(|m| m * m).sum();
    let total_variance = ((sq - n as f64 * mean_sq) / denom).max(0.0);

    let (mut components, variance) = match rows {
        Rows::Dense { data, .. } if d <= DENSE_MAX_D => dense_top2(data, n, d, &mean, denom)?,
        _ => iterate_top2(rows, &mean, denom),
    };
    for c in &mut components {
        let big = c
            .iter()
            .copied()
            .fold(0.0f64, |a, v| if v.abs() > a.abs() { v } else { a });
        if big < 0.0 {
            c.iter_mut().for_each(|x| *x = -*x);
        }
    }
    let mean_dot: Vec<f64> = components
        .iter()
        .map(|c| c.iter().zip(&mean).map(|(a, b)| a * b).sum())
        .collect();
    let scores = (0..n)
        .map(|r| {
            let (mut a, mut b) = (0.0, 0.0);
            rows.for_row(r, |j, v| {
                a += v * components[0][j];
                b += v * components[1][j];
            });
            (a - mean_dot[0], b - mean_dot[1])
        })
        .collect();
    Some(Pca {
        components,
        variance,
        total_variance,
        scores,
    })
}

fn dense_top2(
    data: &[f32],
    n: usize,
    d: usize,
    mean: &[f64],
    denom: f64,
) -> Option<(Vec<Vec<f64>>, Vec<f64>)> {
    let x = Mat::<f64>::from_fn(n, d, |i, j| f64::from(data[i * d + j]) - mean[j]);
    let mut c = Mat::<f64>::zeros(d, d);
    faer::linalg::matmul::matmul(
        c.as_mut(),
        Accum::Replace,
        x.transpose(),
        x.as_ref(),
        1.0 / denom,
        Par::rayon(0),
    );
    let evd = c.self_adjoint_eigen(Side::Lower).ok()?;
    let (u, s) = (evd.U(), evd.S().column_vector());
    // Eigenvalues ascend: the last two columns are the top components.
    let comps = [d - 1, d - 2]
        .iter()
        .map(|&k| (0..d).map(|j| u[(j, k)]).collect())
        .collect();
    Some((comps, vec![s[d - 1].max(0.0), s[d - 2].max(0.0)]))
}

/// Orthogonal iteration with the operator v ↦ (XᵀX v − n μ (μ·v)) / (n−1).
fn iterate_top2(rows: &Rows, mean: &[f64], denom: f64) -> (Vec<Vec<f64>>, Vec<f64>) {
    let (n, d) = (rows.n(), rows.d());
    let apply = |v: &[f64]| -> Vec<f64> {
        let mv: f64 = v.iter().zip(mean).map(|(a, b)| a * b).sum();
        let mut out = vec![0.0; d];
        for r in 0..n {
            let mut xv = 0.0;
            rows.for_row(r, |j, x| xv += x * v[j]);
            rows.for_row(r, |j, x| out[j] += x * xv);
        }
        for (o, m) in out.iter_mut().zip(mean) {
            *o = (*o - n as f64 * m * mv) / denom;
        }
        out
    };
    // Deterministic, generic start (no zero overlap with any axis).
    let mut q: Vec<Vec<f64>> = (0..2)
        .map(|k| {
            (0..d)
                .map(|j| ((j * 7919 + k * 104_729 + 1) % 1000) as f64 / 1000.0 - 0.5)
                .collect()
        })
        .collect();
    orthonormalize(&mut q);
    for _ in 0..300 {
        let mut z: Vec<Vec<f64>> = q.iter().map(|v| apply(v)).collect();
        orthonormalize(&mut z);
        let converged = q.iter().zip(&z).all(|(a, b)| 1.0 - dot(a, b).abs() < 1e-12);
        q = z;
        if converged {
            break;
        }
    }
    // Rayleigh–Ritz on the 2-d subspace puts the two vectors on the
    // eigen-directions even if iteration stopped before separating them.
    let aq: Vec<Vec<f64>> = q.iter().map(|v| apply(v)).collect();
    let (a, b, c) = (dot(&q[0], &aq[0]), dot(&q[0], &aq[1]), dot(&q[1], &aq[1]));
    let tr = a + c;
    let disc = (((a - c) / 2.0).powi(2) + b * b).sqrt();
    let (l1, l2) = (tr / 2.0 + disc, tr / 2.0 - disc);
    let theta = 0.5 * (2.0 * b).atan2(a - c);
    let (cs, sn) = (theta.cos(), theta.sin());
    let v1: Vec<f64> = q[0]
        .iter()
        .zip(&q[1])
        .map(|(x, y)| cs * x + sn * y)
        .collect();
    let v2: Vec<f64> = q[0]
        .iter()
        .zip(&q[1])
        .map(|(x, y)| -sn * x + cs * y)
        .collect();
    (vec![v1, v2], vec![l1.max(0.0), l2.max(0.0)])
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Gram–Schmidt (twice, for stability).
fn orthonormalize(q: &mut [Vec<f64>]) {
    for _ in 0..2 {
        for k in 0..q.len() {
            for p in 0..k {
                let c = dot(&q[k], &q[p]);
                let (head, tail) = q.split_at_mut(k);
                for (x, y) in tail[0].iter_mut().zip(&head[p]) {
                    *x -= c * y;
                }
            }
            let norm = dot(&q[k], &q[k]).sqrt();
            if norm > 0.0 {
                q[k].iter_mut().for_each(|x| *x /= norm);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points with standard deviations 3, 2, 0.5 along the orthonormal
    /// directions u1, u2, u3 (a rotation of the axes), plus an offset.
    fn known() -> (Vec<f32>, usize, [[f64; 3]; 3]) {
        let s = 1.0 / 2f64.sqrt();
        let t = 1.0 / 3f64.sqrt();
        let u1 = [t, t, t];
        let u2 = [s, -s, 0.0];
        let u3 = [s * t * 1.0, s * t * 1.0, -2.0 * s * t];
        // a symmetric ±1 design: every coefficient pattern once, so the
        // sample covariance is exactly diagonal in the u basis
        let mut data = Vec::new();
        let mut n = 0;
        for a in [-1.0, 1.0] {
            for b in [-1.0, 1.0] {
                for c in [-1.0, 1.0] {
                    for k in 0..3 {
                        let v = 10.0 + 3.0 * a * u1[k] + 2.0 * b * u2[k] + 0.5 * c * u3[k];
                        data.push(v as f32);
                    }
                    n += 1;
                }
            }
        }
        (data, n, [u1, u2, u3])
    }

    fn assert_parallel(a: &[f64], b: &[f64]) {
        let c = dot(a, b).abs();
        assert!((c - 1.0).abs() < 1e-5, "{a:?} vs {b:?}: |cos| = {c}");
    }

    #[test]
    fn dense_recovers_the_known_components() {
        let (data, n, u) = known();
        let p = pca2(&Rows::Dense {
            data: &data,
            n,
            d: 3,
        })
        .unwrap();
        assert_parallel(&p.components[0], &u[0]);
        assert_parallel(&p.components[1], &u[1]);
        // variances 9·8/7 and 4·8/7 (sample covariance, n−1 = 7)
        assert!(
            (p.variance[0] - 9.0 * 8.0 / 7.0).abs() < 1e-4,
            "{:?}",
            p.variance
        );
        assert!(
            (p.variance[1] - 4.0 * 8.0 / 7.0).abs() < 1e-4,
            "{:?}",
            p.variance
        );
        let total = (9.0 + 4.0 + 0.25) * 8.0 / 7.0;
        assert!((p.total_variance - total).abs() < 1e-4);
        let (e1, e2) = p.explained();
        assert!((e1 - 9.0 / 13.25).abs() < 1e-5 && (e2 - 4.0 / 13.25).abs() < 1e-5);
        // the first point has coefficients (−1, −1, −1): scores are ±(3, 2)
        assert!(
            (p.scores[0].0.abs() - 3.0).abs() < 1e-4,
            "{:?}",
            p.scores[0]
        );
        assert!(
            (p.scores[0].1.abs() - 2.0).abs() < 1e-4,
            "{:?}",
            p.scores[0]
        );
        // scores are centred
        let m: f64 = p.scores.iter().map(|s| s.0).sum::<f64>() / n as f64;
        assert!(m.abs() < 1e-5);
    }

    #[test]
    fn sparse_iteration_matches_the_dense_route() {
        let (data, n, u) = known();
        let mut t = Vec::new();
        for r in 0..n {
            for k in 0..3 {
                t.push((r as u32, k as u32, data[r * 3 + k]));
            }
        }
        let m = Csr::from_triplets(n, 3, &t);
        let p = pca2(&Rows::Sparse(&m)).unwrap();
        assert_parallel(&p.components[0], &u[0]);
        assert_parallel(&p.components[1], &u[1]);
        assert!(
            (p.variance[0] - 9.0 * 8.0 / 7.0).abs() < 1e-4,
            "{:?}",
            p.variance
        );
        let dense = pca2(&Rows::Dense {
            data: &data,
            n,
            d: 3,
        })
        .unwrap();
        for (a, b) in p.scores.iter().zip(&dense.scores) {
            assert!((a.0 - b.0).abs() < 1e-4 && (a.1 - b.1).abs() < 1e-4);
        }
    }

    #[test]
    fn too_little_to_project() {
        assert!(pca2(&Rows::Dense {
            data: &[1.0, 2.0],
            n: 1,
            d: 2
        })
        .is_none());
        assert!(pca2(&Rows::Dense {
            data: &[1.0, 2.0, 3.0],
            n: 3,
            d: 1
        })
        .is_none());
    }

    #[test]
    fn mal_scale_embeddings_project_fast() {
        let (n, d) = (17_000, 128);
        let mut s = 12345u64;
        let data: Vec<f32> = (0..n * d)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect();
        let t = std::time::Instant::now();
        let p = pca2(&Rows::Dense { data: &data, n, d }).unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(p.scores.len(), n);
        assert!(secs < 2.0, "PCA of 17,000 × 128 took {secs:.2} s");
    }
}
