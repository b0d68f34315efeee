//! The stages of `anirec run`, each a function with typed input and
//! output: data → fit → evaluate → record → bundle → plots. The run's
//! lifecycle (lock, meta.json status, remote trackers) is in the parent.

use super::remote::log_run_files;
use super::RunOutcome;
use crate::bundle::{self, CatalogEntry};
use crate::config::Experiment;
use crate::data::{self, stats::DatasetStats, Dataset};
use crate::eval::evaluator::{self, EvalSettings};
use crate::model::fit::{self, FitContext, FitNotes};
use crate::model::Engine;
use crate::progress::Progress;
use crate::track::local::LocalTracker;
use crate::track::store::{Meta, RunDir};
use crate::track::{Fanout, FileKind, Tracker};
use crate::util::fsx;
use crate::Result;
use std::collections::BTreeMap;
use std::time::Instant;

/// Where every stage reports: the run's folder, its local tracker (the
/// source of truth) and the remote ones.
pub(super) struct Sinks<'a> {
    pub(super) run: &'a RunDir,
    pub(super) local: LocalTracker,
    pub(super) remote: &'a mut Fanout,
}

/// Runs every stage of `exp` into `run`; `meta` gains the data fingerprint.
pub(super) fn run_stages(
    exp: &Experiment,
    run: &RunDir,
    meta: &mut Meta,
    remote: &mut Fanout,
) -> Result<RunOutcome> {
    let (ds, stats) = load_data(exp, run, meta)?;
    let mut sinks = Sinks {
        run,
        local: LocalTracker::open(run)?,
        remote,
    };
    let fitted = fit_model(exp, &ds, &mut sinks)?;
    let summary = evaluate_model(exp, &ds, &fitted, run)?;
    record_summary(exp, &summary, &mut sinks)?;
    let catalog = super::catalog_entries(&ds);
    write_bundle(exp, run, meta, &ds, &fitted.engine, &catalog, &summary)?;
    write_run_plots(run, &fitted.engine, &catalog);
    log_run_files(sinks.remote, run, exp.model.kind());
    Ok(RunOutcome {
        dir: run.path.clone(),
        stats,
        summary,
    })
}

/// Data stage: load (from the cache when it can), record the fingerprint
/// in meta.json and the statistics in data_stats.json.
fn load_data(exp: &Experiment, run: &RunDir, meta: &mut Meta) -> Result<(Dataset, DatasetStats)> {
    let t0 = Instant::now();
    let ds = data::load(&exp.data, exp.seed)?;
    meta.data_fingerprint = Some(ds.fingerprint.clone());
    run.write_meta(meta)?;
    let stats = DatasetStats::of(&ds);
    tracing::info!(
        secs = t0.elapsed().as_secs_f64(),
        users = stats.users,
        items = stats.rated_anime,
        train = stats.train_ratings,
        "data stage done"
    );
    fsx::write_json_atomic(&run.file("data_stats.json"), &stats)?;
    Ok((ds, stats))
}

/// A fitted model and what fitting it chose and took.
struct Fitted {
    engine: Engine,
    notes: FitNotes,
    secs: f64,
}

