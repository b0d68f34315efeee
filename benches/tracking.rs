//! Cost of Comet tracking on a run: 100,000 metric events through the
//! tracker (journal append + sender doorbell), offline and online with
//! Comet unreachable (the sender backs off in the background). Target:
//! under 1 s per 100,000 events, memory bounded (the journal writer has a
//! fixed buffer; the sender reads at most 10,000 entries ahead).

use anirec::config::{CometConfig, CometMode};
use anirec::track::comet::CometTracker;
use anirec::track::{RunStatus, Tracker};
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::{Duration, Instant};

const EVENTS: u64 = 100_000;

fn log_events(mode: CometMode) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let cfg = CometConfig {
        workspace: Some("bench".into()),
        project: Some("bench".into()),
        tags: vec![],
        mode,
    };
    let mut t = CometTracker::start(dir.path(), &cfg, "bench-run").unwrap();
    let t0 = Instant::now();
    for i in 0..EVENTS {
        t.log_metric(
            "train_loss",
            1.0 / (i + 1) as f64,
            i,
            Some((i / 1000) as u32),
            1_700_000_000_000 + i,
        );
    }
    let d = t0.elapsed();
    if mode == CometMode::Online {
        // Do not measure the end-of-run flush (bounded by the grace period).
        std::env::set_var("ANIREC_COMET_GRACE_SECS", "0");
        std::env::set_var("ANIREC_COMET_FLUSH_SECS", "0");
    }
    let _ = t.end(RunStatus::Done, None);
    d
}

fn bench(c: &mut Criterion) {
    // Nothing listens on port 9: every send fails fast and backs off.
    std::env::set_var("COMET_URL_OVERRIDE", "http://127.0.0.1:9/clientlib/");
    std::env::set_var("COMET_API_KEY", "bench-key-not-secret");
    let mut g = c.benchmark_group("comet_tracking");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("100k_metrics_offline", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| log_events(CometMode::Offline)).sum())
    });
    g.bench_function("100k_metrics_online_comet_down", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| log_events(CometMode::Online)).sum())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
