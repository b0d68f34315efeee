//! Hostile clients against a real `anirec-serve` process on 127.0.0.1
//! (issue 13): a reload storm, a flood of distinct HTTP methods, thousands of
//! half-open header connections, a cancel storm on the POST route, and
//! saturated scoring. Every loop is bounded in count and time. For each
//! attack the test records the server's RSS before and after, `/healthz`
//! latency (p50/p99) while it runs, and whether normal requests still
//! succeed; `cargo test --release --test serve_hostile -- --nocapture`
//! prints the table the README quotes. Also: flags that used to panic.
#![cfg(feature = "serve")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anirec::testdata::bundle::{write_synthetic, BundleSpec};

const TOKEN: &str = "hostile-suite-admin-token-0123";
const BIN: &str = env!("CARGO_BIN_EXE_anirec-serve");

struct Server {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        let spec = BundleSpec {
            n_items: 4000,
            n_users: 5000,
            dims: 64,
            per_user: 50,
            content: true,
            seed: 3,
            run_id: "hostile".into(),
        };
        write_synthetic(&bundle, &spec).unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(BIN)
            .arg("--bundle")
            .arg(&bundle)
            .arg("--addr")
            .arg(addr.to_string())
            .arg("--admin-token-file")
            .arg(&token)
            .args(["--drain-secs", "0", "--request-timeout-secs", "5"])
            .args(extra)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let s = Server {
            child,
            addr,
            _dir: dir,
        };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if matches!(
                request(addr, "GET", "/readyz", "", b"", Duration::from_secs(1)),
                Ok((200, _))
            ) {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("anirec-serve did not become ready in 30 s");
    }

    fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    fn metric(&self, line_prefix: &str) -> f64 {
        let (_, body) = request(
            self.addr,
            "GET",
            "/metrics",
            "",
            b"",
            Duration::from_secs(5),
        )
        .unwrap();
        body.lines()
            .find_map(|l| l.strip_prefix(line_prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{line_prefix} not in /metrics"))
    }
}

/// One HTTP/1.1 request on a fresh connection: (status, body).
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

/// Measures `/healthz` and `/readyz` latency and normal requests while an
/// attack runs.
struct Probe {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<ProbeResult>,
}

#[derive(Debug, Default)]
struct ProbeResult {
    health_ms: Vec<f64>,
    health_failures: usize,
    normal_ok: usize,
    normal_failed: usize,
}

impl ProbeResult {
    fn pct(&self, p: f64) -> f64 {
        let mut v = self.health_ms.clone();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return f64::NAN;
        }
        v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
    }
}

fn probe(addr: SocketAddr) -> Probe {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut r = ProbeResult::default();
        let mut i = 0u32;
        while !s.load(Ordering::Relaxed) && r.health_ms.len() < 5000 {
            let path = if i.is_multiple_of(2) {
                "/healthz"
            } else {
                "/readyz"
            };
            let t = Instant::now();
            match request(addr, "GET", path, "", b"", Duration::from_secs(2)) {
                Ok((200, _)) => r.health_ms.push(t.elapsed().as_secs_f64() * 1e3),
                _ => r.health_failures += 1,
            }
            if i.is_multiple_of(4) {
                let u = 1 + i % 5000;
                match request(
                    addr,
                    "GET",
                    &format!("/v1/users/{u}/recommendations?k=10"),
                    "",
                    b"",
                    Duration::from_secs(5),
                ) {
                    Ok((200, b)) if b.contains("\"items\"") => r.normal_ok += 1,
                    _ => r.normal_failed += 1,
                }
            }
            i += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        r
    });
    Probe { stop, handle }
}

