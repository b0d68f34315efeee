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

/// The state a kill after feature_mf's third epoch leaves (the checkpoint
/// of epoch 3, a run not done, its refit not begun), resumed through `run
/// --resume`: training continues at epoch 4, early stopping remembers the
/// epochs before the crash, the refit runs after it, and the run ends with
/// a straight run's metrics. The interrupted state is made by a 3-epoch
/// run whose saved config is then given 8 epochs (no schedule, so the
/// checkpoint is the same as an 8-epoch run's after 3), not by a timed kill
/// (an epoch here takes milliseconds).
#[test]
fn feature_mf_resumes_through_the_cli() {
    let fx = Fx::new();
    let model = |n: u32| {
        format!("{{kind: feature_mf, factors: 16, epochs: {n}, min_rating: 7, synopsis_terms: 50}}")
    };
    let straight = run_to(&fx, &experiment_with(&fx, &model(8)), &fx.path("a"));
    let b = fx.path("b");
    run_to(&fx, &experiment_with(&fx, &model(3)), &b);
    let cfg = b.join("config.yaml");
    let mut saved: serde_yaml::Value =
        serde_yaml::from_str(&fs::read_to_string(&cfg).unwrap()).unwrap();
    saved["model"]["epochs"] = 8.into();
    fs::write(&cfg, serde_yaml::to_string(&saved).unwrap()).unwrap();
    let mut meta = common::json(&b.join("meta.json"));
    meta["status"] = "running".into();
    fs::write(b.join("meta.json"), meta.to_string()).unwrap();
    fs::remove_file(b.join("checkpoints/feature_mf.refit.ckpt")).unwrap();
    let before = fs::read_to_string(b.join("metrics.jsonl")).unwrap();

    let o = run(fx.cmd().args(["run", "--resume", b.to_str().unwrap()]));
    assert!(o.status.success(), "{}", text(&o));
    let resumed = common::json(&b.join("summary.json"));
    let same = |s: &serde_json::Value| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = s
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| !k.ends_with("_seconds"))
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(same(&resumed), same(&straight), "resumed vs straight");
    // The journal is appended to: epochs 4–8 after the first three.
    let after = fs::read_to_string(b.join("metrics.jsonl")).unwrap();
    let epochs = |text: &str| -> Vec<u64> {
        text.lines()
            .filter(|l| l.contains("\"val_ndcg@10\""))
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["epoch"].as_u64())
            .collect()
    };
    assert_eq!(epochs(&before), [1, 2, 3]);
    assert_eq!(epochs(&after[before.len()..]), [4, 5, 6, 7, 8]);
    assert!(b.join("checkpoints/feature_mf.refit.ckpt").is_file());
}

/// Two learned members of one kind keep their checkpoints apart
/// (`checkpoints/<member name>/`): a resume of the run finds each its own,
/// trains nothing more, and ends with the same metrics. In one shared
/// `checkpoints/mf_bpr.ckpt` the second member would have refused the
/// first's (other factors).
#[test]
fn hybrid_members_of_one_kind_resume_from_their_own_checkpoints() {
    let fx = Fx::new();
    let model = "{kind: hybrid, members: [{kind: mf_bpr, weight: 1, factors: 8, epochs: 3}, {kind: mf_bpr, weight: 1, factors: 16, epochs: 3}]}";
    let dir = fx.path("h");
    let first = run_to(&fx, &experiment_with(&fx, model), &dir);
    for m in ["mf_bpr", "mf_bpr_2"] {
        let ckpt = dir.join("checkpoints").join(m).join("mf_bpr.ckpt");
        assert!(ckpt.is_file(), "{} missing", ckpt.display());
    }
    let mut meta = common::json(&dir.join("meta.json"));
    meta["status"] = "running".into();
    fs::write(dir.join("meta.json"), meta.to_string()).unwrap();
    let before = fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let o = run(fx.cmd().args(["run", "--resume", dir.to_str().unwrap()]));
    assert!(o.status.success(), "{}", text(&o));
    let after = fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    assert!(
        !after[before.len()..].contains("\"train_loss\""),
        "a finished member trained again"
    );
    let again = common::json(&dir.join("summary.json"));
    assert_eq!(again["ndcg@10"], first["ndcg@10"]);
}
