//! Prometheus metrics in the text exposition format, hand-written: request
//! counts by method, route and status, latency histograms by route, reload
//! outcomes, build and process information.
//!
//! Every label set is bounded by construction: methods are mapped to the nine
//! standard tokens plus `other`, routes to the router's fixed list plus
//! `unmatched`, and statuses are the handful this server produces (a status
//! outside 100–599 is counted as `other`). A client cannot add a series.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use axum::http::Method;

/// Histogram bucket upper bounds, seconds.
pub const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The method label values: the standard methods, then `other`.
pub const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "other",
];

/// The route label values: the router's routes, then `unmatched`.
pub const ROUTES: [&str; 14] = [
    "/",
    "/v1/users/{user_id}/recommendations",
    "/v1/anime/{anime_id}/similar",
    "/v1/recommendations",
    "/v1/anime",
    "/v1/model",
    "/healthz",
    "/v2/health/live",
    "/readyz",
    "/v2/health/ready",
    "/metrics",
    "/openapi.json",
    "/admin/reload",
    "unmatched",
];

/// Index of `m` in [`METHODS`].
pub fn method_index(m: &Method) -> usize {
    match *m {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::CONNECT => 5,
        Method::OPTIONS => 6,
        Method::TRACE => 7,
        Method::PATCH => 8,
        _ => 9,
    }
}

/// Index of a matched route in [`ROUTES`] (`unmatched` for anything else).
pub fn route_index(route: &str) -> usize {
    ROUTES
        .iter()
        .position(|r| *r == route)
        .unwrap_or(ROUTES.len() - 1)
}

#[derive(Default, Clone)]
struct Hist {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    n: u64,
}

/// One route's figures: requests by (method, status) and the latency histogram.
#[derive(Default, Clone)]
struct RouteStats {
    /// (method index, status, count). At most 10 methods × the statuses the
    /// server produces, so a linear scan beats a map.
    counts: Vec<(u8, u16, u64)>,
    hist: Hist,
}

/// Reload outcomes.
#[derive(Default)]
pub struct Reloads {
    /// Loads that succeeded and were swapped in.
    pub success: AtomicU64,
    /// Loads that failed (the old model kept serving).
    pub failure: AtomicU64,
    /// Reload calls that joined a load already running instead of starting one.
    pub joined: AtomicU64,
    /// `POST /admin/reload` calls refused (no or wrong token, or admin disabled).
    pub refused: AtomicU64,
}

/// Request metrics.
pub struct Metrics {
    /// By route index. One lock per request and no allocation once a
    /// method and status have been seen for a route.
    routes: Mutex<Vec<RouteStats>>,
    /// Reload outcomes.
    pub reloads: Reloads,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            routes: Mutex::new(vec![RouteStats::default(); ROUTES.len()]),
            reloads: Reloads::default(),
        }
    }
}

/// A status as a label: 100–599 as is, anything else `other` (0 here).
fn status_key(status: u16) -> u16 {
    if (100..600).contains(&status) {
        status
    } else {
        0
    }
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(&self, method: &Method, route: &str, status: u16, secs: f64) {
        let (mi, ri, st) = (
            method_index(method) as u8,
            route_index(route),
            status_key(status),
        );
        let Ok(mut m) = self.routes.lock() else {
            return;
        };
        let Some(r) = m.get_mut(ri) else {
            return;
        };
        match r.counts.iter_mut().find(|(me, s, _)| *s == st && *me == mi) {
            Some((_, _, n)) => *n += 1,
            None => r.counts.push((mi, st, 1)),
        }
        let h = &mut r.hist;
        for (c, &b) in h.counts.iter_mut().zip(BUCKETS.iter()) {
            if secs <= b {
                *c += 1;
            }
        }
        h.sum += secs;
        h.n += 1;
    }

    /// Number of request-count series (tests: it stays bounded).
    pub fn series(&self) -> usize {
        self.routes
            .lock()
            .map(|m| m.iter().map(|r| r.counts.len()).sum())
            .unwrap_or(0)
    }

    /// Renders the request and reload metrics, then `extra` (model info,
    /// readiness, build and process metrics).
    pub fn render(&self, extra: &str) -> String {
        let mut s = String::with_capacity(8192);
        s.push_str(
            "# HELP anirec_http_requests_total HTTP requests by method, route and status.\n",
        );
        s.push_str("# TYPE anirec_http_requests_total counter\n");
        let snapshot = match self.routes.lock() {
            Ok(m) => m.clone(),
            Err(_) => Vec::new(),
        };
        let mut counts: Vec<(&str, &str, u16, u64)> = snapshot
            .iter()
            .zip(ROUTES)
            .flat_map(|(r, route)| {
                r.counts
                    .iter()
                    .map(move |&(me, st, n)| (METHODS[usize::from(me)], route, st, n))
            })
            .collect();
        counts.sort_unstable();
        for (method, route, status, n) in counts {
            let status = if status == 0 {
                "other".to_string()
            } else {
                status.to_string()
            };
            let _ = writeln!(
                s,
                "anirec_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                esc(route)
            );
        }
        s.push_str("# HELP anirec_http_request_duration_seconds Request latency by route.\n");
        s.push_str("# TYPE anirec_http_request_duration_seconds histogram\n");
        for (r, route) in snapshot.iter().zip(ROUTES) {
            let (route, h) = (esc(route), &r.hist);
            if h.n == 0 {
                continue;
            }
            for (c, b) in h.counts.iter().zip(BUCKETS.iter()) {
                let _ = writeln!(
                    s,
                    "anirec_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {c}"
                );
            }
            let _ = writeln!(
                s,
                "anirec_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n\
                 anirec_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\n\
                 anirec_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.n, h.sum, h.n
            );
        }
        let rl = &self.reloads;
        let _ = writeln!(
            s,
            "# HELP anirec_reloads_total Bundle loads by outcome (success: swapped in; failure: the old model kept serving).\n\
             # TYPE anirec_reloads_total counter\n\
             anirec_reloads_total{{outcome=\"success\"}} {}\n\
             anirec_reloads_total{{outcome=\"failure\"}} {}\n\
             # HELP anirec_reload_joins_total Reload calls that shared a load already running.\n\
             # TYPE anirec_reload_joins_total counter\n\
             anirec_reload_joins_total {}\n\
             # HELP anirec_reload_refused_total POST /admin/reload calls refused (no or wrong token, or admin disabled).\n\
             # TYPE anirec_reload_refused_total counter\n\
             anirec_reload_refused_total {}",
            rl.success.load(Ordering::Relaxed),
            rl.failure.load(Ordering::Relaxed),
            rl.joined.load(Ordering::Relaxed),
            rl.refused.load(Ordering::Relaxed),
        );
        s.push_str(extra);
        s
    }
}

/// Escapes a Prometheus label value.
pub fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stay_bounded_whatever_the_client_sends() {
        let m = Metrics::default();
        for i in 0..5000 {
            let method = Method::from_bytes(format!("M{i}").as_bytes()).expect("token");
            m.observe(&method, &format!("/route/{i}"), 200 + (i % 3) as u16, 0.001);
            m.observe(&Method::GET, "/healthz", 1000 + i as u16, 0.001);
        }
        // One method (`other`) × one route (`unmatched`) × 3 statuses, and
        // GET /healthz with `other` as its status.
        assert_eq!(m.series(), 4);
        let text = m.render("");
        assert!(text.contains(
            "anirec_http_requests_total{method=\"other\",route=\"unmatched\",status=\"200\"}"
        ));
        assert!(text.contains(
            "anirec_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"other\"} 5000"
        ));
        assert!(!text.contains("M17"));
    }
}
