//! Comet's offline archive (what `OfflineExperiment` writes and `comet
//! upload` reads): a zip with `experiment.json`, `messages.json` (JSON
//! lines `{"type", "payload"}`) and one member per uploaded file, all at the
//! root. Schema: shared/reference/comet-rest-api.md §7; every payload here
//! matches the uploader's JSON schemas exactly (an extra key inside
//! `metric` would make `comet upload` drop every later metric).

use super::outbox::{Entry, Event, State};
use super::sender::param_value;
use crate::track::FileKind;
use crate::util::url::strip_credentials;
use serde_json::{json, Value};
use std::io::{self, Write};
use std::path::Path;
use zip::write::SimpleFileOptions;

/// Writes the archive of a run's journal to `out` (atomically).
/// The archive's messages and member files, built from the journal in order.
struct Messages {
    msgs: Vec<Value>,
    files: Vec<(String, std::path::PathBuf)>,
    tags: Vec<String>,
    start: Option<u64>,
    stop: Option<u64>,
    /// Figures so far (Comet numbers them).
    fig: u32,
    /// Timestamp given to events that carry none: the last metric's.
    now: u64,
}

impl Messages {
    /// One journal entry as the official client's offline messages.
    fn add(&mut self, run_dir: &Path, offline_id: &str, e: &Entry) {
        match &e.ev {
            Event::Param { name, value } => self.msgs.push(json!({"type": "parameter_msg", "payload": {
                "context": null, "local_timestamp": self.now,
                "param": {"paramName": name, "paramValue": param_value(value), "source": "manual", "step": null}}})),
            Event::Metric { name, value, step, epoch, ts } => {
                self.now = *ts;
                let v = if value.is_finite() { json!(value) } else { json!(super::outbox::nonfinite(*value)) };
                self.msgs.push(json!({"type": "metric_msg", "payload": {
                    "context": null, "local_timestamp": ts,
                    "metric": {"epoch": epoch, "metricName": name, "metricValue": v, "step": step}}}));
            }
            Event::Other { key, value } => self.msgs.push(json!({"type": "log_other", "payload": {"key": key, "value": value}})),
            Event::Tags { tags: t } => {
                for x in t {
                    if !self.tags.contains(x) {
                        self.tags.push(x.clone());
                    }
                }
            }
            Event::Git { commit, root, branch, remote, user, patch, .. } => {
                self.msgs.push(json!({"type": "git_metadata", "payload": {"git_metadata": {
                    "branch": branch.as_ref().map(|b| format!("refs/heads/{b}")),
                    "origin": remote.as_deref().map(strip_credentials), "parent": commit,
                    "root": root.as_deref().unwrap_or(commit), "user": user}}}));
                if let Some(p) = patch.as_deref().and_then(|p| inside(run_dir, p)) {
                    let member = format!("file-{}-git_diff.patch", e.seq);
                    self.files.push((member.clone(), p));
                    self.msgs.push(file_msg(&member, "asset", json!({"assetId": hex_id(&member, offline_id),
                        "context": null, "extension": "patch", "fileName": "git_diff.patch",
                        "overwrite": false, "step": null}) , self.now));
                }
            }
            Event::System { info } => {
                self.msgs.push(json!({"type": "system_details", "payload": {
                    "command": info.command, "env": null, "hostname": info.hostname, "ip": "",
                    "machine": info.machine, "os": info.os, "os_release": info.os_release,
                    "os_type": info.os_type, "pid": info.pid, "processor": info.processor,
                    "python_exe": info.executable, "python_version": "n/a",
                    "python_version_verbose": format!("anirec {}", env!("CARGO_PKG_VERSION")),
                    "user": info.user}}));
                self.msgs.push(json!({"type": "installed_packages", "payload": {"installed_packages":
                    info.versions.iter().map(|(k, v)| format!("{k}=={v}")).collect::<Vec<_>>()}}));
                for (k, v) in [("cpus", info.cpus.to_string()), ("memory_bytes", info.memory_bytes.to_string())] {
                    self.msgs.push(json!({"type": "system_info", "payload": {"system_info": {"key": k, "value": v}}}));
                }
            }
            Event::File { kind, path, name, group, id } => {
                let Some(p) = inside(run_dir, path) else { return };
                let base = name.replace(['/', '\\'], "_");
                let member = format!("file-{}-{base}", e.seq);
                self.files.push((member.clone(), p));
                let ext = Path::new(name).extension().map(|x| x.to_string_lossy().to_string()).unwrap_or_default();
                let m = match kind {
                    FileKind::Asset => file_msg(&member, "asset", json!({"assetId": id, "context": null,
                        "extension": ext, "fileName": name, "overwrite": false, "step": null}) , self.now),
                    FileKind::Image => {
                        self.fig += 1;
                        file_msg(&member, "visualization", json!({"context": null, "extension": ext,
                            "figCounter": self.fig - 1, "figName": name, "imageId": id, "overwrite": false, "step": null}) , self.now)
                    }
                    FileKind::Model => file_msg(&member, "model-element", json!({"assetId": id, "context": null,
                        "extension": ext, "fileName": name, "groupingName": group.as_deref().unwrap_or("model"),
                        "overwrite": false, "step": null, "type": "model-element"}) , self.now),
                };
                self.msgs.push(m);
            }
            Event::End { start_ms, end_ms, failed, error } => {
                self.start = Some(*start_ms);
                self.stop = Some(*end_ms);
                self.msgs.push(json!({"type": "log_other", "payload": {"key": "anirec_status",
                    "value": if *failed { format!("failed: {}", error.as_deref().unwrap_or("")) } else { "done".into() }}}));
            }
        }
    }
}

