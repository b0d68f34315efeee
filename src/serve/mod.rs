//! The recommendation server: JSON API, the HTML page, health, metrics,
//! graceful shutdown and atomic bundle reload. Built with the `serve`
//! feature only (axum + tokio; no burn, no polars).
//!
//! [`app`] builds the router (tests drive it with `tower::ServiceExt::oneshot`);
//! [`serve`] runs it on a listener until a shutdown future resolves, then
//! drains: readiness turns false while requests are still served for
//! `drain`, after which no new connections are accepted and in-flight
//! requests finish.

mod batch;
pub mod engine;
pub mod error;
pub mod metrics;
pub mod routes;
pub mod synth;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Semaphore;

pub use engine::{Loaded, Mode};
pub use error::ApiError;

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bundle directory (loaded at start and on reload).
    pub bundle: Option<PathBuf>,
    /// How long readiness is false while requests are still served after SIGTERM.
    pub drain: Duration,
    /// Per-request timeout (503 after it).
    pub request_timeout: Duration,
    /// Requests handled at once; more are shed with 503.
    pub max_concurrency: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bundle: None,
            drain: Duration::from_secs(15),
            request_timeout: Duration::from_secs(10),
            max_concurrency: 256,
            max_body_bytes: 64 * 1024,
        }
    }
}

struct Shared {
    cfg: Config,
    model: RwLock<Option<Arc<Loaded>>>,
    draining: AtomicBool,
    ready: AtomicBool,
    metrics: metrics::Metrics,
    permits: Arc<Semaphore>,
    reload_lock: tokio::sync::Mutex<()>,
    batch: batch::Batcher,
}

/// Shared server state (cheap to clone).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// State with no model loaded (not ready).
    pub fn new(cfg: Config) -> Self {
        let permits = Arc::new(Semaphore::new(cfg.max_concurrency.max(1)));
        Self(Arc::new(Shared {
            cfg,
            model: RwLock::new(None),
            draining: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            metrics: metrics::Metrics::default(),
            permits,
            reload_lock: tokio::sync::Mutex::new(()),
            batch: batch::Batcher::default(),
        }))
    }

    /// A known user's (dense id) top-k under `model`, batched with the
    /// other requests that are ready (see the `batch` module).
    pub(crate) async fn user_top(
        &self,
        model: Arc<Loaded>,
        user: u32,
        mode: Mode,
        k: usize,
    ) -> Result<Vec<(u32, f32)>, ApiError> {
        self.0.batch.top(model, user, mode, k).await
    }

    /// Settings.
    pub fn cfg(&self) -> &Config {
        &self.0.cfg
    }

    /// The current model, if loaded.
    pub fn model(&self) -> Option<Arc<Loaded>> {
        self.0.model.read().ok().and_then(|m| m.clone())
    }

    /// Swaps a model in atomically (requests in flight keep the old one).
    pub fn install(&self, m: Loaded) {
        let m = Arc::new(m);
        if let Ok(mut g) = self.0.model.write() {
            *g = Some(m);
        }
        self.update_ready();
    }

    fn update_ready(&self) {
        let r = self.model().is_some() && !self.is_draining();
        self.0.ready.store(r, Ordering::SeqCst);
    }

    /// Ready: a model is loaded and we are not draining.
    pub fn is_ready(&self) -> bool {
        self.0.ready.load(Ordering::SeqCst)
    }

    /// Draining after a shutdown signal.
    pub fn is_draining(&self) -> bool {
        self.0.draining.load(Ordering::SeqCst)
    }

    /// Starts draining: readiness turns false, requests are still served.
    pub fn set_draining(&self) {
        self.0.draining.store(true, Ordering::SeqCst);
        self.update_ready();
    }

    /// (Re)loads the configured bundle off the async workers and swaps it in.
    /// On failure the old model keeps serving and the error is returned.
    pub async fn reload(&self) -> Result<String, String> {
        let _g = self.0.reload_lock.lock().await;
        let dir = self
            .cfg()
            .bundle
            .clone()
            .ok_or_else(|| "no bundle directory configured".to_string())?;
        let t = Instant::now();
        let loaded = tokio::task::spawn_blocking(move || Loaded::load(&dir))
            .await
            .map_err(|e| format!("bundle load task failed: {e}"))?;
        match loaded {
            Ok(m) => {
                let id = m.run_id().to_string();
                self.install(m);
                tracing::info!(run_id = %id, ms = t.elapsed().as_millis() as u64, "bundle loaded");
                Ok(id)
            }
            Err(e) => {
                let keep = self
                    .model()
                    .map(|m| format!("still serving run {}", m.run_id()))
                    .unwrap_or_else(|| "no model loaded".into());
                let msg = format!("bundle rejected ({keep}): {e}");
                tracing::error!("{msg}");
                Err(msg)
            }
        }
    }

    fn render_metrics(&self) -> String {
        use std::fmt::Write;
        let mut extra = String::new();
        extra.push_str("# HELP anirec_model_info The loaded model (value 1).\n# TYPE anirec_model_info gauge\n");
        if let Some(m) = self.model() {
            let man = &m.bundle.manifest;
            let _ = writeln!(
                extra,
                "anirec_model_info{{run_id=\"{}\",model_kind=\"{}\",data_fingerprint=\"{}\",n_items=\"{}\",n_users=\"{}\"}} 1",
                metrics::esc(&man.run_id),
                metrics::esc(&man.model_kind),
                metrics::esc(&man.data_fingerprint),
                man.n_items,
                man.n_users
            );
        }
        let _ = writeln!(
            extra,
            "# HELP anirec_ready 1 when ready to serve.\n# TYPE anirec_ready gauge\nanirec_ready {}",
            u8::from(self.is_ready())
        );
        let inflight = self.cfg().max_concurrency.max(1) - self.0.permits.available_permits();
        let _ = writeln!(
            extra,
            "# HELP anirec_inflight_requests Requests being handled.\n# TYPE anirec_inflight_requests gauge\nanirec_inflight_requests {inflight}"
        );
        self.0.metrics.render(&extra)
    }
}

