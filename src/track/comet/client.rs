//! A small blocking Comet REST client (reqwest). Only what anirec uses; see
//! `shared/reference/comet-rest-api.md` for the wire facts.

use serde::Deserialize;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Connection settings. `Debug` is hand-written so the key never prints.
#[derive(Clone)]
pub struct Settings {
    /// `…/clientlib/` base (COMET_URL_OVERRIDE).
    pub clientlib: String,
    /// `<root>/api/rest/v2/`.
    pub rest: String,
    /// Site root, for experiment links.
    pub root: String,
    api_key: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("clientlib", &self.clientlib)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

/// Reads `key` from `~/.comet.config` (or `$COMET_CONFIG`), an INI file with
/// a `[comet]` section, e.g. `api_key = …`.
pub fn config_file_value(key: &str) -> Option<String> {
    let path = std::env::var_os("COMET_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".comet.config")))?;
    let text = std::fs::read_to_string(path).ok()?;
    let mut in_comet = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_comet = l.eq_ignore_ascii_case("[comet]");
        } else if in_comet {
            if let Some((k, v)) = l.split_once('=') {
                if k.trim() == key {
                    return Some(v.trim().to_string()).filter(|v| !v.is_empty());
                }
            }
        }
    }
    None
}

/// `COMET_<NAME>` from the environment, else `<name>` from the config file.
pub fn setting(env: &str, file_key: &str) -> Option<String> {
    std::env::var(env)
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| config_file_value(file_key))
}

impl Settings {
    /// From COMET_API_KEY / COMET_URL_OVERRIDE or `~/.comet.config`.
    pub fn from_env() -> Result<Self, CometError> {
        let api_key = setting("COMET_API_KEY", "api_key").ok_or(CometError::NoApiKey)?;
        let mut clientlib = setting("COMET_URL_OVERRIDE", "url_override")
            .unwrap_or_else(|| "https://www.comet.com/clientlib/".into());
        if !clientlib.ends_with('/') {
            clientlib.push('/');
        }
        check_scheme(&clientlib)?;
        let root = url_root(&clientlib)?;
        Ok(Self {
            rest: format!("{root}/api/rest/v2/"),
            root,
            clientlib,
            api_key,
        })
    }

    /// Replaces every occurrence of the key in `s` (defence in depth for
    /// messages that echo server text).
    pub fn scrub(&self, s: &str) -> String {
        if self.api_key.len() >= 4 {
            s.replace(&self.api_key, "<redacted>")
        } else {
            s.to_string()
        }
    }
}

/// Refuses a URL that would carry the API key in clear over a network:
/// https anywhere, plain http only to the loopback interface (the fake
/// servers of tests, an SSH tunnel, a local proxy).
fn check_scheme(url: &str) -> Result<(), CometError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(CometError::BadUrl);
    };
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(()),
        "http" => {
            let auth = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
            let hostport = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
            let host = if let Some(v6) = hostport.strip_prefix('[') {
                v6.split(']').next().unwrap_or_default()
            } else {
                hostport.split(':').next().unwrap_or_default()
            };
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err(CometError::InsecureUrl(
                    crate::util::url::strip_credentials(url),
                ))
            }
        }
        _ => Err(CometError::BadUrl),
    }
}

/// Longest wait or timeout a setting may ask for (a week): beyond that an
/// `Instant` addition could overflow, and no real use needs more.
pub(crate) const MAX_SECS: f64 = 7.0 * 24.0 * 3600.0;

/// A duration in seconds from the environment: `default` when unset, an
/// error naming the variable when it is not a number in `0..=MAX_SECS`
/// (`-1`, `inf`, `NaN` and `1e20` would otherwise panic further on).
pub(crate) fn env_secs(name: &str, default: f64) -> Result<Duration, CometError> {
    match std::env::var(name) {
        Ok(v) => parse_secs(name, &v),
        Err(_) => Ok(Duration::from_secs_f64(default)),
    }
}

fn parse_secs(name: &str, v: &str) -> Result<Duration, CometError> {
    match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && (0.0..=MAX_SECS).contains(&x) => Ok(Duration::from_secs_f64(x)),
        _ => Err(CometError::Setting(format!(
            "{name}={v:?} is not allowed; allowed: a number of seconds from 0 to {MAX_SECS}"
        ))),
    }
}

