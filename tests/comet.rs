//! Comet tracking against the fake Comet server of `fake_comet` (127.0.0.1,
//! with injected faults: refused connections, 500, 429 + Retry-After, slow
//! replies, a dropped connection after the request was applied).

mod fake_comet;

use anirec::config::{CometConfig, CometMode};
use anirec::track::comet::{self, outbox::Event, outbox::Outbox, CometTracker};
use anirec::track::{FileKind, RunStatus, Tracker};
use fake_comet::{assert_no_key_in, walk, Exp, Fault, Server, KEY};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

// ------------------------------------------------------------ helpers

/// The library reads COMET_* from the process environment: one test at a time.
static ENV: Mutex<()> = Mutex::new(());

fn env_for(server: &Server) {
    std::env::set_var("COMET_URL_OVERRIDE", server.url());
    std::env::set_var("COMET_API_KEY", KEY);
    std::env::set_var("ANIREC_COMET_TIMEOUT_SECS", "1");
    std::env::set_var("ANIREC_COMET_GRACE_SECS", "1");
    std::env::set_var("ANIREC_COMET_FLUSH_SECS", "30");
    std::env::set_var("ANIREC_COMET_SYNC_SECS", "120");
}

fn cfg(mode: CometMode) -> CometConfig {
    CometConfig {
        workspace: Some("ws".into()),
        project: Some("proj".into()),
        tags: vec!["t1".into()],
        mode,
    }
}

/// (name, step, value) of every metric in the journal / on the server.
fn journal_metrics(dir: &Path) -> Vec<(String, u64, String)> {
    let mut v: Vec<_> = Outbox::open(dir)
        .unwrap()
        .entries()
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.ev {
            Event::Metric {
                name, value, step, ..
            } => {
                let v = if value.is_finite() {
                    json!(value)
                } else if value.is_nan() {
                    json!("NaN")
                } else {
                    json!(if value > 0.0 { "Infinity" } else { "-Infinity" })
                };
                Some((name, step, v.to_string()))
            }
            _ => None,
        })
        .collect();
    v.sort();
    v
}

