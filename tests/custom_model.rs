//! A model kind added from outside the crate (`examples/custom_model`,
//! README "Adding a model") works through every stage with no other edit:
//! YAML validation with the file and key named, `--set`, a run (fit,
//! evaluation, trackers, bundle), the stock `anirec recommend` on its
//! bundle, and the server's loader.

mod common;
#[path = "../examples/custom_model/item_knn.rs"]
mod item_knn;

use anirec::cli::{dispatch, Cli};
use anirec::model::kinds;
use clap::Parser;
use common::{run, text, Fx, SYNTH};
use std::fs;
use std::sync::Once;

fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        kinds::register(kinds::kind::<item_knn::ItemKnn>()).unwrap();
    });
}

fn experiment(fx: &Fx, model: &str) -> std::path::PathBuf {
    let path = fx.path("exp.yaml");
    fs::write(
        &path,
        format!(
            "name: custom\nruns_dir: {}\ndata:\n  {SYNTH}\n  cache_dir: {}\neval: {{k: [10], relevance_threshold: 7}}\nmodel: {model}\n",
            fx.runs().display(),
            fx.cache().display()
        ),
    )
    .unwrap();
    path
}

fn cli(args: &[&str]) -> anirec::Result<()> {
    dispatch(Cli::parse_from(
        std::iter::once("anirec").chain(args.iter().copied()),
    ))
}

#[test]
fn a_registered_kind_is_validated_like_a_builtin() {
    register();
    let fx = Fx::new();
    let exp = experiment(&fx, "{kind: item_knn, neighbors: 0}");
    let e = cli(&["run", exp.to_str().unwrap()])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("exp.yaml") && e.contains("model.neighbors"),
        "{e}"
    );
    assert!(e.contains("[1, 1000000]"), "{e}");
    let exp = experiment(&fx, "{kind: item_knn, neighbours: 5}");
    let e = cli(&["run", exp.to_str().unwrap()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("neighbours") && e.contains("shrink"), "{e}");
    // The allowed kinds now name it.
    let exp = experiment(&fx, "{kind: item_kn}");
    let e = cli(&["run", exp.to_str().unwrap()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("item_knn"), "{e}");
}

#[test]
fn a_registered_kind_runs_is_recorded_and_serves() {
    register();
    let fx = Fx::new();
    let exp = experiment(&fx, "{kind: item_knn}");
    // `--set` reaches the kind's keys; the trackers record them.
    let run_dir = fx.path("run");
    let dir = run_dir.to_str().unwrap();
    cli(&[
        "run",
        exp.to_str().unwrap(),
        "--set",
        "model.neighbors=20",
        "--run-dir",
        dir,
    ])
    .unwrap();
    let params = common::json(&run_dir.join("params.json"));
    assert_eq!(params["model.neighbors"], "20", "{params}");
    let cfg = fs::read_to_string(run_dir.join("config.yaml")).unwrap();
    assert!(
        cfg.contains("kind: item_knn") && cfg.contains("neighbors: 20"),
        "{cfg}"
    );
    let summary = common::json(&run_dir.join("summary.json"));
    let ndcg = summary["ndcg@10"].as_f64().unwrap();
    assert!(ndcg > 0.0, "{summary}");

    // The stock binary recommends from the bundle without knowing the kind.
    let out = fx.path("recs.csv");
    let o = run(fx.cmd().args([
        "recommend",
        "--run",
        run_dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(o.status.success(), "{}", text(&o));
    let recs = fs::read_to_string(&out).unwrap();
    assert!(recs.lines().count() > 1, "{recs}");

    // What anirec-serve loads.
    let served = anirec::serve::Loaded::load(&run_dir.join("bundle")).unwrap();
    let user = recs.lines().nth(1).unwrap().split(',').next().unwrap();
    let top = served
        .recommend_user(user.parse().unwrap(), anirec::serve::Mode::Hybrid, 5)
        .unwrap();
    assert_eq!(top.len(), 5);
}
