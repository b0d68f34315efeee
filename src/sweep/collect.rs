//! Merging trial results into the sweep summary: `summary.csv`, `summary.md`
//! and `sweep.json`, sorted by the sweep metric.
//!
//! The trial directories are the source of truth (a Kubernetes pod writes its
//! run there, possibly on another machine); the per-trial state files (and an
//! old ledger) fill in what a trial directory cannot say, such as a trial
//! that failed before its run started.
//!
//! Trials whose per-user values are not significantly different from the
//! best trial's (paired t-test and Wilcoxon, Holm-corrected over the
//! trials, 5 %) are marked: the ranking among them is noise.

use super::plan::Plan;
use super::state;
use crate::config::SweepGoal;
use crate::track::store::RunDir;
use crate::track::RunStatus;
use crate::util::fsx;
use serde::Serialize;
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// One trial's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// 1-based rank among trials with the metric.
    pub rank: Option<usize>,
    /// Trial index.
    pub trial: usize,
    pub trial_id: String,
    /// Where the trial stands: pending, running, done, failed or pruned.
    pub status: RunStatus,
    /// Run directory, relative to the sweep directory.
    pub run_dir: PathBuf,
    /// Swept values.
    pub overrides: BTreeMap<String, Value>,
    /// summary.json of a finished trial.
    pub metrics: BTreeMap<String, f64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Epochs the trial trained (per-epoch validation metrics recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs: Option<u32>,
    /// Epoch at which the pruner stopped it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pruned_at: Option<u32>,
    /// Holm-adjusted p-values (t-test, Wilcoxon) against the best trial on
    /// the sweep metric, per user; None without per-user files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_best: Option<[f64; 2]>,
    /// Not significantly different from the best trial (5 %).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tied_with_best: Option<bool>,
}

/// The collected sweep.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Sweep id.
    pub id: String,
    /// Experiment name.
    pub experiment: String,
    /// Ranking metric.
    pub metric: String,
    /// Its direction.
    pub goal: SweepGoal,
    /// Swept paths.
    pub parameters: Vec<String>,
    /// Number of trials in the plan.
    pub trials: usize,
    /// Trials per state.
    pub counts: BTreeMap<&'static str, usize>,
    /// Epochs trained over all trials (what early stopping saves).
    pub epochs_run: u64,
    /// Rows, best first.
    pub rows: Vec<Row>,
}

impl Summary {
    /// The best finished trial.
    pub fn best(&self) -> Option<&Row> {
        self.rows.first().filter(|r| r.rank.is_some())
    }

    /// A trial's metric value.
    pub fn value(&self, r: &Row) -> Option<f64> {
        r.metrics
            .get(&self.metric)
            .copied()
            .filter(|v| v.is_finite())
    }
}

