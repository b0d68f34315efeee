//! `anirec compare` logs to Comet (issue 17, item 4): against the fake Comet
//! server, each compared run that was tracked gets the comparison as an
//! asset (its compare.json, byte for byte) and one "other" per compared run
//! and metric; an untracked run is left alone; without an API key the
//! events wait in the outbox until `anirec comet sync`.

mod fake_comet;

use fake_comet::{assert_no_key_in, Server, KEY};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn anirec(root: &Path, server: &Server) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_anirec"));
    c.current_dir(root)
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .env("COMET_URL_OVERRIDE", server.url())
        .env("COMET_API_KEY", KEY)
        .env("COMET_WORKSPACE", "ws")
        .env("COMET_PROJECT_NAME", "proj")
        .env("ANIREC_COMET_TIMEOUT_SECS", "5");
    c
}

fn ok(c: &mut Command) -> String {
    let o: Output = c.output().expect("spawn anirec");
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "{c:?}\n{out}\n{err}");
    assert!(!out.contains(KEY) && !err.contains(KEY));
    out
}

fn run_dir(stdout: &str) -> PathBuf {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("run dir: "))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no run dir in {stdout}"))
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn compare_logs_an_asset_and_others_to_each_tracked_run() {
    let server = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    std::fs::write(
        r.join("exp.yaml"),
        format!(
            "name: cmp\nextends: '{}/configs/synthetic.yaml'\nruns_dir: '{}'\ndata:\n  cache_dir: '{}'\n  synth: {{users: 300, anime: 200, rows: 20000, seed: 1}}\nmodel: {{kind: popularity}}\neval: {{k: [10]}}\n",
            env!("CARGO_MANIFEST_DIR"),
            r.join("runs").display(),
            r.join("cache").display()
        ),
    )
    .unwrap();
    let tracked = |model: &str| {
        run_dir(&ok(anirec(r, &server).args([
            "run",
            "exp.yaml",
            "--tracking",
            "comet",
            "--set",
            model,
        ])))
    };
    let a = tracked("model={kind: popularity}");
    let b = tracked("model={kind: ease, l2: 50}");
    // Not tracked: compared, but nothing may be written into it.
    let c = run_dir(&ok(anirec(r, &server).args([
        "run",
        "exp.yaml",
        "--set",
        "model={kind: ease, l2: 500}",
    ])));
    assert_eq!(server.exps().len(), 2);
    let before: Vec<usize> = server.exps().iter().map(|e| e.others.len()).collect();

    let out = ok(anirec(r, &server).arg("compare").args([&a, &b, &c]).args([
        "--metric",
        "ndcg@10",
        "--metric",
        "recall@10",
        "--out",
        "cmp",
    ]));
    assert_eq!(
        out.matches("events delivered, 0 pending").count(),
        2,
        "{out}"
    );
    let json_bytes = std::fs::read(r.join("cmp/compare.json")).unwrap();
    let cmp: Value = serde_json::from_slice(&json_bytes).unwrap();
    assert_eq!(cmp["family"], 2, "{cmp}");

    for (e, n) in server.exps().iter().zip(before) {
        // The asset: compare.json, whole.
        let assets: Vec<(&String, &usize)> = e
            .assets
            .iter()
            .filter(|((name, t, _), _)| name.starts_with("compare-") && t == "asset")
            .map(|((name, _, _), len)| (name, len))
            .collect();
        assert_eq!(assets.len(), 1, "{:?}", e.assets);
        assert_eq!(*assets[0].1, json_bytes.len());
        // The others: one per compared run and metric, with the numbers of
        // compare.json.
        assert_eq!(e.others.len(), n + 4, "{:?}", e.others);
        for pair in cmp["pairs"].as_array().unwrap() {
            let run = file_name(Path::new(pair["run"].as_str().unwrap()));
            for t in pair["tests"].as_array().unwrap() {
                let key = format!(
                    "compare/{run}-vs-{}/{}",
                    file_name(&a),
                    t["metric"].as_str().unwrap()
                );
                let v = e
                    .others
                    .get(&key)
                    .unwrap_or_else(|| panic!("{key}: {:?}", e.others));
                let v = v.as_str().unwrap();
                let diff = format!("diff {:+.5} ", t["diff"].as_f64().unwrap());
                let sig = format!("significant {}", t["significant"]);
                assert!(v.starts_with(&diff) && v.ends_with(&sig), "{key}: {v}");
            }
        }
    }
    assert!(!c.join("outbox").exists() && !c.join("comparisons").exists());
    for run in [&a, &b] {
        assert_no_key_in(run);
    }

    // Without a key the comparison waits in the outbox; sync delivers it.
    let out = ok(anirec(r, &server)
        .env_remove("COMET_API_KEY")
        .arg("compare")
        .args([&a, &b])
        .args(["--metric", "ndcg@10", "--seed", "7", "--out", "cmp2"]));
    assert_eq!(out.matches("queued for Comet").count(), 2, "{out}");
    let assets_now = |s: &Server| -> usize {
        s.exps()
            .iter()
            .map(|e| {
                e.assets
                    .keys()
                    .filter(|(n, _, _)| n.starts_with("compare-"))
                    .count()
            })
            .sum()
    };
    assert_eq!(assets_now(&server), 2);
    let out = ok(anirec(r, &server).args(["comet", "sync"]).args([&a, &b]));
    assert_eq!(out.matches(" delivered (").count(), 2, "{out}");
    assert_eq!(out.matches(", 0 pending").count(), 2, "{out}");
    assert_eq!(
        assets_now(&server),
        4,
        "the queued comparison did not arrive"
    );
    for e in server.exps() {
        let key = format!("compare/{}-vs-{}/ndcg@10", file_name(&b), file_name(&a));
        assert!(e.others.contains_key(&key), "{:?}", e.others);
    }
}