/// Client errors. Messages carry the endpoint and status, never the key.
#[derive(Debug, thiserror::Error)]
pub enum CometError {
    /// No key anywhere.
    #[error("no Comet API key: set COMET_API_KEY or api_key in ~/.comet.config")]
    NoApiKey,
    /// COMET_URL_OVERRIDE is not a URL.
    #[error("COMET_URL_OVERRIDE is not an http(s) URL")]
    BadUrl,
    /// COMET_URL_OVERRIDE would send the API key in clear text.
    #[error("COMET_URL_OVERRIDE {0} is plain http to a host other than this machine: the API key would cross the network unencrypted; use https (plain http is accepted only for localhost / 127.0.0.1 / [::1])")]
    InsecureUrl(String),
    /// An environment setting out of range.
    #[error("{0}")]
    Setting(String),
    /// Another process delivers this outbox (or runs this run).
    #[error("{0}")]
    Busy(String),
    /// Could not connect: nothing was sent.
    #[error("{endpoint}: cannot connect: {msg}")]
    Connect { endpoint: String, msg: String },
    /// The request went out but no (complete) answer came back.
    #[error("{endpoint}: no answer: {msg}")]
    NoAnswer { endpoint: String, msg: String },
    /// An HTTP error status.
    #[error("{endpoint}: HTTP {status}: {msg}")]
    Status {
        endpoint: String,
        /// Status code.
        status: u16,
        /// Retry-After / Retry-After-Custom seconds.
        retry_after: Option<f64>,
        /// Server message (scrubbed, truncated).
        msg: String,
    },
    /// A reply that does not parse.
    #[error("{endpoint}: bad reply: {msg}")]
    BadReply { endpoint: String, msg: String },
    /// A local file to upload cannot be read.
    #[error("{0}")]
    File(String),
}

