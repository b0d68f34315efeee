//! The accept loop: HTTP/1 connections served by hyper with the limits that
//! `axum::serve` does not set.
//!
//! - a header-read timeout: a client has `header_read_timeout` to send a
//!   request's headers. hyper starts the timer whenever it waits for a
//!   request, so an idle keep-alive connection is closed after it too;
//! - an idle timeout: a connection with no bytes read or written for
//!   `idle_timeout` (a stalled body upload, a client that stops reading its
//!   response) is closed. It is at least the request timeout, so a request
//!   being scored is never cut;
//! - a connection cap: at most `max_connections` are open; beyond that the
//!   loop stops accepting and new connections wait in the kernel's backlog.
//!
//! On shutdown the loop stops accepting, asks every connection to finish
//! its request in flight and close, and waits for them (bounded).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// How long shutdown waits for open connections to finish.
    pub close_wait: Duration,
}

fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// A socket that records when it last moved a byte.
struct Tracked {
    inner: TcpStream,
    last: Arc<AtomicU64>,
}

impl Tracked {
    fn touch(&self) {
        self.last.store(now_ms(), Ordering::Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serves one connection until it ends, idles out, or shutdown closes it.
async fn connection(
    stream: TcpStream,
    app: Router,
    lim: Limits,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let last = Arc::new(AtomicU64::new(now_ms()));
    let io = TokioIo::new(Tracked {
        inner: stream,
        last: last.clone(),
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(lim.header_read_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(io, TowerToHyperService::new(app));
    tokio::pin!(conn);
    let idle_ms = lim.idle_timeout.as_millis() as u64;
    let mut closing = *stop.borrow();
    if closing {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let quiet = now_ms().saturating_sub(last.load(Ordering::Relaxed));
        if quiet >= idle_ms {
            tracing::debug!(idle_ms = quiet, "closing a connection with no traffic");
            return;
        }
        let wake = Duration::from_millis(idle_ms - quiet);
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!("connection ended: {e}");
                }
                return;
            }
            _ = stop.changed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep(wake) => {}
        }
    }
}

/// Accepts connections on `listener` until `stop_accepting` resolves, then
/// closes them gracefully and waits (up to `lim.close_wait`).
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    lim: Limits,
    open: Arc<Semaphore>,
    stop_accepting: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(stop_accepting);
    let mut warned = false;
    loop {
        if open.available_permits() == 0 && !warned {
            tracing::warn!(
                max_connections = lim.max_connections,
                "connection cap reached: new connections wait in the backlog"
            );
            warned = true;
        }
        let permit = tokio::select! {
            p = open.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut stop_accepting => break,
        };
        if open.available_permits() > 0 {
            warned = false;
        }
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead
                    // of spinning on the error.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop_accepting => break,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            app.clone(),
            lim,
            stop_rx.clone(),
            permit,
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let all = u32::try_from(lim.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(lim.close_wait, open.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            open = lim.max_connections - open.available_permits(),
            "connections still open after the shutdown wait; closing them"
        );
    }
}
