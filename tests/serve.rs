//! The serving API end to end on small synthetic bundles: routes, status
//! codes and JSON shapes, readiness, reload, graceful shutdown, parser
//! fuzzing and the page in headless Chromium.
#![cfg(feature = "serve")]

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use anirec::serve::routes::{
    parse_id, parse_liked_body, parse_reco_query, parse_search_query, query_pairs,
};
use anirec::serve::{app, serve, AdminToken, AppState, Config, Loaded};
use anirec::testdata::bundle::{write_synthetic, BundleSpec, XorShift};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

fn bundle_at(dir: &Path, run_id: &str, content: bool) {
    let spec = BundleSpec {
        run_id: run_id.into(),
        content,
        ..BundleSpec::default()
    };
    write_synthetic(dir, &spec).unwrap();
}

const TOKEN: &str = "test-admin-token-0123456789";

fn state_for(dir: &Path) -> AppState {
    let st = AppState::new(Config {
        bundle: Some(dir.to_path_buf()),
        drain: Duration::from_millis(800),
        request_timeout: Duration::from_secs(5),
        max_concurrency: 64,
        max_body_bytes: 4096,
        admin_token: Some(AdminToken::new(TOKEN).unwrap()),
        ..Config::default()
    });
    st.install(Loaded::load(dir).unwrap());
    st
}

async fn call(st: &AppState, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, Value) {
    let mut b = Request::builder().method(method).uri(uri);
    if uri.starts_with("/admin/") {
        b = b.header("authorization", format!("Bearer {TOKEN}"));
    }
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let req = b
        .body(body.map_or_else(Body::empty, |s| Body::from(s.to_string())))
        .unwrap();
    let resp = app(st.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, v)
}

fn assert_error(v: &Value) {
    assert!(
        v["error"].as_str().is_some_and(|s| !s.is_empty()),
        "want {{\"error\": ...}}, got {v}"
    );
}

