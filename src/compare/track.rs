//! Adding to the Comet record of a finished run: the events go into the
//! run's outbox journal (exactly as the run's own events did), and the next
//! `anirec comet sync RUN_DIR` (tried here right away when COMET_API_KEY is
//! set) delivers them to the same Comet experiment.

use super::Comparison;
use crate::track::comet::outbox::{Event, JournalWriter, Outbox};
use crate::track::FileKind;
use std::path::Path;

/// True when the run was tracked in Comet (its outbox names an experiment).
pub fn tracked(run_dir: &Path) -> bool {
    run_dir.join("outbox").join("state.json").is_file()
        && Outbox::open(run_dir)
            .and_then(|o| o.state())
            .is_ok_and(|s| !s.name.is_empty())
}

/// Appends events to a tracked run's journal, then tries to deliver them.
/// Returns a line for the user, or None when the run is not tracked.
pub fn append(run_dir: &Path, events: &[Event]) -> Option<String> {
    if !tracked(run_dir) {
        return None;
    }
    let written = Outbox::open(run_dir).and_then(|ob| {
        let mut j = JournalWriter::open(&ob.events_path())?;
        for e in events {
            j.append(e)?;
        }
        j.sync()
    });
    if let Err(e) = written {
        return Some(format!(
            "{}: Comet outbox not updated: {e}",
            run_dir.display()
        ));
    }
    if std::env::var_os("COMET_API_KEY").is_none() {
        return Some(format!(
            "{}: queued for Comet; deliver with `anirec comet sync {}`",
            run_dir.display(),
            run_dir.display()
        ));
    }
    Some(match crate::track::comet::sync(run_dir) {
        Ok(r) => format!(
            "{}: Comet: {} events delivered, {} pending",
            run_dir.display(),
            r.delivered_now,
            r.pending
        ),
        Err(e) => format!(
            "{}: Comet sync failed ({e}); retry with `anirec comet sync {}`",
            run_dir.display(),
            run_dir.display()
        ),
    })
}

/// Logs a comparison to every tracked run in it: compare.json as an asset
/// and one "other" per metric and pair.
pub fn log_comparison(c: &Comparison, json: &Path) -> Vec<String> {
    let abs = std::path::absolute(json).unwrap_or_else(|_| json.to_path_buf());
    let mut runs = vec![c.baseline.clone()];
    runs.extend(c.pairs.iter().map(|p| p.run.clone()));
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut others = Vec::new();
    for p in &c.pairs {
        for t in &p.tests {
            others.push(Event::Other {
                key: format!(
                    "compare/{}-vs-{}/{}",
                    name(&p.run),
                    name(&c.baseline),
                    t.metric
                ),
                value: format!(
                    "diff {:+.5} CI [{:+.5}, {:+.5}] p_t {:.3e} p_wilcoxon {:.3e} significant {}",
                    t.diff, t.ci[0], t.ci[1], t.p_t_holm, t.p_wilcoxon_holm, t.significant
                ),
            });
        }
    }
    let mut lines = Vec::new();
    for run in &runs {
        let mut events = vec![Event::File {
            kind: FileKind::Asset,
            path: abs.to_string_lossy().into_owned(),
            name: "compare.json".into(),
            group: None,
            id: crate::track::comet::archive::hex_id(
                &run.to_string_lossy(),
                &format!("compare{}", abs.display()),
            ),
        }];
        events.extend(others.iter().cloned());
        lines.extend(append(run, &events));
    }
    lines
}
