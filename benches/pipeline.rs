//! Ingest + process throughput on a 5M-row synthetic animelist (issue: under
//! 10 s wall and 2 GB peak on 2 cores), and full evaluation throughput.
//!
//! Run: `cargo bench --bench pipeline`. The 5M-row files are generated once
//! into `$CARGO_TARGET_DIR/bench-data` (about 100 MB) and reused.

use anirec::config::{DataConfig, DataFormat, ModelConfig};
use anirec::data::{self, synth::SynthSpec};
use anirec::eval::evaluator::{evaluate, EvalSettings};
use criterion::{criterion_group, criterion_main, Criterion};
use std::path::PathBuf;
use std::time::Duration;

fn bench_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("bench-data")
}

fn synth_5m() -> PathBuf {
    let dir = bench_dir().join("synth-5m");
    if !dir.join("animelist.csv").exists() {
        let spec = SynthSpec {
            users: 25_000,
            anime: 17_000,
            rows: 5_000_000,
            seed: 42,
        };
        data::synth::write_mal2020(&spec, &dir).expect("generate bench data");
    }
    dir
}

fn ingest_process(c: &mut Criterion) {
    let src = synth_5m();
    let cfg = DataConfig {
        format: DataFormat::Mal2020,
        source: Some(src),
        cache: false,
        ..DataConfig::default()
    };
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    // Rows per second in criterion's report.
    g.throughput(criterion::Throughput::Elements(5_000_000));
    g.bench_function(
        "ingest+process 5M rows (read, clean, dedupe, filter, split)",
        |b| b.iter(|| data::process(&cfg, 42).expect("process")),
    );
    g.finish();
}

fn evaluation(c: &mut Criterion) {
    // MAL-scale shape for evaluation: ~4,200 users × 17,000 anime.
    let dir = bench_dir().join("synth-eval");
    let spec = SynthSpec {
        users: 4_200,
        anime: 17_000,
        rows: 5_000_000,
        seed: 7,
    };
    if !dir.join("animelist.csv").exists() {
        data::synth::write_mal2020(&spec, &dir).expect("generate bench data");
    }
    let cfg = DataConfig {
        format: DataFormat::Mal2020,
        source: Some(dir),
        cache: false,
        ..DataConfig::default()
    };
    let ds = data::load(&cfg, 42).expect("load");
    let exp = anirec::config::Experiment::from_value(
        serde_yaml::from_str("name: bench\ndata: {format: synthetic}").expect("yaml"),
        std::path::Path::new("bench"),
    )
    .expect("exp");
    let mut sink = |_: &str, _: f64, _: u32| {};
    let engine = anirec::model::fit::fit(
        &ModelConfig::default(),
        &mut anirec::model::fit::FitContext {
            data: &ds,
            exp: &exp,
            on_metric: &mut sink,
            checkpoint_dir: None,
        },
    )
    .expect("fit");
    let settings = EvalSettings {
        ks: vec![5, 10, 20],
        relevance_threshold: 7.0,
        block_users: 256,
    };
    let mut g = c.benchmark_group("evaluation");
    g.sample_size(10);
    g.throughput(criterion::Throughput::Elements(ds.users.len() as u64));
    g.bench_function(
        format!(
            "full ranking, {} users x {} items (popularity scorer)",
            ds.users.len(),
            ds.items.len()
        ),
        |b| b.iter(|| evaluate(&ds.train, &ds.test, &engine, &settings)),
    );
    g.finish();
}

/// One recommender_net epoch at MAL scale (3.18M rows, 4,200 × 17,000,
/// dim 128, batch 10,000): the original Keras model takes 10.3 s here.
fn train_epoch(c: &mut Criterion) {
    use anirec::train::{train_recommender_net, RecNetParams, TrainInput, Triplets};
    let (nu, ni, n) = (4_200u32, 17_000u32, 3_180_000usize);
    // A cheap deterministic generator: the cost of an epoch does not depend
    // on what the ratings mean.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let users: Vec<u32> = (0..n).map(|_| (next() % u64::from(nu)) as u32).collect();
    let items: Vec<u32> = (0..n).map(|_| (next() % u64::from(ni)) as u32).collect();
    let ratings: Vec<f32> = (0..n).map(|_| (1 + next() % 10) as f32).collect();
    let input = TrainInput {
        n_users: nu as usize,
        n_items: ni as usize,
        train: Triplets {
            users: &users,
            items: &items,
            ratings: &ratings,
        },
        val: Triplets {
            users: &users[..10_000],
            items: &items[..10_000],
            ratings: &ratings[..10_000],
        },
        rating_min: 1.0,
        rating_max: 10.0,
    };
    let params = RecNetParams {
        dim: 128,
        epochs: 1,
        batch_size: 10_000,
        patience: None,
        seed: 1,
        optimizer: anirec::config::OptimizerKind::KerasAdam,
        weight_decay: 0.0,
        checkpoint_dir: None,
    };
    let mut g = c.benchmark_group("train");
    g.sample_size(10).measurement_time(Duration::from_secs(25));
    // Rows per second; one step (one batch of 10,000) is the epoch time / 318.
    g.throughput(criterion::Throughput::Elements(n as u64));
    g.bench_function(
        "recommender_net epoch, 3.18M rows, dim 128, batch 10000",
        |b| {
            b.iter(|| {
                train_recommender_net(&input, &params, &|_| 1e-4, &mut |_| {}).expect("train")
            })
        },
    );
    g.finish();
}

criterion_group!(benches, ingest_process, evaluation, train_epoch);
criterion_main!(benches);