/// Reads every trial's state and writes summary.csv, summary.md and
/// sweep.json into the sweep directory.
pub fn collect(sweep_dir: &Path, plan: &Plan) -> io::Result<Summary> {
    let ledger = state::read_all(sweep_dir)?;
    let trials = super::trials(sweep_dir, plan)?;
    let mut rows = Vec::with_capacity(trials.len());
    for t in &trials {
        let rel = PathBuf::from("trials").join(t.dir_name());
        let dir = sweep_dir.join(&rel);
        let mut row = Row {
            rank: None,
            trial: t.index,
            trial_id: t.id.clone(),
            status: RunStatus::Queued,
            run_dir: rel,
            overrides: t.overrides.clone(),
            metrics: BTreeMap::new(),
            error: None,
            epochs: None,
            pruned_at: None,
            vs_best: None,
            tied_with_best: None,
        };
        if let Some(st) = ledger.get(&t.id) {
            row.epochs = st.epochs.keys().max().copied();
            row.pruned_at = st.pruned_at;
        }
        match RunDir::open(&dir).and_then(|r| r.read_meta()) {
            Ok(meta) => match meta.status {
                s if s.has_metrics() => match read_summary(&dir) {
                    Ok(m) => {
                        row.status = s;
                        row.metrics = m;
                    }
                    Err(e) => {
                        row.status = RunStatus::Failed;
                        row.error = Some(e.to_string());
                    }
                },
                RunStatus::Failed => {
                    row.status = RunStatus::Failed;
                    row.error = meta.error;
                }
                _ => row.status = RunStatus::Running,
            },
            Err(_) => {
                if let Some(ev) = ledger.get(&t.id) {
                    row.status = ev.state;
                    row.error = ev.error.clone();
                }
            }
        }
        rows.push(row);
    }
    let metric = plan.metric.clone();
    let key = |r: &Row| -> (u8, f64) {
        let v = r.metrics.get(&metric).copied().filter(|v| v.is_finite());
        match (r.status, v) {
            (RunStatus::Done, Some(v)) => (
                0,
                if plan.goal == SweepGoal::Maximize {
                    -v
                } else {
                    v
                },
            ),
            (RunStatus::Done, None) => (1, 0.0),
            // Pruned trials are listed (with their last metrics) after every
            // finished one: they are not candidates.
            (RunStatus::Pruned, Some(v)) => (
                2,
                if plan.goal == SweepGoal::Maximize {
                    -v
                } else {
                    v
                },
            ),
            (RunStatus::Pruned, None) => (3, 0.0),
            (RunStatus::Failed, _) => (4, 0.0),
            (RunStatus::Running, _) => (5, 0.0),
            (RunStatus::Queued, _) => (6, 0.0),
        }
    };
    rows.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0)
            .then(ka.1.total_cmp(&kb.1))
            .then(a.trial.cmp(&b.trial))
    });
    let mut rank = 0;
    for r in &mut rows {
        if key(r).0 == 0 {
            rank += 1;
            r.rank = Some(rank);
        }
    }
    let mut counts = BTreeMap::new();
    for s in [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Done,
        RunStatus::Failed,
        RunStatus::Pruned,
    ] {
        counts.insert(s.as_str(), rows.iter().filter(|r| r.status == s).count());
    }
    mark_ties(sweep_dir, &mut rows, &metric);
    let epochs_run = rows.iter().filter_map(|r| r.epochs).map(u64::from).sum();
    let summary = Summary {
        id: plan.id.clone(),
        experiment: plan.experiment.clone(),
        metric,
        goal: plan.goal,
        parameters: plan.parameters.clone(),
        trials: if plan.method == crate::config::SweepMethod::Tpe {
            plan.budget.max(trials.len())
        } else {
            trials.len()
        },
        counts,
        epochs_run,
        rows,
    };
    fsx::write_atomic(&sweep_dir.join("summary.csv"), csv(&summary).as_bytes())?;
    fsx::write_atomic(&sweep_dir.join("summary.md"), markdown(&summary).as_bytes())?;
    fsx::write_json_atomic(&sweep_dir.join("sweep.json"), &SweepJson::of(&summary))?;
    Ok(summary)
}

/// Tests each ranked trial against the best one, user by user, on the
/// sweep metric (Holm over the trials); rows without per-user files stay
/// unmarked.
fn mark_ties(sweep_dir: &Path, rows: &mut [Row], metric: &str) {
    use crate::compare::{paired, read_per_user, stats, Options};
    let column = |r: &Row| {
        read_per_user(&sweep_dir.join(&r.run_dir))
            .ok()
            .and_then(|p| p.column(metric))
    };
    let Some(best) = rows.first().filter(|r| r.rank == Some(1)).and_then(column) else {
        return;
    };
    let opts = Options::default();
    let mut tests: Vec<(usize, f64, f64)> = Vec::new();
    for (i, r) in rows.iter().enumerate().skip(1) {
        if r.rank.is_none() {
            break;
        }
        if let Some(c) = column(r) {
            let t = paired(metric, &best, &c, &opts);
            tests.push((i, t.p_t, t.p_wilcoxon));
        }
    }
    let pt = stats::holm(&tests.iter().map(|t| t.1).collect::<Vec<_>>());
    let pw = stats::holm(&tests.iter().map(|t| t.2).collect::<Vec<_>>());
    for ((i, _, _), (a, b)) in tests.iter().zip(pt.into_iter().zip(pw)) {
        rows[*i].vs_best = Some([a, b]);
        rows[*i].tied_with_best = Some(!(a < opts.alpha && b < opts.alpha));
    }
    rows[0].tied_with_best = Some(true);
}

fn read_summary(dir: &Path) -> io::Result<BTreeMap<String, f64>> {
    let p = dir.join("summary.json");
    let bytes =
        std::fs::read(&p).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", p.display())))
}

/// sweep.json: the sweep at a glance, for reports and promotion.
#[derive(Serialize)]
struct SweepJson<'a> {
    id: &'a str,
    experiment: &'a str,
    metric: &'a str,
    goal: SweepGoal,
    parameters: &'a [String],
    trials: usize,
    counts: &'a BTreeMap<&'static str, usize>,
    epochs_run: u64,
    best: Option<&'a Row>,
    rows: &'a [Row],
}

