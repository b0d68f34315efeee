//! Progress of long stages: a bar with rate and ETA on a terminal; off a
//! terminal (CI, `kubectl logs`, a sweep trial's log) a log line every
//! [`LOG_EVERY`] instead, so a stage that runs for minutes is never silent
//! and never floods a log with redraws.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often a stage off a terminal logs its progress.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(10);

/// Counted progress of one stage (users evaluated, items fitted, epochs),
/// safe to advance from many threads.
pub(crate) struct Progress {
    what: String,
    unit: &'static str,
    total: u64,
    done: AtomicU64,
    start: Instant,
    /// Milliseconds after `start` of the last log line (off a terminal).
    logged_ms: AtomicU64,
    /// The bar, on a terminal only.
    bar: Option<ProgressBar>,
}

impl Progress {
    /// `total` `unit`s of `what` (`"evaluation"`, 4_200, `"users"`).
    pub(crate) fn new(what: impl Into<String>, total: u64, unit: &'static str) -> Self {
        let what = what.into();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let template = format!(
                "{{msg}} {{bar:30}} {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, {{elapsed}}, ETA {{eta}})"
            );
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style);
            }
            bar.set_message(what.clone());
            bar
        });
        Self {
            what,
            unit,
            total,
            done: AtomicU64::new(0),
            start: Instant::now(),
            logged_ms: AtomicU64::new(0),
            bar,
        }
    }

    /// `n` more done.
    pub(crate) fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(bar) = &self.bar {
            bar.inc(n);
            return;
        }
        let now = self.start.elapsed().as_millis() as u64;
        let last = self.logged_ms.load(Ordering::Relaxed);
        // One thread wins the slot; the others skip this round.
        if now.saturating_sub(last) >= LOG_EVERY.as_millis() as u64
            && self
                .logged_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.log(done, now as f64 / 1000.0);
        }
    }

    fn log(&self, done: u64, secs: f64) {
        let (rate, eta) = rate_and_eta(done, self.total, secs);
        tracing::info!(
            done,
            total = self.total,
            rate = format!("{rate:.1} {}/s", self.unit),
            eta_secs = eta.round(),
            "{}",
            self.what
        );
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Units per second so far, and seconds left at that rate.
fn rate_and_eta(done: u64, total: u64, secs: f64) -> (f64, f64) {
    let rate = done as f64 / secs.max(1e-9);
    (rate, total.saturating_sub(done) as f64 / rate.max(1e-9))
}

/// A byte-count bar for reading files.
pub(crate) fn bytes_bar(msg: &'static str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} {bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ) {
        bar.set_style(style);
    }
    bar.set_message(msg);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_and_eta_extrapolate_the_pace_so_far() {
        assert_eq!(rate_and_eta(300, 1200, 10.0), (30.0, 30.0));
        assert_eq!(rate_and_eta(1200, 1200, 10.0).1, 0.0);
        // More done than planned (a total that was an estimate): no negative ETA.
        assert_eq!(rate_and_eta(1500, 1200, 10.0).1, 0.0);
    }

    #[test]
    fn counts_from_many_threads_and_stays_quiet_between_log_lines() {
        // Off a terminal (tests' stderr is captured): no bar, and no log
        // line before LOG_EVERY has passed.
        let p = Progress::new("test", 4000, "users");
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| (0..1000).for_each(|_| p.inc(1)));
            }
        });
        assert_eq!(p.done.load(Ordering::Relaxed), 4000);
        assert_eq!(p.logged_ms.load(Ordering::Relaxed), 0);
    }
}