/// Fit stage: parameters to the trackers, per-epoch metrics as they come,
/// checkpoints under `checkpoints/`, and what a `weights: auto` hybrid
/// chose, beside the config it was given.
fn fit_model(exp: &Experiment, ds: &Dataset, sinks: &mut Sinks) -> Result<Fitted> {
    let params = exp.flat_params();
    sinks.local.log_params(&params)?;
    sinks.remote.log_params(&params);
    let t = Instant::now();
    let mut metric_err: Option<std::io::Error> = None;
    let (local, remote) = (&mut sinks.local, &mut *sinks.remote);
    let mut on_metric =
        |name: &str, value: f64, epoch: u32| match local.log_metric(name, value, Some(epoch)) {
            Ok(ev) => remote.log_metric(&ev.name, ev.value, ev.step, ev.epoch, ev.timestamp),
            Err(e) => {
                metric_err.get_or_insert(e);
            }
        };
    let (engine, notes) = fit::fit_noted(
        &exp.model,
        &mut FitContext {
            data: ds,
            exp,
            on_metric: &mut on_metric,
            checkpoint_dir: Some(sinks.run.file("checkpoints")),
        },
    )?;
    if let Some(e) = metric_err {
        return Err(e.into());
    }
    let secs = t.elapsed().as_secs_f64();
    if !notes.params.is_empty() {
        let mut all = params;
        all.extend(notes.params.iter().cloned());
        sinks.local.log_params(&all)?;
        sinks.remote.log_params(&notes.params);
    }
    Ok(Fitted {
        engine,
        notes,
        secs,
    })
}

/// Evaluation stage (PROTOCOL.md, every test user): per_user.csv, and the
/// summary — metrics, each hybrid member alone, what fitting noted, and the
/// fit and evaluation times.
fn evaluate_model(
    exp: &Experiment,
    ds: &Dataset,
    fitted: &Fitted,
    run: &RunDir,
) -> Result<BTreeMap<String, f64>> {
    let t = Instant::now();
    let settings = EvalSettings::from(&exp.eval);
    let report = evaluate_shown("evaluation", ds, &fitted.engine, &settings);
    let eval_secs = t.elapsed().as_secs_f64();
    let (names, values) = report.per_user_table();
    let raw: Vec<u64> = report
        .users
        .iter()
        .map(|&u| {
            ds.users
                .get(u as usize)
                .map_or(u64::from(u), |&r| u64::from(r))
        })
        .collect();
    crate::compare::write_per_user(&run.file(crate::compare::PER_USER), &names, &raw, &values)?;
    let mut summary: BTreeMap<String, f64> = report.to_flat().into_iter().collect();
    summary.extend(member_metrics(exp, ds, &fitted.engine));
    summary.extend(fitted.notes.metrics.iter().cloned());
    summary.insert("fit_seconds".into(), fitted.secs);
    summary.insert("eval_seconds".into(), eval_secs);
    Ok(summary)
}

/// Record stage: every summary metric to the trackers, summary.json, and
/// the summary printed for the user.
fn record_summary(
    exp: &Experiment,
    summary: &BTreeMap<String, f64>,
    sinks: &mut Sinks,
) -> Result<()> {
    for (k, v) in summary {
        let ev = sinks.local.log_metric(k, *v, None)?;
        sinks
            .remote
            .log_metric(&ev.name, ev.value, ev.step, ev.epoch, ev.timestamp);
    }
    sinks.local.log_summary(summary)?;
    sinks.remote.log_file(
        FileKind::Asset,
        sinks.run.file("summary.json"),
        "summary.json",
        None,
    );
    print_summary(exp, summary);
    Ok(())
}

/// Bundle stage: the engine, ids, catalogue and lineage into the run's
/// bundle folder.
fn write_bundle(
    exp: &Experiment,
    run: &RunDir,
    meta: &Meta,
    ds: &Dataset,
    engine: &Engine,
    catalog: &[CatalogEntry],
    summary: &BTreeMap<String, f64>,
) -> Result<()> {
    let contents = bundle::Contents {
        engine,
        users: &ds.users,
        items: &ds.items,
        catalog,
        lineage: bundle::Lineage {
            model_kind: exp.model.kind(),
            run_id: &run.id,
            experiment: &exp.name,
            git_commit: meta.git.as_ref().map(|g| g.commit.clone()),
            data_fingerprint: &ds.fingerprint,
            metrics: summary.clone(),
        },
    };
    bundle::write(&bundle::in_run(&run.path), &contents)?;
    Ok(())
}

