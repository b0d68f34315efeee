//! The recommendation server: JSON API, the HTML page, health, metrics,
//! graceful shutdown and atomic bundle reload. Built with the `serve`
//! feature only (axum + tokio; no burn, no polars).
//!
//! [`app`] builds the router (tests drive it with `tower::ServiceExt::oneshot`);
//! [`serve`] runs it on a listener until a shutdown future resolves, then
//! drains: readiness turns false while requests are still served for
//! `drain`, after which no new connections are accepted and in-flight
//! requests finish.

pub mod admin;
mod batch;
mod conn;
pub mod engine;
pub mod error;
pub mod metrics;
mod pool;
pub mod process;
pub mod redact;
pub mod routes;

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

pub use admin::AdminToken;
pub use engine::{Loaded, Mode};
pub use error::ApiError;

/// Server settings. [`Config::check`] says whether they make sense;
/// [`AppState::new`] clamps what it must to stay within its primitives'
/// limits either way.
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
    /// Time a client has to send a request's headers (also how long an idle
    /// keep-alive connection is kept).
    pub header_read_timeout: Duration,
    /// A connection that moves no byte for this long is closed.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Threads for client-sized scoring (liked titles, similar, search); 0:
    /// one per core but one.
    pub scoring_threads: usize,
    /// Client-sized scoring requests that may wait for a thread; more get 503.
    pub scoring_queue: usize,
    /// Bearer token of the admin routes; `None` disables them.
    pub admin_token: Option<AdminToken>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bundle: None,
            drain: Duration::from_secs(15),
            request_timeout: Duration::from_secs(10),
            max_concurrency: 256,
            max_body_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            scoring_threads: 0,
            scoring_queue: 64,
            admin_token: None,
        }
    }
}

/// Upper bounds of the settings.
pub mod limits {
    /// Longest drain window.
    pub const MAX_DRAIN_SECS: f64 = 3600.0;
    /// Longest request, header-read or idle timeout.
    pub const MAX_TIMEOUT_SECS: f64 = 3600.0;
    /// Shortest request, header-read or idle timeout.
    pub const MIN_TIMEOUT_SECS: f64 = 0.001;
    /// Most concurrent requests.
    pub const MAX_CONCURRENCY: usize = 65_536;
    /// Largest body limit.
    pub const MAX_BODY_BYTES: usize = 64 << 20;
    /// Most open connections.
    pub const MAX_CONNECTIONS: usize = 1_000_000;
    /// Most scoring threads / queued scoring requests.
    pub const MAX_SCORING: usize = 4096;
}

impl Config {
    /// Checks every setting against [`limits`]; the message names the flag.
    pub fn check(&self) -> Result<(), String> {
        use limits::*;
        let secs = |name: &str, d: Duration, min: f64, max: f64| {
            let s = d.as_secs_f64();
            if s < min || s > max {
                Err(format!(
                    "--{name} must be between {min} and {max} seconds, got {s}"
                ))
            } else {
                Ok(())
            }
        };
        secs("drain-secs", self.drain, 0.0, MAX_DRAIN_SECS)?;
        secs(
            "request-timeout-secs",
            self.request_timeout,
            MIN_TIMEOUT_SECS,
            MAX_TIMEOUT_SECS,
        )?;
        secs(
            "header-read-timeout-secs",
            self.header_read_timeout,
            MIN_TIMEOUT_SECS,
            MAX_TIMEOUT_SECS,
        )?;
        secs(
            "idle-timeout-secs",
            self.idle_timeout,
            MIN_TIMEOUT_SECS,
            MAX_TIMEOUT_SECS,
        )?;
        let count = |name: &str, v: usize, max: usize| {
            if v == 0 || v > max {
                Err(format!("--{name} must be between 1 and {max}, got {v}"))
            } else {
                Ok(())
            }
        };
        count("max-concurrency", self.max_concurrency, MAX_CONCURRENCY)?;
        count("max-body-bytes", self.max_body_bytes, MAX_BODY_BYTES)?;
        count("max-connections", self.max_connections, MAX_CONNECTIONS)?;
        if self.scoring_threads > MAX_SCORING || self.scoring_queue > MAX_SCORING {
            return Err(format!(
                "scoring threads and queue must be at most {MAX_SCORING}"
            ));
        }
        if self.idle_timeout < self.request_timeout {
            return Err(format!(
                "--idle-timeout-secs ({}) must be at least --request-timeout-secs ({}), or requests being scored would be cut",
                self.idle_timeout.as_secs_f64(),
                self.request_timeout.as_secs_f64()
            ));
        }
        Ok(())
    }
}

