//! Delivery: turns journalled events into Comet requests, in sequence order,
//! batching metrics and parameters, with backoff, Retry-After, a per-minute
//! rate limit per data type, and acknowledgement records. Used by the
//! background sender thread of a run and by `anirec comet sync`.

use super::client::{Client, CometError};
use super::outbox::{Entry, Event, JournalReader, Outbox, State};
use crate::track::FileKind;
use serde_json::{json, Value};
use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Values per metric/parameter batch (the SDK's own limit).
const BATCH: usize = 1000;
/// Entries read ahead of the sender (bounds memory whatever the journal size).
const READ_AHEAD: usize = 10_000;

/// Documented per-minute limits, per data type; we count requests (a batch
/// is one request) and space them evenly.
fn min_gap(kind: usize) -> Duration {
    let per_min = match kind {
        0 => 12_000.0, // metrics
        1 => 10_000.0, // parameters
        _ => 8_000.0,  // everything else
    };
    Duration::from_secs_f64(60.0 / per_min)
}

/// Exponential backoff with full jitter: uniform in [0.5, 1] × min(30 s, 0.5 s × 2^n).
pub(crate) fn backoff(attempt: u32) -> Duration {
    let cap = (0.5 * 2f64.powi(attempt.min(8) as i32)).min(30.0);
    let nanos = Instant::now().elapsed().subsec_nanos() as u64
        ^ (std::process::id() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64);
    let jitter = 0.5 + 0.5 * ((nanos % 1_000_003) as f64 / 1_000_003.0);
    Duration::from_secs_f64(cap * jitter)
}

/// Delivery state for one run.
pub(crate) struct Delivery {
    pub client: Client,
    pub ob: Outbox,
    pub st: State,
    run_dir: PathBuf,
    last: [Option<Instant>; 3],
    /// Events acknowledged in this session.
    pub delivered: u64,
    /// Link printed once.
    announced: bool,
}

impl Delivery {
    pub fn new(client: Client, run_dir: &Path) -> std::io::Result<Self> {
        let ob = Outbox::open(run_dir)?;
        let st = ob.state()?;
        Ok(Self {
            client,
            ob,
            st,
            run_dir: run_dir.to_path_buf(),
            last: [None; 3],
            delivered: 0,
            announced: false,
        })
    }

    fn save(&self) -> Result<(), CometError> {
        self.ob
            .save_state(&self.st)
            .map_err(|e| CometError::File(format!("outbox state: {e}")))
    }

    /// Makes sure the experiment exists, creating it at most once: the
    /// `create_sent` flag is persisted before the request, and a create
    /// whose outcome is unknown is resolved by looking the name up.
    pub fn ensure_experiment(&mut self) -> Result<String, CometError> {
        if let Some(k) = &self.st.key {
            return Ok(k.clone());
        }
        if self.st.create_sent {
            let found = self
                .client
                .experiments(&self.st.workspace, &self.st.project)?
                .into_iter()
                .find(|e| e.experiment_name.as_deref() == Some(&self.st.name));
            if let Some(e) = found {
                self.st.link = Some(self.link(&e.experiment_key));
                self.st.key = Some(e.experiment_key.clone());
                self.save()?;
                self.announce();
                return Ok(e.experiment_key);
            }
        }
        self.st.create_sent = true;
        self.save()?;
        let (key, link) =
            self.client
                .create_experiment(&self.st.workspace, &self.st.project, &self.st.name)?;
        self.st.link = Some(link.unwrap_or_else(|| self.link(&key)));
        self.st.key = Some(key.clone());
        self.save()?;
        self.announce();
        Ok(key)
    }

    fn link(&self, key: &str) -> String {
        format!(
            "{}/{}/{}/{}",
            self.client.settings().root,
            self.st.workspace,
            self.st.project,
            key
        )
    }

    fn announce(&mut self) {
        if !self.announced {
            if let Some(l) = &self.st.link {
                eprintln!("Comet: experiment {l}");
            }
            self.announced = true;
        }
    }

    fn pace(&mut self, kind: usize) {
        if let Some(t) = self.last[kind] {
            let gap = min_gap(kind);
            let since = t.elapsed();
            if since < gap {
                std::thread::sleep(gap - since);
            }
        }
        self.last[kind] = Some(Instant::now());
    }

    /// Sends the leading batch of `q` (one request group) and acknowledges
    /// it. Refused-for-good events are recorded as rejected and acked too.
    pub fn send_next(&mut self, q: &mut VecDeque<Entry>) -> Result<(), CometError> {
        let key = self.ensure_experiment()?;
        let Some(first) = q.front() else {
            return Ok(());
        };
        let n = match &first.ev {
            Event::Metric { .. } => q
                .iter()
                .take(BATCH)
                .take_while(|e| matches!(e.ev, Event::Metric { .. }))
                .count(),
            Event::Param { .. } => q
                .iter()
                .take(BATCH)
                .take_while(|e| matches!(e.ev, Event::Param { .. }))
                .count(),
            _ => 1,
        };
        let batch: Vec<Entry> = q.iter().take(n).cloned().collect();
        let last_seq = batch[n - 1].seq;
        let res = self.send_batch(&key, &batch);
        match res {
            Ok(()) => {}
            Err(e) if e.retryable() || e.fatal() => return Err(e),
            Err(e) => {
                tracing::warn!("Comet refused events {}..={last_seq}: {e}", batch[0].seq);
                self.st.rejected.extend(batch.iter().map(|e| e.seq));
                self.save()?;
            }
        }
        self.ob
            .ack(last_seq)
            .map_err(|e| CometError::File(format!("outbox ack: {e}")))?;
        self.delivered += n as u64;
        q.drain(..n);
        Ok(())
    }

    fn send_batch(&mut self, key: &str, batch: &[Entry]) -> Result<(), CometError> {
        let c = &self.client;
        match &batch[0].ev {
            Event::Metric { .. } => {
                let mut batch: Vec<&Entry> = batch.iter().collect();
                if self.st.uncertain {
                    // An earlier attempt may have landed: send only what
                    // Comet does not hold yet.
                    let held: HashSet<(String, u64)> = c
                        .all_metrics(key)?
                        .into_iter()
                        .filter_map(|m| Some((m.metric_name, m.step?)))
                        .collect();
                    batch.retain(|e| match &e.ev {
                        Event::Metric { name, step, .. } => !held.contains(&(name.clone(), *step)),
                        _ => true,
                    });
                }
                if batch.is_empty() {
                    self.st.uncertain = false;
                    self.save()?;
                    return Ok(());
                }
                let values: Vec<Value> = batch
                    .iter()
                    .filter_map(|e| match &e.ev {
                        Event::Metric {
                            name,
                            value,
                            step,
                            epoch,
                            ts,
                        } => Some(json!({
                            "metricName": trunc(name, 100),
                            "metricValue": num(*value),
                            "step": step,
                            "epoch": epoch,
                            "context": null,
                            "timestamp": ts,
                        })),
                        _ => None,
                    })
                    .collect();
                // Persist "a batch may be in flight" before it goes out, so a
                // crash or dropped connection leads to a read-back first.
                if !self.st.uncertain {
                    self.st.uncertain = true;
                    self.save()?;
                }
                self.pace(0);
                self.client.clientlib_post(
                    "batch/logger/experiment/metric",
                    &json!({"experimentKey": key, "values": values}),
                )?;
                self.st.uncertain = false;
                self.save()
            }
            Event::Param { .. } => {
                let ts = crate::util::time::unix_millis();
                let values: Vec<Value> = batch
                    .iter()
                    .filter_map(|e| match &e.ev {
                        Event::Param { name, value } => Some(json!({
                            "parameterName": trunc(name, 100),
                            "parameterValue": param_value(value),
                            "step": null,
                            "source": "manual",
                            "context": null,
                            "timestamp": ts,
                        })),
                        _ => None,
                    })
                    .collect();
                self.pace(1);
                self.client
                    .clientlib_post(
                        "batch/logger/experiment/parameter",
                        &json!({"experimentKey": key, "values": values}),
                    )
                    .map(drop)
            }
            ev => {
                self.pace(2);
                self.send_one(key, ev)
            }
        }
    }

    fn send_one(&self, key: &str, ev: &Event) -> Result<(), CometError> {
        let c = &self.client;
        match ev {
            Event::Other { key: k, value } => c
                .rest_post(
                    "write/experiment/log-other",
                    &json!({"experimentKey": key, "key": trunc(k, 100), "value": trunc(value, 1000),
                            "timestamp": crate::util::time::unix_millis()}),
                )
                .map(drop),
            Event::Tags { tags } => c
                .rest_post(
                    "write/experiment/tags",
                    &json!({"experimentKey": key, "addedTags": tags}),
                )
                .map(drop),
            Event::Git {
                commit,
                root,
                branch,
                remote,
                user,
                patch,
                ..
            } => {
                c.rest_post(
                    "write/experiment/git/metadata",
                    &json!({"experimentKey": key, "user": user, "root": root.as_deref().unwrap_or(commit),
                            "branch": branch.as_ref().map(|b| format!("refs/heads/{b}")),
                            "parent": commit,
                            "origin": remote.as_deref().map(crate::util::url::strip_credentials)}),
                )?;
                if let Some(p) = patch {
                    c.upload(
                        "write/experiment/git/patch",
                        &self.resolve(p)?,
                        &[("experimentKey", key.to_string())],
                        None,
                    )?;
                }
                Ok(())
            }
            Event::System { info } => {
                let mut extra: Vec<Value> = vec![
                    json!({"key": "cpus", "value": info.cpus.to_string()}),
                    json!({"key": "memory_bytes", "value": info.memory_bytes.to_string()}),
                ];
                extra.extend(
                    info.versions
                        .iter()
                        .map(|(k, v)| json!({"key": format!("version.{k}"), "value": v})),
                );
                let body = json!({
                    "experimentKey": key, "command": info.command, "hostname": info.hostname,
                    "os": info.os, "osType": info.os_type, "osRelease": info.os_release,
                    "machine": info.machine, "processor": info.processor, "pid": info.pid,
                    "user": info.user, "executable": info.executable,
                    "installedPackages": info.versions.iter().map(|(k, v)| format!("{k}=={v}")).collect::<Vec<_>>(),
                    "logAdditionalSystemInfoList": extra,
                });
                c.clientlib_post("rest/v2/write/experiment/system-details", &body)
                    .map(drop)
            }
            Event::File {
                kind,
                path,
                name,
                group,
                id,
            } => {
                let ext = Path::new(name)
                    .extension()
                    .map(|e| e.to_string_lossy().to_string())
                    .unwrap_or_default();
                let mut q = vec![
                    ("experimentKey", key.to_string()),
                    ("fileName", name.clone()),
                    ("extension", ext),
                    // A retry replaces, never duplicates.
                    ("overwrite", "true".to_string()),
                ];
                match kind {
                    FileKind::Asset => {}
                    FileKind::Image => q.push(("type", "image".into())),
                    FileKind::Model => {
                        q.push(("type", "model-element".into()));
                        q.push((
                            "groupingName",
                            group.clone().unwrap_or_else(|| "model".into()),
                        ));
                    }
                }
                c.upload(
                    "write/experiment/upload-asset",
                    &self.resolve(path)?,
                    &q,
                    Some(&json!({"anirec_id": id})),
                )
                .map(drop)
            }
            Event::End {
                start_ms,
                end_ms,
                failed,
                error,
            } => {
                c.rest_post(
                    "write/experiment/set-start-end-time",
                    &json!({"experimentKey": key, "startTimeMillis": start_ms, "endTimeMillis": end_ms}),
                )?;
                c.rest_post(
                    "write/experiment/update-status",
                    &json!({"experimentKey": key, "isAlive": false, "hasCrashed": failed, "error": error}),
                )
                .map(drop)
            }
            Event::Metric { .. } | Event::Param { .. } => Ok(()),
        }
    }

    /// The file a journal entry names, inside the run directory only; any
    /// other path is refused (and the event recorded as rejected).
    fn resolve(&self, p: &str) -> Result<PathBuf, CometError> {
        super::outbox::run_relative(p)
            .map(|rel| self.run_dir.join(rel))
            .ok_or_else(|| {
                CometError::File(format!(
                    "the outbox journal names {p:?}, which is not a path inside {}; not uploaded",
                    self.run_dir.display()
                ))
            })
    }
}

fn trunc(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Metric values: finite numbers as numbers, the rest as Comet's strings.
fn num(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        json!(super::outbox::nonfinite(v))
    }
}

/// Parameters are journalled as text; send numbers and booleans typed.
pub(crate) fn param_value(v: &str) -> Value {
    if let Ok(i) = v.parse::<i64>() {
        return json!(i);
    }
    if let Ok(f) = v.parse::<f64>() {
        if f.is_finite() {
            return json!(f);
        }
    }
    match v {
        "true" => json!(true),
        "false" => json!(false),
        _ => json!(v),
    }
}

/// What the pump asks of its driver.
pub(crate) trait Control {
    /// No more events will be journalled (the run ended / this is a sync).
    fn finishing(&mut self) -> bool;
    /// Waits `d` (idle when `backoff` is false). False: stop now.
    fn wait(&mut self, d: Duration, backoff: bool) -> bool;
}

/// Outcome of a pump.
#[derive(Debug, Default, Clone, Copy)]
pub struct Report {
    /// Acked in this session.
    pub delivered: u64,
    /// Whether an auth error stopped delivery.
    pub halted: bool,
}

/// Delivers journal entries past the acked mark until the journal is drained
/// and `ctl` says the run is finishing, or `ctl` says stop.
pub(crate) fn pump(d: &mut Delivery, ctl: &mut dyn Control) -> Report {
    let mut reader = match JournalReader::open(&d.ob.events_path()) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("Comet outbox unreadable: {e}");
            return Report::default();
        }
    };
    let acked = d.ob.acked().unwrap_or(0);
    let mut q: VecDeque<Entry> = VecDeque::new();
    let mut attempt = 0u32;
    let mut halted = false;
    loop {
        let mut read_any = false;
        while q.len() < READ_AHEAD {
            match reader.next_entry() {
                Ok(Some(e)) if e.seq > acked => {
                    q.push_back(e);
                    read_any = true;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        if read_any {
            // Durable before sent.
            let _ = reader.sync();
        }
        if q.is_empty() || halted {
            // Read once more after seeing "finishing": the final events were
            // written before the run said so.
            if ctl.finishing() {
                if let Ok(Some(e)) = reader.next_entry() {
                    if e.seq > acked {
                        q.push_back(e);
                        continue;
                    }
                }
                break;
            }
            if !ctl.wait(Duration::from_millis(100), false) {
                break;
            }
            continue;
        }
        match d.send_next(&mut q) {
            Ok(()) => {
                if attempt > 0 {
                    tracing::info!("Comet reachable again");
                }
                attempt = 0;
            }
            Err(e) if e.fatal() => {
                tracing::warn!("Comet: {e}; events stay in the outbox (anirec comet sync)");
                halted = true;
            }
            Err(e) => {
                if attempt == 0 {
                    tracing::warn!("Comet: {e}; retrying in the background");
                }
                if e.uncertain() && matches!(q.front().map(|x| &x.ev), Some(Event::Metric { .. })) {
                    d.st.uncertain = true;
                    let _ = d.ob.save_state(&d.st);
                }
                let wait = match e.retry_after() {
                    Some(s) => Duration::from_secs_f64(s.clamp(0.0, 600.0) + 0.5),
                    None if matches!(e, CometError::Status { status: 429, .. }) => {
                        Duration::from_secs(60)
                    }
                    None => backoff(attempt),
                };
                attempt += 1;
                if !ctl.wait(wait, true) {
                    break;
                }
            }
        }
    }
    Report {
        delivered: d.delivered,
        halted,
    }
}

/// Driver for `anirec comet sync`: sleeps for real, gives up at a deadline.
pub(crate) struct Deadline(pub Instant);

impl Control for Deadline {
    fn finishing(&mut self) -> bool {
        true
    }
    fn wait(&mut self, d: Duration, _backoff: bool) -> bool {
        let now = Instant::now();
        if now + d > self.0 {
            return false;
        }
        std::thread::sleep(d);
        true
    }
}

/// Messages from the run to its sender thread.
pub(crate) enum Msg {
    /// New events are in the journal.
    Wake,
    /// The run ended: drain until this deadline; while Comet is failing,
    /// stop after `grace`.
    Finish { deadline: Instant, grace: Duration },
}

/// Driver for the background thread of a run.
pub(crate) struct Channel {
    pub rx: crossbeam_channel::Receiver<Msg>,
    pub finish: Option<(Instant, Instant)>,
}

impl Channel {
    fn take(&mut self, m: Msg) {
        if let Msg::Finish { deadline, grace } = m {
            self.finish = Some((deadline, Instant::now() + grace));
        }
    }
}

impl Control for Channel {
    fn finishing(&mut self) -> bool {
        while let Ok(m) = self.rx.try_recv() {
            self.take(m);
        }
        self.finish.is_some()
    }
    fn wait(&mut self, d: Duration, backoff: bool) -> bool {
        let until = Instant::now() + d;
        loop {
            let now = Instant::now();
            if let Some((deadline, grace_end)) = self.finish {
                // The run is over: do not hold it hostage to an outage.
                if now >= deadline || (backoff && now >= grace_end) {
                    return false;
                }
            }
            if now >= until {
                return true;
            }
            let mut end = until;
            if let Some((deadline, grace_end)) = self.finish {
                end = end.min(deadline);
                if backoff {
                    end = end.min(grace_end);
                }
            }
            match self.rx.recv_timeout(end.saturating_duration_since(now)) {
                Ok(Msg::Wake) if !backoff => return true,
                Ok(m) => self.take(m),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return false,
            }
        }
    }
}
