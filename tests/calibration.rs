//! The embedded default must not mislead a newcomer: on the quickstart the model families
//! rank as they do on the real MAL ratings (README, "Reference results": EASE 0.4015 >
//! user_knn 0.3060 > mf_bpr 0.2928 > popularity 0.1938 > content 0.0383 >
//! recommender_net 0.0040 NDCG@10), and EASE and the hybrid reach at least 1.5 × popularity.
//! Runs `experiments/quickstart.yaml` itself, exactly as the README's first command does.

mod common;

use common::{json, run, text, Fx};

#[test]
fn quickstart_ranks_the_families_as_real_mal_does() {
    let fx = Fx::new();
    let exp = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/quickstart.yaml");
    let run_dir = fx.path("run");
    let cache = format!("data.cache_dir={}", fx.cache().display());
    let o = run(fx
        .cmd()
        .arg("run")
        .arg(&exp)
        .arg("--run-dir")
        .arg(&run_dir)
        .args(["--set", &cache]));
    assert!(o.status.success(), "{}", text(&o));
    let summary = json(&run_dir.join("summary.json"));
    let m = summary.get("metrics").unwrap_or(&summary);
    let ndcg = |key: &str| {
        m[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing from summary.json: {m}"))
    };
    let pop = ndcg("popularity/ndcg@10");
    for (who, got) in [("hybrid", ndcg("ndcg@10")), ("ease", ndcg("ease/ndcg@10"))] {
        assert!(
            got >= 1.5 * pop,
            "{who} {got:.4} < 1.5 x popularity {pop:.4}"
        );
    }
    let order = [
        "ease",
        "user_knn",
        "mf_bpr",
        "popularity",
        "content",
        "recommender_net",
    ];
    let scores: Vec<f64> = order
        .iter()
        .map(|k| ndcg(&format!("{k}/ndcg@10")))
        .collect();
    for (pair, s) in order.windows(2).zip(scores.windows(2)) {
        assert!(
            s[0] > s[1],
            "{} ({:.4}) should beat {} ({:.4}) as on real MAL",
            pair[0],
            s[0],
            pair[1],
            s[1]
        );
    }
}