impl<'a> SweepJson<'a> {
    fn of(s: &'a Summary) -> Self {
        Self {
            id: &s.id,
            experiment: &s.experiment,
            metric: &s.metric,
            goal: s.goal,
            parameters: &s.parameters,
            trials: s.trials,
            counts: &s.counts,
            epochs_run: s.epochs_run,
            best: s.best(),
            rows: &s.rows,
        }
    }
}

fn value_text(v: &Value) -> String {
    super::plan::flow(v)
}

/// RFC 4180 quoting where needed.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `rank,trial,trial_id,status,run_dir,<parameters…>,<metrics…>`.
fn csv(s: &Summary) -> String {
    let metrics: BTreeSet<&String> = s.rows.iter().flat_map(|r| r.metrics.keys()).collect();
    let mut out = String::from("rank,trial,trial_id,status,run_dir");
    for p in s.parameters.iter() {
        out.push(',');
        out.push_str(&field(p));
    }
    for m in &metrics {
        out.push(',');
        out.push_str(&field(m));
    }
    out.push('\n');
    for r in &s.rows {
        let _ = write!(
            out,
            "{},{},{},{},{}",
            r.rank.map(|x| x.to_string()).unwrap_or_default(),
            r.trial,
            r.trial_id,
            r.status.as_str(),
            field(&r.run_dir.to_string_lossy())
        );
        for p in &s.parameters {
            out.push(',');
            out.push_str(&field(
                &r.overrides.get(p).map(value_text).unwrap_or_default(),
            ));
        }
        for m in &metrics {
            out.push(',');
            if let Some(v) = r.metrics.get(*m) {
                let _ = write!(out, "{v}");
            }
        }
        out.push('\n');
    }
    out
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The trials table, best first, and the best trial named.
pub(crate) fn markdown(s: &Summary) -> String {
    let mut out = format!(
        "# Sweep {} ({})\n\n{} trials: {} done, {} pruned, {} failed, {} running, {} queued. Ranked by `{}` ({}).\n\n",
        s.id,
        s.experiment,
        s.trials,
        s.counts["done"],
        s.counts["pruned"],
        s.counts["failed"],
        s.counts["running"],
        s.counts["queued"],
        s.metric,
        if s.goal == SweepGoal::Maximize { "higher is better" } else { "lower is better" },
    );
    if s.rows.iter().any(|r| r.tied_with_best.is_some()) {
        out.push_str("`≈ best`: not significantly different from the best trial per user (paired t-test and Wilcoxon, Holm-corrected, 5 %).\n\n");
    }
    match s.best() {
        Some(b) => {
            let _ = writeln!(
                out,
                "Best: trial {} (`{}`), {} = {:.4}, run `{}`.\n",
                b.trial,
                b.trial_id,
                s.metric,
                s.value(b).unwrap_or(f64::NAN),
                b.run_dir.display()
            );
        }
        None => out.push_str("No trial has finished with the metric yet.\n\n"),
    }
    out.push_str("| rank | trial | status |");
    for p in &s.parameters {
        let _ = write!(out, " {} |", md_cell(p));
    }
    let _ = writeln!(out, " {} | ≈ best | run |", md_cell(&s.metric));
    out.push_str("|---:|---:|---|");
    for _ in &s.parameters {
        out.push_str("---|");
    }
    out.push_str("---:|---|---|\n");
    for r in &s.rows {
        let status = match &r.error {
            Some(e) if r.status == RunStatus::Failed => {
                let e: String = e.chars().take(100).collect();
                format!("failed: {}", md_cell(&e))
            }
            _ => match r.pruned_at {
                Some(e) if r.status == RunStatus::Pruned => format!("pruned at epoch {e}"),
                _ => r.status.as_str().to_string(),
            },
        };
        let _ = write!(
            out,
            "| {} | {} | {} |",
            r.rank.map(|x| x.to_string()).unwrap_or_default(),
            r.trial,
            status
        );
        for p in &s.parameters {
            let _ = write!(
                out,
                " {} |",
                md_cell(&r.overrides.get(p).map(value_text).unwrap_or_default())
            );
        }
        let v = s.value(r).map(|v| format!("{v:.4}")).unwrap_or_default();
        let tie = match (r.tied_with_best, r.rank) {
            (Some(true), Some(1)) => "best",
            (Some(true), _) => "≈",
            (Some(false), _) => "worse",
            (None, _) => "",
        };
        let _ = writeln!(out, " {v} | {tie} | `{}` |", r.run_dir.display());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::plan::Trial;

    fn plan(goal: SweepGoal) -> Plan {
        let trials = (0..4)
            .map(|i| Trial {
                index: i,
                id: format!("id{i}"),
                overrides: [("model.l2".to_string(), Value::from(i as i64 * 10))].into(),
                config: Value::Null,
            })
            .collect();
        Plan {
            version: 1,
            id: "sw".into(),
            experiment: "e".into(),
            source: "e.yaml".into(),
            runs_dir: "runs".into(),
            method: Default::default(),
            metric: "ndcg@10".into(),
            goal,
            parallel: 1,
            parameters: vec!["model.l2".into()],
            trials,
            ..Default::default()
        }
    }

    fn fake_run(sweep: &Path, t: &Trial, status: RunStatus, ndcg: Option<f64>) {
        let dir = sweep.join("trials").join(t.dir_name());
        let run = RunDir::create_at(&dir, "e").unwrap();
        let mut meta = run.new_meta();
        meta.status = status;
        if status == RunStatus::Failed {
            meta.error = Some("model: out of memory".into());
        }
        run.write_meta(&meta).unwrap();
        if let Some(v) = ndcg {
            std::fs::write(
                dir.join("summary.json"),
                format!(r#"{{"ndcg@10": {v}, "recall@10": 0.5}}"#),
            )
            .unwrap();
        }
    }

    #[test]
    fn rows_are_ranked_by_the_metric_and_failures_kept() {
        let d = tempfile::tempdir().unwrap();
        let p = plan(SweepGoal::Maximize);
        fake_run(d.path(), &p.trials[0], RunStatus::Done, Some(0.2));
        fake_run(d.path(), &p.trials[1], RunStatus::Failed, None);
        fake_run(d.path(), &p.trials[2], RunStatus::Done, Some(0.3));
        // Trial 3 failed before its run started: only the (old) ledger knows.
        super::super::ledger::Ledger::at(d.path())
            .append(3, "id3", RunStatus::Failed, Some("bad data".into()))
            .unwrap();
        let s = collect(d.path(), &p).unwrap();
        let order: Vec<_> = s.rows.iter().map(|r| r.trial).collect();
        assert_eq!(order, [2, 0, 1, 3]);
        assert_eq!(s.best().unwrap().trial, 2);
        assert_eq!(s.counts["done"], 2);
        assert_eq!(s.counts["failed"], 2);
        assert_eq!(s.rows[3].error.as_deref(), Some("bad data"));

        let csv = std::fs::read_to_string(d.path().join("summary.csv")).unwrap();
        let lines: Vec<_> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "rank,trial,trial_id,status,run_dir,model.l2,ndcg@10,recall@10"
        );
        assert_eq!(lines[1], "1,2,id2,done,trials/002-id2,20,0.3,0.5");
        assert_eq!(lines[3], ",1,id1,failed,trials/001-id1,10,,");
        let md = std::fs::read_to_string(d.path().join("summary.md")).unwrap();
        assert!(md.contains("Best: trial 2"), "{md}");
        assert!(md.contains("failed: model: out of memory"), "{md}");
        let js: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.path().join("sweep.json")).unwrap()).unwrap();
        assert_eq!(js["best"]["trial"], 2);
        assert_eq!(js["metric"], "ndcg@10");
    }

    #[test]
    fn minimize_puts_the_smallest_first() {
        let d = tempfile::tempdir().unwrap();
        let p = plan(SweepGoal::Minimize);
        fake_run(d.path(), &p.trials[0], RunStatus::Done, Some(0.2));
        fake_run(d.path(), &p.trials[1], RunStatus::Done, Some(0.1));
        let s = collect(d.path(), &p).unwrap();
        assert_eq!(s.best().unwrap().trial, 1);
        assert_eq!(s.counts["queued"], 2);
    }

    #[test]
    fn csv_fields_with_commas_are_quoted() {
        assert_eq!(field("{kind: ease, l2: 5}"), "\"{kind: ease, l2: 5}\"");
        assert_eq!(field("a\"b,"), "\"a\"\"b,\"");
        assert_eq!(field("plain"), "plain");
    }
}
