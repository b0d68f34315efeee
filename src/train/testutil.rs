//! Fixtures shared by the trainers' and kernels' unit tests.

use std::fs;
use std::path::PathBuf;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::input::{TrainInput, Triplets};
use super::metrics::EpochMetrics;
use super::rng::std_normal;

pub(crate) fn index_tensor<B: Backend>(idx: &[u32], device: &B::Device) -> Tensor<B, 1, Int> {
    let v: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(v, [idx.len()]), device)
}

/// Ratings 1..10 from a rank-3 model on a fraction of all pairs, split
/// 80/20 into train/val.
pub(crate) struct Planted {
    pub(crate) n_users: usize,
    pub(crate) n_items: usize,
    pub(crate) train: (Vec<u32>, Vec<u32>, Vec<f32>),
    pub(crate) val: (Vec<u32>, Vec<u32>, Vec<f32>),
}

impl Planted {
    pub(crate) fn new(n_users: usize, n_items: usize, density: f64, noise: f64, seed: u64) -> Self {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let k = 3;
        let mut lat = |n: usize| -> Vec<f64> { (0..n * k).map(|_| std_normal(&mut rng)).collect() };
        let (pu, qi) = (lat(n_users), lat(n_items));
        let mut rng = Pcg64Mcg::seed_from_u64(seed ^ 77);
        let (mut train, mut val) = ((vec![], vec![], vec![]), (vec![], vec![], vec![]));
        for u in 0..n_users {
            for i in 0..n_items {
                if rng.random::<f64>() >= density {
                    continue;
                }
                let dot: f64 = (0..k).map(|c| pu[u * k + c] * qi[i * k + c]).sum();
                let r = (5.5 + 1.6 * dot + noise * std_normal(&mut rng))
                    .round()
                    .clamp(1.0, 10.0);
                let dst = if rng.random::<f64>() < 0.8 {
                    &mut train
                } else {
                    &mut val
                };
                dst.0.push(u as u32);
                dst.1.push(i as u32);
                dst.2.push(r as f32);
            }
        }
        Planted {
            n_users,
            n_items,
            train,
            val,
        }
    }

    pub(crate) fn input(&self) -> TrainInput<'_> {
        TrainInput {
            n_users: self.n_users,
            n_items: self.n_items,
            train: Triplets {
                users: &self.train.0,
                items: &self.train.1,
                ratings: &self.train.2,
            },
            val: Triplets {
                users: &self.val.0,
                items: &self.val.1,
                ratings: &self.val.2,
            },
            rating_min: 1.0,
            rating_max: 10.0,
        }
    }
}

/// History without timings, as bit patterns (so NaN equals NaN).
pub(crate) fn strip_secs(h: &[EpochMetrics]) -> Vec<[u64; 6]> {
    h.iter()
        .map(|m| {
            [
                m.epoch as u64,
                m.lr.to_bits(),
                m.train_loss.to_bits(),
                m.val_loss.to_bits(),
                m.val_mae.to_bits(),
                m.val_mse.to_bits(),
            ]
        })
        .collect()
}

pub(crate) fn scratch_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("anirec-train-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}
