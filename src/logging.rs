//! Logging for both binaries: `tracing` to stderr, as text for people or as
//! one JSON object per line for log collectors, with `log` records (reqwest,
//! rustls, burn) bridged in so `RUST_LOG=reqwest=debug` shows them.
//!
//! The JSON lines carry `severity` (DEBUG, INFO, WARNING, ERROR), which is
//! the field Cloud Logging on GKE reads; without it every line of a
//! container's stderr would be filed as an error.

use std::fmt;
use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Environment variable that selects the format when no flag does.
pub const LOG_FORMAT_ENV: &str = "ANIREC_LOG_FORMAT";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(any(feature = "train", feature = "serve"), derive(clap::ValueEnum))]
pub enum LogFormat {
    /// Human-readable lines (colour on a terminal).
    #[default]
    Text,
    /// One JSON object per line with `time`, `severity`, `target`, `message`
    /// and the event's fields (Cloud Logging's structured format).
    Json,
}

impl LogFormat {
    /// The format named by `ANIREC_LOG_FORMAT` (`text` or `json`); text when
    /// unset or unrecognised (a typo must not silence the logs).
    pub fn from_env() -> Self {
        match std::env::var(LOG_FORMAT_ENV) {
            Ok(v) if v.trim().eq_ignore_ascii_case("json") => LogFormat::Json,
            _ => LogFormat::Text,
        }
    }
}

/// Installs the global subscriber (stderr; `RUST_LOG` filters, default
/// `default_filter`) and the `log` bridge. A second call is a no-op.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    bridge_log(filter.max_level_hint());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.with_ansi(false).event_format(JsonLines).try_init(),
    };
}

/// Routes `log` records into tracing. `log` drops records above its global
/// max level before the bridge sees them, so that level follows the filter.
fn bridge_log(hint: Option<tracing_subscriber::filter::LevelFilter>) {
    use tracing_subscriber::filter::LevelFilter;
    let max = match hint {
        None => log::LevelFilter::Trace,
        Some(h) if h == LevelFilter::OFF => log::LevelFilter::Off,
        Some(h) if h == LevelFilter::ERROR => log::LevelFilter::Error,
        Some(h) if h == LevelFilter::WARN => log::LevelFilter::Warn,
        Some(h) if h == LevelFilter::INFO => log::LevelFilter::Info,
        Some(h) if h == LevelFilter::DEBUG => log::LevelFilter::Debug,
        Some(_) => log::LevelFilter::Trace,
    };
    let tracer: &'static tracing_log::LogTracer =
        Box::leak(Box::new(tracing_log::LogTracer::new()));
    if log::set_logger(tracer).is_ok() {
        log::set_max_level(max);
    }
}

/// Cloud Logging's name for a tracing level.
fn severity(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        // Cloud Logging has no TRACE.
        _ => "DEBUG",
    }
}

/// The JSON event format (see the module docs).
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut obj = Map::new();
        obj.insert("time".into(), Value::String(now_rfc3339_millis()));
        obj.insert("severity".into(), severity(meta.level()).into());
        // Bridged `log` records name their real target in a field.
        obj.insert("target".into(), meta.target().into());
        let mut fields = JsonFields(Map::new());
        event.record(&mut fields);
        if let Some(Value::String(t)) = fields.0.remove("log.target") {
            obj.insert("target".into(), Value::String(t));
        }
        fields.0.retain(|k, _| !k.starts_with("log."));
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<Value> = scope
                .from_root()
                .map(|s| Value::String(s.name().to_string()))
                .collect();
            obj.insert("spans".into(), Value::Array(spans));
        }
        obj.extend(fields.0);
        let line = serde_json::to_string(&Value::Object(obj)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{line}")
    }
}

/// Collects an event's fields as JSON values (`message` included).
struct JsonFields(Map<String, Value>);

impl Visit for JsonFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64(value)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(value.to_string()));
        self.0.insert(field.name().into(), v);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

/// `2026-11-30T07:31:40.123Z`.
fn now_rfc3339_millis() -> String {
    let ms = crate::util::time::unix_millis();
    let s = crate::util::time::rfc3339(ms / 1000);
    format!("{}.{:03}Z", s.trim_end_matches('Z'), ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_severity_message_and_fields() {
        let buf = Buf::default();
        let w = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_writer(move || w.clone())
            .with_max_level(Level::DEBUG)
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(sub, || {
            tracing::warn!(rows = 5u64, ratio = 0.5, path = %"a b", "slow \"read\"");
            tracing::debug!("quiet");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["severity"], "WARNING");
        assert_eq!(lines[0]["message"], "slow \"read\"");
        assert_eq!(lines[0]["rows"], 5);
        assert_eq!(lines[0]["ratio"], 0.5);
        assert_eq!(lines[0]["path"], "a b");
        assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1]["severity"], "DEBUG");
    }

    #[test]
    fn log_records_reach_tracing_with_their_target() {
        bridge_log(None);
        let buf = Buf::default();
        let w = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_writer(move || w.clone())
            .with_env_filter(EnvFilter::new("reqwest=debug"))
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(sub, || {
            log::debug!(target: "reqwest::connect", "starting new connection");
            log::debug!(target: "hyper", "filtered out");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["target"], "reqwest::connect", "{text}");
        assert_eq!(line["message"], "starting new connection");
        assert_eq!(line["severity"], "DEBUG");
    }
}
