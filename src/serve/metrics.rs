//! Prometheus metrics in the text exposition format, hand-written: request
//! counts by route and status, latency histograms by route, model info.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Histogram bucket upper bounds, seconds.
pub const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Hist {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    n: u64,
}

/// Request metrics.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Hist>>,
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(&self, method: &str, route: &str, status: u16, secs: f64) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((method.to_string(), route.to_string(), status))
                .or_insert(0) += 1;
        }
        if let Ok(mut m) = self.latency.lock() {
            let h = m.entry(route.to_string()).or_default();
            for (c, &b) in h.counts.iter_mut().zip(BUCKETS.iter()) {
                if secs <= b {
                    *c += 1;
                }
            }
            h.sum += secs;
            h.n += 1;
        }
    }

    /// Renders everything; `extra` lines (model info, readiness) are appended.
    pub fn render(&self, extra: &str) -> String {
        let mut s = String::new();
        s.push_str(
            "# HELP anirec_http_requests_total HTTP requests by method, route and status.\n",
        );
        s.push_str("# TYPE anirec_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((method, route, status), n) in m.iter() {
                let _ = writeln!(
                    s,
                    "anirec_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    esc(route)
                );
            }
        }
        s.push_str("# HELP anirec_http_request_duration_seconds Request latency by route.\n");
        s.push_str("# TYPE anirec_http_request_duration_seconds histogram\n");
        if let Ok(m) = self.latency.lock() {
            for (route, h) in m.iter() {
                let r = esc(route);
                for (c, b) in h.counts.iter().zip(BUCKETS.iter()) {
                    let _ = writeln!(
                        s,
                        "anirec_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {c}"
                    );
                }
                let _ = writeln!(
                    s,
                    "anirec_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                    h.n
                );
                let _ = writeln!(
                    s,
                    "anirec_http_request_duration_seconds_sum{{route=\"{r}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    s,
                    "anirec_http_request_duration_seconds_count{{route=\"{r}\"}} {}",
                    h.n
                );
            }
        }
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