pub fn write(
    run_dir: &Path,
    st: &State,
    offline_id: &str,
    entries: &[Entry],
    out: &Path,
) -> io::Result<()> {
    let first_ts = entries
        .iter()
        .find_map(|e| match e.ev {
            Event::Metric { ts, .. } => Some(ts),
            _ => None,
        })
        .unwrap_or_else(crate::util::time::unix_millis);
    let mut m = Messages {
        msgs: vec![json!({"type": "log_other", "payload": {"key": "Name", "value": st.name}})],
        files: Vec::new(),
        tags: Vec::new(),
        start: None,
        stop: None,
        fig: 0,
        now: first_ts,
    };
    for e in entries {
        m.add(run_dir, offline_id, e);
    }
    let start = m.start.unwrap_or(first_ts);
    let stop = m
        .stop
        .unwrap_or_else(crate::util::time::unix_millis)
        .max(start);
    let experiment = json!({
        "offline_id": offline_id,
        "project_name": Some(&st.project).filter(|p| !p.is_empty()),
        "workspace": Some(&st.workspace).filter(|w| !w.is_empty()),
        "start_time": start, "stop_time": stop, "tags": m.tags, "resume_strategy": "create",
        "customer_error_reported": false, "customer_error_message": null,
        "user_provided_experiment_key": false, "comet_start_sourced": false,
    });
    write_zip(out, &experiment, &mut m.msgs, &m.files)
}

/// The zip itself, written to `<out>.tmp`, synced and renamed over `out`.
fn write_zip(
    out: &Path,
    experiment: &Value,
    msgs: &mut [Value],
    files: &[(String, std::path::PathBuf)],
) -> io::Result<()> {
    let mut tmp_name = out.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = out.with_file_name(tmp_name);
    {
        let f = std::fs::File::create(&tmp)?;
        let mut z = zip::ZipWriter::new(f);
        let opt = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        z.start_file("experiment.json", opt)
            .map_err(io::Error::other)?;
        z.write_all(experiment.to_string().as_bytes())?;
        z.start_file("messages.json", opt)
            .map_err(io::Error::other)?;
        for (i, m) in msgs.iter_mut().enumerate() {
            m["payload"]["message_id"] = json!(i + 1);
            z.write_all(m.to_string().as_bytes())?;
            z.write_all(b"\n")?;
        }
        for (member, path) in files {
            let bytes = std::fs::read(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            z.start_file(member.as_str(), opt)
                .map_err(io::Error::other)?;
            z.write_all(&bytes)?;
        }
        let f = z.finish().map_err(io::Error::other)?;
        crate::util::fsx::sync_file(&f, out)?;
    }
    crate::util::fsx::rename_synced(&tmp, out)
}

/// A journalled path inside the run, or None (warned) for an absolute or
/// `..` path: the archive carries the run's own files only.
fn inside(run_dir: &Path, p: &str) -> Option<std::path::PathBuf> {
    let rel = super::outbox::run_relative(p);
    if rel.is_none() {
        tracing::warn!(
            "Comet archive: the journal names {p:?}, outside the run directory; left out"
        );
    }
    rel.map(|r| run_dir.join(r))
}

fn file_msg(member: &str, upload_type: &str, params: Value, ts: u64) -> Value {
    json!({"type": "file_upload", "payload": {"additional_params": params, "clean": true,
        "file_path": member, "local_timestamp": ts, "metadata": {}, "upload_type": upload_type}})
}

/// A stable 32-hex id from some text (asset ids, offline ids).
pub(crate) fn hex_id(a: &str, b: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("{a}\0{b}").as_bytes());
    h.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn archive_strips_credentials_and_refuses_paths_outside_the_run() {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("summary.json"), "{}").unwrap();
        std::fs::write(d.path().join("secret.txt"), "TOPSECRET").unwrap();
        let ev = |seq, ev| Entry { seq, ev };
        let file = |path: &str, name: &str| Event::File {
            kind: FileKind::Asset,
            path: path.into(),
            name: name.into(),
            group: None,
            id: "0".into(),
        };
        let secret = d.path().join("secret.txt").display().to_string();
        let entries = vec![
            ev(
                1,
                Event::Git {
                    commit: "c".into(),
                    root: None,
                    branch: None,
                    remote: Some("https://bob:ghp_TOKEN@github.com/o/r.git".into()),
                    dirty: true,
                    user: "u".into(),
                    patch: Some("../secret.txt".into()),
                },
            ),
            ev(2, file(&secret, "abs.txt")),
            ev(3, file("../secret.txt", "up.txt")),
            ev(4, file("summary.json", "summary.json")),
        ];
        let out = run.join("a.zip");
        write(&run, &State::default(), "id", &entries, &out).unwrap();
        let mut z = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
        let mut all = String::new();
        let mut members = Vec::new();
        for i in 0..z.len() {
            let mut f = z.by_index(i).unwrap();
            members.push(f.name().unwrap().to_string());
            f.read_to_string(&mut all).unwrap();
        }
        assert!(!all.contains("ghp_TOKEN"), "token in the archive");
        assert!(all.contains("https://github.com/o/r.git"));
        assert!(
            !all.contains("TOPSECRET"),
            "a file outside the run was packed"
        );
        assert_eq!(members.len(), 3, "{members:?}");
        assert!(members.iter().any(|m| m.ends_with("summary.json")));
    }
}
