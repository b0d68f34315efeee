//! Training timings at MAL scale (4,200 users × 17,000 anime, 3.18M train
//! rows), the checks that used to be ignored unit tests in `src/train`:
//!
//! * why the fused kernels exist: one batch of recommender_net (10,000 rows,
//!   dim 128) composed from stock burn pieces (Embedding, ops for the
//!   normalised dot, Linear, BatchNorm, burn's Adam); the fused model's whole
//!   epoch (318 such batches) is `benches/pipeline.rs`'s `train` group;
//! * one mf_bpr epoch (64 factors, batch 4,096);
//! * one mult_vae epoch (stock burn ops; `benches/keras_mult_vae.py` is the
//!   Keras side of the comparison);
//! * one feature_mf epoch (WARP, 64 factors, ids + 4 tags per item);
//! * what a recommender_net checkpoint costs: one checkpointed epoch, and a
//!   resume that only loads a finished run's checkpoint and exports it.
//!
//! Run: `cargo bench --bench train` (under `nice`, with `uptime`, on a shared
//! machine).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anirec::config::OptimizerKind;
use anirec::sparse::Csr;
use anirec::train::{
    train_feature_mf, train_mf_bpr, train_mult_vae, train_recommender_net, EpochRun,
    FeatureMfParams, MfBprParams, MultVae, RecNetParams, TrainBackend, TrainInput, Triplets,
    Verdict,
};
use burn::backend::ndarray::NdArrayDevice;
use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use criterion::{criterion_group, criterion_main, Criterion};

const USERS: u32 = 4_200;
const ITEMS: u32 = 17_000;
const ROWS: usize = 3_180_000;

/// Rating triplets from a cheap deterministic generator: the cost of an
/// epoch does not depend on what the ratings mean.
struct Data {
    users: Vec<u32>,
    items: Vec<u32>,
    ratings: Vec<f32>,
}

fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

impl Data {
    fn mal_scale() -> Self {
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        Data {
            users: (0..ROWS)
                .map(|_| (next() % u64::from(USERS)) as u32)
                .collect(),
            items: (0..ROWS)
                .map(|_| (next() % u64::from(ITEMS)) as u32)
                .collect(),
            ratings: (0..ROWS).map(|_| (1 + next() % 10) as f32).collect(),
        }
    }

    /// Everything trains; the first 10,000 rows double as validation.
    fn input(&self) -> TrainInput<'_> {
        TrainInput {
            n_users: USERS as usize,
            n_items: ITEMS as usize,
            train: Triplets {
                users: &self.users,
                items: &self.items,
                ratings: &self.ratings,
            },
            val: Triplets {
                users: &self.users[..10_000],
                items: &self.items[..10_000],
                ratings: &self.ratings[..10_000],
            },
            rating_min: 1.0,
            rating_max: 10.0,
        }
    }
}

/// recommender_net from stock burn modules.
#[derive(Module, Debug)]
struct StockNet<B: Backend> {
    user_emb: Embedding<B>,
    item_emb: Embedding<B>,
    dense: Linear<B>,
    bn: BatchNorm<B>,
}

type B = TrainBackend;

/// Keras `l2_normalize` epsilon, as the fused kernel uses it.
const L2_EPS: f32 = 1e-12;

fn index_tensor(idx: &[u32], device: &NdArrayDevice) -> Tensor<B, 2, Int> {
    let v: Vec<i64> = idx.iter().map(|&i| i64::from(i)).collect();
    Tensor::from_data(TensorData::new(v, [idx.len(), 1]), device)
}

/// The loss of one batch through stock ops (the same BCE from logits the
/// trainer uses).
fn stock_loss(net: &StockNet<B>, ui: &[u32], vi: &[u32], y: &[f32]) -> Tensor<B, 1> {
    let device = Default::default();
    let (n, d) = (ui.len(), net.user_emb.weight.dims()[1]);
    let norm = |x: Tensor<B, 2>| x.clone() / x.powi_scalar(2).sum_dim(1).clamp_min(L2_EPS).sqrt();
    let a = norm(
        net.user_emb
            .forward(index_tensor(ui, &device))
            .reshape([n, d]),
    );
    let b = norm(
        net.item_emb
            .forward(index_tensor(vi, &device))
            .reshape([n, d]),
    );
    let z = net
        .bn
        .forward(net.dense.forward((a * b).sum_dim(1)))
        .reshape([n]);
    let y = Tensor::<B, 1>::from_data(TensorData::new(y.to_vec(), [n]), &device);
    (z.clone().clamp_min(0.0) - z.clone() * y + z.abs().neg().exp().log1p()).mean()
}

