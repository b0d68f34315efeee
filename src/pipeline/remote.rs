//! The run as the remote trackers (Comet) see it: its identity when it
//! starts, its plots and bundle files when it ends.

use crate::bundle;
use crate::config::Experiment;
use crate::track::store::{Meta, RunDir};
use crate::track::{Fanout, FileKind, Tracker};
use crate::Result;
use std::path::{Path, PathBuf};

/// The remote trackers of a run (Comet when `tracking.comet` is set), with
/// the run's identity already logged: tags, git, system details.
pub(super) fn remote_trackers(
    exp: &Experiment,
    run: &RunDir,
    meta: &Meta,
    extra_tags: &[String],
) -> Result<Fanout> {
    let mut fan = Fanout::default();
    let Some(cfg) = &exp.tracking.comet else {
        return Ok(fan);
    };
    let name = format!("{}-{}", exp.name, run.id);
    fan.trackers
        .push(Box::new(crate::track::comet::CometTracker::start(
            &run.path, cfg, &name,
        )?));
    let mut tags = vec![exp.name.clone(), exp.model.kind().to_string()];
    tags.extend(extra_tags.iter().cloned());
    tags.extend(cfg.tags.iter().cloned());
    fan.add_tags(&tags);
    fan.log_other("Name", &name);
    fan.log_other("run_dir", &run.path.display().to_string());
    if let Some(g) = &meta.git {
        fan.log_git(g, g.uncommitted_patch().as_deref());
    }
    fan.log_system(&crate::track::SystemInfo::detect(
        &meta.versions,
        &meta.host,
    ));
    fan.log_file(
        FileKind::Asset,
        run.file("config.yaml"),
        "config.yaml",
        None,
    );
    Ok(fan)
}

/// Plots as images and the bundle's files as one model.
pub(super) fn log_run_files(remote: &mut Fanout, run: &RunDir, model_kind: &str) {
    let files = |dir: &Path| -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    };
    for p in files(&run.file("plots")) {
        if matches!(p.extension().and_then(|e| e.to_str()), Some("png" | "svg")) {
            let name = p
                .strip_prefix(run.file("plots"))
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            remote.log_file(FileKind::Image, p.clone(), &name, None);
        }
    }
    let bundle = bundle::in_run(&run.path);
    for p in files(&bundle) {
        let rel = p
            .strip_prefix(&bundle)
            .unwrap_or(&p)
            .to_string_lossy()
            .into_owned();
        remote.log_file(
            FileKind::Model,
            p.clone(),
            &format!("bundle/{rel}"),
            Some(model_kind),
        );
    }
}
