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
    /// Comet ML: deliver pending events, list a project's runs.
    #[command(subcommand)]
    Comet(CometCommand),
    /// Data stages: synth, process, split, stats.
    #[command(subcommand)]
    Data(DataCommand),
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
                    match &run_dir {
                        Some(dir) => pipeline::run_in(&exp, dir)?,
                        None => pipeline::run(&exp)?,
                    }
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
    }
    Ok(())
}
