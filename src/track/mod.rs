//! Experiment tracking. The local run store is always on and is the source of
//! truth; remote trackers mirror it through the [`Tracker`] interface.

pub mod comet;
pub mod local;
pub mod status;
pub mod store;

pub use status::RunStatus;

use std::path::PathBuf;

/// What kind of file an [`Tracker::log_file`] call uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// A plain asset (config, summary, reports).
    Asset,
    /// An image (plots).
    Image,
    /// One file of a model; `name` is the model name.
    Model,
}

/// One remote tracking backend (Comet), mirroring what the local run store
/// records. Object-safe: the pipeline of a run holds its backends in a
/// [`Fanout`] and is the only holder — training and evaluation report
/// through the run's metric callback (`FitContext::on_metric`), a sweep
/// trial is itself a run, and promotion records into `PROMOTED.json` and
/// Comet's model registry. Methods never fail the run: a backend that
/// cannot deliver keeps the event for later.
pub trait Tracker: Send {
    /// Flattened parameters (`a.b.c` → value).
    fn log_params(&mut self, params: &[(String, String)]);
    /// One metric point.
    fn log_metric(
        &mut self,
        name: &str,
        value: f64,
        step: u64,
        epoch: Option<u32>,
        timestamp_ms: u64,
    );
    /// A free-form key/value ("other").
    fn log_other(&mut self, key: &str, value: &str);
    fn add_tags(&mut self, tags: &[String]);
    /// Git state and, when the tree is dirty, the patch.
    fn log_git(&mut self, git: &store::GitInfo, patch: Option<&str>);
    /// System details (OS, CPU, memory, versions, command line).
    fn log_system(&mut self, info: &SystemInfo);
    /// A file of the run: `path` on disk, `name` its logical name; for
    /// [`FileKind::Model`], `group` names the model.
    fn log_file(&mut self, kind: FileKind, path: PathBuf, name: &str, group: Option<&str>);
    /// Marks the run ended with `status` (`error`: a failed run's message);
    /// returns a one-line delivery report, if any.
    fn end(&mut self, status: RunStatus, error: Option<&str>) -> Option<String>;
}

/// Sends every call to each of its trackers.
#[derive(Default)]
pub struct Fanout {
    /// The trackers.
    pub trackers: Vec<Box<dyn Tracker>>,
}

impl Tracker for Fanout {
    fn log_params(&mut self, params: &[(String, String)]) {
        self.trackers.iter_mut().for_each(|t| t.log_params(params));
    }
    fn log_metric(&mut self, name: &str, value: f64, step: u64, epoch: Option<u32>, ts: u64) {
        for t in &mut self.trackers {
            t.log_metric(name, value, step, epoch, ts);
        }
    }
    fn log_other(&mut self, key: &str, value: &str) {
        self.trackers
            .iter_mut()
            .for_each(|t| t.log_other(key, value));
    }
    fn add_tags(&mut self, tags: &[String]) {
        self.trackers.iter_mut().for_each(|t| t.add_tags(tags));
    }
    fn log_git(&mut self, git: &store::GitInfo, patch: Option<&str>) {
        self.trackers.iter_mut().for_each(|t| t.log_git(git, patch));
    }
    fn log_system(&mut self, info: &SystemInfo) {
        self.trackers.iter_mut().for_each(|t| t.log_system(info));
    }
    fn log_file(&mut self, kind: FileKind, path: PathBuf, name: &str, group: Option<&str>) {
        for t in &mut self.trackers {
            t.log_file(kind, path.clone(), name, group);
        }
    }
    fn end(&mut self, status: RunStatus, error: Option<&str>) -> Option<String> {
        let lines: Vec<String> = self
            .trackers
            .iter_mut()
            .filter_map(|t| t.end(status, error))
            .collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }
}

/// Host and process details sent as Comet "system details".
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SystemInfo {
    /// Command line.
    pub command: Vec<String>,
    pub hostname: String,
    /// e.g. `Linux-6.1-x86_64`.
    pub os: String,
    /// e.g. `Linux`.
    pub os_type: String,
    /// Kernel release.
    pub os_release: String,
    /// CPU architecture.
    pub machine: String,
    /// CPU model.
    pub processor: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// Total memory in bytes (0 when unknown).
    pub memory_bytes: u64,
    /// Process id.
    pub pid: u32,
    /// User name.
    pub user: String,
    /// Executable path.
    pub executable: String,
    /// Versions (anirec and main libraries).
    pub versions: Vec<(String, String)>,
}

impl SystemInfo {
    /// Reads this machine's details (Linux `/proc` where available).
    pub fn detect(versions: &std::collections::BTreeMap<String, String>, host: &str) -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let os_release = read("/proc/sys/kernel/osrelease").trim().to_string();
        let processor = read("/proc/cpuinfo")
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let memory_bytes = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024);
        let os_type = match std::env::consts::OS {
            "linux" => "Linux",
            "macos" => "Darwin",
            "windows" => "Windows",
            o => o,
        }
        .to_string();
        Self {
            command: std::env::args().collect(),
            hostname: host.to_string(),
            os: format!("{os_type}-{os_release}-{}", std::env::consts::ARCH),
            os_type,
            os_release,
            machine: std::env::consts::ARCH.to_string(),
            processor,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_bytes,
            pid: std::process::id(),
            user: std::env::var("USER").unwrap_or_default(),
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            versions: versions
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}
