//! End-to-end tests of adaptive sweeps and comparisons through the `anirec`
//! binary: TPE with ASHA, a crash (kill -9 of the sweeper and of a trial)
//! and resume against an uninterrupted sweep, OS locks between sweepers and
//! trials, workers sharing a sweep directory, plan.json trial ids that name
//! paths, `anirec compare` and `promote --require-significant`.

mod common;

use common::{json, run, Fx, SYNTH};
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The sweep experiment files on a [`Fx`].
trait SweepFx {
    /// Writes `<root>/<file>`: experiment `sw` on small synthetic data, its
    /// runs and cache inside the folder, plus `rest` (top-level YAML).
    fn exp(&self, file: &str, rest: &str) -> PathBuf;
}

impl SweepFx for Fx {
    fn exp(&self, file: &str, rest: &str) -> PathBuf {
        let p = self.root().join(file);
        fs::write(
            &p,
            format!(
                "name: sw\nruns_dir: '{}'\ndata:\n  cache_dir: '{}'\n  {SYNTH}\n{rest}\n",
                self.runs().display(),
                self.cache().display()
            ),
        )
        .unwrap();
        p
    }
}

fn ok(c: &mut Command) -> Output {
    let o = run(c);
    assert!(
        o.status.success(),
        "expected success\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

/// Trial states by state-file name.
fn states(sweep: &Path) -> Vec<(String, Json)> {
    names(&sweep.join("state"))
        .into_iter()
        .filter_map(|n| {
            let v: Json =
                serde_json::from_slice(&fs::read(sweep.join("state").join(&n)).ok()?).ok()?;
            Some((n, v))
        })
        .collect()
}

fn count(sweep: &Path, state: &str) -> usize {
    states(sweep)
        .iter()
        .filter(|(_, v)| v["state"] == state)
        .count()
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill9(pid: u32) {
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
}

/// mf_bpr over a 4-parameter space, TPE after 3 random trials, ASHA on the
/// per-epoch validation NDCG (rungs at epochs 1, 3, 9).
const TPE: &str = "model: {kind: mf_bpr, factors: 8, epochs: 9, lr: 0.05, reg: 0.0001, batch_size: 1024, min_rating: 0}\neval: {k: [10]}\nsweep:\n  method: tpe\n  trials: 8\n  n_startup_trials: 3\n  seed: 5\n  early_stop: {kind: asha, metric: val_ndcg@10, min_epochs: 1, reduction_factor: 3}\n  parameters:\n    model.factors: {int_uniform: [2, 24]}\n    model.lr: {log_uniform: [0.001, 0.2]}\n    model.reg: {log_uniform: [0.000001, 0.01]}\n    model.batch_size: [256, 1024]";

fn spawn_sweep(fx: &Fx, exp: &Path, dir: &Path) -> Child {
    fx.cmd()
        .arg("sweep")
        .arg(exp)
        .arg("--sweep-dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The trial ids in suggestion order, and the best trial.
fn outcome(dir: &Path) -> (Vec<String>, String, Vec<String>) {
    let ids: Vec<String> = names(&dir.join("suggested"))
        .iter()
        .map(|n| {
            json(&dir.join("suggested").join(n))["trial"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let s = json(&dir.join("sweep.json"));
    let best = s["best"]["trial_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let status: Vec<String> = {
        let mut rows: Vec<(u64, String)> = s["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["trial"].as_u64().unwrap(),
                    r["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        rows.sort();
        rows.into_iter().map(|r| r.1).collect()
    };
    (ids, best, status)
}

/// A TPE + ASHA sweep killed mid-way (kill -9 of the sweeper and of the
/// running trial) and resumed ends with the same trials, states and best
/// trial as the same sweep run straight through; ASHA pruned some trials,
/// which are listed as pruned, not failed, and never ranked best.
#[test]
fn tpe_asha_crash_and_resume_equals_an_uninterrupted_sweep() {
    let fx = Fx::new();
    let exp = fx.exp("tpe.yaml", TPE);
    let straight = fx.root().join("straight");
    let o = ok(fx
        .cmd()
        .arg("sweep")
        .arg(&exp)
        .arg("--sweep-dir")
        .arg(&straight));
    let (ids_a, best_a, status_a) = outcome(&straight);
    assert_eq!(ids_a.len(), 8, "{}", stderr(&o));
    assert!(
        status_a.iter().any(|s| s == "pruned"),
        "ASHA pruned nothing: {status_a:?}"
    );
    assert!(!status_a.iter().any(|s| s == "failed"), "{status_a:?}");
    let sj = json(&straight.join("sweep.json"));
    assert_eq!(sj["best"]["status"], "done");
    assert!(
        sj["epochs_run"].as_u64().unwrap() < 8 * 9,
        "{}",
        sj["epochs_run"]
    );
    // A trial that trained all 9 epochs completed (as at Ray's max_t),
    // whatever its rung-9 value; pruned ones stopped before.
    for r in sj["rows"].as_array().unwrap() {
        match r["status"].as_str().unwrap() {
            "pruned" => assert!(r["epochs"].as_u64().unwrap() < 9, "{r}"),
            "done" => assert_eq!(r["epochs"], 9, "{r}"),
            _ => {}
        }
    }
    let md = fs::read_to_string(straight.join("summary.md")).unwrap();
    assert!(md.contains("pruned at epoch"), "{md}");

    let crashed = fx.root().join("crashed");
    let mut child = spawn_sweep(&fx, &exp, &crashed);
    // Wait until three trials are finished and a fourth is running, then
    // kill the sweeper and that trial's process with SIGKILL.
    let mut victim = None;
    wait_for("a running fourth trial", 120, || {
        if count(&crashed, "done") + count(&crashed, "pruned") < 3 {
            return false;
        }
        // Its run directory exists: the killed attempt has something to set aside.
        victim = states(&crashed)
            .into_iter()
            .filter(|(n, _)| {
                crashed
                    .join("trials")
                    .join(n.trim_end_matches(".json"))
                    .exists()
            })
            .find(|(_, v)| v["state"] == "running")
            .and_then(|(_, v)| v["by"].as_str()?.split('@').next()?.parse::<u32>().ok());
        victim.is_some()
    });
    kill9(child.id());
    kill9(victim.unwrap());
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        names(&crashed.join("suggested")).len() < 8,
        "finished before the kill"
    );

    let o = ok(fx
        .cmd()
        .arg("sweep")
        .arg(&exp)
        .arg("--sweep-dir")
        .arg(&crashed));
    assert!(stderr(&o).contains("done earlier"), "{}", stderr(&o));
    let (ids_b, best_b, status_b) = outcome(&crashed);
    assert_eq!(ids_b, ids_a, "the resumed sweep suggested other trials");
    assert_eq!(status_b, status_a);
    assert_eq!(best_b, best_a);
    assert!(
        !names(&crashed.join("interrupted")).is_empty(),
        "the killed attempt was not kept aside"
    );
}

/// Eight quick trials (ease and user_knn): long enough to race against.
const GRID: &str = "model: {kind: ease}\neval: {k: [10]}\nsweep:\n  parallel: 1\n  parameters:\n    model:\n      - {kind: ease, l2: 10}\n      - {kind: ease, l2: 100}\n      - {kind: user_knn, neighbors: 5}\n      - {kind: user_knn, neighbors: 20}\n    data.min_user_ratings: [5, 6]";

/// A second sweeper on a running sweep gets a clear error naming the lock,
/// and `sweep trial` for the trial being run neither runs it nor moves the
/// live run directory into interrupted/.
#[test]
fn a_second_sweeper_and_a_live_trial_are_refused() {
    let fx = Fx::new();
    let exp = fx.exp("grid.yaml", GRID);
    let dir = fx.root().join("sw");
    let mut first = spawn_sweep(&fx, &exp, &dir);
    let mut running = None;
    wait_for("a running trial", 60, || {
        running = states(&dir)
            .into_iter()
            .find(|(_, v)| v["state"] == "running")
            .map(|(n, v)| {
                (
                    n.trim_end_matches(".json").to_string(),
                    v["trial"].as_u64().unwrap(),
                )
            });
        running.is_some()
    });
    let second = run(fx.cmd().arg("sweep").arg(&exp).arg("--sweep-dir").arg(&dir));
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    assert!(stderr(&second).contains("in use"), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("sweep.lock"),
        "{}",
        stderr(&second)
    );

    let (name, index) = running.unwrap();
    let live = run(fx
        .cmd()
        .args(["sweep", "trial", "--plan"])
        .arg(dir.join("plan.json"))
        .args(["--index", &index.to_string(), "--sweep-dir"])
        .arg(&dir));
    // The trial may have finished in between: then it is "already done".
    let e = stderr(&live);
    if live.status.success() {
        assert!(e.contains("already done"), "{e}");
    } else {
        assert!(e.contains("is being run by"), "{e}");
    }
    assert!(
        names(&dir.join("interrupted")).is_empty(),
        "a live trial was moved aside"
    );
    assert!(dir.join("trials").join(&name).exists());
    assert!(first.wait().unwrap().success());
    assert_eq!(count(&dir, "done"), 8);
}

/// A plan.json whose trial id climbs out of the sweep directory is refused
/// before anything is written.
#[test]
fn plan_trial_ids_that_name_paths_are_refused() {
    let fx = Fx::new();
    let exp = fx.exp("grid.yaml", GRID);
    let plan = fx.root().join("plan.json");
    ok(fx
        .cmd()
        .args(["sweep", "plan"])
        .arg(&exp)
        .arg("--out")
        .arg(&plan));
    let mut p = json(&plan);
    p["trials"][0]["id"] = Json::from("../../escape");
    fs::write(&plan, serde_json::to_vec(&p).unwrap()).unwrap();
    let o = run(fx
        .cmd()
        .args(["sweep", "trial", "--plan"])
        .arg(&plan)
        .args(["--index", "0", "--sweep-dir"])
        .arg(fx.root().join("k8s")));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("never paths"), "{}", stderr(&o));
    assert!(!fx.root().join("escape").exists());
    assert!(!fx.root().join("k8s").exists());
}

/// Two `sweep worker` processes share one TPE sweep directory (as pods do):
/// the budget is suggested once, each trial runs once, nothing is set aside.
#[test]
fn two_workers_share_a_tpe_sweep() {
    let fx = Fx::new();
    let exp = fx.exp("tpe.yaml", &TPE.replace("trials: 8", "trials: 5"));
    let plan = fx.root().join("plan.json");
    let o = ok(fx
        .cmd()
        .args(["sweep", "plan"])
        .arg(&exp)
        .arg("--out")
        .arg(&plan));
    assert!(String::from_utf8_lossy(&o.stdout).contains("sweep worker"));
    let dir = fx.root().join("shared");
    let workers: Vec<Child> = (0..2)
        .map(|_| {
            fx.cmd()
                .args(["sweep", "worker", "--plan"])
                .arg(&plan)
                .arg("--sweep-dir")
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut w in workers {
        assert!(w.wait().unwrap().success());
    }
    assert_eq!(names(&dir.join("suggested")).len(), 5);
    assert_eq!(
        count(&dir, "done") + count(&dir, "pruned"),
        5,
        "{:?}",
        states(&dir)
    );
    assert!(names(&dir.join("interrupted")).is_empty());
    // A local sweeper cannot join while workers hold the sweep.
    let o = ok(fx.cmd().args(["sweep", "collect"]).arg(&dir));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Best: trial"));
}

/// Every run writes per_user.csv; `compare` pairs the users and reports the
/// tests; `promote --require-significant` records the test and refuses a run
/// that is not significantly better than the promoted one.
#[test]
fn compare_and_promote_require_significance() {
    let fx = Fx::new();
    let exp = fx.exp("run.yaml", "model: {kind: popularity}\neval: {k: [10]}");
    let run_of = |set: &str| -> PathBuf {
        let o = ok(fx.cmd().arg("run").arg(&exp).args(["--set", set]));
        let line = String::from_utf8_lossy(&o.stdout).into_owned();
        let d = line
            .lines()
            .find_map(|l| l.strip_prefix("run dir: "))
            .unwrap()
            .trim()
            .to_string();
        fx.root().join(d)
    };
    let pop = run_of("model={kind: popularity}");
    let ease = run_of("model={kind: ease, l2: 50}");
    let pu = fs::read_to_string(pop.join("per_user.csv")).unwrap();
    assert!(
        pu.starts_with("user_id,precision@10,recall@10,ndcg@10,map@10,hit_rate@10\n"),
        "{pu}"
    );
    let users = json(&pop.join("summary.json"))["users_evaluated"]
        .as_f64()
        .unwrap() as usize;
    assert_eq!(pu.lines().count(), users + 1);

    let out = fx.root().join("cmp");
    let t0 = Instant::now();
    let o = ok(fx
        .cmd()
        .arg("compare")
        .arg(&pop)
        .arg(&ease)
        .arg("--out")
        .arg(&out));
    assert!(t0.elapsed() < Duration::from_secs(5));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("| ndcg@10 |"), "{text}");
    let c = json(&out.join("compare.json"));
    let t = &c["pairs"][0]["tests"][2];
    assert_eq!(t["metric"], "ndcg@10");
    assert_eq!(t["users"].as_u64().unwrap() as usize, users);
    let report = fx.root().join("rep");
    ok(fx.cmd().arg("report").arg(&ease).arg("--out").arg(&report));
    let md = fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("95 % CI"), "{md}");

    let dest = fx.root().join("models/p");
    ok(fx.cmd().arg("promote").arg(&pop).arg("--to").arg(&dest));
    let better = t["diff"].as_f64().unwrap() > 0.0 && t["significant"] == true;
    let o = run(fx
        .cmd()
        .arg("promote")
        .arg(&ease)
        .arg("--to")
        .arg(&dest)
        .arg("--require-significant"));
    if better {
        assert!(o.status.success(), "{}", stderr(&o));
        let p = json(&dest.join("PROMOTED.json"));
        assert_eq!(p["significance"]["significant"], true, "{p}");
        assert_eq!(p["significance"]["metric"], "ndcg@10");
        // Back to popularity: not an improvement, refused, nothing changed.
        let o = run(fx
            .cmd()
            .arg("promote")
            .arg(&pop)
            .arg("--to")
            .arg(&dest)
            .arg("--require-significant"));
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("not a significant improvement"),
            "{}",
            stderr(&o)
        );
        assert_eq!(
            json(&dest.join("PROMOTED.json"))["significance"]["significant"],
            true
        );
    } else {
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    }
}
