//! The learned models (mult_vae, feature_mf) end to end through the CLI a
//! user types: a run trains and records per-epoch validation ranking, the
//! same config and seed give the same metrics, `anirec recommend` reads its
//! bundle, the server's loader scores known users and folds a new user's
//! liked list in without burn, and each is a hybrid member.

mod common;

use common::{run, text, Fx, SYNTH};
use std::fs;
use std::path::{Path, PathBuf};

const MULT_VAE: &str =
    "{kind: mult_vae, hidden: 32, latent: 8, epochs: 6, batch_size: 64, lr: 0.005, min_rating: 7}";
const FEATURE_MF: &str =
    "{kind: feature_mf, factors: 16, epochs: 6, min_rating: 7, synopsis_terms: 50}";

fn experiment_with(fx: &Fx, model: &str) -> PathBuf {
    let path = fx.path("exp.yaml");
    fs::write(
        &path,
        format!(
            "name: vae\nruns_dir: {}\ndata:\n  {SYNTH}\n  cache_dir: {}\neval: {{k: [10], relevance_threshold: 7}}\nmodel: {model}\ntrain: {{early_stopping: {{monitor: val_ndcg@10, patience: 10}}}}\n",
            fx.runs().display(),
            fx.cache().display()
        ),
    )
    .unwrap();
    path
}

fn run_to(fx: &Fx, exp: &Path, dir: &Path) -> serde_json::Value {
    let o = run(fx.cmd().args([
        "run",
        exp.to_str().unwrap(),
        "--run-dir",
        dir.to_str().unwrap(),
    ]));
    assert!(o.status.success(), "{}", text(&o));
    common::json(&dir.join("summary.json"))
}

#[test]
fn mult_vae_trains_records_reproduces_and_serves() {
    trains_records_reproduces_and_serves(MULT_VAE);
}

#[test]
fn feature_mf_trains_records_reproduces_and_serves() {
    trains_records_reproduces_and_serves(FEATURE_MF);
}

fn trains_records_reproduces_and_serves(model: &str) {
    let fx = Fx::new();
    let exp = experiment_with(&fx, model);
    let (a, b) = (fx.path("a"), fx.path("b"));
    let first = run_to(&fx, &exp, &a);
    let ndcg = first["ndcg@10"].as_f64().unwrap();
    assert!(ndcg > 0.0, "{first}");
    assert_eq!(
        run_to(&fx, &exp, &b)["ndcg@10"],
        first["ndcg@10"],
        "same seed, same metrics"
    );

    // Every epoch's validation ranking reached the run's metric log.
    let metrics = fs::read_to_string(a.join("metrics.jsonl")).unwrap();
    let epochs = metrics
        .lines()
        .filter(|l| l.contains("\"val_ndcg@10\""))
        .count();
    assert!((1..=6).contains(&epochs), "{metrics}");

    let out = fx.path("recs.csv");
    let o = run(fx.cmd().args([
        "recommend",
        "--run",
        a.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(o.status.success(), "{}", text(&o));
    let recs = fs::read_to_string(&out).unwrap();
    let first_rec = recs.lines().nth(1).unwrap().to_string();
    let mut cols = first_rec.split(',');
    let (user, anime) = (cols.next().unwrap(), cols.next().unwrap());

    let served = anirec::serve::Loaded::load(&a.join("bundle")).unwrap();
    let mode = anirec::serve::Mode::Hybrid;
    let top = served
        .recommend_user(user.parse().unwrap(), mode, 5)
        .unwrap();
    assert_eq!(top.len(), 5);
    assert_eq!(
        top[0].anime_id.to_string(),
        anime,
        "the server ranks like recommend"
    );
    // A new user: their liked list is encoded (mult_vae) or averaged
    // (feature_mf).
    let liked: u32 = anime.parse().unwrap();
    let new = served.recommend_liked(&[liked], mode, 5).unwrap();
    assert_eq!(new.len(), 5);
    assert!(
        new.iter().all(|i| i.anime_id != liked),
        "liked items are excluded"
    );
}

#[test]
fn mult_vae_is_a_hybrid_member() {
    is_a_hybrid_member(MULT_VAE, "mult_vae");
}

#[test]
fn feature_mf_is_a_hybrid_member() {
    is_a_hybrid_member(FEATURE_MF, "feature_mf");
}

fn is_a_hybrid_member(model: &str, kind: &str) {
    let fx = Fx::new();
    let member = model.replace("{kind", "{weight: 1, kind");
    let model = format!("{{kind: hybrid, members: [{member}, {{kind: popularity, weight: 0.2}}]}}");
    let exp = experiment_with(&fx, &model);
    let summary = run_to(&fx, &exp, &fx.path("h"));
    let alone = summary[format!("{kind}/ndcg@10")].as_f64().unwrap_or(-1.0);
    assert!(alone > 0.0, "the member is evaluated alone: {summary}");
    assert!(summary["ndcg@10"].as_f64().unwrap() > 0.0, "{summary}");
}