#[tokio::test]
async fn routes_status_codes_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    bundle_at(dir.path(), "run-a", true);
    let st = state_for(dir.path());
    let m = st.model().unwrap();
    let e = &m.bundle.engine;

    // Every known user's recommendations exclude their history, in every mode.
    for mode in ["hybrid", "collaborative", "content"] {
        for u in [0u32, 7, 49] {
            let raw = m.bundle.users[u as usize];
            let (s, v) = call(
                &st,
                "GET",
                &format!("/v1/users/{raw}/recommendations?k=15&mode={mode}"),
                None,
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            assert_eq!(v["mode"], mode);
            let items = v["items"].as_array().unwrap();
            assert_eq!(items.len(), 15);
            let seen: Vec<u32> = e
                .history
                .row(u as usize)
                .0
                .iter()
                .map(|&d| m.bundle.items[d as usize])
                .collect();
            for it in items {
                let id = it["anime_id"].as_u64().unwrap() as u32;
                assert!(
                    !seen.contains(&id),
                    "recommended seen anime {id} to user {raw}"
                );
                assert!(it["name"].as_str().is_some_and(|n| !n.is_empty()));
                assert!(it["genres"].as_array().is_some_and(|g| !g.is_empty()));
                assert!(it["score"].is_number() && it["mal_score"].is_number());
                assert!(it["synopsis"]
                    .as_str()
                    .is_some_and(|s| s.chars().count() <= 241));
                assert!(it["reason"].as_str().is_some_and(|r| !r.is_empty()));
            }
            // Scores are best first.
            let sc: Vec<f64> = items.iter().map(|i| i["score"].as_f64().unwrap()).collect();
            assert!(sc.windows(2).all(|w| w[0] >= w[1]), "{sc:?}");
        }
    }
    // Hybrid reasons name an anime the user rated.
    let (_, v) = call(&st, "GET", "/v1/users/1/recommendations", None).await;
    assert_eq!(v["k"], 10);
    assert!(
        v["items"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("similar to "),
        "{v}"
    );
    assert!(
        v["items"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("you rated"),
        "{v}"
    );

    // Similar anime.
    let (s, v) = call(&st, "GET", "/v1/anime/1/similar?k=5", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["items"].as_array().unwrap().len(), 5);
    assert!(v["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["anime_id"] != 1));

    // New user from liked titles: liked ones excluded.
    let (s, v) = call(
        &st,
        "POST",
        "/v1/recommendations",
        Some(r#"{"liked": [1, 4, 7], "k": 8}"#),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 8);
    assert!(items
        .iter()
        .all(|i| ![1, 4, 7].contains(&i["anime_id"].as_u64().unwrap())));
    assert!(items[0]["reason"].as_str().unwrap().contains("you liked"));

    // Search: case-insensitive over both names.
    let (s, v) = call(&st, "GET", "/v1/anime?q=NARUTO", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let hits = v["items"].as_array().unwrap();
    assert!(
        !hits.is_empty()
            && hits.iter().all(|h| h["name"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("naruto"))
    );
    let (_, v) = call(&st, "GET", "/v1/anime?q=the%20series", None).await;
    assert!(
        !v["items"].as_array().unwrap().is_empty(),
        "English names are searched: {v}"
    );

    // Model metadata.
    let (s, v) = call(&st, "GET", "/v1/model", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["run_id"], "run-a");
    for key in ["created", "data_fingerprint", "metrics", "model_kind"] {
        assert!(!v[key].is_null(), "{key} missing in {v}");
    }
    assert!(v["promoted"].is_null(), "not promoted: {v}");

    // Page, health, metrics.
    let (s, v) = call(&st, "GET", "/", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v.as_str().unwrap().contains("<title>anirec"));
    for p in ["/healthz", "/v2/health/live", "/readyz", "/v2/health/ready"] {
        assert_eq!(call(&st, "GET", p, None).await.0, StatusCode::OK, "{p}");
    }
    let (s, v) = call(&st, "GET", "/metrics", None).await;
    assert_eq!(s, StatusCode::OK);
    let text = v.as_str().unwrap();
    assert!(text.contains("anirec_http_requests_total{method=\"GET\",route=\"/v1/users/{user_id}/recommendations\",status=\"200\"}"), "{text}");
    assert!(text.contains("anirec_http_request_duration_seconds_bucket{route=\"/v1/anime/{anime_id}/similar\",le=\"+Inf\"} 1"));
    assert!(text.contains("anirec_model_info{run_id=\"run-a\""));

    // 404s.
    for uri in [
        "/v1/users/999999/recommendations",
        "/v1/anime/2/similar",
        "/nope",
    ] {
        let (s, v) = call(&st, "GET", uri, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{uri}: {v}");
        assert_error(&v);
    }
    let (s, v) = call(
        &st,
        "POST",
        "/v1/recommendations",
        Some(r#"{"liked": [2]}"#),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_error(&v);

    // 400s.
    for uri in [
        "/v1/users/1/recommendations?k=0",
        "/v1/users/1/recommendations?k=101",
        "/v1/users/1/recommendations?k=ten",
        "/v1/users/1/recommendations?mode=magic",
        "/v1/users/abc/recommendations",
        "/v1/anime/1/similar?k=-3",
        "/v1/anime",
        "/v1/anime?q=%20",
    ] {
        let (s, v) = call(&st, "GET", uri, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {v}");
        assert_error(&v);
    }
    let big = format!("{{\"liked\": [{}1]}}", "1,".repeat(3000));
    for body in [
        r#"{"liked":"#,
        r#"{"liked": []}"#,
        r#"{"k": 5}"#,
        r#"{"liked": [1], "k": 0}"#,
        r#"{"liked": [1], "mode": "x"}"#,
        r#"{"liked": [-1]}"#,
        "[]",
        "",
        big.as_str(),
    ] {
        let (s, v) = call(&st, "POST", "/v1/recommendations", Some(body)).await;
        assert_eq!(
            s,
            StatusCode::BAD_REQUEST,
            "{}: {v}",
            &body[..body.len().min(40)]
        );
        assert_error(&v);
    }
}

#[tokio::test]
async fn content_mode_without_content_member_is_400() {
    let dir = tempfile::tempdir().unwrap();
    bundle_at(dir.path(), "no-content", false);
    let st = state_for(dir.path());
    let (s, v) = call(&st, "GET", "/v1/users/1/recommendations?mode=content", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("no content member"));
    let (s, _) = call(
        &st,
        "GET",
        "/v1/users/1/recommendations?mode=collaborative",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn readiness_load_drain_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    bundle_at(dir.path(), "run-a", true);
    let st = AppState::new(Config {
        bundle: Some(dir.path().to_path_buf()),
        admin_token: Some(AdminToken::new(TOKEN).unwrap()),
        ..Config::default()
    });
    // Not ready before the bundle is loaded; the API answers 503.
    let (s, v) = call(&st, "GET", "/readyz", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["ready"], false);
    assert_eq!(call(&st, "GET", "/healthz", None).await.0, StatusCode::OK);
    assert_eq!(
        call(&st, "GET", "/v1/model", None).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Admin reload loads it.
    let (s, v) = call(&st, "POST", "/admin/reload", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(call(&st, "GET", "/readyz", None).await.0, StatusCode::OK);
    assert_eq!(
        call(&st, "GET", "/v2/health/ready", None).await.0,
        StatusCode::OK
    );

    // A new bundle is swapped in atomically by reload.
    bundle_at(dir.path(), "run-b", true);
    assert_eq!(
        call(&st, "POST", "/admin/reload", None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&st, "GET", "/v1/model", None).await.1["run_id"],
        "run-b"
    );

    // A corrupted bundle is refused and the old model keeps serving.
    let tensors = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .unwrap();
    let mut bytes = std::fs::read(&tensors).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x5a;
    std::fs::write(&tensors, bytes).unwrap();
    let (s, v) = call(&st, "POST", "/admin/reload", None).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    assert!(v["error"].as_str().unwrap().contains("checksum"), "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("still serving run run-b"),
        "{v}"
    );
    assert_eq!(
        call(&st, "GET", "/v1/model", None).await.1["run_id"],
        "run-b"
    );
    assert_eq!(
        call(&st, "GET", "/v1/users/1/recommendations", None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(call(&st, "GET", "/readyz", None).await.0, StatusCode::OK);

    // Draining: readiness false, requests still served.
    st.set_draining();
    let (s, v) = call(&st, "GET", "/readyz", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["draining"], true);
    assert_eq!(
        call(&st, "GET", "/v1/users/1/recommendations", None)
            .await
            .0,
        StatusCode::OK
    );
}

#[test]
fn load_refuses_bad_bundles_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let e = Loaded::load(&dir.path().join("missing"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("manifest.json"), "{e}");
    bundle_at(dir.path(), "r", true);
    let man = dir.path().join("manifest.json");
    let text = std::fs::read_to_string(&man).unwrap();
    std::fs::write(
        &man,
        text.replace("\"format_version\": 1", "\"format_version\": 99"),
    )
    .unwrap();
    let e = Loaded::load(dir.path()).err().unwrap().to_string();
    assert!(e.contains("format version 99"), "{e}");
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_serves_during_the_drain_window_then_stops() {
    let dir = tempfile::tempdir().unwrap();
    bundle_at(dir.path(), "run-a", true);
    let st = state_for(dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, st.clone(), async move {
        let _ = rx.await;
    }));
    let r = tokio::task::spawn_blocking(move || http_get(addr, "/readyz"))
        .await
        .unwrap()
        .unwrap();
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");

    tx.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Drain window (800 ms): not ready, but every request succeeds.
    let r = tokio::task::spawn_blocking(move || http_get(addr, "/readyz"))
        .await
        .unwrap()
        .unwrap();
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    let mut handles = Vec::new();
    for i in 0..40u32 {
        handles.push(tokio::task::spawn_blocking(move || {
            std::thread::sleep(Duration::from_millis(u64::from(i) * 10));
            http_get(
                addr,
                &format!("/v1/users/{}/recommendations?k=5", i % 50 + 1),
            )
        }));
    }
    for h in handles {
        let r = h.await.unwrap().unwrap();
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }
    // Then the server stops by itself and refuses connections.
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server did not stop after the drain window")
        .unwrap()
        .unwrap();
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[tokio::test]
async fn parsers_never_panic_on_random_input() {
    const ALPHA: &[u8] = b"kmodeqlimit=&%+0123456789-.aAzZ_ \x00\xff{}[]\":,likedtruefalsenull";
    let mut rng = XorShift(0xDEC0DE);
    let rand_str = |rng: &mut XorShift, max: usize| -> String {
        let n = rng.below(max + 1);
        let bytes: Vec<u8> = (0..n).map(|_| ALPHA[rng.below(ALPHA.len())]).collect();
        let mut s = String::from_utf8_lossy(&bytes).into_owned();
        if rng.below(8) == 0 {
            s.push('é');
            s.push('%');
        }
        s
    };
    let valid = [
        r#"{"liked": [1, 4], "k": 5, "mode": "content"}"#,
        "k=5&mode=hybrid&q=naruto%20x",
    ];
    for _ in 0..20_000 {
        let s = rand_str(&mut rng, 40);
        let _ = parse_reco_query(Some(&s));
        let _ = parse_search_query(Some(&s));
        let _ = query_pairs(&s);
        let _ = parse_id("user id", &s);
        let _ = parse_liked_body(s.as_bytes());
        // Mutations of valid inputs reach deeper.
        for v in valid {
            let mut b = v.as_bytes().to_vec();
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(b.len());
                match rng.below(3) {
                    0 => b[i] = ALPHA[rng.below(ALPHA.len())],
                    1 => {
                        b.remove(i);
                    }
                    _ => b.insert(i, ALPHA[rng.below(ALPHA.len())]),
                }
            }
            let _ = parse_liked_body(&b);
            let _ = parse_reco_query(Some(&String::from_utf8_lossy(&b)));
        }
    }
    // And through the router: every response is a JSON error or success, never a panic.
    let dir = tempfile::tempdir().unwrap();
    bundle_at(dir.path(), "run-a", true);
    let st = state_for(dir.path());
    let mut n = 0;
    for _ in 0..400 {
        let q = rand_str(&mut rng, 30).replace(['#', ' '], "");
        let paths = [
            format!("/v1/users/{}/recommendations?{q}", rng.below(60)),
            format!("/v1/anime/{}/similar?{q}", rng.below(700)),
            format!("/v1/anime?{q}"),
        ];
        for p in paths {
            if p.parse::<axum::http::Uri>().is_err() {
                continue;
            }
            let (s, v) = call(&st, "GET", &p, None).await;
            assert!(
                s == StatusCode::OK || s == StatusCode::BAD_REQUEST || s == StatusCode::NOT_FOUND,
                "{p}: {s} {v}"
            );
            if s != StatusCode::OK {
                assert_error(&v);
            }
            n += 1;
        }
        let body = rand_str(&mut rng, 60);
        let (s, v) = call(&st, "POST", "/v1/recommendations", Some(&body)).await;
        assert!(
            s == StatusCode::BAD_REQUEST || s == StatusCode::OK || s == StatusCode::NOT_FOUND,
            "{body}: {s} {v}"
        );
    }
    assert!(n > 100, "only {n} random URIs were valid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_in_headless_chromium() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(chromium) = chromium else {
        eprintln!("note: /usr/bin/chromium not installed; skipping the headless browser test (CI installs it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    bundle_at(dir.path(), "run-page", true);
    let st = state_for(dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, st.clone(), async move {
        let _ = rx.await;
    }));
    let m = st.model().unwrap();
    let expected = m
        .recommend_user(5, anirec::serve::Mode::Hybrid, 12)
        .unwrap();
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-page.png");
    let _ = std::fs::remove_file(&shot);
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{addr}/?user=5");
    let run = move |extra: Vec<String>| {
        let out = std::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--virtual-time-budget=5000",
                "--window-size=1280,1100",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (url2, shot2) = (url, shot.clone());
    let (ok, dom, err, ok2, err2) = tokio::task::spawn_blocking(move || {
        let (ok, dom, err) = run(vec!["--dump-dom".into(), url2.clone()]);
        let (ok2, _, err2) = run(vec![format!("--screenshot={}", shot2.display()), url2]);
        (ok, dom, err, ok2, err2)
    })
    .await
    .unwrap();
    assert!(ok, "chromium --dump-dom failed: {err}");
    // The page's script holds the card template too: count rendered cards only.
    let cards = dom
        .split("<article class=\"card\" data-anime-id=\"")
        .skip(1)
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        .count();
    assert_eq!(cards, 12, "want 12 cards for user 5 in the DOM:\n{dom}");
    assert!(
        dom.contains(&expected[0].name),
        "first recommendation {} missing",
        expected[0].name
    );
    assert!(dom.contains("Top 12 for user 5"));
    assert!(dom.contains("you rated") && dom.contains("class=\"chip\""));
    assert!(ok2, "chromium --screenshot failed: {err2}");
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "screenshot {}",
        shot.display()
    );
    eprintln!("screenshot: {}", shot.display());
    tx.send(()).unwrap();
    server.abort();
}

/// A promoted bundle (what `anirec promote` writes) shows its promotion
/// record in /v1/model; the record is not part of the checksummed bundle.
#[tokio::test]
async fn model_info_carries_the_promotion_record() {
    let d = tempfile::tempdir().unwrap();
    bundle_at(d.path(), "run-p", false);
    std::fs::write(
        d.path().join("PROMOTED.json"),
        r#"{"promoted_at": "2026-11-27T04:00:00Z", "metric": "ndcg@10", "value": 0.41,
            "run": {"id": "run-p", "dir": "/home/alice/runs/run-p"},
            "git": {"commit": "abc", "remote": "https://alice:ghp_s3cr3tT0ken@github.com/o/anirec.git"},
            "candidates": [{"run_dir": "/home/alice/runs/run-p"}],
            "comet": null, "registry": null}"#,
    )
    .unwrap();
    let st = state_for(d.path());
    let (s, v) = call(&st, "GET", "/v1/model", None).await;
    assert_eq!(s, StatusCode::OK);
    // Issue 13 item 6: no credentials, no filesystem paths.
    let text = v.to_string();
    for leak in [
        "ghp_s3cr3tT0ken",
        "alice",
        "/home/",
        d.path().to_str().unwrap(),
    ] {
        assert!(!text.contains(leak), "/v1/model publishes {leak}: {text}");
    }
    assert_eq!(
        v["promoted"]["git"]["remote"],
        "https://github.com/o/anirec.git"
    );
    assert!(v.get("bundle").is_none(), "{text}");
    assert_eq!(v["promoted"]["metric"], "ndcg@10");
    assert_eq!(v["promoted"]["value"], 0.41);
    assert_eq!(v["promoted"]["run"], "run-p");
}

/// The raw body of a request.
async fn raw(st: &AppState, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, String) {
    let mut b = Request::builder().method(method).uri(uri);
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let req = b
        .body(body.map_or_else(Body::empty, |s| Body::from(s.to_string())))
        .unwrap();
    let resp = app(st.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Issue 15: `mal_score` 7.94, not 7.940000057220459 (an f32 widened to f64).
#[tokio::test]
async fn api_numbers_read_as_published() {
    let dir = tempfile::tempdir().unwrap();
    bundle_at(dir.path(), "run-n", true);
    let st = state_for(dir.path());
    let long_float = |s: &str| {
        // A decimal with 9+ fraction digits is a widened f32.
        s.split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .any(|t| t.split_once('.').is_some_and(|(_, f)| f.len() >= 9))
    };
    for (method, uri, body) in [
        (
            "POST",
            "/v1/recommendations",
            Some(r#"{"liked": [1, 4, 7], "k": 20}"#),
        ),
        ("GET", "/v1/anime?q=a&limit=50", None),
        ("GET", "/v1/users/3/recommendations?k=20", None),
        ("GET", "/v1/anime/1/similar?k=20", None),
    ] {
        let (s, text) = raw(&st, method, uri, body).await;
        assert_eq!(s, StatusCode::OK, "{uri}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        let scores: Vec<&str> = text
            .split("\"mal_score\":")
            .skip(1)
            .map(|t| t.split([',', '}']).next().unwrap())
            .collect();
        assert!(!scores.is_empty(), "{uri}: no mal_score in {text}");
        for sc in scores {
            assert!(sc.len() <= 5, "{uri}: mal_score {sc} is not as published");
        }
        assert!(v["items"].as_array().is_some_and(|a| !a.is_empty()));
    }
    let (_, text) = raw(&st, "GET", "/v1/model", None).await;
    assert!(!long_float(&text), "/v1/model: {text}");
}

#[tokio::test]
async fn admin_reload_needs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    bundle_at(dir.path(), "run-t", true);
    let st = state_for(dir.path());
    let send = |auth: Option<&'static str>, st: AppState| async move {
        let mut b = Request::builder().method("POST").uri("/admin/reload");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        let resp = app(st)
            .oneshot(b.body(Body::empty()).unwrap())
            .await
            .unwrap();
        (
            resp.status(),
            resp.headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_string()),
        )
    };
    let (s, www) = send(None, st.clone()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(www.as_deref(), Some("Bearer"));
    assert_eq!(
        send(Some("Bearer not-the-token-at-all"), st.clone())
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(Some("Basic dXNlcjpwYXNz"), st.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let ok = format!("Bearer {TOKEN}").leak() as &'static str;
    assert_eq!(send(Some(ok), st.clone()).await.0, StatusCode::OK);
    let (_, metrics) = raw(&st, "GET", "/metrics", None).await;
    assert!(
        metrics.contains("anirec_reload_refused_total 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("anirec_reloads_total{outcome=\"success\"} 1"),
        "{metrics}"
    );

    // Without a token file the admin routes are off.
    let off = AppState::new(Config {
        bundle: Some(dir.path().to_path_buf()),
        ..Config::default()
    });
    assert_eq!(send(Some(ok), off).await.0, StatusCode::FORBIDDEN);
}

/// Issue 13 item 1: concurrent reloads share one load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reloads_share_one_load() {
    let dir = tempfile::tempdir().unwrap();
    let spec = BundleSpec {
        n_items: 3000,
        n_users: 3000,
        dims: 64,
        per_user: 40,
        run_id: "run-big".into(),
        ..BundleSpec::default()
    };
    write_synthetic(dir.path(), &spec).unwrap();
    let st = state_for(dir.path());
    let mut handles = Vec::new();
    for _ in 0..50 {
        let st = st.clone();
        handles.push(tokio::spawn(async move { st.reload().await }));
    }
    // Half the callers give up early (a client that disconnects).
    for h in handles.iter().step_by(2) {
        h.abort();
    }
    for h in handles {
        if let Ok(r) = h.await {
            assert_eq!(r.unwrap(), "run-big");
        }
    }
    let (_, metrics) = raw(&st, "GET", "/metrics", None).await;
    let loads: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("anirec_reloads_total{outcome=\"success\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        loads <= 3,
        "{loads} loads for 50 concurrent reloads:\n{metrics}"
    );
    // And the next reload after they finished loads again (fresh files).
    assert_eq!(st.reload().await.unwrap(), "run-big");
}

#[tokio::test]
async fn openapi_document_lists_every_route_and_is_served() {
    let dir = tempfile::tempdir().unwrap();
    bundle_at(dir.path(), "run-o", true);
    let st = state_for(dir.path());
    let (s, doc) = call(&st, "GET", "/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    let on_disk: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(doc, on_disk);
    for route in anirec::serve::metrics::ROUTES {
        if route == "unmatched" {
            continue;
        }
        assert!(
            doc["paths"].get(route).is_some(),
            "{route} is not in docs/openapi.json"
        );
        // And the router serves it (not the 404 fallback).
        let method = if matches!(route, "/v1/recommendations" | "/admin/reload") {
            "POST"
        } else {
            "GET"
        };
        let uri = route.replace("{user_id}", "1").replace("{anime_id}", "1")
            + if route == "/v1/anime" { "?q=a" } else { "" };
        let (s, v) = call(
            &st,
            method,
            &uri,
            Some("{\"liked\":[1]}").filter(|_| method == "POST"),
        )
        .await;
        assert_ne!(s, StatusCode::NOT_FOUND, "{method} {uri}: {v}");
    }
    let (_, metrics) = raw(&st, "GET", "/metrics", None).await;
    for name in [
        "anirec_http_requests_in_flight",
        "anirec_build_info{version=",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "process_cpu_seconds_total",
        "anirec_reloads_total{outcome=\"failure\"} 0",
    ] {
        assert!(metrics.contains(name), "{name} missing:\n{metrics}");
    }
    assert!(!metrics.contains("anirec_inflight_requests"));
}
