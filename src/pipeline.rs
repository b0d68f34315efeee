//! `anirec run` and the `anirec data` stages, as library calls.

use crate::bundle::{self, CatalogEntry};
use crate::config::Experiment;
use crate::data::{self, stats::DatasetStats, synth, Dataset};
use crate::eval::evaluator::{self, EvalSettings};
use crate::model::fit::{self, FitContext};
use crate::model::Engine;
use crate::track::local::LocalTracker;
use crate::track::store::RunDir;
use crate::track::{Fanout, FileKind, RunStatus, Tracker};
use crate::util::{fsx, time};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a run cannot start, resume or answer as asked. Every case is the
/// caller's to fix; failures of the stages themselves arrive as their own
/// modules' errors.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `--run-dir` names a folder that is not empty.
    #[error("{0}")]
    RunDirTaken(std::io::Error),
    /// Another process holds the run's lock.
    #[error("{0}")]
    Busy(std::io::Error),
    /// `--resume` names a folder without a readable config.yaml.
    #[error("{}: {source} (is this a run directory?)", path.display())]
    NotARun {
        /// The config file looked for.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The saved config.yaml does not parse.
    #[error("{}: {msg}", path.display())]
    SavedConfig {
        /// The config file.
        path: PathBuf,
        /// Parser message.
        msg: String,
    },
    /// `--resume` of a run that already finished.
    #[error("{} already finished; start a new run instead", .0.display())]
    Finished(PathBuf),
    /// `recommend --users` names a user the model does not know.
    #[error("user {0} is not a known user of this model")]
    UnknownUser(u32),
    /// `data synth` sizes out of range.
    #[error("{0}")]
    SynthSpec(std::io::Error),
}

/// What a finished run left behind.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run directory.
    pub dir: PathBuf,
    /// Dataset statistics.
    pub stats: DatasetStats,
    /// Final metrics (summary.json).
    pub summary: BTreeMap<String, f64>,
}

/// Where a run goes and how it is labelled, beyond its config.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Use exactly this directory (sweep trials, DVC stages) instead of
    /// `runs_dir/<experiment>/<id>/`.
    pub run_dir: Option<PathBuf>,
    /// Extra tracker tags, e.g. `sweep:<id>` and `trial:<n>`.
    pub tags: Vec<String>,
}

/// Runs an experiment: creates the run directory (or uses `opts.run_dir`),
/// loads and processes the data, and records the outcome (a failed run is
/// marked failed, not deleted). `opts` adds the sweep's tags.
pub fn run_with(exp: &Experiment, opts: &RunOptions) -> Result<RunOutcome> {
    let run = match &opts.run_dir {
        // A non-empty directory is the caller's mistake (exit 2), not an I/O failure.
        Some(dir) => RunDir::create_at(dir, &exp.name).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::Run(RunError::RunDirTaken(e)),
            _ => Error::Io(e),
        })?,
        None => RunDir::create(&exp.runs_dir, &exp.name)?,
    };
    let _lock = run.lock().map_err(busy)?;
    run.write_config(exp)?;
    let meta = run.new_meta();
    run.write_meta(&meta)?;
    finish(exp, &run, meta, &opts.tags)
}

/// Resumes an interrupted run in place: same run directory, the config it
/// saved, and the trainer's last checkpoint under `checkpoints/`.
pub fn resume(run_dir: &Path) -> Result<RunOutcome> {
    let run = RunDir::open(run_dir)?;
    // Held until the run ends: a second resume, or a resume of a run still
    // going, is refused instead of training twice into one folder.
    let _lock = run.lock().map_err(busy)?;
    let cfg_path = run.file("config.yaml");
    let text = std::fs::read_to_string(&cfg_path).map_err(|source| RunError::NotARun {
        path: cfg_path.clone(),
        source,
    })?;
    let value: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| RunError::SavedConfig {
            path: cfg_path.clone(),
            msg: e.to_string(),
        })?;
    let exp = Experiment::from_value(value, &cfg_path)?;
    let mut meta = run.read_meta()?;
    if meta.status == RunStatus::Done {
        return Err(RunError::Finished(run_dir.to_path_buf()).into());
    }
    meta.status = RunStatus::Running;
    meta.error = None;
    meta.ended_at = None;
    run.write_meta(&meta)?;
    tracing::info!("resuming {}", run.path.display());
    finish(&exp, &run, meta, &[])
}

/// A run locked by another process is the caller's mistake (exit 2).
fn busy(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::WouldBlock {
        Error::Run(RunError::Busy(e))
    } else {
        Error::Io(e)
    }
}

