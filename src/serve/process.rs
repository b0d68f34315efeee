//! Process metrics under the names Prometheus client libraries use
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...), read
//! from `/proc` on each scrape. Off Linux (or when `/proc` is unreadable) the
//! lines are left out rather than reported as zero.

use std::fmt::Write;

/// Clock ticks per second of `/proc/<pid>/stat` times. Linux fixes USER_HZ
/// at 100 in its user-space ABI on every architecture we build for.
const USER_HZ: f64 = 100.0;

/// Figures read from `/proc/self`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProcessStats {
    /// User + system CPU seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size, bytes.
    pub resident_bytes: Option<u64>,
    /// Virtual memory size, bytes.
    pub virtual_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// Soft limit on open file descriptors.
    pub max_fds: Option<u64>,
    /// Start time, seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
}

/// Fields of `/proc/<pid>/stat` after the command name (which may contain
/// spaces and parentheses, so the split is at the last `)`).
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().collect())
}

/// Parses `/proc/self/stat`, `/proc/self/status`, `/proc/self/limits` and the
/// `btime` line of `/proc/stat` (any may be empty when unreadable).
pub fn parse(stat: &str, status: &str, limits: &str, proc_stat: &str) -> ProcessStats {
    let f = stat_fields(stat).unwrap_or_default();
    // After the name: state is field 3 of stat(5), so field n is f[n - 3].
    let num = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let cpu_seconds = match (num(14), num(15)) {
        (Some(u), Some(s)) => Some((u + s) as f64 / USER_HZ),
        _ => None,
    };
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .map(|v| v * 1024)
    };
    let btime = proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    let start_time_seconds = match (btime, num(22)) {
        (Some(b), Some(t)) => Some(b as f64 + t as f64 / USER_HZ),
        _ => None,
    };
    let max_fds = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok());
    ProcessStats {
        cpu_seconds,
        resident_bytes: kb("VmRSS:"),
        virtual_bytes: kb("VmSize:"),
        open_fds: None,
        max_fds,
        start_time_seconds,
    }
}

/// Reads the current process's figures.
pub fn read() -> ProcessStats {
    let rd = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let mut s = parse(
        &rd("/proc/self/stat"),
        &rd("/proc/self/status"),
        &rd("/proc/self/limits"),
        &rd("/proc/stat"),
    );
    s.open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as u64);
    s
}

/// Appends the exposition lines of `s` to `out`.
pub fn render(s: &ProcessStats, out: &mut String) {
    let mut line = |name: &str, kind: &str, help: &str, v: Option<String>| {
        if let Some(v) = v {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
    };
    line(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        s.cpu_seconds.map(|v| v.to_string()),
    );
    line(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        s.resident_bytes.map(|v| v.to_string()),
    );
    line(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        s.virtual_bytes.map(|v| v.to_string()),
    );
    line(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        s.open_fds.map(|v| v.to_string()),
    );
    line(
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
        s.max_fds.map(|v| v.to_string()),
    );
    line(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        s.start_time_seconds.map(|v| v.to_string()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files_including_a_name_with_spaces() {
        let stat = "4242 (anirec serve) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 12345 3133440 358 18446744073709551615";
        let status = "Name:\tanirec\nVmSize:\t   3892 kB\nVmRSS:\t    2100 kB\n";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                20000                files\n";
        let s = parse(stat, status, limits, "cpu 1 2 3\nbtime 1796023476\n");
        assert_eq!(s.cpu_seconds, Some(3.0));
        assert_eq!(s.resident_bytes, Some(2100 * 1024));
        assert_eq!(s.virtual_bytes, Some(3892 * 1024));
        assert_eq!(s.max_fds, Some(20000));
        assert_eq!(s.start_time_seconds, Some(1796023476.0 + 123.45));
        // Garbage gives no figures, not a panic.
        assert_eq!(parse("", "", "", ""), ProcessStats::default());
        assert_eq!(
            parse("1 (x", "VmRSS: lots", "", "btime x"),
            ProcessStats::default()
        );
    }

    #[test]
    fn reads_this_process() {
        let s = read();
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(s.resident_bytes.is_some_and(|b| b > 0));
            assert!(s.open_fds.is_some_and(|n| n > 0));
            assert!(s.start_time_seconds.is_some_and(|t| t > 1.5e9));
        }
        let mut out = String::new();
        render(&s, &mut out);
        assert!(out.is_empty() || out.contains("# TYPE process_cpu_seconds_total counter"));
    }
}