fn stock_burn_batch(c: &mut Criterion) {
    let device = Default::default();
    let (n, d) = (10_000usize, 128usize);
    let mut net = Some(StockNet::<B> {
        user_emb: EmbeddingConfig::new(USERS as usize, d).init(&device),
        item_emb: EmbeddingConfig::new(ITEMS as usize, d).init(&device),
        dense: LinearConfig::new(1, 1).init(&device),
        bn: BatchNormConfig::new(1).init(&device),
    });
    let mut optim = AdamConfig::new().init::<B, StockNet<B>>();
    let mut next = xorshift(1);
    let ui: Vec<u32> = (0..n).map(|_| (next() % u64::from(USERS)) as u32).collect();
    let vi: Vec<u32> = (0..n).map(|_| (next() % u64::from(ITEMS)) as u32).collect();
    let y: Vec<f32> = (0..n).map(|_| (next() % 1000) as f32 / 1000.0).collect();
    let mut step = |phases: &mut [f64; 3]| {
        let Some(m) = net.take() else { return };
        let t0 = Instant::now();
        let loss = stock_loss(&m, &ui, &vi, &y);
        let _ = loss.clone().into_scalar();
        let t1 = Instant::now();
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        let t2 = Instant::now();
        let m = optim.step(1e-3, m, grads);
        let _ = m.dense.weight.val().into_data();
        let t3 = Instant::now();
        net = Some(m);
        phases[0] += (t1 - t0).as_secs_f64();
        phases[1] += (t2 - t1).as_secs_f64();
        phases[2] += (t3 - t2).as_secs_f64();
    };
    // Where a stock batch's time goes (criterion below times the whole step).
    let (mut phases, steps) = ([0f64; 3], 5u32);
    for _ in 0..steps {
        step(&mut phases);
    }
    let ms = |s: f64| s * 1000.0 / f64::from(steps);
    eprintln!(
        "stock burn per batch: forward {:.1} ms, backward {:.1} ms, Adam {:.1} ms -> {:.1} s per 318-batch epoch",
        ms(phases[0]),
        ms(phases[1]),
        ms(phases[2]),
        phases.iter().sum::<f64>() / f64::from(steps) * 318.0
    );
    let mut g = c.benchmark_group("train");
    g.sample_size(10);
    g.bench_function(
        "stock burn recommender_net batch, 10000 rows, dim 128",
        |b| b.iter(|| step(&mut [0f64; 3])),
    );
    g.finish();
}

fn bpr_epoch(c: &mut Criterion) {
    let data = Data::mal_scale();
    let input = data.input();
    let p = MfBprParams {
        factors: 64,
        epochs: 1,
        batch_size: 4096,
        lr: 0.01,
        lr_schedule: None,
        reg: 1e-5,
        seed: 1,
        min_rating: 0.0,
        optimizer: OptimizerKind::KerasAdam,
        weight_decay: 0.0,
        lazy_adam: false,
    };
    let mut g = c.benchmark_group("train");
    g.sample_size(10).measurement_time(Duration::from_secs(40));
    g.throughput(criterion::Throughput::Elements(ROWS as u64));
    g.bench_function("mf_bpr epoch, 3.18M rows, 64 factors, batch 4096", |b| {
        b.iter(|| train_mf_bpr(&input, &p, &mut |_| {}).expect("train"))
    });
    g.finish();
}

fn scratch(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target
        .join("bench-data")
        .join(format!("{name}-{}", std::process::id()))
}

