//! Command-line interface definition and dispatch (kept in the library so it
//! is testable; the binary is a thin wrapper).

use crate::config::{load_experiment, Experiment};
use crate::data::synth::SynthSpec;
use crate::pipeline::UserSelection;
use crate::{pipeline, Error, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// anirec: anime recommendation research harness.
#[derive(Debug, Parser)]
#[command(name = "anirec", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an experiment: data, model, evaluation, tracking.
    Run {
        /// Experiment YAML (omit with --resume).
        #[arg(required_unless_present = "resume")]
        experiment: Option<PathBuf>,
        /// Resume an interrupted run from its last checkpoint.
        #[arg(long, value_name = "RUN_DIR", conflicts_with = "experiment")]
        resume: Option<PathBuf>,
        #[command(flatten)]
        sets: Sets,
        /// Mirror the run to a tracker (`comet`), even if the YAML has no
        /// `tracking.comet` section.
        #[arg(long, value_name = "BACKEND", value_parser = ["comet"])]
        tracking: Option<String>,
        /// Write the run to exactly this directory (missing or empty) instead
        /// of runs/<experiment>/<run-id>/; for pipelines with fixed output
        /// paths such as DVC.
        #[arg(long, value_name = "DIR", conflicts_with = "resume")]
        run_dir: Option<PathBuf>,
    },
    /// Config sweeps: run locally, or plan / run one trial / collect for a
    /// Kubernetes Indexed Job.
    Sweep(SweepCmd),
    /// Promote the best run's bundle for serving (verified, atomic, with
    /// lineage in PROMOTED.json; registered in Comet when configured).
    Promote {
        /// Sweep directories, run directories, or folders of runs.
        #[arg(required = true)]
        sources: Vec<PathBuf>,
        /// Metric that ranks the runs.
        #[arg(long, default_value = "ndcg@10")]
        metric: String,
        /// Whether bigger is better.
        #[arg(long, default_value = "maximize", value_parser = ["maximize", "minimize"])]
        goal: String,
        /// Destination bundle directory.
        #[arg(long, default_value = "models/promoted")]
        to: PathBuf,
        /// Rank by the local run store or by what Comet holds.
        #[arg(long, default_value = "local", value_parser = ["local", "comet"])]
        from: String,
        /// Comet project for --from comet (default: the runs' project).
        #[arg(long)]
        project: Option<String>,
        /// Comet model-registry name.
        #[arg(long, default_value = "anirec")]
        registry_name: String,
        /// Promote only when the best run beats the currently promoted
        /// model's run significantly (paired per-user tests on --metric).
        #[arg(long)]
        require_significant: bool,
    },
    /// Is a difference real? Pairs users across runs: mean difference, 95 %
    /// bootstrap CI, paired t-test and Wilcoxon p-values (Holm-corrected for
    /// more than two runs) per metric, against the first run.
    Compare(crate::compare::cli::CompareArgs),
    /// Comet ML: deliver pending events, list a project's runs.
    #[command(subcommand)]
    Comet(CometCommand),
    /// Data stages: synth, process, split, stats.
    #[command(subcommand)]
    Data(DataCommand),
    /// Write report.md and plots/ for a run or a sweep directory.
    Report {
        /// A run directory (meta.json + summary.json) or a sweep directory
        /// (sweep.json + summary.csv).
        dir: PathBuf,
        /// Output folder (default: the directory itself).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write top-k lists of a run's model (PROTOCOL recs.csv format).
    Recommend {
        /// Run directory (holds bundle/).
        #[arg(long)]
        run: PathBuf,
        /// `all`, or comma-separated raw user ids.
        #[arg(long, default_value = "all")]
        users: String,
        /// List length.
        #[arg(long, default_value_t = 10)]
        k: usize,
        /// Output CSV.
        #[arg(long)]
        out: PathBuf,
    },
}

/// `anirec sweep EXPERIMENT.yaml` or `anirec sweep plan|trial|collect …`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
struct SweepCmd {
    #[command(subcommand)]
    sub: Option<SweepSub>,
    /// Experiment YAML with a `sweep:` section. Re-running the same command
    /// resumes: finished trials are skipped, interrupted ones re-run.
    experiment: Option<PathBuf>,
    #[command(flatten)]
    sets: Sets,
    /// Sweep directory (default: <runs_dir>/<experiment>/sweep-<id>).
    #[arg(long)]
    sweep_dir: Option<PathBuf>,
    /// Trials at once (default: the YAML's sweep.parallel).
    #[arg(long)]
    parallel: Option<usize>,
    /// Re-run trials that failed in an earlier invocation.
    #[arg(long)]
    retry_failed: bool,
}

#[derive(Debug, Subcommand)]
enum SweepSub {
    /// Expand the sweep into plan.json (one trial per Job index).
    Plan {
        /// Experiment YAML with a `sweep:` section.
        experiment: PathBuf,
        #[command(flatten)]
        sets: Sets,
        /// Output plan file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run one trial of a plan (idempotent: a finished trial is skipped).
    Trial {
        /// plan.json from `anirec sweep plan`.
        #[arg(long)]
        plan: PathBuf,
        /// Trial index; a Kubernetes Indexed Job sets JOB_COMPLETION_INDEX.
        #[arg(long, env = "JOB_COMPLETION_INDEX")]
        index: usize,
        /// Sweep directory (default: the plan's folder).
        #[arg(long)]
        sweep_dir: Option<PathBuf>,
        /// Stop when the parent process dies (set by the local sweeper).
        #[arg(long, hide = true)]
        exit_with_parent: bool,
    },
    /// Take trials from a shared sweep directory until none is left (one
    /// per Kubernetes pod; required for method: tpe on a cluster).
    Worker(crate::sweep::cli::WorkerArgs),
    /// Merge trial results into summary.csv, summary.md and sweep.json.
    Collect {
        /// Sweep directory (holds plan.json and trials/).
        sweep_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum CometCommand {
    /// Deliver what is pending in the runs' outboxes (exactly once).
    Sync {
        /// Run directories (holding outbox/).
        #[arg(required = true)]
        run_dirs: Vec<PathBuf>,
    },
    /// List a project's experiments with one metric.
    Runs {
        /// Project.
        #[arg(long)]
        project: String,
        /// Workspace (default: COMET_WORKSPACE or ~/.comet.config).
        #[arg(long)]
        workspace: Option<String>,
        /// Metric to show.
        #[arg(long, default_value = "ndcg@10")]
        metric: String,
    },
}

#[derive(Debug, Args)]
struct Sets {
    /// Override a config key, e.g. --set train.epochs=3 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// Experiment YAML whose data section is used.
    #[arg(long)]
    config: PathBuf,
    #[command(flatten)]
    sets: Sets,
}

impl ConfigArg {
    fn load(&self) -> Result<Experiment> {
        Ok(load_experiment(&self.config, &self.sets.set)?)
    }
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Write synthetic MAL 2020 files (anime.csv, anime_with_synopsis.csv, animelist.csv).
    Synth {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Users.
        #[arg(long, default_value_t = SynthSpec::default().users)]
        users: u32,
        /// Anime.
        #[arg(long, default_value_t = SynthSpec::default().anime)]
        anime: u32,
        /// animelist.csv rows.
        #[arg(long, default_value_t = SynthSpec::default().rows)]
        rows: u64,
        /// Seed; the same seed gives byte-identical files.
        #[arg(long, default_value_t = SynthSpec::default().seed)]
        seed: u64,
    },
    /// Ingest + clean + split (cached as Parquet), then print statistics.
    Process {
        #[command(flatten)]
        cfg: ConfigArg,
        /// Ignore and rewrite the cache.
        #[arg(long)]
        no_cache: bool,
    },
    /// Write train.csv / test.csv in the PROTOCOL format.
    Split {
        #[command(flatten)]
        cfg: ConfigArg,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print users, anime, ratings, sparsity and the rating histogram.
    Stats {
        #[command(flatten)]
        cfg: ConfigArg,
    },
    /// Plots and explore.md: rating distribution, ratings per user and per
    /// anime, top genres.
    Explore {
        #[command(flatten)]
        cfg: ConfigArg,
        /// Output folder (default: explore-<experiment name>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn print_report(r: &crate::report::Report) {
    let files: usize = r.plots.iter().map(|p| p.files.len()).sum();
    println!(
        "wrote {} ({} plots, {files} files under {})",
        r.markdown.display(),
        r.plots.len(),
        r.markdown
            .parent()
            .map(|p| p.join("plots").display().to_string())
            .unwrap_or_else(|| "plots".into())
    );
}

fn sweep(cmd: SweepCmd) -> Result<()> {
    use crate::sweep;
    let summary = match cmd.sub {
        Some(SweepSub::Plan {
            experiment,
            sets,
            out,
        }) => {
            let plan = sweep::plan::plan(&experiment, &sets.set)?;
            sweep::write_plan(&plan, &out)?;
            if plan.method == crate::config::SweepMethod::Tpe {
                println!("{}", sweep::cli::tpe_plan_line(&plan, &out));
                return Ok(());
            }
            println!(
                "plan {}: {} trials written to {}; run trial N with `anirec sweep trial --plan {} --index N` (N = 0..{})",
                plan.id,
                plan.trials.len(),
                out.display(),
                out.display(),
                plan.trials.len().saturating_sub(1)
            );
            return Ok(());
        }
        Some(SweepSub::Trial {
            plan,
            index,
            sweep_dir,
            exit_with_parent,
        }) => {
            let dir = match sweep::run_trial(&plan, index, sweep_dir.as_deref(), exit_with_parent)?
            {
                sweep::TrialOutcome::AlreadyDone(d) => d,
                sweep::TrialOutcome::Ran(out) => out.dir,
            };
            println!("run dir: {}", dir.display());
            return Ok(());
        }
        Some(SweepSub::Collect { sweep_dir }) => sweep::collect_dir(&sweep_dir)?,
        Some(SweepSub::Worker(args)) => sweep::cli::worker(args)?,
        None => {
            let Some(experiment) = cmd.experiment else {
                return Err(Error::Usage(
                    "give an experiment file: anirec sweep EXPERIMENT.yaml".into(),
                ));
            };
            let plan = sweep::plan::plan(&experiment, &cmd.sets.set)?;
            sweep::run_local(
                &plan,
                &sweep::LocalOptions {
                    sweep_dir: cmd.sweep_dir,
                    retry_failed: cmd.retry_failed,
                    parallel: cmd.parallel,
                },
            )?
        }
    };
    print!("{}", sweep::collect::markdown(&summary));
    if summary.best().is_none() {
        return Err(Error::Model(format!(
            "no trial finished with {}; see the logs under the sweep directory",
            summary.metric
        )));
    }
    Ok(())
}

/// Logging to stderr; RUST_LOG overrides the default `info`.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Executes a parsed command line.
pub fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run {
            experiment,
            resume,
            sets,
            tracking,
            run_dir,
        } => {
            let out = match (resume, experiment) {
                (Some(dir), _) => pipeline::resume(&dir)?,
                (None, Some(experiment)) => {
                    let mut exp = load_experiment(&experiment, &sets.set)?;
                    if tracking.as_deref() == Some("comet") && exp.tracking.comet.is_none() {
                        exp.tracking.comet = Some(crate::config::CometConfig::default());
                    }
                    pipeline::run_with(
                        &exp,
                        &pipeline::RunOptions {
                            run_dir,
                            ..Default::default()
                        },
                    )?
                }
                (None, None) => {
                    return Err(Error::Usage(
                        "give an experiment file or --resume RUN_DIR".into(),
                    ))
                }
            };
            println!("run dir: {}", out.dir.display());
            let _ = out.summary;
        }
        Command::Sweep(cmd) => sweep(cmd)?,
        Command::Compare(args) => crate::compare::cli::run(args)?,
        Command::Promote {
            sources,
            metric,
            goal,
            to,
            from,
            project,
            registry_name,
            require_significant,
        } => {
            use crate::promote;
            let p = promote::promote(&promote::Options {
                sources,
                metric: metric.clone(),
                goal: if goal == "minimize" {
                    crate::config::SweepGoal::Minimize
                } else {
                    crate::config::SweepGoal::Maximize
                },
                to,
                from: if from == "comet" {
                    promote::Ranking::Comet
                } else {
                    promote::Ranking::Local
                },
                project,
                registry_name,
                require_significant,
            })?;
            println!(
                "promoted {} ({metric} = {:.4}) to {}",
                p.run_dir.display(),
                p.value,
                p.dest.display()
            );
            println!("{}", p.registry);
        }
        Command::Comet(CometCommand::Sync { run_dirs }) => {
            let mut failed = 0;
            for dir in run_dirs {
                match crate::track::comet::sync(&dir) {
                    Ok(r) if r.halted => {
                        eprintln!(
                            "{}: Comet refused the API key; {} events still pending",
                            dir.display(),
                            crate::track::comet::group(r.pending)
                        );
                        failed += 1;
                    }
                    Ok(r) => println!(
                        "{}: Comet: {} events delivered ({} now), {} pending{}",
                        dir.display(),
                        crate::track::comet::group(r.delivered),
                        crate::track::comet::group(r.delivered_now),
                        crate::track::comet::group(r.pending),
                        r.key
                            .map(|k| format!(" (experiment {k})"))
                            .unwrap_or_default()
                    ),
                    Err(e) => {
                        eprintln!("{}: {e}", dir.display());
                        failed += 1;
                    }
                }
            }
            if failed > 0 {
                return Err(Error::Usage(format!("{failed} run(s) not synced")));
            }
        }
        Command::Comet(CometCommand::Runs {
            project,
            workspace,
            metric,
        }) => {
            let rows = crate::track::comet::runs(workspace.as_deref(), &project, &metric)
                .map_err(|e| Error::Usage(e.to_string()))?;
            println!(
                "{:<34} {:<40} {metric} (last / max)",
                "experiment key", "name"
            );
            for r in rows {
                let m = match r.metric {
                    Some((cur, max)) => format!(
                        "{} / {}",
                        cur.map_or("-".into(), |v| format!("{v:.4}")),
                        max.map_or("-".into(), |v| format!("{v:.4}"))
                    ),
                    None => "-".into(),
                };
                println!("{:<34} {:<40} {m}", r.key, r.name);
            }
        }
        Command::Recommend { run, users, k, out } => {
            if k == 0 {
                return Err(Error::Usage("--k must be at least 1".into()));
            }
            let sel = if users == "all" {
                UserSelection::All
            } else {
                UserSelection::Ids(
                    users
                        .split(',')
                        .map(|u| {
                            u.trim().parse::<u32>().map_err(|_| {
                                Error::Usage(format!(
                                    "--users: {u:?} is not a user id; use `all` or ids like 3,17"
                                ))
                            })
                        })
                        .collect::<Result<_>>()?,
                )
            };
            let n = pipeline::recommend(&run, &sel, k, &out)?;
            println!("wrote {n} recommendations to {}", out.display());
        }
        Command::Data(DataCommand::Synth {
            out,
            users,
            anime,
            rows,
            seed,
        }) => {
            let s = pipeline::synth(
                &SynthSpec {
                    users,
                    anime,
                    rows,
                    seed,
                },
                &out,
            )?;
            println!(
                "wrote {} anime, {} users, {} animelist rows ({} unrated) to {}",
                s.anime,
                s.users,
                s.rows,
                s.unrated_rows,
                out.display()
            );
        }
        Command::Data(DataCommand::Process { cfg, no_cache }) => {
            let mut exp = cfg.load()?;
            if no_cache {
                exp.data.cache = false;
            }
            print!("{}", pipeline::stats(&exp)?);
        }
        Command::Data(DataCommand::Split { cfg, out }) => {
            let exp = cfg.load()?;
            let (tr, te) = pipeline::split(&exp, &out)?;
            println!("wrote {tr} train and {te} test rows to {}", out.display());
        }
        Command::Data(DataCommand::Stats { cfg }) => {
            print!("{}", pipeline::stats(&cfg.load()?)?);
        }
        Command::Data(DataCommand::Explore { cfg, out }) => {
            let exp = cfg.load()?;
            let out = out.unwrap_or_else(|| PathBuf::from(format!("explore-{}", exp.name)));
            let r = crate::report::explore(&exp, &out)?;
            print_report(&r);
        }
        Command::Report { dir, out } => {
            let r = crate::report::report(&dir, out.as_deref())?;
            print_report(&r);
        }
    }
    Ok(())
}
