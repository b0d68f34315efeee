//! Two processes, one resource: the real `anirec` binary run side by side
//! against one run directory, one Comet outbox, one promotion destination,
//! plus the inputs that used to be accepted silently or panic.
//!
//! Every process a test starts is killed when the test ends (see [`Bg`]);
//! the fake "Comet" here is a loopback socket that accepts and never answers,
//! so a sync holds its lock for as long as the test needs.

mod common;

use common::{run, text, Fx, SYNTH};
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::fs;
use std::io::{Seek, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Experiment files and finished runs on a [`Fx`].
trait RunFx {
    /// An experiment file on small synthetic data.
    fn exp(&self, file: &str, name: &str, rest: &str) -> PathBuf;
    /// A finished run at `runs/<dir>` (popularity: seconds), Comet offline.
    fn quick_run(&self, dir: &str) -> PathBuf;
}

impl RunFx for Fx {
    fn exp(&self, file: &str, name: &str, rest: &str) -> PathBuf {
        let p = self.path(file);
        fs::write(
            &p,
            format!("name: {name}\nruns_dir: runs\ndata:\n  cache_dir: cache\n  {SYNTH}\n{rest}\n"),
        )
        .unwrap();
        p
    }

    fn quick_run(&self, dir: &str) -> PathBuf {
        self.exp(
            "quick.yaml",
            "quick",
            "model: {kind: popularity}\neval: {k: [10]}\ntracking: {comet: {mode: offline}}",
        );
        let o = run(self.cmd().args(["run", "quick.yaml", "--run-dir"]).arg(dir));
        assert!(o.status.success(), "{}", text(&o));
        self.path(dir)
    }
}

/// A background process, killed when dropped (a failing assert included).
struct Bg(Child);

impl Bg {
    fn spawn(c: &mut Command) -> Self {
        Bg(c.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn anirec"))
    }
    fn pid(&self) -> u32 {
        self.0.id()
    }
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `lock` names `pid` as its holder.
fn wait_for_holder(lock: &Path, pid: u32, bg: &mut Bg) {
    let want = format!("pid {pid} ");
    let t = Instant::now();
    loop {
        if fs::read_to_string(lock).is_ok_and(|s| s.starts_with(&want)) {
            return;
        }
        if let Ok(Some(st)) = bg.0.try_wait() {
            panic!(
                "process {pid} ended ({st}) before taking {}",
                lock.display()
            );
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "{} never named pid {pid}",
            lock.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The second process's refusal: exit 2, the holder's pid in the message.
fn assert_refused(o: &Output, holder: u32) {
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{}", text(o));
    assert!(e.contains("in use by another process"), "{}", text(o));
    assert!(
        e.contains(&format!("pid {holder} ")),
        "holder not named: {}",
        text(o)
    );
    assert!(!e.contains("panicked"), "{}", text(o));
}

/// A loopback "Comet" that accepts connections and never answers.
struct Blackhole {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Blackhole {
    fn start() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            let t = Instant::now();
            // Bounded: it stops with the test, or after five minutes.
            while !s.load(Ordering::Relaxed) && t.elapsed() < Duration::from_secs(300) {
                if let Ok((c, _)) = l.accept() {
                    held.push(c);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Self { port, stop }
    }
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/clientlib/", self.port)
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A loopback URL nothing listens on: connections are refused at once.
fn closed_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/clientlib/")
}

fn sync_cmd(fx: &Fx, run_dir: &Path, url: &str, secs: &str) -> Command {
    let mut c = fx.cmd();
    c.args(["comet", "sync"])
        .arg(run_dir)
        .env("COMET_API_KEY", "sk-hardening-test-key")
        .env("COMET_URL_OVERRIDE", url)
        .env("ANIREC_COMET_SYNC_SECS", secs)
        .env("ANIREC_COMET_TIMEOUT_SECS", "120");
    c
}

// ------------------------------------------------------------------ tests

/// `run --resume` and `comet sync` beside a live run are refused with the
/// run's pid; once it dies (SIGKILL: no cleanup) both locks are free again.
#[test]
fn a_live_run_refuses_resume_and_sync_until_it_dies() {
    let fx = Fx::new();
    fx.exp(
        "live.yaml",
        "live",
        "model: {kind: mf_bpr, factors: 8, epochs: 20000}\ntrain: {early_stopping: {enabled: false}}\ntracking: {comet: {mode: offline}}",
    );
    let run_dir = fx.path("runs/live");
    let mut live = Bg::spawn(
        fx.cmd()
            .args(["run", "live.yaml", "--run-dir", "runs/live"]),
    );
    let pid = live.pid();
    wait_for_holder(&run_dir.join(".anirec.lock"), pid, &mut live);
    wait_for_holder(&run_dir.join("outbox/.lock"), pid, &mut live);

    let o = run(fx.cmd().args(["run", "--resume", "runs/live"]));
    assert_refused(&o, pid);
    let o = run(&mut sync_cmd(&fx, &run_dir, &closed_url(), "0"));
    assert_refused(&o, pid);
    let meta: Json = serde_json::from_slice(&fs::read(run_dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(
        meta["status"], "running",
        "the refused resume touched meta.json"
    );

    live.kill();
    // The OS released both locks with the process: a sync runs (nothing to
    // reach, zero seconds: it reports what is pending and exits 5, Comet's
    // network-failure code, instead of being refused) ...
    let o = run(&mut sync_cmd(&fx, &run_dir, &closed_url(), "0"));
    assert_unreachable_not_refused(&o);
    // ... and a resume takes the run over.
    let mut resumed = Bg::spawn(fx.cmd().args(["run", "--resume", "runs/live"]));
    let rpid = resumed.pid();
    wait_for_holder(&run_dir.join(".anirec.lock"), rpid, &mut resumed);
    resumed.kill();
}

/// Two `comet sync` of one run: the second is refused while the first
/// delivers (here: waits on a server that never answers).
#[test]
fn two_syncs_of_one_outbox() {
    let fx = Fx::new();
    let run_dir = fx.quick_run("runs/q");
    let hole = Blackhole::start();
    let mut first = Bg::spawn(&mut sync_cmd(&fx, &run_dir, &hole.url(), "120"));
    let pid = first.pid();
    wait_for_holder(&run_dir.join("outbox/.lock"), pid, &mut first);
    let o = run(&mut sync_cmd(&fx, &run_dir, &closed_url(), "0"));
    assert_refused(&o, pid);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Comet outbox"),
        "{}",
        text(&o)
    );
    first.kill();
    let o = run(&mut sync_cmd(&fx, &run_dir, &closed_url(), "0"));
    assert_unreachable_not_refused(&o);
}

/// A sync that ran (the lock was free) but could not reach Comet: exit 5
/// with the pending events named, not the lock refusal's exit 2.
fn assert_unreachable_not_refused(o: &Output) {
    assert_eq!(o.status.code(), Some(5), "{}", text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("pending"), "{}", text(o));
    assert!(!err.contains("in use by another process"), "{}", text(o));
}

/// Promotion: `--to runs` is refused and the store survives; a held lock
/// refuses with its holder; concurrent promotes to a dotted destination
/// leave one bundle and no temporaries; the record has no credentials.
#[test]
fn promotes_refuse_non_bundles_serialise_and_leave_nothing_behind() {
    let fx = Fx::new();
    let run_dir = fx.quick_run("runs/q");
    // A run recorded by an older anirec, with a token in its remote.
    let meta_path = run_dir.join("meta.json");
    let mut meta: Json = serde_json::from_slice(&fs::read(&meta_path).unwrap()).unwrap();
    meta["git"] = serde_json::json!({
        "commit": "abc", "branch": "main", "dirty": false,
        "remote": "https://bob:ghp_SECRETTOKEN@github.com/o/r.git"
    });
    fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();

    let before: BTreeSet<_> = walk(&fx.path("runs"));
    let o = run(fx.cmd().args(["promote", "runs/q", "--to", "runs"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("neither an empty folder nor an anirec bundle"),
        "{}",
        text(&o)
    );
    assert_eq!(walk(&fx.path("runs")), before, "the run store was touched");

    // A holder that is not anirec at all: the message repeats what it wrote.
    fs::create_dir_all(fx.path("models")).unwrap();
    let mut held = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(fx.path("models/.v1.2.promote.lock"))
        .unwrap();
    held.try_lock().unwrap();
    held.write_all(b"pid 4242 on host test-holder: deploy script")
        .unwrap();
    let o = run(fx.cmd().args(["promote", "runs/q", "--to", "models/v1.2"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("test-holder: deploy script"),
        "{}",
        text(&o)
    );
    assert!(!fx.path("models/v1.2").exists());
    held.set_len(0).unwrap();
    held.rewind().unwrap();
    drop(held);

    let mut kids: Vec<Child> = (0..4)
        .map(|_| {
            fx.cmd()
                .args(["promote", "runs/q", "--to", "models/v1.2"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<Output> = kids
        .drain(..)
        .map(|k| k.wait_with_output().unwrap())
        .collect();
    let mut ok = 0;
    for o in &outs {
        if o.status.success() {
            ok += 1;
        } else {
            assert_eq!(o.status.code(), Some(2), "{}", text(o));
            assert!(
                String::from_utf8_lossy(&o.stderr).contains("in use by another process"),
                "{}",
                text(o)
            );
        }
    }
    assert!(ok >= 1, "no promote succeeded");
    let names: BTreeSet<String> = fs::read_dir(fx.path("models"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["v1.2".to_string(), ".v1.2.promote.lock".to_string()]),
        "stray temporaries"
    );
    let promoted = fs::read_to_string(fx.path("models/v1.2/PROMOTED.json")).unwrap();
    assert!(!promoted.contains("SECRETTOKEN"), "{promoted}");
    assert!(
        promoted.contains("https://github.com/o/r.git"),
        "{promoted}"
    );
    // Once more, sequentially: replacing a bundle works and cleans up too.
    let o = run(fx.cmd().args(["promote", "runs/q", "--to", "models/v1.2"]));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(fs::read_dir(fx.path("models")).unwrap().count(), 2);
}

/// Settings and inputs that used to panic or pass silently.
#[test]
fn bad_settings_and_inputs_are_clear_errors() {
    let fx = Fx::new();
    let run_dir = fx.quick_run("runs/q");
    for bad in ["-1", "inf", "NaN", "1e30"] {
        let o = run(&mut sync_cmd(&fx, &run_dir, &closed_url(), bad));
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
        assert!(e.contains("ANIREC_COMET_SYNC_SECS"), "{bad}: {}", text(&o));
        assert!(!e.contains("panicked"), "{bad}: {}", text(&o));
    }
    let o = run(&mut sync_cmd(
        &fx,
        &run_dir,
        "http://comet.example.com/clientlib/",
        "0",
    ));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("plain http"),
        "{}",
        text(&o)
    );

    // An experiment named `..` would write runs above runs_dir.
    fx.exp("up.yaml", "'..'", "model: {kind: popularity}");
    let o = run(fx.cmd().args(["run", "up.yaml"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("name"),
        "{}",
        text(&o)
    );

    // External split files with NaN / non-positive ratings.
    fs::write(
        fx.path("train.csv"),
        "user_id,item_id,rating\n0,1,8\n0,5,-3\n1,1,7\n",
    )
    .unwrap();
    fs::write(
        fx.path("test.csv"),
        "user_id,item_id,rating\n0,2,NaN\n1,1,9\n",
    )
    .unwrap();
    fx.exp("ext.yaml", "ext", "model: {kind: popularity}\n");
    let o = run(fx.cmd().args([
        "run",
        "ext.yaml",
        "--set",
        "data.split={kind: external, train: train.csv, test: test.csv}",
    ]));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("train.csv:3: column \"rating\": \"-3\""),
        "{}",
        text(&o)
    );
}

fn walk(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.insert(p);
        }
    }
    out
}

/// A finished run whose bundle is gone: `promote` and `recommend` agree on
/// the exit code (2, the README's "a bundle that is not where it was asked
/// for"; a bundle that is there but does not verify stays 4), both name the
/// bundle, and nothing is promoted.
#[test]
fn a_missing_bundle_gets_one_exit_code_from_promote_and_recommend() {
    let fx = Fx::new();
    let run_dir = fx.quick_run("runs/q");
    fs::remove_dir_all(run_dir.join("bundle")).unwrap();
    let p = run(fx
        .cmd()
        .args(["promote", "runs/q", "--to", "models/promoted"]));
    let r = run(fx
        .cmd()
        .args(["recommend", "--run", "runs/q", "--out", "recs.csv"]));
    for o in [&p, &r] {
        assert_eq!(o.status.code(), Some(2), "{}", text(o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("bundle"),
            "{}",
            text(o)
        );
    }
    assert!(!fx.path("models/promoted").exists());
    assert!(!fx.path("recs.csv").exists());
}
