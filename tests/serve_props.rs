//! Property tests of the inputs the server parses (issue 13, "Proof"): query
//! strings and JSON bodies, directly and through the router. Zero panics;
//! every answer is a success or a JSON 4xx error. Small case counts keep CI
//! fast; the fixed-seed fuzz loop in tests/serve.rs covers more volume.
#![cfg(feature = "serve")]

use std::time::Duration;

use anirec::serve::routes::{
    parse_id, parse_liked_body, parse_reco_query, parse_search_query, query_pairs, MAX_K,
};
use anirec::serve::{app, AppState, Config, Loaded, Mode};
use anirec::testdata::bundle::{write_synthetic, BundleSpec};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use serde_json::{json, Value};
use tower::ServiceExt;

/// Query-ish text: the characters that matter to the parser, and any others.
fn query_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[kmodeqlimt=&%+0-9a-fA-F. \\-]{0,60}",
        any::<String>(),
        (
            0usize..=200,
            prop::sample::select(vec!["hybrid", "content", "collaborative", "x", ""])
        )
            .prop_map(|(k, m)| format!("k={k}&mode={m}")),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|v| json!(v)),
        any::<f64>().prop_map(|v| json!(v)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec!["liked", "k", "mode", "extra"]).prop_map(String::from),
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn query_parsers_accept_exactly_the_documented_values(q in query_text()) {
        let pairs = query_pairs(&q);
        match parse_reco_query(Some(&q)) {
            Ok(r) => {
                prop_assert!((1..=MAX_K).contains(&r.k));
                // The last k and mode given win, as documented by the
                // hand-written parser this replaced.
                if let Some((_, k)) = pairs.iter().rev().find(|(key, _)| key == "k") {
                    prop_assert_eq!(k.trim().parse::<usize>().ok(), Some(r.k));
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        if let Ok((text, limit)) = parse_search_query(Some(&q)) {
            prop_assert!(!text.trim().is_empty() && text.chars().count() <= 200);
            prop_assert!((1..=MAX_K).contains(&limit));
        }
        let _ = parse_id("user id", &q);
    }

    #[test]
    fn liked_bodies_parse_or_fail_cleanly(v in json_value(), raw in any::<Vec<u8>>()) {
        let text = v.to_string();
        if let Ok(r) = parse_liked_body(text.as_bytes()) {
            prop_assert!(!r.liked.is_empty() && r.liked.len() <= 1000);
            prop_assert!((1..=MAX_K).contains(&r.k));
            prop_assert!(matches!(r.mode, Mode::Hybrid | Mode::Collaborative | Mode::Content));
        }
        let _ = parse_liked_body(&raw);
    }
}

fn state() -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().unwrap();
    write_synthetic(dir.path(), &BundleSpec::default()).unwrap();
    let st = AppState::new(Config {
        bundle: Some(dir.path().to_path_buf()),
        request_timeout: Duration::from_secs(10),
        ..Config::default()
    });
    st.install(Loaded::load(dir.path()).unwrap());
    (dir, st)
}

async fn status_of(st: &AppState, req: Request<Body>) -> (StatusCode, Value) {
    let resp = app(st.clone()).oneshot(req).await.unwrap();
    let s = resp.status();
    let b = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_router_answers_any_query_and_body_with_200_or_a_json_4xx(
        q in query_text(), id in any::<u32>(), route in 0usize..3, v in json_value()
    ) {
        let (_dir, st) = state();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let enc: String = url_escape(&q);
        let uri = match route {
            0 => format!("/v1/users/{}/recommendations?{enc}", id % 60),
            1 => format!("/v1/anime/{}/similar?{enc}", id % 700),
            _ => format!("/v1/anime?{enc}"),
        };
        let (s, body) = rt.block_on(status_of(&st, Request::get(&uri).body(Body::empty()).unwrap()));
        prop_assert!(matches!(s.as_u16(), 200 | 400 | 404), "{} {}: {}", uri, s, body);
        if s != StatusCode::OK {
            prop_assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
        }
        let req = Request::post("/v1/recommendations")
            .header("content-type", "application/json")
            .body(Body::from(v.to_string()))
            .unwrap();
        let (s, body) = rt.block_on(status_of(&st, req));
        prop_assert!(matches!(s.as_u16(), 200 | 400 | 404), "{}: {}", s, body);
    }
}

/// Percent-encodes what a URI may not hold, keeping the query syntax.
fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"=&+-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
