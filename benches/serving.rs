//! Serving costs on a MAL-scale synthetic bundle (17,000 anime × 128 dims,
//! 50,000 users, 100 rated anime each; factors + popularity + content, the
//! bundle `scripts/serve-load.sh` loads): top-10 hybrid scoring for one user
//! (engine only, and with reasons and catalogue fields), similar-anime lookup,
//! and the whole HTTP handler (router `oneshot`, JSON included).
//!
//! Run: `cargo bench --bench serving`. The bundle is written once into
//! `$CARGO_TARGET_DIR/bench-data/serve-mal` (about 77 MB) and reused.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use anirec::eval::topk::top_k_excluding;
use anirec::serve::{app, AppState, Config, Loaded, Mode};
use anirec::testdata::bundle::{write_synthetic, BundleSpec};
use axum::body::Body;
use axum::http::Request;
use criterion::{criterion_group, criterion_main, Criterion};
use tower::ServiceExt;

const USERS: u32 = 50_000;

fn bundle() -> Loaded {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("bench-data").join("serve-mal");
    if !dir.join("manifest.json").exists() {
        let spec = BundleSpec {
            n_items: 17_000,
            n_users: USERS as usize,
            dims: 128,
            per_user: 100,
            content: true,
            seed: 42,
            run_id: "synthetic-mal-scale".into(),
        };
        write_synthetic(&dir, &spec).expect("write the bench bundle");
    }
    Loaded::load(&dir).expect("load the bench bundle")
}

/// Cycles through users (and anime) so one cached row does not flatter the figures.
fn next(i: &mut u32, n: u32) -> u32 {
    *i = i.wrapping_mul(1_103_515_245).wrapping_add(12_345);
    (*i >> 8) % n
}

fn serving(c: &mut Criterion) {
    let m = bundle();
    let e = &m.bundle.engine;
    let n_items = e.n_items() as u32;
    let mut g = c.benchmark_group("serving");
    g.measurement_time(Duration::from_secs(8));

    let (mut out, mut tmp, mut top) = (vec![0f32; e.n_items()], Vec::new(), Vec::new());
    let mut s = 1u32;
    g.bench_function("user top-10 hybrid, engine (score + top-k)", |b| {
        b.iter(|| {
            let ctx = e.ctx(next(&mut s, USERS));
            e.score(&ctx, &mut out, &mut tmp);
            top_k_excluding(&out, ctx.items, 10, &mut top);
            black_box(&top);
        })
    });
    g.bench_function("user top-10 hybrid, with reasons and catalogue", |b| {
        b.iter(|| black_box(m.recommend_user(next(&mut s, USERS) + 1, Mode::Hybrid, 10)))
    });
    g.bench_function("similar anime top-10", |b| {
        b.iter(|| black_box(m.similar(next(&mut s, n_items) * 3 + 1, 10)))
    });

    // The whole handler: routing, middleware (metrics, timeout, shedding),
    // scoring and JSON, on a current-thread runtime.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let st = AppState::new(Config::default());
    st.install(m);
    let router = app(st);
    let call = |uri: String| {
        rt.block_on(async {
            let req = Request::get(uri).body(Body::empty()).expect("request");
            let resp = router.clone().oneshot(req).await.expect("infallible");
            assert!(resp.status().is_success(), "{}", resp.status());
            axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .expect("body")
        })
    };
    g.bench_function("handler GET user recommendations k=10 hybrid (JSON)", |b| {
        b.iter(|| {
            let u = next(&mut s, USERS) + 1;
            black_box(call(format!(
                "/v1/users/{u}/recommendations?k=10&mode=hybrid"
            )))
        })
    });
    g.bench_function("handler GET similar anime k=10 (JSON)", |b| {
        b.iter(|| {
            let a = next(&mut s, n_items) * 3 + 1;
            black_box(call(format!("/v1/anime/{a}/similar?k=10")))
        })
    });
    g.finish();
}

criterion_group!(benches, serving);
criterion_main!(benches);