fn finish(
    exp: &Experiment,
    run: &RunDir,
    mut meta: crate::track::store::Meta,
    tags: &[String],
) -> Result<RunOutcome> {
    tracing::info!("run {}", run.path.display());
    let mut remote = remote_trackers(exp, run, &meta, tags)?;
    let result = run_stages(exp, run, &mut meta, &mut remote);
    meta.ended_at = Some(time::rfc3339(time::unix_now() as u64));
    match &result {
        Ok(_) => meta.status = RunStatus::Done,
        Err(e) => {
            meta.status = RunStatus::Failed;
            meta.error = Some(e.to_string());
        }
    }
    run.write_meta(&meta)?;
    if let Some(line) = remote.end(meta.status, meta.error.as_deref()) {
        eprintln!("{line}");
    }
    result
}

/// The remote trackers of a run (Comet when `tracking.comet` is set), with
/// the run's identity already logged: tags, git, system details.
fn remote_trackers(
    exp: &Experiment,
    run: &RunDir,
    meta: &crate::track::store::Meta,
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
        let patch = g.dirty.then(|| {
            std::process::Command::new("git")
                .args(["diff", "HEAD"])
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        });
        fan.log_git(g, patch.flatten().as_deref());
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

fn run_stages(
    exp: &Experiment,
    run: &RunDir,
    meta: &mut crate::track::store::Meta,
    remote: &mut Fanout,
) -> Result<RunOutcome> {
    let t0 = std::time::Instant::now();
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

    let mut tracker = LocalTracker::open(run)?;
    let params = exp.flat_params();
    tracker.log_params(&params)?;
    remote.log_params(&params);
    let t1 = std::time::Instant::now();
    let mut metric_err: Option<std::io::Error> = None;
    let mut on_metric =
        |name: &str, value: f64, epoch: u32| match tracker.log_metric(name, value, Some(epoch)) {
            Ok(ev) => remote.log_metric(&ev.name, ev.value, ev.step, ev.epoch, ev.timestamp),
            Err(e) => {
                metric_err.get_or_insert(e);
            }
        };
    let (engine, notes) = fit::fit_noted(
        &exp.model,
        &mut FitContext {
            data: &ds,
            exp,
            on_metric: &mut on_metric,
            checkpoint_dir: Some(run.file("checkpoints")),
        },
    )?;
    if let Some(e) = metric_err {
        return Err(e.into());
    }
    let fit_secs = t1.elapsed().as_secs_f64();
    if !notes.params.is_empty() {
        // What a `weights: auto` hybrid chose, beside the config it was given.
        let mut all = params.clone();
        all.extend(notes.params.iter().cloned());
        tracker.log_params(&all)?;
        remote.log_params(&notes.params);
    }

    let t2 = std::time::Instant::now();
    let report = evaluator::evaluate(
        &ds.train,
        &ds.test,
        &engine,
        &EvalSettings {
            ks: exp.eval.k.clone(),
            relevance_threshold: exp.eval.relevance_threshold,
            block_users: exp.eval.block_users,
        },
    );
    let eval_secs = t2.elapsed().as_secs_f64();
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
    summary.extend(member_metrics(exp, &ds, &engine));
    summary.extend(notes.metrics.iter().cloned());
    summary.insert("fit_seconds".into(), fit_secs);
    summary.insert("eval_seconds".into(), eval_secs);
    for (k, v) in &summary {
        let ev = tracker.log_metric(k, *v, None)?;
        remote.log_metric(&ev.name, ev.value, ev.step, ev.epoch, ev.timestamp);
    }
    tracker.log_summary(&summary)?;
    remote.log_file(
        FileKind::Asset,
        run.file("summary.json"),
        "summary.json",
        None,
    );
    print_summary(exp, &summary);

    let lineage = bundle::Lineage {
        model_kind: exp.model.kind(),
        run_id: &run.id,
        experiment: &exp.name,
        git_commit: meta.git.as_ref().map(|g| g.commit.clone()),
        data_fingerprint: &ds.fingerprint,
        metrics: summary.clone(),
    };
    let catalog = catalog_entries(&ds);
    bundle::write(
        &run.file("bundle"),
        &engine,
        &ds.users,
        &ds.items,
        &catalog,
        &lineage,
    )?;
    write_run_plots(run, &engine, &catalog);
    log_run_files(remote, run, exp.model.kind());
    Ok(RunOutcome {
        dir: run.path.clone(),
        stats,
        summary,
    })
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

/// A hybrid's members evaluated alone on the same split, as
/// `<kind>/<metric>` (e.g. `ease/ndcg@10`), so a summary shows at a glance
/// whether the blend beats each of its parts.
fn member_metrics(exp: &Experiment, ds: &Dataset, engine: &Engine) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    if engine.members.len() < 2 {
        return out;
    }
    let settings = EvalSettings {
        ks: exp.eval.k.clone(),
        relevance_threshold: exp.eval.relevance_threshold,
        block_users: exp.eval.block_users,
    };
    for m in &engine.members {
        let mut alone = m.clone();
        alone.weight = 1.0;
        let single = Engine::new(vec![alone], engine.normalization, ds.train.clone());
        let report = evaluator::evaluate(&ds.train, &ds.test, &single, &settings);
        for (k, v) in report.to_flat() {
            if k != "users_evaluated" {
                out.insert(format!("{}/{k}", m.name), v);
            }
        }
    }
    out
}

/// Plots as images and the bundle's files as one model.
fn log_run_files(remote: &mut Fanout, run: &RunDir, model_kind: &str) {
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
    let bundle = run.file("bundle");
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
            Some(format!("{m} {w} ({v:.4})"))
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

/// Catalogue entries for the dataset's items, in dense order.
pub fn catalog_entries(ds: &Dataset) -> Vec<CatalogEntry> {
    ds.items
        .iter()
        .map(|&id| match ds.catalog.get(id) {
            Some(a) => CatalogEntry {
                id,
                name: a.name.clone(),
                english_name: a.english_name.clone(),
                genres: a.genres.clone(),
                kind: a.kind.clone(),
                episodes: a.episodes,
                score: a.score,
                synopsis: a.synopsis.clone(),
            },
            None => CatalogEntry {
                id,
                name: format!("#{id}"),
                english_name: None,
                genres: Vec::new(),
                kind: None,
                episodes: None,
                score: None,
                synopsis: None,
            },
        })
        .collect()
}

/// Which users `anirec recommend` writes lists for.
#[derive(Debug, Clone)]
pub enum UserSelection {
    /// Every known user.
    All,
    /// These raw user ids.
    Ids(Vec<u32>),
}

/// `anirec recommend`: top-k lists from a run's bundle in the PROTOCOL recs
/// format (`user_id,item_id,rank,score`), train items excluded.
pub fn recommend(run_dir: &Path, users: &UserSelection, k: usize, out: &Path) -> Result<usize> {
    let b = bundle::read(&run_dir.join("bundle"))?;
    let dense: Vec<u32> = match users {
        UserSelection::All => (0..b.users.len() as u32).collect(),
        UserSelection::Ids(ids) => {
            let index: std::collections::HashMap<u32, u32> = b
                .users
                .iter()
                .enumerate()
                .map(|(k, &u)| (u, k as u32))
                .collect();
            ids.iter()
                .map(|u| {
                    index
                        .get(u)
                        .copied()
                        .ok_or(Error::Run(RunError::UnknownUser(*u)))
                })
                .collect::<Result<_>>()?
        }
    };
    let lists = recommend_lists(&b.engine, &dense, k);
    let mut rows = 0;
    fsx::write_atomic_with(out, |w| {
        w.write_all(b"user_id,item_id,rank,score\n")?;
        for (&u, list) in dense.iter().zip(&lists) {
            for (rank, &(i, s)) in list.iter().enumerate() {
                writeln!(
                    w,
                    "{},{},{},{}",
                    b.users[u as usize],
                    b.items[i as usize],
                    rank + 1,
                    s
                )?;
                rows += 1;
            }
        }
        Ok(())
    })?;
    Ok(rows)
}

/// Top-k lists (dense ids) for dense users, train items excluded.
pub fn recommend_lists(engine: &Engine, users: &[u32], k: usize) -> Vec<Vec<(u32, f32)>> {
    evaluator::recommend(&engine.history, users, engine, k, 256)
}

/// `anirec data synth`.
pub fn synth(spec: &synth::SynthSpec, out: &Path) -> Result<synth::SynthSummary> {
    synth::write_mal2020(spec, out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidInput {
            Error::Run(RunError::SynthSpec(e))
        } else {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", out.display()),
            ))
        }
    })
}

/// `anirec data split`: writes train.csv and test.csv in the PROTOCOL format.
pub fn split(exp: &Experiment, out: &Path) -> Result<(usize, usize)> {
    let p = data::process(&exp.data, exp.seed)?;
    p.train.write_protocol_csv(&out.join("train.csv"))?;
    p.test.write_protocol_csv(&out.join("test.csv"))?;
    let info = serde_json::json!({
        "fingerprint": p.fingerprint,
        "train_rows": p.train.len(),
        "test_rows": p.test.len(),
        "min_user_ratings": exp.data.min_user_ratings,
        "test_ratio": exp.data.split.test_ratio,
        "seed": exp.data.split.seed,
        "clean": p.clean,
    });
    fsx::write_json_atomic(&out.join("split.json"), &info)?;
    Ok((p.train.len(), p.test.len()))
}

/// `anirec data stats` / `anirec data process`.
pub fn stats(exp: &Experiment) -> Result<DatasetStats> {
    let ds = data::load(&exp.data, exp.seed)?;
    Ok(DatasetStats::of(&ds))
}
