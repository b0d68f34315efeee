//! `anirec-serve --bundle models/promoted --addr 0.0.0.0:8080`: serves a model
//! bundle (see `anirec::serve` and the README's Serving section).

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anirec::serve::{self, AppState, Config};
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Parser)]
#[command(version, about = "Serves anime recommendations from a model bundle")]
struct Args {
    /// Bundle directory (manifest.json + tensors).
    #[arg(long, env = "ANIREC_BUNDLE")]
    bundle: PathBuf,
    /// Listen address.
    #[arg(long, default_value = "0.0.0.0:8080")]
    addr: String,
    /// After SIGTERM: seconds readiness is false while still serving (keep it above the request timeout).
    #[arg(long, default_value_t = 15.0)]
    drain_secs: f64,
    /// Per-request timeout, seconds (503 after it).
    #[arg(long, default_value_t = 10.0)]
    request_timeout_secs: f64,
    /// Requests handled at once; more are shed with 503.
    #[arg(long, default_value_t = 256)]
    max_concurrency: usize,
    /// Largest request body, bytes.
    #[arg(long, default_value_t = 65536)]
    max_body_bytes: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    // ANIREC_LOG_FORMAT=json: one JSON object per line with `severity` (GKE).
    anirec::logging::init(anirec::logging::LogFormat::from_env(), "info");
    let a = Args::parse();
    if a.drain_secs <= a.request_timeout_secs {
        tracing::warn!("--drain-secs should be longer than --request-timeout-secs");
    }
    let state = AppState::new(Config {
        bundle: Some(a.bundle.clone()),
        drain: Duration::from_secs_f64(a.drain_secs.max(0.0)),
        request_timeout: Duration::from_secs_f64(a.request_timeout_secs.max(0.001)),
        max_concurrency: a.max_concurrency,
        max_body_bytes: a.max_body_bytes,
    });
    let listener = match tokio::net::TcpListener::bind(&a.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", a.addr);
            return ExitCode::from(5);
        }
    };
    tracing::info!(addr = %a.addr, bundle = %a.bundle.display(), "listening; loading the bundle (not ready yet)");
    let (st, bundle) = (state.clone(), a.bundle.clone());
    tokio::spawn(async move {
        if let Err(e) = st.reload().await {
            eprintln!("error: cannot serve {}: {e}", bundle.display());
            std::process::exit(3);
        }
        tracing::info!("ready");
    });
    let st = state.clone();
    tokio::spawn(async move {
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            let _ = st.reload().await;
        }
    });
    let shutdown = async {
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! { _ = term.recv() => {}, _ = tokio::signal::ctrl_c() => {} }
    };
    match serve::serve(listener, state, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(5)
        }
    }
}
