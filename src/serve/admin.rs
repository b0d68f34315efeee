//! Bundle reload (single-flight) and the admin token.
//!
//! One load at a time: the first caller starts a load in a task of its own,
//! which owns the single-flight slot until the load has finished and been
//! swapped in; callers that arrive meanwhile wait for that load's result
//! instead of starting another. A caller that goes away (timeout, closed
//! connection) only stops waiting: the slot is not released early, so a
//! storm of cancelled reloads still costs one load.
//!
//! `POST /admin/reload` needs `Authorization: Bearer <token>`, the token
//! being read from `--admin-token-file` at start; without a token file the
//! route is disabled (403) and SIGHUP is the only way to reload.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Instant;

use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::{AppState, Loaded};

/// Result of one load, shared by every caller that waited for it.
pub(crate) type LoadResult = Result<String, String>;

/// The single-flight slot: the receiver of the load now running, if any.
#[derive(Default)]
pub(crate) struct ReloadSlot(Mutex<Option<watch::Receiver<Option<LoadResult>>>>);

/// Clears the slot when the load task ends, however it ends (a panic in the
/// load included), so a failed load never wedges reloads.
struct ClearOnDrop(AppState);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        if let Ok(mut g) = (self.0).0.reload.0.lock() {
            *g = None;
        }
    }
}

impl AppState {
    /// (Re)loads the configured bundle off the async workers and swaps it in,
    /// sharing a load already running. On failure the old model keeps
    /// serving and the error is returned.
    pub async fn reload(&self) -> LoadResult {
        let mut rx = {
            let Ok(mut slot) = self.0.reload.0.lock() else {
                return Err("reload state poisoned; restart the server".into());
            };
            match slot.as_ref() {
                Some(rx) => {
                    self.0
                        .metrics
                        .reloads
                        .joined
                        .fetch_add(1, Ordering::Relaxed);
                    rx.clone()
                }
                None => {
                    let (tx, rx) = watch::channel(None);
                    *slot = Some(rx.clone());
                    let st = self.clone();
                    tokio::spawn(async move {
                        let clear = ClearOnDrop(st.clone());
                        let r = st.load_and_install().await;
                        // Free the slot before publishing: a caller arriving
                        // after this point starts a fresh load (the files
                        // may have changed since this one read them).
                        drop(clear);
                        let _ = tx.send(Some(r));
                    });
                    rx
                }
            }
        };
        let result = match rx.wait_for(Option::is_some).await {
            Ok(r) => r.clone().unwrap_or_else(|| Err("reload lost".into())),
            Err(_) => Err("the bundle load task ended without a result".into()),
        };
        result
    }

    async fn load_and_install(&self) -> LoadResult {
        let dir = self
            .cfg()
            .bundle
            .clone()
            .ok_or_else(|| "no bundle directory configured".to_string())?;
        let t = Instant::now();
        let loaded = tokio::task::spawn_blocking(move || Loaded::load(&dir))
            .await
            .map_err(|e| format!("bundle load task failed: {e}"));
        let reloads = &self.0.metrics.reloads;
        match loaded {
            Ok(Ok(m)) => {
                let id = m.run_id().to_string();
                self.install(m);
                reloads.success.fetch_add(1, Ordering::Relaxed);
                tracing::info!(run_id = %id, ms = t.elapsed().as_millis() as u64, "bundle loaded");
                Ok(id)
            }
            Ok(Err(e)) => Err(self.failed(e.to_string())),
            Err(e) => Err(self.failed(e)),
        }
    }

    fn failed(&self, e: String) -> String {
        self.0
            .metrics
            .reloads
            .failure
            .fetch_add(1, Ordering::Relaxed);
        let keep = self
            .model()
            .map(|m| format!("still serving run {}", m.run_id()))
            .unwrap_or_else(|| "no model loaded".into());
        let msg = format!("bundle rejected ({keep}): {e}");
        tracing::error!("{msg}");
        msg
    }
}

/// The admin bearer token. Kept as its SHA-256 so comparisons take the same
/// time whatever the guess, and never printed.
#[derive(Clone)]
pub struct AdminToken([u8; 32]);

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

impl AdminToken {
    /// A token from its text (surrounding whitespace, such as the newline a
    /// Secret file ends with, is ignored).
    pub fn new(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "the admin token must have at least {MIN_TOKEN_LEN} characters (e.g. `openssl rand -hex 32`)"
            ));
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the admin token must be printable ASCII without spaces".into());
        }
        Ok(Self(Sha256::digest(t.as_bytes()).into()))
    }

    /// Reads a token file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, String> {
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot read the admin token file {}: {e}", path.display()))?;
        if meta.len() > 4096 {
            return Err(format!(
                "the admin token file {} is larger than 4 KiB; it should hold one token",
                path.display()
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the admin token file {}: {e}", path.display()))?;
        Self::new(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Whether an `Authorization` header value carries this token.
    pub fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some(h) = header else {
            return false;
        };
        let Some(given) = h
            .strip_prefix(b"Bearer ")
            .or_else(|| h.strip_prefix(b"bearer "))
        else {
            return false;
        };
        let d: [u8; 32] = Sha256::digest(given.trim_ascii()).into();
        d.iter()
            .zip(self.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// Whether the admin routes are usable for a request with this
/// `Authorization` header: `Ok` or the refusal.
pub(crate) fn authorize(
    token: Option<&AdminToken>,
    header: Option<&[u8]>,
) -> Result<(), super::ApiError> {
    match token {
        None => Err(super::ApiError::Forbidden(
            "admin routes are disabled: start anirec-serve with --admin-token-file to enable them (SIGHUP also reloads)".into(),
        )),
        Some(t) if t.accepts(header) => Ok(()),
        Some(_) => Err(super::ApiError::Unauthorized(
            "missing or wrong admin token: send `Authorization: Bearer <token>`".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_checks() {
        assert!(AdminToken::new("short").is_err());
        assert!(AdminToken::new("with a space in it ok").is_err());
        let t = AdminToken::new("0123456789abcdef-token\n").expect("token");
        assert!(t.accepts(Some(b"Bearer 0123456789abcdef-token")));
        assert!(!t.accepts(Some(b"Bearer 0123456789abcdef-tokeN")));
        assert!(!t.accepts(Some(b"0123456789abcdef-token")));
        assert!(!t.accepts(None));
        assert_eq!(format!("{t:?}"), "AdminToken(<redacted>)");
        assert!(authorize(None, Some(b"Bearer 0123456789abcdef-token")).is_err());
        assert!(authorize(Some(&t), Some(b"Bearer 0123456789abcdef-token")).is_ok());
    }
}
