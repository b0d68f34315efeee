//! Compressed sparse rows: the user × item matrices every model consumes
//! (shared by the data pipeline, the engine and the bundle).

/// Compressed sparse rows: row r's columns are `indices[indptr[r]..indptr[r+1]]`,
/// sorted ascending, unique.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Csr {
    /// Rows (users).
    pub n_rows: usize,
    /// Columns (items).
    pub n_cols: usize,
    /// Row starts, length n_rows + 1.
    pub indptr: Vec<usize>,
    /// Column of each entry.
    pub indices: Vec<u32>,
    /// Value of each entry.
    pub values: Vec<f32>,
}

impl Csr {
    /// Row `r`'s columns and values.
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[a..b], &self.values[a..b])
    }

    /// Stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Builds from triplets already sorted by (row, col) with unique pairs.
    pub fn from_sorted(
        n_rows: usize,
        n_cols: usize,
        rows: &[u32],
        cols: &[u32],
        vals: &[f32],
    ) -> Self {
        let mut indptr = vec![0usize; n_rows + 1];
        for &r in rows {
            indptr[r as usize + 1] += 1;
        }
        for i in 0..n_rows {
            indptr[i + 1] += indptr[i];
        }
        Csr {
            n_rows,
            n_cols,
            indptr,
            indices: cols.to_vec(),
            values: vals.to_vec(),
        }
    }

    /// Builds from unsorted triplets (test helper and small inputs).
    pub fn from_triplets(n_rows: usize, n_cols: usize, t: &[(u32, u32, f32)]) -> Self {
        let mut t = t.to_vec();
        t.sort_by_key(|&(r, c, _)| (r, c));
        t.dedup_by_key(|&mut (r, c, _)| (r, c));
        let rows: Vec<u32> = t.iter().map(|x| x.0).collect();
        let cols: Vec<u32> = t.iter().map(|x| x.1).collect();
        let vals: Vec<f32> = t.iter().map(|x| x.2).collect();
        Self::from_sorted(n_rows, n_cols, &rows, &cols, &vals)
    }

    /// Column counts (item popularity).
    pub fn col_counts(&self) -> Vec<u32> {
        let mut c = vec![0u32; self.n_cols];
        for &i in &self.indices {
            c[i as usize] += 1;
        }
        c
    }

    /// The entries whose value is at least `min` (same shape): the "liked"
    /// matrix that models fitted on high ratings only train on.
    pub fn at_least(&self, min: f32) -> Csr {
        let mut indptr = Vec::with_capacity(self.n_rows + 1);
        let mut indices = Vec::new();
        let mut values = Vec::new();
        indptr.push(0);
        for r in 0..self.n_rows {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                if v >= min {
                    indices.push(c);
                    values.push(v);
                }
            }
            indptr.push(indices.len());
        }
        Csr {
            n_rows: self.n_rows,
            n_cols: self.n_cols,
            indptr,
            indices,
            values,
        }
    }

    /// The transpose (item × user).
    pub fn transpose(&self) -> Csr {
        let mut indptr = vec![0usize; self.n_cols + 1];
        for &c in &self.indices {
            indptr[c as usize + 1] += 1;
        }
        for i in 0..self.n_cols {
            indptr[i + 1] += indptr[i];
        }
        let mut next = indptr.clone();
        let mut indices = vec![0u32; self.nnz()];
        let mut values = vec![0f32; self.nnz()];
        for r in 0..self.n_rows {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                let slot = &mut next[c as usize];
                indices[*slot] = r as u32;
                values[*slot] = v;
                *slot += 1;
            }
        }
        Csr {
            n_rows: self.n_cols,
            n_cols: self.n_rows,
            indptr,
            indices,
            values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_keeps_high_values_and_the_shape() {
        let m = Csr::from_triplets(3, 4, &[(0, 1, 8.0), (0, 3, 5.0), (2, 0, 7.0), (2, 2, 9.0)]);
        let liked = m.at_least(7.0);
        assert_eq!((liked.n_rows, liked.n_cols), (3, 4));
        assert_eq!(liked.indptr, vec![0, 1, 1, 3]);
        assert_eq!(liked.indices, vec![1, 0, 2]);
        assert_eq!(liked.values, vec![8.0, 7.0, 9.0]);
    }

    #[test]
    fn triplets_transpose_round_trip() {
        let m = Csr::from_triplets(2, 3, &[(1, 2, 5.0), (0, 1, 3.0), (0, 0, 1.0)]);
        assert_eq!(m.indptr, vec![0, 2, 3]);
        assert_eq!(m.row(0), (&[0u32, 1][..], &[1.0f32, 3.0][..]));
        let t = m.transpose();
        assert_eq!(t.row(2), (&[1u32][..], &[5.0f32][..]));
        assert_eq!(t.transpose(), m);
        assert_eq!(m.col_counts(), vec![1, 1, 1]);
    }
}