struct Shared {
    cfg: Config,
    model: RwLock<Option<Arc<Loaded>>>,
    draining: AtomicBool,
    ready: AtomicBool,
    metrics: metrics::Metrics,
    permits: Arc<Semaphore>,
    max_concurrency: usize,
    reload: admin::ReloadSlot,
    batch: batch::Batcher,
    pool: pool::Pool,
    connections: Arc<Semaphore>,
    max_connections: usize,
}

/// Shared server state (cheap to clone).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// State with no model loaded (not ready). Out-of-range counts are
    /// clamped to [`limits`] (the binary refuses them with [`Config::check`]).
    pub fn new(cfg: Config) -> Self {
        let max_concurrency = cfg.max_concurrency.clamp(1, limits::MAX_CONCURRENCY);
        let max_connections = cfg.max_connections.clamp(1, limits::MAX_CONNECTIONS);
        // One core is left to the async workers (health checks, the batch
        // scorer, the accept loop) when there is more than one.
        let threads = match cfg.scoring_threads {
            0 => {
                std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
            }
            n => n,
        }
        .min(limits::MAX_SCORING);
        let pool = pool::Pool::new(threads, cfg.scoring_queue.min(limits::MAX_SCORING));
        Self(Arc::new(Shared {
            cfg,
            model: RwLock::new(None),
            draining: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            metrics: metrics::Metrics::default(),
            permits: Arc::new(Semaphore::new(max_concurrency)),
            max_concurrency,
            reload: admin::ReloadSlot::default(),
            batch: batch::Batcher::default(),
            pool,
            connections: Arc::new(Semaphore::new(max_connections)),
            max_connections,
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

    /// Runs client-sized scoring in the bounded pool (see the `pool` module).
    pub(crate) async fn scoring<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.0.pool.run(f).await
    }

    pub(crate) fn count_refused_reload(&self) {
        self.0
            .metrics
            .reloads
            .refused
            .fetch_add(1, Ordering::Relaxed);
    }

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

    fn render_metrics(&self) -> String {
        use std::fmt::Write;
        let mut extra = String::with_capacity(2048);
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
        let inflight = self.0.max_concurrency - self.0.permits.available_permits();
        let open = self.0.max_connections - self.0.connections.available_permits();
        let _ = writeln!(
            extra,
            "# HELP anirec_ready 1 when ready to serve.\n# TYPE anirec_ready gauge\nanirec_ready {}\n\
             # HELP anirec_http_requests_in_flight Requests being handled (health and metrics excluded).\n\
             # TYPE anirec_http_requests_in_flight gauge\nanirec_http_requests_in_flight {inflight}\n\
             # HELP anirec_http_connections_open Open client connections.\n\
             # TYPE anirec_http_connections_open gauge\nanirec_http_connections_open {open}\n\
             # HELP anirec_scoring_jobs_running Client-sized scoring jobs running in the bounded pool.\n\
             # TYPE anirec_scoring_jobs_running gauge\nanirec_scoring_jobs_running {}\n\
             # HELP anirec_build_info Build of the running server (value 1).\n\
             # TYPE anirec_build_info gauge\nanirec_build_info{{version=\"{}\",git_commit=\"{}\"}} 1",
            u8::from(self.is_ready()),
            self.0.pool.running(),
            env!("CARGO_PKG_VERSION"),
            metrics::esc(option_env!("ANIREC_GIT_COMMIT").unwrap_or("unknown")),
        );
        process::render(&process::read(), &mut extra);
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
    st.0.metrics.observe(method, route, status, secs);
    tracing::info!(
        target: "anirec::access",
        method = metrics::METHODS[metrics::method_index(method)],
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
        .route("/openapi.json", get(r::openapi))
        .route("/admin/reload", post(r::reload))
        .fallback(r::not_found)
        .method_not_allowed_fallback(r::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(state.cfg().max_body_bytes))
        .with_state(state)
}

/// Serves `app(state)` on `listener` until `shutdown` resolves; then drains
/// (readiness false, still serving) for `cfg.drain`, stops accepting and
/// waits for in-flight requests. Connections are limited as the `conn`
/// module describes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let st = state.clone();
    let cfg = state.cfg().clone();
    let drain = cfg.drain;
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
    let lim = conn::Limits {
        header_read_timeout: cfg.header_read_timeout,
        idle_timeout: cfg.idle_timeout.max(cfg.request_timeout),
        max_connections: state.0.max_connections,
        close_wait: cfg.request_timeout + Duration::from_secs(1),
    };
    let open = state.0.connections.clone();
    conn::run(listener, app(state), lim, open, signal).await;
    tracing::info!("server stopped");
    Ok(())
}