fn server_metrics(e: &Exp) -> Vec<(String, u64, String)> {
    let mut v: Vec<_> = e
        .metrics
        .iter()
        .map(|m| {
            (
                m["metricName"].as_str().unwrap().to_string(),
                m["step"].as_u64().unwrap(),
                m["metricValue"].to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

// ------------------------------------------------------------ tests

/// The normal case: every event arrives exactly once.
#[test]
fn every_event_arrives_exactly_once() {
    let _g = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::start();
    env_for(&server);
    let dir = tempfile::tempdir().unwrap();
    let mut t = CometTracker::start(dir.path(), &cfg(CometMode::Online), "exp-run-1").unwrap();
    let params: Vec<(String, String)> =
        (0..40).map(|i| (format!("p.{i}"), i.to_string())).collect();
    t.log_params(&params);
    for i in 0..2500u64 {
        t.log_metric(
            "loss",
            1.0 / (i + 1) as f64,
            i + 1,
            Some((i / 100) as u32),
            1_700_000_000_000 + i,
        );
    }
    t.log_metric("diverged", f64::NAN, 2501, None, 1_700_000_002_501);
    t.add_tags(&["a".into(), "b".into()]);
    t.log_other("Name", "exp-run-1");
    std::fs::write(dir.path().join("x.csv"), "a,b\n").unwrap();
    t.log_file(FileKind::Asset, dir.path().join("x.csv"), "x.csv", None);
    let line = t.end(RunStatus::Done, None).unwrap();
    assert_eq!(line, "Comet: 2,545 events delivered, 0 pending");
    let exps = server.exps();
    assert_eq!(exps.len(), 1);
    let e = &exps[0];
    assert_eq!(e.name, "exp-run-1");
    assert_eq!(server_metrics(e), journal_metrics(dir.path()));
    assert_eq!(e.params.len(), 40);
    assert_eq!(e.params["p.7"], json!(7));
    assert!(e.tags.contains("a") && e.tags.contains("b"));
    assert_eq!(e.status.as_ref().unwrap()["isAlive"], json!(false));
    assert_eq!(e.assets.len(), 1);
    assert_no_key_in(dir.path());
}

/// Faults during the run, then a full outage for its second half: the run
/// is not held up, and `comet sync` leaves Comet with exactly the journal.
#[test]
fn faults_and_outage_then_sync_delivers_exactly_the_journal() {
    let _g = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let mut server = Server::start();
    env_for(&server);
    // The create lands but its answer is lost: must not make a 2nd experiment.
    server.fault("write/experiment/create", Fault::Drop, 0, 1);
    server.fault("batch/logger/experiment/parameter", Fault::TooMany(1), 0, 1);
    server.fault("batch/logger/experiment/metric", Fault::Status(500), 0, 2);
    server.fault("batch/logger/experiment/metric", Fault::Slow(1500), 0, 1);
    server.fault("batch/logger/experiment/metric", Fault::Drop, 1, 1);
    server.fault("batch/logger/experiment/metric", Fault::Status(503), 1, 1);
    let dir = tempfile::tempdir().unwrap();
    let mut t = CometTracker::start(dir.path(), &cfg(CometMode::Online), "exp-run-2").unwrap();
    let params: Vec<(String, String)> = (0..30)
        .map(|i| (format!("p.{i}"), format!("v{i}")))
        .collect();
    t.log_params(&params);
    let mut step = 0u64;
    let mut log = |t: &mut CometTracker, n: u64| {
        for _ in 0..n {
            step += 1;
            t.log_metric(
                "loss",
                step as f64 * 0.5,
                step,
                Some((step / 500) as u32),
                1_700_000_000_000 + step,
            );
            if step.is_multiple_of(250) {
                std::thread::sleep(Duration::from_millis(40));
            }
        }
    };
    log(&mut t, 3000);
    // Let the sender work through the faults of the first half.
    let t_half = Instant::now();
    while Instant::now() - t_half < Duration::from_secs(40) {
        let (_, pending) = comet::counts(&Outbox::open(dir.path()).unwrap()).unwrap();
        if pending == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    server.down();
    let t0 = Instant::now();
    log(&mut t, 3000);
    t.log_other("phase", "outage");
    let line = t.end(RunStatus::Failed, Some("boom")).unwrap();
    let second_half = t0.elapsed();
    assert!(
        second_half < Duration::from_secs(8),
        "the outage held the run for {second_half:?}"
    );
    assert!(
        line.starts_with("Comet: ") && !line.ends_with(" 0 pending"),
        "{line}"
    );

    server.up();
    server.state.lock().unwrap().rules.clear();
    let r = comet::sync(dir.path()).unwrap();
    assert_eq!(r.pending, 0);
    // Syncing again sends nothing.
    let r2 = comet::sync(dir.path()).unwrap();
    assert_eq!(r2.delivered_now, 0);

    let exps = server.exps();
    assert_eq!(
        exps.len(),
        1,
        "exactly one experiment: {:?}",
        exps.iter().map(|e| &e.name).collect::<Vec<_>>()
    );
    let e = &exps[0];
    let journal = journal_metrics(dir.path());
    assert_eq!(journal.len(), 6000);
    let got = server_metrics(e);
    let dupes = got.windows(2).filter(|w| w[0] == w[1]).count();
    assert_eq!(dupes, 0, "duplicated metric points on the server");
    assert_eq!(got, journal, "server holds exactly the journal");
    assert_eq!(e.params.len(), 30);
    assert_eq!(e.others["phase"], json!("outage"));
    assert_eq!(e.status.as_ref().unwrap()["hasCrashed"], json!(true));
    let reqs = server.state.lock().unwrap().requests.clone();
    assert!(reqs.iter().any(|r| r.2 == 429) && reqs.iter().any(|r| r.2 == 500));
    assert_no_key_in(dir.path());
}

/// A crash right after a metric batch went out (the answer never came):
/// the next sync reads back what Comet holds and sends only the rest.
#[test]
fn sync_after_crash_mid_batch_is_exactly_once() {
    let _g = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let mut server = Server::start();
    env_for(&server);
    let dir = tempfile::tempdir().unwrap();
    // Journal only (offline), as a crashed run leaves it.
    let mut t = CometTracker::start(dir.path(), &cfg(CometMode::Offline), "exp-run-3").unwrap();
    for i in 1..=2500u64 {
        t.log_metric("m", i as f64, i, None, 1_700_000_000_000 + i);
    }
    t.end(RunStatus::Done, None);
    // First sync: the first batch is applied, the connection dropped, and
    // the process "dies" (the deadline passes during the backoff).
    server.fault("batch/logger/experiment/metric", Fault::Drop, 0, 1);
    std::env::set_var("ANIREC_COMET_SYNC_SECS", "0.01");
    let r = comet::sync(dir.path()).unwrap();
    assert!(r.pending > 0);
    assert!(Outbox::open(dir.path()).unwrap().state().unwrap().uncertain);
    assert_eq!(server.exps()[0].metrics.len(), 1000);
    server.down();
    server.up();
    std::env::set_var("ANIREC_COMET_SYNC_SECS", "120");
    let r = comet::sync(dir.path()).unwrap();
    assert_eq!(r.pending, 0);
    let e = &server.exps()[0];
    assert_eq!(server_metrics(e), journal_metrics(dir.path()));
}

/// Offline mode: nothing is sent; the run writes Comet's offline archive
/// with the schema of shared/reference §7, and sync uploads later.
#[test]
fn offline_run_writes_the_comet_archive() {
    let _g = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let server = Server::start();
    env_for(&server);
    let dir = tempfile::tempdir().unwrap();
    let mut t = CometTracker::start(dir.path(), &cfg(CometMode::Offline), "exp-off").unwrap();
    t.log_params(&[
        ("model.kind".into(), "popularity".into()),
        ("seed".into(), "42".into()),
    ]);
    t.log_metric("loss", 0.5, 1, Some(0), 1_700_000_000_001);
    t.log_metric("bad", f64::INFINITY, 2, None, 1_700_000_000_002);
    t.add_tags(&["quick".into()]);
    std::fs::create_dir_all(dir.path().join("bundle")).unwrap();
    std::fs::write(dir.path().join("bundle/manifest.json"), "{}").unwrap();
    t.log_file(
        FileKind::Model,
        dir.path().join("bundle/manifest.json"),
        "bundle/manifest.json",
        Some("popularity"),
    );
    std::fs::write(dir.path().join("p.png"), [137u8, 80, 78, 71]).unwrap();
    t.log_file(FileKind::Image, dir.path().join("p.png"), "p.png", None);
    let line = t.end(RunStatus::Done, None).unwrap();
    assert!(
        line.starts_with("Comet (offline): 8 events journalled"),
        "{line}"
    );
    assert!(
        server.state.lock().unwrap().requests.is_empty(),
        "offline sent requests"
    );

    let f = std::fs::File::open(dir.path().join(comet::ARCHIVE)).unwrap();
    let mut z = zip::ZipArchive::new(f).unwrap();
    let read = |z: &mut zip::ZipArchive<std::fs::File>, n: &str| {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut z.by_name(n).unwrap(), &mut s).unwrap();
        s
    };
    let exp: Value = serde_json::from_str(&read(&mut z, "experiment.json")).unwrap();
    for k in [
        "project_name",
        "workspace",
        "start_time",
        "stop_time",
        "tags",
        "offline_id",
    ] {
        assert!(exp.get(k).is_some(), "experiment.json lacks {k}");
    }
    assert_eq!(exp["tags"], json!(["quick"]));
    assert_eq!(exp["offline_id"].as_str().unwrap().len(), 32);
    let msgs: Vec<Value> = read(&mut z, "messages.json")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let metrics: Vec<&Value> = msgs.iter().filter(|m| m["type"] == "metric_msg").collect();
    assert_eq!(metrics.len(), 2);
    for m in &metrics {
        let keys: BTreeSet<&str> = m["payload"]["metric"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["epoch", "metricName", "metricValue", "step"])
        );
    }
    assert_eq!(
        metrics[1]["payload"]["metric"]["metricValue"],
        json!("Infinity")
    );
    let files: Vec<&Value> = msgs.iter().filter(|m| m["type"] == "file_upload").collect();
    assert_eq!(files.len(), 2);
    for f in files {
        let p = &f["payload"];
        assert!(
            p["additional_params"].get("context").is_some()
                && p["additional_params"].get("step").is_some()
        );
        z.by_name(p["file_path"].as_str().unwrap()).unwrap();
    }
    // sync uploads the offline run.
    let r = comet::sync(dir.path()).unwrap();
    assert_eq!(r.pending, 0);
    assert_eq!(server.exps()[0].metrics.len(), 2);
}

/// The whole experiment of an `anirec run --tracking comet` (subprocess)
/// against the fake server, and no API key anywhere the run wrote.
#[test]
fn cli_run_mirrors_the_whole_experiment() {
    let server = Server::start();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(r)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(r.join("notes.txt"), "one\n").unwrap();
    git(&["add", "notes.txt"]);
    git(&["commit", "-q", "-m", "init"]);
    std::fs::write(r.join("notes.txt"), "one\ntwo\n").unwrap(); // dirty
    std::fs::write(
        r.join("exp.yaml"),
        format!(
            "name: cometexp\nextends: '{}/configs/synthetic.yaml'\nruns_dir: '{}'\ndata:\n  cache_dir: '{}'\n  synth: {{users: 300, anime: 200, rows: 20000, seed: 1}}\nmodel: {{kind: mf_bpr, factors: 8, epochs: 3}}\ntracking: {{comet: {{tags: [cli]}}}}\n",
            env!("CARGO_MANIFEST_DIR"),
            r.join("runs").display(),
            r.join("cache").display()
        ),
    )
    .unwrap();
    let out = assert_cmd::Command::cargo_bin("anirec")
        .unwrap()
        .current_dir(r)
        .env("RUST_LOG", "warn")
        .env("COMET_URL_OVERRIDE", server.url())
        .env("COMET_API_KEY", KEY)
        .env("COMET_WORKSPACE", "ws")
        .env("COMET_PROJECT_NAME", "proj")
        .args(["run", "exp.yaml", "--tracking", "comet"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains(" events delivered, 0 pending"), "{stderr}");
    assert!(!stdout.contains(KEY) && !stderr.contains(KEY));

    let exps = server.exps();
    assert_eq!(exps.len(), 1);
    let e = &exps[0];
    assert_eq!((e.workspace.as_str(), e.project.as_str()), ("ws", "proj"));
    assert!(e.name.starts_with("cometexp-"));
    let run_dir = r
        .join("runs/cometexp")
        .read_dir()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // params: the flattened config, all of them
    let params: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(run_dir.join("params.json")).unwrap()).unwrap();
    assert_eq!(e.params.len(), params.len());
    // metrics: every local event, per epoch too
    let local: Vec<Value> = std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(e.metrics.len(), local.len());
    assert!(
        e.metrics.iter().any(|m| m["epoch"] == json!(2)),
        "per-epoch metrics"
    );
    for t in ["cometexp", "mf_bpr", "cli"] {
        assert!(e.tags.contains(t), "tag {t}: {:?}", e.tags);
    }
    let g = e.git.as_ref().expect("git metadata");
    assert_eq!(g["branch"], json!("refs/heads/main"));
    assert!(e.git_patch.unwrap_or(0) > 0, "dirty tree: patch uploaded");
    let sys = &e.system[0];
    assert!(sys["command"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "--tracking"));
    assert!(sys["logAdditionalSystemInfoList"]
        .to_string()
        .contains("memory_bytes"));
    let names: BTreeSet<(String, String)> = e
        .assets
        .keys()
        .map(|(n, t, _)| (n.clone(), t.clone()))
        .collect();
    assert!(names.contains(&("config.yaml".into(), "asset".into())));
    assert!(names.contains(&("summary.json".into(), "asset".into())));
    // every plot the run drew arrived as an image, whole
    let mut plots = Vec::new();
    walk(&run_dir.join("plots"), &mut plots);
    let stems: BTreeSet<String> = plots
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for stem in ["training", "metrics_at_k", "embeddings_pca"] {
        assert!(stems.contains(stem), "{stem} not drawn: {stems:?}");
    }
    let images: BTreeMap<&str, usize> = e
        .assets
        .iter()
        .filter(|((_, t, _), _)| t == "image")
        .map(|((n, _, _), len)| (n.as_str(), *len))
        .collect();
    assert_eq!(images.len(), plots.len(), "{images:?}");
    for p in &plots {
        let name = p.file_name().unwrap().to_string_lossy();
        let len = std::fs::metadata(p).unwrap().len() as usize;
        assert_eq!(images.get(name.as_ref()), Some(&len), "{name}: {images:?}");
    }
    let model: Vec<_> = e
        .assets
        .keys()
        .filter(|(_, t, g)| t == "model-element" && g == "mf_bpr")
        .collect();
    let mut bundle_files = Vec::new();
    walk(&run_dir.join("bundle"), &mut bundle_files);
    assert_eq!(model.len(), bundle_files.len());
    assert_eq!(e.status.as_ref().unwrap()["isAlive"], json!(false));
    assert!(e.start_end.is_some());
    assert_no_key_in(&run_dir);

    // Reading back.
    let out = assert_cmd::Command::cargo_bin("anirec")
        .unwrap()
        .env("COMET_URL_OVERRIDE", server.url())
        .env("COMET_API_KEY", KEY)
        .args([
            "comet",
            "runs",
            "--workspace",
            "ws",
            "--project",
            "proj",
            "--metric",
            "ndcg@10",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains(&e.key), "{text}");
    // A wrong key: the error names the endpoint and status, not the key.
    let out = assert_cmd::Command::cargo_bin("anirec")
        .unwrap()
        .env("COMET_URL_OVERRIDE", server.url())
        .env("COMET_API_KEY", "sk-WRONG-key-123456")
        .args(["comet", "runs", "--workspace", "ws", "--project", "proj"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("401") && !err.contains("sk-WRONG"),
        "{err}"
    );

    // Promotion registers the run's model in the registry, ranked locally or
    // by what Comet holds; each promotion is a new minor version.
    for (from, version) in [("local", "1.0.0"), ("comet", "1.1.0")] {
        let out = assert_cmd::Command::cargo_bin("anirec")
            .unwrap()
            .current_dir(r)
            .env("RUST_LOG", "warn")
            .env("COMET_URL_OVERRIDE", server.url())
            .env("COMET_API_KEY", KEY)
            .args([
                "promote",
                "runs/cometexp",
                "--to",
                "models/promoted",
                "--from",
                from,
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains(&format!("Comet model registry: anirec version {version}")),
            "{text}"
        );
        let promoted: Value = serde_json::from_slice(
            &std::fs::read(r.join("models/promoted/PROMOTED.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(promoted["comet"]["experiment_key"], json!(e.key));
        assert_eq!(promoted["registry"]["version"], json!(version));
    }
    let reg = server.state.lock().unwrap().registry.clone();
    assert_eq!(reg.len(), 2);
    assert_eq!(reg[0]["experimentKey"], json!(e.key));
    assert_eq!(reg[0]["experimentModelName"], json!("mf_bpr"));
    assert_eq!(reg[0]["registryModelName"], json!("anirec"));
    assert_no_key_in(&r.join("models"));
}