fn recnet_checkpoint(c: &mut Criterion) {
    let data = Data::mal_scale();
    let input = data.input();
    let dir = scratch("recnet-ckpt");
    let p = RecNetParams {
        dim: 128,
        epochs: 1,
        batch_size: 10_000,
        patience: None,
        seed: 1,
        optimizer: OptimizerKind::KerasAdam,
        weight_decay: 0.0,
        checkpoint_dir: Some(dir.clone()),
    };
    let train = || train_recommender_net(&input, &p, &|_| 1e-4, &mut |_| {}).expect("train");
    let mut g = c.benchmark_group("train");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function(
        "recommender_net epoch with its checkpoint, 3.18M rows, dim 128",
        |b| {
            b.iter(|| {
                let _ = std::fs::remove_dir_all(&dir);
                train()
            })
        },
    );
    // The checkpoint of a finished run is there now: a run only loads it.
    g.bench_function(
        "recommender_net resume of a finished run (load + export)",
        |b| b.iter(train),
    );
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// One Mult-VAE epoch (600-200, batches of 500 users, stock burn layers
/// after the fused sparse first layer) on every row as a positive, with
/// burn's Adam and with the crate's Keras-flavoured one: the figures to set
/// beside `benches/keras_mult_vae.py`, which trains the same model on the
/// same generated data in Keras 3.
fn mult_vae_epoch(c: &mut Criterion) {
    let data = Data::mal_scale();
    let input = data.input();
    let mut g = c.benchmark_group("train");
    g.sample_size(10).measurement_time(Duration::from_secs(60));
    for (name, optimizer) in [
        ("adam", OptimizerKind::Adam),
        ("keras_adam", OptimizerKind::KerasAdam),
    ] {
        // The paper's settings (the kind's defaults), one epoch.
        let p = MultVae {
            epochs: 1,
            optimizer,
            ..MultVae::default()
        };
        g.bench_function(
            format!("mult_vae epoch, 4,200 users x 17,000 items, 600-200, batch 500, {name}"),
            |b| {
                b.iter(|| {
                    train_mult_vae(&input, &p, 1, &EpochRun::default(), &mut |_, _| {
                        Verdict::default()
                    })
                    .expect("train")
                })
            },
        );
    }
    g.finish();
}

/// One feature_mf epoch at LightFM's settings (AdaGrad 0.05, 10 draws)
/// with 64 factors, on the rows rated 7 or more (what the MAL experiments
/// use), every item its id plus 3 of 43 "genres" and 1 of 6 "types" (the
/// shape of anime.csv's tags).
fn feature_mf_epoch(c: &mut Criterion) {
    let data = Data::mal_scale();
    let input = data.input();
    let mut next = xorshift(0x2545_F491_4F6C_DD1D);
    let n = ITEMS;
    let t: Vec<(u32, u32, f32)> = (0..n)
        .flat_map(|i| {
            let mut row: Vec<u32> = (0..3).map(|_| n + (next() % 43) as u32).collect();
            row.extend([i, n + 43 + (next() % 6) as u32]);
            row.sort_unstable();
            row.dedup();
            let w = 1.0 / row.len() as f32;
            row.into_iter().map(move |f| (i, f, w)).collect::<Vec<_>>()
        })
        .collect();
    let features = Csr::from_triplets(n as usize, n as usize + 49, &t);
    let p = FeatureMfParams {
        factors: 64,
        epochs: 1,
        lr: 0.05,
        lr_schedule: None,
        max_sampled: 10,
        reg: 0.0,
        min_rating: 7.0,
        user_features: false,
        seed: 1,
    };
    let mut g = c.benchmark_group("train");
    g.sample_size(10).measurement_time(Duration::from_secs(40));
    g.bench_function(
        "feature_mf epoch, 4,200 users x 17,000 items, 64 factors, 1.27M positives",
        |b| {
            b.iter(|| {
                train_feature_mf(&input, &features, &p, &EpochRun::default(), &mut |_, _| {
                    Verdict::default()
                })
                .expect("train")
            })
        },
    );
    g.finish();
}

criterion_group!(
    benches,
    stock_burn_batch,
    bpr_epoch,
    recnet_checkpoint,
    mult_vae_epoch,
    feature_mf_epoch
);
criterion_main!(benches);
