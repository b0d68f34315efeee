//! Adding to the Comet record of a finished run: the events go into the
//! run's outbox journal (exactly as the run's own events did), and the next
//! `anirec comet sync RUN_DIR` (tried here right away when COMET_API_KEY is
//! set) delivers them to the same Comet experiment.

use super::Comparison;
use crate::track::comet::outbox::{Event, JournalWriter, Outbox};
use crate::track::FileKind;
use crate::util::fsx;
use crate::util::hash::Fingerprint;
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
///
/// The outbox uploads only files inside the run directory (a journal must
/// not name arbitrary paths), and `--out` may be anywhere and be rewritten
/// or deleted before the next sync: so each tracked run gets its own copy,
/// `comparisons/compare-<content hash>.json`, and the journal names that.
pub fn log_comparison(c: &Comparison, json: &Path) -> Vec<String> {
    let mut runs = vec![c.baseline.clone()];
    runs.extend(c.pairs.iter().map(|p| p.run.clone()));
    let others = others(c);
    let bytes = match std::fs::read(json) {
        Ok(b) => b,
        Err(e) => return vec![format!("{}: not logged to Comet: {e}", json.display())],
    };
    let mut fp = Fingerprint::new();
    fp.str(&String::from_utf8_lossy(&bytes));
    let name = format!("compare-{}.json", fp.hex());
    let rel = format!("comparisons/{name}");
    let mut lines = Vec::new();
    for run in runs.iter().filter(|r| tracked(r)) {
        let copied = fsx::create_dir_all(&run.join("comparisons"))
            .and_then(|()| fsx::write_atomic(&run.join(&rel), &bytes));
        if let Err(e) = copied {
            lines.push(format!(
                "{}: comparison not logged to Comet (copying it into the run failed: {e})",
                run.display()
            ));
            continue;
        }
        let mut events = vec![Event::File {
            kind: FileKind::Asset,
            path: rel.clone(),
            name: name.clone(),
            group: None,
            // The same comparison logged twice replaces, never duplicates.
            id: crate::track::comet::archive::hex_id(&run.to_string_lossy(), &rel),
        }];
        events.extend(others.iter().cloned());
        lines.extend(append(run, &events));
    }
    lines
}

/// One "other" per pair and metric: `compare/<run>-vs-<baseline>/<metric>`.
fn others(c: &Comparison) -> Vec<Event> {
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
    others
}
