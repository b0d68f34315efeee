//! `anirec-serve --bundle models/promoted --addr 0.0.0.0:8080`: serves a model
//! bundle (see `anirec::serve` and the README's Serving section).

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anirec::serve::error::StartError;
use anirec::serve::{self, limits, AdminToken, AppState, Config};
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};

/// A number of seconds within `lo..=hi` (finite; `inf`, `nan` and negative
/// values are refused with the range).
fn secs_in(s: &str, lo: f64, hi: f64) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !v.is_finite() || v < lo || v > hi {
        return Err(format!("must be between {lo} and {hi} seconds, got `{s}`"));
    }
    Ok(Duration::from_secs_f64(v))
}

fn drain_secs(s: &str) -> Result<Duration, String> {
    secs_in(s, 0.0, limits::MAX_DRAIN_SECS)
}

fn timeout_secs(s: &str) -> Result<Duration, String> {
    secs_in(s, limits::MIN_TIMEOUT_SECS, limits::MAX_TIMEOUT_SECS)
}

/// A count within `1..=hi`.
fn count_in(s: &str, hi: usize) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(v) if (1..=hi).contains(&v) => Ok(v),
        _ => Err(format!("must be an integer from 1 to {hi}, got `{s}`")),
    }
}

#[derive(Parser)]
#[command(version, about = "Serves anime recommendations from a model bundle")]
struct Args {
    /// Bundle directory (manifest.json + tensors).
    #[arg(long, env = "ANIREC_BUNDLE")]
    bundle: PathBuf,
    /// Listen address.
    #[arg(long, default_value = "0.0.0.0:8080")]
    addr: String,
    /// After SIGTERM: seconds readiness is false while still serving (keep it above the request timeout). 0 to 3600.
    #[arg(long, default_value = "15", value_parser = drain_secs)]
    drain_secs: Duration,
    /// Per-request timeout, seconds (503 after it). 0.001 to 3600.
    #[arg(long, default_value = "10", value_parser = timeout_secs)]
    request_timeout_secs: Duration,
    /// Requests handled at once; more are shed with 503. 1 to 65536.
    #[arg(long, default_value = "256", value_parser = |s: &str| count_in(s, limits::MAX_CONCURRENCY))]
    max_concurrency: usize,
    /// Largest request body, bytes. 1 to 64 MiB.
    #[arg(long, default_value = "65536", value_parser = |s: &str| count_in(s, limits::MAX_BODY_BYTES))]
    max_body_bytes: usize,
    /// Seconds a client has to send a request's headers; also how long an
    /// idle keep-alive connection is kept. 0.001 to 3600.
    #[arg(long, default_value = "10", value_parser = timeout_secs)]
    header_read_timeout_secs: Duration,
    /// A connection that moves no byte for this many seconds is closed (at
    /// least the request timeout). 0.001 to 3600.
    #[arg(long, default_value = "60", value_parser = timeout_secs)]
    idle_timeout_secs: Duration,
    /// Most connections open at once; more wait in the listen backlog. 1 to 1000000.
    #[arg(long, default_value = "4096", value_parser = |s: &str| count_in(s, limits::MAX_CONNECTIONS))]
    max_connections: usize,
    /// File holding the bearer token of POST /admin/reload (at least 16
    /// characters). Without it the admin routes answer 403; SIGHUP still reloads.
    #[arg(long, env = "ANIREC_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
}

/// Listens on `addr` with a backlog of 4096 (tokio's default is 1024): a
/// burst of connections beyond the backlog has its SYNs dropped, and the
/// client retries only after a second, which is what a health probe would
/// see during a connection flood. The kernel caps it at net.core.somaxconn.
async fn listen(addr: &str) -> std::io::Result<tokio::net::TcpListener> {
    let sa = tokio::net::lookup_host(addr)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other("the address resolves to nothing"))?;
    let sock = if sa.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(sa)?;
    sock.listen(4096)
}

/// Prints the failure on stderr and returns its exit code from the crate's
/// one table.
fn report(f: StartError) -> u8 {
    eprintln!("error: {f}");
    anirec::Error::from(f).exit_code()
}

#[tokio::main]
async fn main() -> ExitCode {
    // ANIREC_LOG_FORMAT=json: one JSON object per line with `severity` (GKE).
    anirec::logging::init(anirec::logging::LogFormat::from_env(), "info");
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => ExitCode::from(report(f)),
    }
}

/// The server's settings from the flags, checked.
fn config(a: &Args) -> Result<Config, StartError> {
    let admin_token = a
        .admin_token_file
        .as_deref()
        .map(AdminToken::from_file)
        .transpose()
        .map_err(StartError::Usage)?;
    let cfg = Config {
        bundle: Some(a.bundle.clone()),
        drain: a.drain_secs,
        request_timeout: a.request_timeout_secs,
        max_concurrency: a.max_concurrency,
        max_body_bytes: a.max_body_bytes,
        header_read_timeout: a.header_read_timeout_secs,
        idle_timeout: a.idle_timeout_secs,
        max_connections: a.max_connections,
        admin_token,
        ..Config::default()
    };
    cfg.check().map_err(StartError::Usage)?;
    if cfg.drain <= cfg.request_timeout {
        tracing::warn!("--drain-secs should be longer than --request-timeout-secs");
    }
    if cfg.admin_token.is_none() {
        tracing::info!("no --admin-token-file: POST /admin/reload is disabled (SIGHUP reloads)");
    }
    Ok(cfg)
}

/// Listens first and loads the bundle behind it (readiness false until it
/// is in), so probes get answers while a large bundle loads; serves until
/// SIGTERM or Ctrl-C, reloading on SIGHUP.
async fn run(a: Args) -> Result<(), StartError> {
    let state = AppState::new(config(&a)?);
    let listener = listen(&a.addr).await.map_err(|source| StartError::Listen {
        addr: a.addr.clone(),
        source,
    })?;
    tracing::info!(addr = %a.addr, bundle = %a.bundle.display(), "listening; loading the bundle (not ready yet)");
    let (st, bundle) = (state.clone(), a.bundle.clone());
    tokio::spawn(async move {
        if let Err(msg) = st.reload().await {
            // Not serving what was asked for: stop now rather than drain.
            let code = report(StartError::Bundle { path: bundle, msg });
            std::process::exit(i32::from(code));
        }
        tracing::info!("ready");
    });
    let mut term = signal(SignalKind::terminate()).map_err(StartError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(StartError::Signals)?;
    let st = state.clone();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let _ = st.reload().await;
        }
    });
    let shutdown = async move {
        tokio::select! { _ = term.recv() => {}, _ = tokio::signal::ctrl_c() => {} }
    };
    serve::serve(listener, state, shutdown)
        .await
        .map_err(StartError::Serve)
}
