//! A user-history autoencoder as a serving part (what `mult_vae` exports):
//! the user's liked items, binarised and L2-normalised, pass through dense
//! layers to a hidden vector `h`; an item's score is `h · v_i + b_i`.
//!
//! The output layer is stored item-major (`item`: n_items × hidden), the
//! shape of a factor part's item vectors, so scoring a batch reuses
//! [`Mat::matvec_many`] and similar-item lookups are cosines of those
//! vectors. Plain host arithmetic: the server never needs burn. A new user
//! is no special case — the encoder folds any liked list in.

use super::parts::{dot, Mat};

/// Most hidden layers a bundle may declare (mult_vae has three).
pub const MAX_LAYERS: usize = 8;

/// One dense layer, `y = act(x W + b)`, with `w` row-major `in × out`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// in × out weights.
    pub w: Mat,
    /// out biases.
    pub b: Vec<f32>,
    /// tanh after the affine map (else linear).
    pub tanh: bool,
}

/// Encoder layers + item-major output layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Autoencoder {
    /// Applied in order; the first reads the n_items input.
    pub layers: Vec<Dense>,
    /// Output weights, one row per item (n_items × last layer's width).
    pub item: Mat,
    /// Output bias per item.
    pub item_bias: Vec<f32>,
    /// History items rated at least this are the input (the positives the
    /// model was trained on); the others are ignored.
    pub min_rating: f32,
}

impl Autoencoder {
    /// The hidden vector of a history (`items` ascending, with `ratings`).
    /// An empty (or all-below-threshold) history encodes to the layers'
    /// response to a zero input, which still ranks by what is popular.
    pub fn encode(&self, items: &[u32], ratings: &[f32]) -> Vec<f32> {
        let Some((first, rest)) = self.layers.split_first() else {
            return Vec::new();
        };
        let liked = || {
            items
                .iter()
                .zip(ratings)
                .filter(|(_, &r)| r >= self.min_rating)
                .map(|(&j, _)| j as usize)
                .filter(|&j| j < first.w.rows)
        };
        // The input row is 1/sqrt(n) on each liked item: the first layer is
        // the scaled sum of those rows of W (the input is never densified).
        let n = liked().count();
        let mut h = first.b.clone();
        if n > 0 {
            let s = 1.0 / (n as f32).sqrt();
            for j in liked() {
                h.iter_mut()
                    .zip(first.w.row(j))
                    .for_each(|(a, w)| *a += s * w);
            }
        }
        activate(&mut h, first.tanh);
        for layer in rest {
            let mut y = layer.b.clone();
            for (x, row) in h.iter().zip(layer.w.data.chunks_exact(layer.w.cols.max(1))) {
                y.iter_mut().zip(row).for_each(|(a, w)| *a += x * w);
            }
            activate(&mut y, layer.tanh);
            h = y;
        }
        h
    }

    /// Scores of every item for a history into `out` (len n_items).
    pub fn score(&self, items: &[u32], ratings: &[f32], out: &mut [f32]) {
        let h = self.encode(items, ratings);
        self.item.matvec(&h, out);
        out.iter_mut()
            .zip(&self.item_bias)
            .for_each(|(o, b)| *o += b);
    }

    /// Squared norms of the item vectors (for cosine similar-item lookups).
    pub fn item_sq_norms(&self) -> Vec<f32> {
        (0..self.item.rows)
            .map(|r| dot(self.item.row(r), self.item.row(r)))
            .collect()
    }

    /// Why the shapes do not chain, if they do not: the first layer reads
    /// `n_items`, each layer reads the previous one's width, and the item
    /// vectors read the last.
    pub fn shape_error(&self, n_items: usize, max_dims: usize) -> Option<String> {
        if self.layers.is_empty() || self.layers.len() > MAX_LAYERS {
            return Some(format!(
                "{} encoder layers, expected 1 to {MAX_LAYERS}",
                self.layers.len()
            ));
        }
        let mut width = n_items;
        for (k, l) in self.layers.iter().enumerate() {
            if l.w.rows != width || l.w.cols == 0 || l.w.cols > max_dims || l.b.len() != l.w.cols {
                return Some(format!(
                    "layer {k} is {}×{} with {} biases, expected {width} inputs and 1 to {max_dims} outputs",
                    l.w.rows,
                    l.w.cols,
                    l.b.len()
                ));
            }
            width = l.w.cols;
        }
        if self.item.rows != n_items || self.item.cols != width || self.item_bias.len() != n_items {
            return Some(format!(
                "output is {}×{} with {} biases, expected {n_items}×{width}",
                self.item.rows,
                self.item.cols,
                self.item_bias.len()
            ));
        }
        None
    }
}

fn activate(x: &mut [f32], tanh: bool) {
    if tanh {
        x.iter_mut().for_each(|v| *v = v.tanh());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mat(rows: usize, cols: usize, data: &[f32]) -> Mat {
        Mat {
            rows,
            cols,
            data: data.to_vec(),
        }
    }

    /// 3 items → 2 (tanh) → 1 (linear) → items; worked by hand.
    fn tiny() -> Autoencoder {
        Autoencoder {
            layers: vec![
                Dense {
                    w: mat(3, 2, &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]),
                    b: vec![0.0, 0.5],
                    tanh: true,
                },
                Dense {
                    w: mat(2, 1, &[2.0, -1.0]),
                    b: vec![0.1],
                    tanh: false,
                },
            ],
            item: mat(3, 1, &[1.0, -1.0, 0.5]),
            item_bias: vec![0.0, 0.0, 1.0],
            min_rating: 7.0,
        }
    }

    #[test]
    fn encodes_the_normalised_liked_items_by_hand() {
        let a = tiny();
        // Items 0 and 2 liked (9, 8), item 1 below the threshold (3).
        let h = a.encode(&[0, 1, 2], &[9.0, 3.0, 8.0]);
        let s = 1.0 / 2f32.sqrt();
        let l1 = [(s * 2.0).tanh(), (0.5 + s).tanh()];
        let want = 2.0 * l1[0] - l1[1] + 0.1;
        assert_eq!(h.len(), 1);
        assert!((h[0] - want).abs() < 1e-6, "{} vs {want}", h[0]);
        let mut out = vec![0.0; 3];
        a.score(&[0, 1, 2], &[9.0, 3.0, 8.0], &mut out);
        assert!((out[0] - want).abs() < 1e-6);
        assert!((out[1] + want).abs() < 1e-6);
        assert!((out[2] - (0.5 * want + 1.0)).abs() < 1e-6);
    }

    #[test]
    fn empty_history_is_the_zero_input_response() {
        let a = tiny();
        let want = 2.0 * 0f32.tanh() - 0.5f32.tanh() + 0.1;
        let h = a.encode(&[], &[]);
        assert!((h[0] - want).abs() < 1e-6);
        // Out-of-range items (a forged request) are ignored, not indexed.
        assert_eq!(a.encode(&[99], &[10.0]), h);
    }

    #[test]
    fn shape_errors_name_the_layer() {
        let mut a = tiny();
        assert_eq!(a.shape_error(3, 16), None);
        assert!(a.shape_error(4, 16).unwrap().contains("layer 0"));
        a.layers[1].b.push(0.0);
        assert!(a.shape_error(3, 16).unwrap().contains("layer 1"));
    }
}
