//! Fixtures shared by the trainers' and kernels' unit tests.

use std::fs;
use std::path::PathBuf;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::early_stop::Goal;
use super::epochs::{EpochRun, Snapshot, Trained, Verdict, Watcher};
use super::error::TrainError;
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

/// Same length, and every pair within `tol`: a fused op against the same
/// computation in stock burn ops.
pub(crate) fn close(x: &[f32], y: &[f32], tol: f32) -> bool {
    x.len() == y.len() && x.iter().zip(y).all(|(a, b)| (a - b).abs() < tol)
}

pub(crate) fn scratch_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("anirec-train-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

/// What early stopping watches in [`crash_and_resume`], by epoch: the best
/// is epoch 1, and epochs 2–4 do not improve on it, so with a patience of 3
/// a run stops after epoch 4 (5 epochs), whatever it trains.
const WATCHED: [f64; 8] = [0.5, 0.3, 0.4, 0.35, 0.45, 0.2, 0.1, 0.05];

/// A trainer under test: `(run, watcher) → trained`.
pub(crate) type TrainFn<'a, M> =
    &'a dyn Fn(&EpochRun, Watcher<'_, M>) -> Result<Trained<M>, TrainError>;

/// One run as a test sees it: what it returned, the last epoch's model and
/// the epochs its watcher saw.
struct Outcome<M> {
    trained: Trained<M>,
    last: Option<M>,
    seen: Vec<u32>,
}

fn bits<M: Snapshot>(m: &M) -> Vec<Vec<u32>> {
    m.arrays()
        .iter()
        .map(|a| a.iter().map(|x| x.to_bits()).collect())
        .collect()
}

/// The crash-and-resume check every epoch-trained model passes: a straight
/// run of up to 8 epochs (early stopping with patience 3 on [`WATCHED`],
/// so it stops after epoch 4 and returns epoch 1's model) against the same
/// run kept in a checkpoint whose file is copied aside when epoch `crash`
/// starts (it then holds `crash` epochs), put back after the run ("the
/// crash"), and resumed. Weights of the best and the last epoch, history
/// and best epoch must be bit for bit the straight run's; the resumed run
/// trains only the epochs after the crash, and a finished checkpoint
/// resumes without training. `history` reads a model's history (without
/// timings). Returns the run that keeps the checkpoint (at its finished
/// state) for refusal checks.
pub(crate) fn crash_and_resume<M: Snapshot>(
    name: &str,
    train: TrainFn<'_, M>,
    history: &dyn Fn(&M) -> Vec<[u64; 6]>,
) -> EpochRun {
    const CRASH: u32 = 3;
    let dir = scratch_dir(name);
    let (path, aside) = (dir.join(format!("{name}.ckpt")), dir.join("aside.ckpt"));
    let rule = Some((Goal::Lower, 3));
    let go = |run: &EpochRun, copy: bool| -> Outcome<M> {
        let (mut seen, mut last) = (Vec::new(), None);
        let trained = train(run, &mut |m, model| {
            if copy && m.epoch == CRASH {
                fs::copy(&path, &aside).expect("copy the checkpoint aside");
            }
            seen.push(m.epoch);
            last = Some(model.clone());
            Verdict {
                stop: false,
                watched: Some(WATCHED[m.epoch as usize]),
            }
        })
        .expect("train");
        Outcome {
            trained,
            last,
            seen,
        }
    };
    let straight = go(
        &EpochRun {
            checkpoint: None,
            early_stop: rule,
        },
        false,
    );
    let kept = EpochRun {
        checkpoint: Some(path.clone()),
        early_stop: rule,
    };
    let full = go(&kept, true);
    fs::copy(&aside, &path).expect("the crash");
    let resumed = go(&kept, false);

    assert_eq!(straight.seen, [0, 1, 2, 3, 4], "early stopping did not act");
    assert_eq!(
        resumed.seen,
        [3, 4],
        "the resume did not start at the crash"
    );
    assert_eq!(straight.trained.best_epoch, Some(1));
    for (what, o) in [("checkpointed", &full), ("resumed", &resumed)] {
        assert_eq!(o.trained.best_epoch, straight.trained.best_epoch, "{what}");
        let (a, b) = (&o.trained.model, &straight.trained.model);
        assert!(bits(a) == bits(b), "{what}: best epoch's weights differ");
        assert_eq!(history(a), history(b), "{what}: history");
        assert_eq!(history(a).len(), 5, "{what}: history");
        let (a, b) = (o.last.as_ref(), straight.last.as_ref());
        assert!(
            a.map(bits) == b.map(bits),
            "{what}: last epoch's weights differ"
        );
    }
    let again = train(&kept, &mut |_, _| panic!("a finished run trained again")).expect("again");
    assert!(
        bits(&again.model) == bits(&straight.trained.model),
        "a finished run's weights differ"
    );
    assert_eq!(history(&again.model), history(&straight.trained.model));
    kept
}