/// Per-request layer: concurrency limit (503 shedding), timeout, metrics, logs.
/// Allocation-free when the access log is off: the route is the router's
/// shared string and the path is copied only when the log line is written.
async fn observe(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = req.method().clone();
    let path = tracing::enabled!(target: "anirec::access", tracing::Level::INFO)
        .then(|| req.uri().path().to_string());
    let path = path.as_deref().unwrap_or("");
    let exempt = matches!(
        route,
        "/healthz" | "/readyz" | "/v2/health/live" | "/v2/health/ready" | "/metrics"
    );
    let permit = if exempt {
        None
    } else {
        match st.0.permits.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                let r = ApiError::Unavailable("overloaded: too many concurrent requests".into())
                    .into_response();
                finish(&st, &method, route, path, &r, start);
                return r;
            }
        }
    };
    let timeout = st.cfg().request_timeout;
    let resp = match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::Timeout(timeout.as_millis() as u64).into_response(),
    };
    drop(permit);
    finish(&st, &method, route, path, &resp, start);
    resp
}

fn finish(
    st: &AppState,
    method: &axum::http::Method,
    route: &str,
    path: &str,
    r: &Response,
    start: Instant,
) {
    let secs = start.elapsed().as_secs_f64();
    let status = r.status().as_u16();
    st.0.metrics.observe(method.as_str(), route, status, secs);
    tracing::info!(
        target: "anirec::access",
        method = %method,
        path,
        route,
        status,
        micros = (secs * 1e6) as u64,
        "request"
    );
}

/// The router with every route and layer.
pub fn app(state: AppState) -> Router {
    use routes as r;
    Router::new()
        .route("/", get(r::page))
        .route(
            "/v1/users/{user_id}/recommendations",
            get(r::user_recommendations),
        )
        .route("/v1/anime/{anime_id}/similar", get(r::similar))
        .route("/v1/recommendations", post(r::liked_recommendations))
        .route("/v1/anime", get(r::search))
        .route("/v1/model", get(r::model_info))
        .route("/healthz", get(r::live))
        .route("/v2/health/live", get(r::live))
        .route("/readyz", get(r::ready))
        .route("/v2/health/ready", get(r::ready))
        .route("/metrics", get(r::metrics))
        .route("/admin/reload", post(r::reload))
        .fallback(r::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(state.cfg().max_body_bytes))
        .with_state(state)
}

/// Serves `app(state)` on `listener` until `shutdown` resolves; then drains
/// (readiness false, still serving) for `cfg.drain`, stops accepting and
/// waits for in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let st = state.clone();
    let drain = state.cfg().drain;
    let signal = async move {
        shutdown.await;
        st.set_draining();
        tracing::info!(
            drain_secs = drain.as_secs_f64(),
            "shutdown requested: readiness false, serving during the drain window"
        );
        tokio::time::sleep(drain).await;
        tracing::info!("drain window over: no new connections, finishing in-flight requests");
    };
    axum::serve(listener, app(state))
        .with_graceful_shutdown(signal)
        .await?;
    tracing::info!("server stopped");
    Ok(())
}
