//! The server's errors: [`ApiError`] for a request (a status code and a
//! JSON body `{"error": "..."}`), [`StartError`] for `anirec-serve` itself
//! (an exit code from the crate's one table, `Error::exit_code`).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Why `anirec-serve` stops with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A flag's value the server cannot use (the admin token file, limits
    /// that contradict each other).
    #[error("{0}")]
    Usage(String),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The `--addr` given.
        addr: String,
        /// The bind or listen failure.
        source: std::io::Error,
    },
    /// SIGTERM and SIGHUP handlers cannot be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// The bundle named at start-up does not load (missing, or refused by
    /// its verification).
    #[error("cannot serve {}: {msg}", path.display())]
    Bundle {
        /// The `--bundle` given.
        path: std::path::PathBuf,
        /// Why it does not load.
        msg: String,
    },
    /// The server stopped on an I/O error.
    #[error("{0}")]
    Serve(std::io::Error),
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad parameter or body (400).
    #[error("{0}")]
    BadRequest(String),
    /// No or wrong admin token (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Admin routes disabled (403).
    #[error("{0}")]
    Forbidden(String),
    /// Unknown user or anime (404).
    #[error("{0}")]
    NotFound(String),
    /// No model loaded yet, overloaded, or draining (503).
    #[error("{0}")]
    Unavailable(String),
    /// Took longer than the request timeout (503).
    #[error("request timed out after {0} ms")]
    Timeout(u64),
    /// Server-side failure, e.g. a failed reload (500).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unavailable(_) | ApiError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.to_string() });
        let status = self.status();
        let mut r = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}
