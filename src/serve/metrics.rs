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

/// One route's figures: requests by (method, status) and the latency histogram.
#[derive(Default)]
struct RouteStats {
    /// A handful of (method, status) pairs per route, so a linear scan beats
    /// a map and needs no key allocation.
    counts: Vec<(String, u16, u64)>,
    hist: Hist,
}

/// Request metrics.
#[derive(Default)]
pub struct Metrics {
    /// By route. One lock per request, and no allocation once a route,
    /// method and status have been seen (this is on every request's path).
    routes: Mutex<BTreeMap<String, RouteStats>>,
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(&self, method: &str, route: &str, status: u16, secs: f64) {
        let Ok(mut m) = self.routes.lock() else {
            return;
        };
        let r = match m.get_mut(route) {
            Some(r) => r,
            None => m.entry(route.to_string()).or_default(),
        };
        match r
            .counts
            .iter_mut()
            .find(|(me, st, _)| *st == status && me == method)
        {
            Some((_, _, n)) => *n += 1,
            None => r.counts.push((method.to_string(), status, 1)),
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

    /// Renders everything; `extra` lines (model info, readiness) are appended.
    pub fn render(&self, extra: &str) -> String {
        let mut s = String::new();
        s.push_str(
            "# HELP anirec_http_requests_total HTTP requests by method, route and status.\n",
        );
        s.push_str("# TYPE anirec_http_requests_total counter\n");
        let Ok(m) = self.routes.lock() else {
            s.push_str(extra);
            return s;
        };
        let mut counts: Vec<(&str, &str, u16, u64)> = m
            .iter()
            .flat_map(|(route, r)| {
                r.counts
                    .iter()
                    .map(move |(me, st, n)| (me.as_str(), route.as_str(), *st, *n))
            })
            .collect();
        counts.sort_unstable();
        for (method, route, status, n) in counts {
            let _ = writeln!(
                s,
                "anirec_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                esc(route)
            );
        }
        s.push_str("# HELP anirec_http_request_duration_seconds Request latency by route.\n");
        s.push_str("# TYPE anirec_http_request_duration_seconds histogram\n");
        for (route, r) in m.iter() {
            let (r, h) = (esc(route), &r.hist);
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