/// The run's plots into `plots/`, before the trackers are sent the files.
/// A plot is a convenience: failing to draw one never fails the run.
fn write_run_plots(run: &RunDir, engine: &Engine, catalog: &[CatalogEntry]) {
    let t = std::time::Instant::now();
    match crate::report::run_plots(&run.path, Some((engine, catalog))) {
        Ok(plots) => tracing::info!(
            plots = plots.len(),
            secs = t.elapsed().as_secs_f64(),
            "plots written"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "could not write the run's plots; the run itself is fine")
        }
    }
}

/// The full-ranking evaluation of `engine` on `ds`'s test split, with a
/// progress bar (or log lines) named `what`.
fn evaluate_shown(
    what: &str,
    ds: &Dataset,
    engine: &Engine,
    settings: &EvalSettings,
) -> evaluator::EvalReport {
    let users = evaluator::evaluated_users(&ds.test, settings.relevance_threshold);
    let progress = Progress::new(what, users as u64, "users");
    evaluator::evaluate_observed(&ds.train, &ds.test, engine, settings, &|n| {
        progress.inc(n as u64)
    })
}

/// A hybrid's members evaluated alone on the same split, as
/// `<kind>/<metric>` (e.g. `ease/ndcg@10`), so a summary shows at a glance
/// whether the blend beats each of its parts.
fn member_metrics(exp: &Experiment, ds: &Dataset, engine: &Engine) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    if engine.members.len() < 2 {
        return out;
    }
    let settings = EvalSettings::from(&exp.eval);
    for m in &engine.members {
        let mut alone = m.clone();
        alone.weight = 1.0;
        let single = Engine::new(vec![alone], engine.normalization, ds.train.clone());
        let what = format!("evaluation of {}", m.name);
        let report = evaluate_shown(&what, ds, &single, &settings);
        for (k, v) in report.to_flat() {
            if k != "users_evaluated" {
                out.insert(format!("{}/{k}", m.name), v);
            }
        }
    }
    out
}

fn print_summary(exp: &Experiment, s: &BTreeMap<String, f64>) {
    println!("{} ({}):", exp.name, exp.model.kind());
    for k in &exp.eval.k {
        let g = |m: &str| s.get(&format!("{m}@{k}")).copied().unwrap_or(f64::NAN);
        println!(
            "  @{k:<3} precision {:.4}  recall {:.4}  ndcg {:.4}  map {:.4}  hit_rate {:.4}  coverage {:.4}",
            g("precision"),
            g("recall"),
            g("ndcg"),
            g("map"),
            g("hit_rate"),
            g("coverage")
        );
    }
    let members: Vec<(&str, f64)> = s
        .iter()
        .filter_map(|(k, v)| k.strip_suffix("/ndcg@10").map(|m| (m, *v)))
        .collect();
    if !members.is_empty() {
        let list: Vec<String> = members.iter().map(|(m, v)| format!("{m} {v:.4}")).collect();
        println!("  members alone, ndcg@10: {}", list.join(", "));
    }
    let chosen: Vec<String> = s
        .iter()
        .filter_map(|(k, w)| {
            let m = k.strip_prefix("auto/")?.strip_suffix("/weight")?;
            let v = s.get(&format!("auto/{m}/val_ndcg@10"))?;
            Some(format!("{m} {w:.2} ({v:.4})"))
        })
        .collect();
    if let Some(v) = s.get("auto/val_ndcg@10") {
        println!(
            "  weights chosen on validation (member alone, val ndcg@10): {}; blend {v:.4}",
            chosen.join(", ")
        );
    }
    if let (Some(r), Some(m)) = (s.get("rmse"), s.get("mae")) {
        println!("  rmse {r:.4}  mae {m:.4}");
    }
    println!(
        "  users evaluated {}  fit {:.2}s  eval {:.2}s",
        s.get("users_evaluated").copied().unwrap_or(0.0),
        s.get("fit_seconds").copied().unwrap_or(0.0),
        s.get("eval_seconds").copied().unwrap_or(0.0)
    );
}