impl CometError {
    /// Worth retrying (connection problems, timeouts, 429, 5xx).
    pub fn retryable(&self) -> bool {
        match self {
            CometError::Connect { .. } | CometError::NoAnswer { .. } => true,
            CometError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
    /// Might the server have applied the request?
    pub fn uncertain(&self) -> bool {
        match self {
            CometError::NoAnswer { .. } => true,
            CometError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
    /// Authentication or permission: stop sending until the user fixes it.
    pub fn fatal(&self) -> bool {
        matches!(
            self,
            CometError::Status {
                status: 401 | 403,
                ..
            } | CometError::NoApiKey
        )
    }
    /// Server-requested delay.
    pub fn retry_after(&self) -> Option<f64> {
        match self {
            CometError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// One experiment as listed by `GET experiments`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentInfo {
    pub experiment_key: String,
    /// Name.
    #[serde(default)]
    pub experiment_name: Option<String>,
    /// Start.
    #[serde(default)]
    pub start_time_millis: Option<u64>,
    /// Still running.
    #[serde(default)]
    pub running: Option<bool>,
}

/// One stored metric point as read back.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredMetric {
    pub metric_name: String,
    /// Value, a string on the wire.
    #[serde(default)]
    pub metric_value: Value,
    /// Step.
    #[serde(default)]
    pub step: Option<u64>,
    /// Timestamp.
    #[serde(default)]
    pub timestamp: Option<u64>,
}

/// (name, min, max, current) of one metric.
pub type MetricSummary = (String, Option<f64>, Option<f64>, Option<f64>);

/// The client.
pub struct Client {
    s: Settings,
    http: reqwest::blocking::Client,
}

impl Client {
    /// A client with 10 s JSON timeouts (uploads get longer).
    pub fn new(s: Settings) -> Result<Self, CometError> {
        let http = crate::net::client_builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(env_secs("ANIREC_COMET_TIMEOUT_SECS", 10.0)?)
            .user_agent(concat!("anirec/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CometError::Connect {
                endpoint: "client".into(),
                msg: e.to_string(),
            })?;
        Ok(Self { s, http })
    }

    pub fn settings(&self) -> &Settings {
        &self.s
    }

    fn classify(&self, endpoint: &str, e: reqwest::Error) -> CometError {
        let msg = self.s.scrub(&without_url(&e));
        if e.is_connect() {
            CometError::Connect {
                endpoint: endpoint.into(),
                msg,
            }
        } else {
            CometError::NoAnswer {
                endpoint: endpoint.into(),
                msg,
            }
        }
    }

    fn finish(
        &self,
        endpoint: &str,
        r: reqwest::Result<reqwest::blocking::Response>,
    ) -> Result<Value, CometError> {
        let r = r.map_err(|e| self.classify(endpoint, e))?;
        let status = r.status().as_u16();
        let header = |n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
        };
        let retry_after = header("Retry-After-Custom").or_else(|| header("Retry-After"));
        let text = r.text().map_err(|e| self.classify(endpoint, e))?;
        if status >= 400 {
            let mut msg = self.s.scrub(&text);
            // A byte cut could land inside a character (and panic).
            crate::util::fsx::truncate_at_char(&mut msg, 300);
            return Err(CometError::Status {
                endpoint: endpoint.into(),
                status,
                retry_after,
                msg,
            });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn post_json(&self, base: &str, path: &str, body: &Value) -> Result<Value, CometError> {
        let r = self
            .http
            .post(format!("{base}{path}"))
            .header("Authorization", &self.s.api_key)
            .header("Content-Type", "application/json;charset=utf-8")
            .body(serde_json::to_vec(body).unwrap_or_default())
            .send();
        self.finish(path, r)
    }

    /// POST to the REST v2 API.
    pub fn rest_post(&self, path: &str, body: &Value) -> Result<Value, CometError> {
        self.post_json(&self.s.rest, path, body)
    }

    /// POST to the clientlib API (metric/parameter batches).
    pub fn clientlib_post(&self, path: &str, body: &Value) -> Result<Value, CometError> {
        self.post_json(&self.s.clientlib, path, body)
    }

    /// GET from the REST v2 API.
    pub fn rest_get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, CometError> {
        let r = self
            .http
            .get(format!("{}{path}", self.s.rest))
            .header("Authorization", &self.s.api_key)
            .query(query)
            .send();
        self.finish(path, r)
    }

    /// `write/experiment/create` (NOT idempotent: callers persist the key).
    pub fn create_experiment(
        &self,
        workspace: &str,
        project: &str,
        name: &str,
    ) -> Result<(String, Option<String>), CometError> {
        let v = self.rest_post(
            "write/experiment/create",
            &json!({"workspaceName": workspace, "projectName": project, "experimentName": name}),
        )?;
        let key = v["experimentKey"]
            .as_str()
            .ok_or_else(|| CometError::BadReply {
                endpoint: "write/experiment/create".into(),
                msg: "no experimentKey".into(),
            })?;
        Ok((key.to_string(), v["link"].as_str().map(str::to_string)))
    }

    /// Lists a project's experiments (all pages).
    pub fn experiments(
        &self,
        workspace: &str,
        project: &str,
    ) -> Result<Vec<ExperimentInfo>, CometError> {
        let mut out = Vec::new();
        for page in 1..=1000u32 {
            let v = self.rest_get(
                "experiments",
                &[
                    ("workspaceName", workspace.into()),
                    ("projectName", project.into()),
                    ("archived", "false".into()),
                    ("page", page.to_string()),
                    ("size", "100".into()),
                ],
            )?;
            let list: Vec<ExperimentInfo> = serde_json::from_value(v["experiments"].clone())
                .map_err(|e| CometError::BadReply {
                    endpoint: "experiments".into(),
                    msg: e.to_string(),
                })?;
            let n = list.len();
            out.extend(list);
            if n < 100 {
                break;
            }
        }
        Ok(out)
    }

    /// Every stored metric point of an experiment (for reconciliation).
    pub fn all_metrics(&self, key: &str) -> Result<Vec<StoredMetric>, CometError> {
        let v = self.rest_get(
            "experiment/metrics/get-all",
            &[("experimentKey", key.into())],
        )?;
        serde_json::from_value(v["metrics"].clone()).map_err(|e| CometError::BadReply {
            endpoint: "experiment/metrics/get-all".into(),
            msg: e.to_string(),
        })
    }

    /// `experiment/metrics/summary`: name → (min, max, current).
    pub fn metric_summary(&self, key: &str) -> Result<Vec<MetricSummary>, CometError> {
        let v = self.rest_get(
            "experiment/metrics/summary",
            &[("experimentKey", key.into())],
        )?;
        let num = |x: &Value| match x {
            Value::String(s) => s.parse::<f64>().ok(),
            Value::Number(n) => n.as_f64(),
            _ => None,
        };
        Ok(v["values"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| {
                        (
                            m["name"].as_str().unwrap_or_default().to_string(),
                            num(&m["valueMin"]),
                            num(&m["valueMax"]),
                            num(&m["valueCurrent"]),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Multipart upload to `write/experiment/upload-asset` (or `git/patch`).
    pub fn upload(
        &self,
        path: &str,
        file: &Path,
        query: &[(&str, String)],
        metadata: Option<&Value>,
    ) -> Result<Value, CometError> {
        let bytes = std::fs::read(file)
            .map_err(|e| CometError::File(format!("{}: {e}", file.display())))?;
        let mut form = reqwest::blocking::multipart::Form::new().part(
            "file",
            reqwest::blocking::multipart::Part::bytes(bytes).file_name("file"),
        );
        if let Some(m) = metadata {
            form = form.text("metadata", m.to_string());
        }
        let r = self
            .http
            .post(format!("{}{path}", self.s.rest))
            .header("Authorization", &self.s.api_key)
            .timeout(Duration::from_secs(900))
            .query(query)
            .multipart(form)
            .send();
        self.finish(path, r)
    }
}

/// reqwest's Display includes the URL; ours already names the endpoint.
fn without_url(e: &reqwest::Error) -> String {
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut parts = Vec::new();
    while let Some(c) = cur {
        parts.push(c.to_string());
        cur = c.source();
    }
    if parts.is_empty() {
        if e.is_timeout() {
            "timed out".into()
        } else {
            "request failed".into()
        }
    } else {
        parts.join(": ")
    }
}

/// The REST base of an override URL: its origin (scheme, host, port; the
/// path dropped), e.g. `http://127.0.0.1:8080` for
/// `http://127.0.0.1:8080/clientlib/`.
fn url_root(clientlib: &str) -> Result<String, CometError> {
    let url = reqwest::Url::parse(clientlib).map_err(|_| CometError::BadUrl)?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(CometError::BadUrl);
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_beyond_loopback() {
        for ok in [
            "https://www.comet.com/clientlib/",
            "http://127.0.0.1:5000/clientlib/",
            "http://localhost/clientlib/",
            "http://[::1]:80/x/",
            "HTTP://127.0.0.2/",
        ] {
            assert!(check_scheme(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://comet.internal/clientlib/",
            "http://10.0.0.5:80/",
            "http://127.0.0.1.evil.com/",
            "http://localhost@evil.com/",
            "ftp://x/",
        ] {
            assert!(check_scheme(bad).is_err(), "{bad}");
        }
        let e = check_scheme("http://u:pw@comet.internal/")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("pw"), "{e}");
    }

    #[test]
    fn seconds_settings_are_bounded() {
        for bad in ["-1", "inf", "NaN", "1e20", "x", ""] {
            let e = parse_secs("ANIREC_COMET_SYNC_SECS", bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains("ANIREC_COMET_SYNC_SECS"), "{e}");
        }
        assert_eq!(parse_secs("X", "2.5").unwrap(), Duration::from_millis(2500));
        assert_eq!(parse_secs("X", "0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn the_rest_root_is_the_override_urls_origin() {
        let root = |u: &str| url_root(u).ok();
        assert_eq!(
            root("https://www.comet.com/clientlib/").as_deref(),
            Some("https://www.comet.com")
        );
        assert_eq!(
            root("http://127.0.0.1:18765/clientlib/").as_deref(),
            Some("http://127.0.0.1:18765")
        );
        assert_eq!(
            root("https://comet.example.org/").as_deref(),
            Some("https://comet.example.org")
        );
        assert_eq!(root("comet.example.org/clientlib/"), None);
        assert_eq!(root("ftp://comet.example.org/"), None);
    }
}
