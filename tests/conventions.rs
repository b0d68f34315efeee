//! The CLI's conventions: examples in every command's help, shell
//! completions, enumerated flags, the README's exit codes (a Comet outage is
//! 5, a refused key 2), JSON logs with `severity`, and `log` records bridged
//! into tracing.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

fn anirec() -> Command {
    let mut c = Command::cargo_bin("anirec").unwrap();
    c.env("NO_COLOR", "1")
        .env_remove("ANIREC_LOG_FORMAT")
        .env_remove("COMET_API_KEY")
        .env_remove("COMET_URL_OVERRIDE")
        .env("HOME", std::env::temp_dir().join("anirec-no-home"));
    c
}

fn out(c: &mut Command) -> (i32, String, String) {
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A loopback port with nothing listening (bound, then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Answers every request with 401 (a Comet that refuses the key), for at
/// most `n` connections.
fn refusing_server(n: usize) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().take(n) {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len.min(1 << 20)];
            let _ = std::io::Read::read_exact(&mut r, &mut body);
            let msg = br#"{"msg":"Invalid API key","code":401}"#;
            let _ = write!(
                s,
                "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                msg.len()
            );
            let _ = s.write_all(msg);
        }
    });
    format!("http://{addr}/clientlib/")
}

#[test]
fn every_command_has_examples_in_its_help() {
    let commands: &[&[&str]] = &[
        &["run"],
        &["sweep"],
        &["sweep", "plan"],
        &["sweep", "trial"],
        &["sweep", "collect"],
        &["sweep", "worker"],
        &["compare"],
        &["promote"],
        &["report"],
        &["recommend"],
        &["completions"],
        &["comet", "sync"],
        &["comet", "runs"],
        &["data", "fetch"],
        &["data", "synth"],
        &["data", "process"],
        &["data", "split"],
        &["data", "stats"],
        &["data", "explore"],
    ];
    for c in commands {
        let (code, stdout, _) = out(anirec().args(*c).arg("--help"));
        assert_eq!(code, 0, "{c:?}");
        assert!(
            stdout.contains("Examples:\n  anirec "),
            "{c:?} --help:\n{stdout}"
        );
    }
    let (_, top, _) = out(anirec().arg("--help"));
    assert!(top.contains("Exit codes: 0 ok, 2 bad config"), "{top}");
}

#[test]
fn completions_for_bash_zsh_fish() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef anirec"),
        ("fish", "complete -c anirec"),
    ] {
        let (code, stdout, stderr) = out(anirec().args(["completions", shell]));
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains(marker), "{shell}: {stdout:.300}");
        // Subcommands and enumerated values are completed.
        assert!(
            stdout.contains("recommend") && stdout.contains("minimize"),
            "{shell}"
        );
    }
    let (code, _, stderr) = out(anirec().args(["completions", "powershell-7"]));
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn enumerated_flags_list_their_values() {
    let (code, _, stderr) = out(anirec().args(["promote", "runs", "--goal", "max"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("maximize") && stderr.contains("minimize"),
        "{stderr}"
    );
    let (code, _, stderr) = out(anirec().args(["promote", "runs", "--from", "s3"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("local") && stderr.contains("comet"),
        "{stderr}"
    );
    let (code, _, stderr) = out(anirec().args(["run", "x.yaml", "--tracking", "wandb"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("comet"), "{stderr}");
    let (code, _, stderr) = out(anirec().args(["--log-format", "xml", "completions", "bash"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("json"), "{stderr}");
}

#[test]
fn comet_runs_exit_codes_follow_the_readme() {
    // Comet unreachable: 5 (I/O), not 2.
    let url = format!("http://127.0.0.1:{}/clientlib/", closed_port());
    let (code, _, stderr) = out(anirec()
        .env("COMET_URL_OVERRIDE", &url)
        .env("COMET_API_KEY", "test-key-not-secret")
        .args(["comet", "runs", "--workspace", "ws", "--project", "p"]));
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");
    // A refused key is a settings problem: 2.
    let (code, _, stderr) = out(anirec()
        .env("COMET_URL_OVERRIDE", refusing_server(4))
        .env("COMET_API_KEY", "test-key-not-secret")
        .args(["comet", "runs", "--workspace", "ws", "--project", "p"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    // No key at all: 2.
    let (code, _, stderr) = out(anirec().args(["comet", "runs", "--project", "p"]));
    assert_eq!(code, 2, "{stderr}");
}

/// One tiny synthetic run mirrored to a Comet that is down, in JSON logs
/// with reqwest's own debug records: then `comet sync` while Comet is still
/// down exits 5, and against one that refuses the key 2.
#[test]
fn comet_sync_outage_is_5_and_logs_are_json_with_severity() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    std::fs::write(
        r.join("exp.yaml"),
        format!(
            "name: conv\nextends: '{}/configs/synthetic.yaml'\nruns_dir: '{}'\ndata:\n  cache_dir: '{}'\n  synth: {{users: 120, anime: 80, rows: 3000, seed: 1}}\nmodel: {{kind: popularity}}\neval: {{k: [10]}}\ntracking: {{comet: {{}}}}\n",
            env!("CARGO_MANIFEST_DIR"),
            r.join("runs").display(),
            r.join("cache").display()
        ),
    )
    .unwrap();
    let down = format!("http://127.0.0.1:{}/clientlib/", closed_port());
    let (code, stdout, stderr) = out(anirec()
        .current_dir(r)
        .env("COMET_URL_OVERRIDE", &down)
        .env("COMET_API_KEY", "test-key-not-secret")
        .env("ANIREC_COMET_GRACE_SECS", "1")
        .env("ANIREC_LOG_FORMAT", "json")
        .env("RUST_LOG", "info,reqwest=debug")
        .args(["run", "exp.yaml"]));
    assert_eq!(code, 0, "{stderr}");
    let logs: Vec<Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        logs.iter()
            .all(|l| l["severity"].is_string() && l["time"].is_string()),
        "{stderr}"
    );
    assert!(
        logs.iter().any(|l| l["severity"] == "INFO"
            && l["message"].as_str().is_some_and(|m| m.starts_with("run "))),
        "{stderr}"
    );
    // reqwest logs through the `log` crate: bridged, with its own target.
    assert!(
        logs.iter().any(|l| l["severity"] == "DEBUG"
            && l["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("reqwest"))),
        "{stderr}"
    );
    let run_dir = stdout
        .lines()
        .find_map(|l| l.strip_prefix("run dir: "))
        .map(|p| r.join(p))
        .unwrap();
    assert!(run_dir.join("outbox").is_dir());

    let sync = |url: &str| {
        out(anirec()
            .current_dir(r)
            .env("COMET_URL_OVERRIDE", url)
            .env("COMET_API_KEY", "test-key-not-secret")
            .env("ANIREC_COMET_SYNC_SECS", "2")
            .args(["comet", "sync"])
            .arg(&run_dir))
    };
    let (code, _, stderr) = sync(&down);
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("not synced"), "{stderr}");
    let (code, _, stderr) = sync(&refusing_server(8));
    assert_eq!(code, 2, "{stderr}");
    assert!(Path::new(&run_dir).join("outbox").is_dir());
}
