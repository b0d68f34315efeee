//! Fit times of the item-item models (issue 12's speed targets): EASE, DLAE,
//! EDLAE and SLIM on the real MAL reference split (SLIM ≤ 101 s, scikit-
//! learn's figure on 2 cores; DLAE ≤ 1.2 × EASE), and SLIM at the synthetic
//! MAL scale (4,200 users × 17,000 anime; ≤ 10 minutes) when
//! `ANIREC_BENCH_SYNTH=1`.
//!
//! Run: `cargo bench --bench fit` (set `RAYON_NUM_THREADS=2` to match the
//! reference machine). Each fit runs `ANIREC_BENCH_REPS` times (default 3)
//! and the median is printed; a plain timer rather than criterion because
//! one SLIM fit is many seconds. The MAL part needs the reference split at
//! `../shared/reference/splits/mal2020-real-100k` (skipped when absent).

use anirec::config::{Experiment, ModelConfig};
use anirec::data::{self, Dataset};
use anirec::model::fit::{fit, FitContext};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn experiment(yaml: &str) -> Experiment {
    Experiment::from_value(
        serde_yaml::from_str(yaml).expect("bench yaml"),
        Path::new("bench"),
    )
    .expect("bench experiment")
}

fn model(yaml: &str) -> ModelConfig {
    experiment(&format!("name: bench\nmodel: {yaml}")).model
}

/// Median wall seconds of `reps` fits.
fn time_fit(ds: &Dataset, exp: &Experiment, m: &ModelConfig, reps: usize) -> f64 {
    let mut secs = Vec::with_capacity(reps);
    for _ in 0..reps {
        let mut sink = |_: &str, _: f64, _: u32| {};
        let t = Instant::now();
        let engine = fit(
            m,
            &mut FitContext {
                data: ds,
                exp,
                on_metric: &mut sink,
                checkpoint_dir: None,
            },
        )
        .expect("fit");
        secs.push(t.elapsed().as_secs_f64());
        std::hint::black_box(engine);
    }
    secs.sort_by(f64::total_cmp);
    secs[secs.len() / 2]
}

/// The MAL experiment's data section on the reference split.
fn mal_split() -> Option<(Experiment, Dataset)> {
    let dir = PathBuf::from("../shared/reference/splits/mal2020-real-100k");
    if !dir.join("train.csv").exists() {
        eprintln!("{} not found: MAL fit times skipped", dir.display());
        return None;
    }
    let exp = anirec::config::load_experiment(
        Path::new("experiments/mal-real/ease.yaml"),
        &[
            "data.split.kind=external".into(),
            format!("data.split.train={}", dir.join("train.csv").display()),
            format!("data.split.test={}", dir.join("test.csv").display()),
        ],
    )
    .expect("experiments/mal-real/ease.yaml");
    let ds = data::load(&exp.data, exp.seed).expect("load the MAL reference split");
    Some((exp, ds))
}

fn main() {
    let reps: usize = std::env::var("ANIREC_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .clamp(1, 20);
    println!(
        "fit times, median of {reps} ({} rayon threads)",
        rayon::current_num_threads()
    );
    if let Some((exp, ds)) = mal_split() {
        println!(
            "MAL reference split: {} users x {} items, {} train rows",
            ds.users.len(),
            ds.items.len(),
            ds.train.nnz()
        );
        let ease = time_fit(
            &ds,
            &exp,
            &model("{kind: ease, l2: 250, prune_top_k: 0}"),
            reps,
        );
        let dlae = time_fit(
            &ds,
            &exp,
            &model("{kind: dlae, l2: 100, dropout: 0.3}"),
            reps,
        );
        let edlae = time_fit(
            &ds,
            &exp,
            &model("{kind: edlae, l2: 250, dropout: 0.3}"),
            reps,
        );
        let slim = time_fit(
            &ds,
            &exp,
            &model("{kind: slim, alpha: 0.03, l1_ratio: 0.03, top_k: 200}"),
            reps,
        );
        println!("  ease   {ease:8.2} s");
        println!(
            "  dlae   {dlae:8.2} s  ({:.2} x ease; target <= 1.2)",
            dlae / ease
        );
        println!("  edlae  {edlae:8.2} s  ({:.2} x ease)", edlae / ease);
        println!("  slim   {slim:8.2} s  (target <= 101 s, scikit-learn on 2 cores)");
    }
    if std::env::var("ANIREC_BENCH_SYNTH").as_deref() == Ok("1") {
        let exp =
            anirec::config::load_experiment(Path::new("experiments/synthetic/ease.yaml"), &[])
                .expect("experiments/synthetic/ease.yaml");
        let ds = data::load(&exp.data, 42).expect("synthetic data");
        println!(
            "synthetic MAL scale: {} users x {} items, {} train rows",
            ds.users.len(),
            ds.items.len(),
            ds.train.nnz()
        );
        let slim = time_fit(
            &ds,
            &exp,
            &model("{kind: slim, alpha: 0.03, l1_ratio: 0.03, top_k: 200}"),
            1,
        );
        println!("  slim   {slim:8.2} s  (target <= 600 s)");
    }
}