impl Probe {
    fn finish(self) -> ProbeResult {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

/// Runs `n_threads` threads each calling `f(thread, i)` for `per_thread`
/// iterations or until `limit` has passed.
fn storm(
    n_threads: usize,
    per_thread: usize,
    limit: Duration,
    f: impl Fn(usize, usize) + Send + Sync + 'static,
) {
    let f = Arc::new(f);
    let t0 = Instant::now();
    let hs: Vec<_> = (0..n_threads)
        .map(|t| {
            let f = f.clone();
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    if t0.elapsed() > limit {
                        break;
                    }
                    f(t, i);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

struct Row {
    attack: String,
    rss_before: f64,
    rss_after: f64,
    p: ProbeResult,
    note: String,
}

fn report(rows: &[Row]) {
    eprintln!("\n| attack | RSS before → after (MB) | /healthz+/readyz p50 / p99 (ms), probes | normal requests ok / failed | notes |");
    eprintln!("|---|---|---|---|---|");
    for r in rows {
        eprintln!(
            "| {} | {:.0} → {:.0} | {:.1} / {:.1} ({}) | {} / {} | {} |",
            r.attack,
            r.rss_before,
            r.rss_after,
            r.p.pct(0.5),
            r.p.pct(0.99),
            r.p.health_ms.len(),
            r.p.normal_ok,
            r.p.normal_failed,
            r.note
        );
    }
}

/// Health p99 bound (ms). The machine running CI is shared; the README
/// records the measured figures.
fn p99_bound() -> f64 {
    std::env::var("ANIREC_HEALTH_P99_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50.0)
}

/// Every attack: health answered, normal requests served, health p99 under
/// `bound_ms`.
fn check(row: &Row, bound_ms: f64) {
    assert_eq!(
        row.p.health_failures, 0,
        "{}: health checks failed",
        row.attack
    );
    assert!(
        row.p.normal_ok > 0,
        "{}: no normal request succeeded",
        row.attack
    );
    assert_eq!(
        row.p.normal_failed, 0,
        "{}: normal requests failed",
        row.attack
    );
    let p99 = row.p.pct(0.99);
    assert!(p99 < bound_ms, "{}: /healthz p99 {p99:.1} ms", row.attack);
}

fn attack_reload_storm(s: &Server) -> Row {
    let rss_before = s.rss_mb();
    let peak = Arc::new(Mutex::new(rss_before));
    let pid = s.child.id();
    let p = probe(s.addr);
    let addr = s.addr;
    let (ok, refused) = (Arc::new(Mutex::new(0usize)), Arc::new(Mutex::new(0usize)));
    let (ok2, refused2, peak2) = (ok.clone(), refused.clone(), peak.clone());
    storm(8, 40, Duration::from_secs(20), move |t, i| {
        let auth = format!("Authorization: Bearer {TOKEN}\r\n");
        // Odd threads have no token; every third authorised caller gives up
        // after 20 ms (a client that disconnects mid-load).
        let (headers, timeout) = match (t % 2, i % 3) {
            (1, _) => ("", Duration::from_secs(5)),
            (_, 0) => (auth.as_str(), Duration::from_millis(20)),
            _ => (auth.as_str(), Duration::from_secs(10)),
        };
        match request(addr, "POST", "/admin/reload", headers, b"", timeout) {
            Ok((200, _)) => *ok2.lock().unwrap() += 1,
            Ok((401, _)) => *refused2.lock().unwrap() += 1,
            Ok((code, b)) => panic!("reload answered {code}: {b}"),
            Err(_) => {} // gave up
        }
        let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:").map(str::to_string))
            .and_then(|v| {
                v.split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
            })
            .unwrap_or(0.0)
            / 1024.0;
        let mut pk = peak2.lock().unwrap();
        *pk = pk.max(rss);
    });
    std::thread::sleep(Duration::from_millis(300));
    let p = p.finish();
    let loads = s.metric("anirec_reloads_total{outcome=\"success\"}");
    let joins = s.metric("anirec_reload_joins_total");
    let (ok, refused) = (*ok.lock().unwrap(), *refused.lock().unwrap());
    assert_eq!(refused, 160, "every call without the token is refused");
    assert!(ok > 0);
    // 160 authorised calls; loads run one at a time and are shared.
    assert!(
        loads < 160.0 / 2.0,
        "{loads} loads for 160 authorised reloads ({joins} joined)"
    );
    let peak = *peak.lock().unwrap();
    Row {
        attack: "reload storm: 320 POST /admin/reload, 8 threads (half without token, a third of the rest give up after 20 ms)".into(),
        rss_before,
        rss_after: s.rss_mb(),
        p,
        note: format!(
            "{loads} loads for 160 authorised calls ({joins} joined a running load), 160 refused with 401; peak RSS {peak:.0} MB"
        ),
    }
}

fn attack_method_flood(s: &Server) -> Row {
    let rss_before = s.rss_mb();
    let p = probe(s.addr);
    let addr = s.addr;
    storm(4, 500, Duration::from_secs(30), move |t, i| {
        let method = format!("FLOOD{t}X{i}");
        let r = request(addr, &method, "/v1/model", "", b"", Duration::from_secs(5));
        assert!(matches!(r, Ok((405 | 404 | 400, _))), "{method}: {r:?}");
    });
    let p = p.finish();
    let (_, metrics) = request(s.addr, "GET", "/metrics", "", b"", Duration::from_secs(5)).unwrap();
    let series = metrics
        .lines()
        .filter(|l| l.starts_with("anirec_http_requests_total{"))
        .count();
    assert!(!metrics.contains("FLOOD"), "a method became a label");
    assert!(series < 40, "{series} request series after the flood");
    Row {
        attack: "2,000 requests with distinct method tokens".into(),
        rss_before,
        rss_after: s.rss_mb(),
        p,
        note: format!(
            "{series} request-count series in /metrics afterwards (methods counted as `other`)"
        ),
    }
}

/// Open file descriptors this process may have.
fn fd_soft_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

fn attack_half_open(s: &Server) -> Row {
    let n = 2000.min(fd_soft_limit().saturating_sub(200));
    let rss_before = s.rss_mb();
    let p = probe(s.addr);
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = TcpStream::connect(s.addr).unwrap();
        // Headers that never end.
        c.write_all(b"GET /v1/model HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
            .unwrap();
        conns.push(c);
    }
    let opened = Instant::now();
    let rss_peak = s.rss_mb();
    // The server has 2 s (--header-read-timeout-secs) to give up on them.
    std::thread::sleep(Duration::from_millis(2600));
    let mut closed = 0;
    for c in &mut conns {
        c.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buf = [0u8; 256];
        match c.read(&mut buf) {
            // EOF or a reset: the server closed it; a 408 is fine too.
            Ok(0) | Err(_) => closed += 1,
            Ok(_) => closed += usize::from(buf.starts_with(b"HTTP/1.1 408")),
        }
    }
    let p = p.finish();
    drop(conns);
    assert!(
        closed * 100 >= n * 99,
        "only {closed} of {n} half-open connections were closed"
    );
    Row {
        attack: format!("{n} half-open header connections (headers never finished)"),
        rss_before,
        rss_after: s.rss_mb(),
        p,
        note: format!(
            "{closed} of {n} closed by the server {:.1} s after opening (header timeout 2 s); RSS with all open {rss_peak:.0} MB",
            opened.elapsed().as_secs_f64()
        ),
    }
}

fn liked_body(n: usize, seed: usize) -> Vec<u8> {
    // Synthetic anime ids are 3i + 1.
    let ids: Vec<String> = (0..n)
        .map(|i| ((i * 7 + seed) % 4000 * 3 + 1).to_string())
        .collect();
    format!("{{\"liked\": [{}], \"k\": 100}}", ids.join(",")).into_bytes()
}

fn attack_cancel_storm(s: &Server) -> Row {
    let rss_before = s.rss_mb();
    let p = probe(s.addr);
    let addr = s.addr;
    storm(8, 250, Duration::from_secs(30), move |t, i| {
        let body = liked_body(1000, t * 1000 + i);
        let Ok(mut c) = TcpStream::connect(addr) else {
            return;
        };
        let _ = write!(
            c,
            "POST /v1/recommendations HTTP/1.1\r\nHost: t\r\ncontent-type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let _ = c.write_all(&body);
        // Hang up without reading the answer; the pause keeps these
        // threads from starving the probe of CPU (the machine has 2 cores).
        drop(c);
        std::thread::sleep(Duration::from_millis(2));
    });
    let t = Instant::now();
    // Work left behind drains within a bound.
    let mut drained = false;
    while t.elapsed() < Duration::from_secs(5) {
        if s.metric("anirec_scoring_jobs_running") == 0.0
            && s.metric("anirec_http_requests_in_flight") <= 1.0
        {
            drained = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let drain_ms = t.elapsed().as_secs_f64() * 1e3;
    let p = p.finish();
    assert!(drained, "scoring still running 5 s after the cancel storm");
    let t = Instant::now();
    let r = request(
        s.addr,
        "POST",
        "/v1/recommendations",
        "content-type: application/json\r\n",
        &liked_body(1000, 1),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(r.0, 200, "{}", r.1);
    Row {
        attack: "cancel storm: 2,000 POST /v1/recommendations with 1,000 liked ids each, client hangs up at once".into(),
        rss_before,
        rss_after: s.rss_mb(),
        p,
        note: format!(
            "scoring idle {drain_ms:.0} ms after the storm; the next POST took {:.0} ms",
            t.elapsed().as_secs_f64() * 1e3
        ),
    }
}

fn attack_saturation(s: &Server) -> Row {
    let rss_before = s.rss_mb();
    let p = probe(s.addr);
    let addr = s.addr;
    let shed = Arc::new(Mutex::new((0usize, 0usize)));
    let shed2 = shed.clone();
    // Every scoring path at once, as fast as 12 clients can send.
    storm(12, 150, Duration::from_secs(8), move |t, i| {
        let r = match t % 4 {
            0 => request(
                addr,
                "POST",
                "/v1/recommendations",
                "content-type: application/json\r\n",
                &liked_body(1000, t * 100 + i),
                Duration::from_secs(10),
            ),
            1 => request(
                addr,
                "GET",
                &format!("/v1/anime/{}/similar?k=100", (i % 4000) * 3 + 1),
                "",
                b"",
                Duration::from_secs(10),
            ),
            2 => request(
                addr,
                "GET",
                "/v1/anime?q=a&limit=100",
                "",
                b"",
                Duration::from_secs(10),
            ),
            _ => request(
                addr,
                "GET",
                &format!("/v1/users/{}/recommendations?k=100", 1 + i % 5000),
                "",
                b"",
                Duration::from_secs(10),
            ),
        };
        let mut g = shed2.lock().unwrap();
        match r {
            Ok((200, _)) => g.0 += 1,
            Ok((503, _)) => g.1 += 1,
            other => panic!("saturation: {other:?}"),
        }
    });
    let p = p.finish();
    let (ok, shed) = *shed.lock().unwrap();
    Row {
        attack: "saturation: 12 clients on POST liked (1,000 ids), similar, search and user top-100 at once".into(),
        rss_before,
        rss_after: s.rss_mb(),
        p,
        note: format!("{ok} answered 200, {shed} shed with 503"),
    }
}

#[test]
fn hostile_clients_do_not_take_the_server_down() {
    let s = Server::start(&[
        "--header-read-timeout-secs",
        "2",
        "--idle-timeout-secs",
        "10",
    ]);
    let rows = vec![
        attack_reload_storm(&s),
        attack_method_flood(&s),
        attack_half_open(&s),
        attack_cancel_storm(&s),
        attack_saturation(&s),
    ];
    report(&rows);
    // 50 ms is the bound while the scoring paths are saturated (the last
    // row). The connection floods run their attacking threads on the same
    // cores as the server, so they get a looser bound; the README records
    // the measured figures.
    let (saturation, attacks) = rows.split_last().expect("rows");
    for r in attacks {
        check(r, 10.0 * p99_bound());
    }
    check(saturation, p99_bound());
    // Memory stays bounded: the attacks leave no more than the first reload's growth.
    let first = rows[0].rss_before;
    let last = rows.last().map_or(0.0, |r| r.rss_after);
    assert!(
        last < first * 3.0 + 64.0,
        "RSS grew from {first:.0} MB to {last:.0} MB"
    );
}

#[test]
fn idle_keep_alive_connections_are_closed_and_the_cap_holds() {
    let s = Server::start(&[
        "--header-read-timeout-secs",
        "1",
        "--idle-timeout-secs",
        "5",
        "--max-connections",
        "4",
    ]);
    // An idle keep-alive connection (one request, then silence) is closed.
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(4))).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = c.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let t = Instant::now();
    let closed = loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break t.elapsed(),
            Ok(_) => continue,
        }
    };
    assert!(
        closed < Duration::from_millis(3000),
        "idle connection kept {closed:?}"
    );
    // Four silent connections fill the cap: a fifth waits until the header
    // timeout frees a slot, and is then served.
    let silent: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let r = request(s.addr, "GET", "/healthz", "", b"", Duration::from_secs(5)).unwrap();
    assert_eq!(r.0, 200);
    assert!(
        t.elapsed() > Duration::from_millis(500),
        "served at once: the cap did not hold ({:?})",
        t.elapsed()
    );
    drop(silent);
}

#[test]
fn bad_flags_are_clear_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short");
    std::fs::write(&short, "abc").unwrap();
    let short = short.to_str().unwrap().to_string();
    for (flags, want) in [
        (vec!["--drain-secs", "inf"], "--drain-secs"),
        (vec!["--drain-secs=-1"], "--drain-secs"),
        (vec!["--drain-secs", "NaN"], "--drain-secs"),
        (
            vec!["--request-timeout-secs", "1e20"],
            "--request-timeout-secs",
        ),
        (
            vec!["--request-timeout-secs", "0"],
            "--request-timeout-secs",
        ),
        (
            vec!["--max-concurrency", "2305843009213693952"],
            "--max-concurrency",
        ),
        (vec!["--max-concurrency", "0"], "--max-concurrency"),
        (
            vec!["--max-connections", "99999999999"],
            "--max-connections",
        ),
        (
            vec!["--max-body-bytes", "18446744073709551615"],
            "--max-body-bytes",
        ),
        (
            vec!["--header-read-timeout-secs", "inf"],
            "--header-read-timeout-secs",
        ),
        (
            vec!["--idle-timeout-secs", "1", "--request-timeout-secs", "5"],
            "--idle-timeout-secs",
        ),
        (
            vec!["--admin-token-file", short.as_str()],
            "at least 16 characters",
        ),
        (
            vec!["--admin-token-file", "/nonexistent/token"],
            "cannot read the admin token file",
        ),
    ] {
        let out = Command::new(BIN)
            .args(["--bundle", "/nonexistent", "--addr", "127.0.0.1:0"])
            .args(&flags)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {err}");
        assert!(err.contains(want), "{flags:?}: {err}");
        assert!(!err.contains("panicked"), "{flags:?}: {err}");
    }
}
