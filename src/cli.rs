//! Command-line interface definition and dispatch (kept in the library so it
//! is testable; the binary is a thin wrapper).

use crate::config::{load_experiment, Experiment};
use crate::data::synth::SynthSpec;
use crate::logging::LogFormat;
use crate::pipeline::UserSelection;
use crate::{pipeline, Error, Result};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// anirec: anime recommendation research harness.
#[derive(Debug, Parser)]
#[command(name = "anirec", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines on stderr: `text`, or `json` with a `severity` field (Cloud Logging).
    #[arg(long, global = true, value_enum, env = crate::logging::LOG_FORMAT_ENV, default_value_t)]
    log_format: LogFormat,
}

impl Cli {
    /// The log format chosen by `--log-format` / `ANIREC_LOG_FORMAT`.
    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }
}

const EXIT_CODES: &str = "Exit codes: 0 ok, 2 bad config or arguments, 3 bad or missing data, \
4 model failure, 5 I/O (files, network, Comet unreachable).";

/// `--tracking`: the remote tracker a run mirrors to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Tracking {
    /// Comet ML (settings from COMET_* or ~/.comet.config).
    Comet,
}

/// `--goal`: the direction of the ranking metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Goal {
    /// Bigger is better (ndcg@10, recall@20).
    Maximize,
    /// Smaller is better (rmse, mae).
    Minimize,
}

/// `--from`: where `promote` reads the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MetricSource {
    /// The local run store.
    Local,
    /// The values Comet holds.
    Comet,
}

/// `anirec data fetch NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FetchName {
    /// MovieLens 100K (GroupLens, 1998; 4.9 MB).
    #[value(name = "ml-100k")]
    Ml100k,
    /// MovieLens latest-small (GroupLens, 2018-09 edition; 1 MB).
    #[value(name = "ml-latest-small")]
    MlLatestSmall,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an experiment: data, model, evaluation, tracking.
    #[command(after_help = "Examples:
  anirec run experiments/quickstart.yaml
  anirec run experiments/quickstart.yaml --set model.l2=200 --set eval.k=[5,10]
  anirec run experiments/quickstart.yaml --tracking comet
  anirec run --resume runs/synth-recommender_net/<run-id>")]
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
        #[arg(long, value_enum)]
        tracking: Option<Tracking>,
        /// Write the run to exactly this directory (missing or empty) instead
        /// of runs/<experiment>/<run-id>/; for pipelines with fixed output
        /// paths such as DVC.
        #[arg(long, value_name = "DIR", conflicts_with = "resume")]
        run_dir: Option<PathBuf>,
    },
    /// Config sweeps: run locally, or plan / run one trial / collect for a
    /// Kubernetes Indexed Job.
    #[command(after_help = "Examples:
  anirec sweep experiments/sweep.yaml                       # runs, or resumes, the sweep
  anirec sweep plan experiments/sweep.yaml --out plan.json
  anirec sweep trial --plan plan.json --index 3 --sweep-dir runs/sweeps/s1
  anirec sweep collect runs/sweep-synthetic/sweep-<id>")]
    Sweep(SweepCmd),
    /// Promote the best run's bundle for serving (verified, atomic, with
    /// lineage in PROMOTED.json; registered in Comet when configured).
    #[command(after_help = "Examples:
  anirec promote runs/sweep-synthetic/sweep-<id> --metric ndcg@10 --to models/promoted
  anirec promote runs/quickstart --metric rmse --goal minimize
  anirec promote runs/cometexp --from comet --registry-name anirec")]
    Promote {
        /// Sweep directories, run directories, or folders of runs.
        #[arg(required = true)]
        sources: Vec<PathBuf>,
        /// Metric that ranks the runs.
        #[arg(long, default_value = "ndcg@10")]
        metric: String,
        /// Whether bigger is better.
        #[arg(long, value_enum, default_value_t = Goal::Maximize)]
        goal: Goal,
        /// Destination bundle directory.
        #[arg(long, default_value = "models/promoted")]
        to: PathBuf,
        /// Rank by the local run store or by what Comet holds.
        #[arg(long, value_enum, default_value_t = MetricSource::Local)]
        from: MetricSource,
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
    #[command(after_help = "Examples:
  anirec compare runs/ml100k-ease/<run-id> runs/ml100k-mf_bpr/<run-id>
  anirec compare runs/a/<run-id> runs/b/<run-id> runs/c/<run-id> --metric ndcg@10 --out cmp/
  anirec compare runs/a/<run-id> runs/b/<run-id> --resamples 10000 --seed 3")]
    Compare(crate::compare::cli::CompareArgs),
    /// Comet ML: deliver pending events, list a project's runs.
    #[command(subcommand)]
    Comet(CometCommand),
    /// Data stages: fetch, synth, process, split, stats, explore.
    #[command(subcommand)]
    Data(DataCommand),
    /// Write report.md and plots/ for a run or a sweep directory.
    #[command(after_help = "Examples:
  anirec report runs/quickstart/<run-id>
  anirec report runs/sweep-synthetic/sweep-<id> --out reports/sweep")]
    Report {
        /// A run directory (meta.json + summary.json) or a sweep directory
        /// (sweep.json + summary.csv).
        dir: PathBuf,
        /// Output folder (default: the directory itself).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write top-k lists of a run's model (PROTOCOL recs.csv format).
    #[command(after_help = "Examples:
  anirec recommend --run runs/quickstart/<run-id> --users all --k 10 --out recs.csv
  anirec recommend --run runs/quickstart/<run-id> --users 3,17 --k 20 --out two.csv")]
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
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  anirec completions bash > ~/.local/share/bash-completion/completions/anirec
  anirec completions zsh > ~/.zfunc/_anirec
  anirec completions fish > ~/.config/fish/completions/anirec.fish")]
    Completions {
        /// Shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
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
    #[command(after_help = "Examples:
  anirec sweep plan experiments/sweep.yaml --out plan.json
  anirec sweep plan experiments/sweep.yaml --set data.max_rows=100000 --out plan.json")]
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
    #[command(after_help = "Examples:
  anirec sweep trial --plan plan.json --index 0 --sweep-dir runs/sweeps/s1
  JOB_COMPLETION_INDEX=3 anirec sweep trial --plan /plan/plan.json   # as in the Indexed Job")]
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
    #[command(after_help = "Examples:
  anirec sweep worker --plan plan.json --sweep-dir runs/sweeps/s1
  anirec sweep worker --sweep-dir runs/sweeps/s1 --max-trials 4   # a second worker on the same sweep
  anirec sweep worker --plan=/plan/plan.json --sweep-dir=/workspace/sweeps/anirec-sweep   # as in k8s/sweep/worker-job.yaml")]
    Worker(crate::sweep::cli::WorkerArgs),
    /// Merge trial results into summary.csv, summary.md and sweep.json.
    #[command(after_help = "Examples:
  anirec sweep collect runs/sweep-synthetic/sweep-<id>")]
    Collect {
        /// Sweep directory (holds plan.json and trials/).
        sweep_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum CometCommand {
    /// Deliver what is pending in the runs' outboxes (exactly once).
    #[command(after_help = "Examples:
  anirec comet sync runs/quickstart/<run-id>
  anirec comet sync runs/quickstart/*      # every run of an experiment")]
    Sync {
        /// Run directories (holding outbox/).
        #[arg(required = true)]
        run_dirs: Vec<PathBuf>,
    },
    /// List a project's experiments with one metric.
    #[command(after_help = "Examples:
  anirec comet runs --project anirec --metric ndcg@10
  anirec comet runs --workspace my-team --project anirec --metric rmse")]
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
    /// Download a public MovieLens archive, verify its pinned SHA-256, unpack it.
    #[command(after_help = "Examples:
  anirec data fetch ml-100k                    # into $ANIREC_DATA_DIR, else ./data
  anirec data fetch ml-latest-small --dir ../shared/data
  ANIREC_DATA_DIR=$PWD/data cargo test --release   # tests then find it")]
    Fetch {
        /// Data set.
        #[arg(value_enum)]
        name: FetchName,
        /// Data directory; the set lands in DIR/<name>/.
        #[arg(long, env = crate::testdata::DATA_DIR_ENV, default_value = "data")]
        dir: PathBuf,
        /// Mirror to download from instead of files.grouplens.org.
        #[arg(long, env = crate::data::fetch::BASE_URL_ENV)]
        base_url: Option<String>,
        /// Expected SHA-256 instead of the pinned one (a re-published archive).
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
        /// Replace DIR/<name>/ if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Write synthetic MAL 2020 files (anime.csv, anime_with_synopsis.csv, animelist.csv).
    #[command(after_help = "Examples:
  anirec data synth --out data/synth
  anirec data synth --out /tmp/s5m --users 25000 --anime 17000 --rows 5000000 --seed 7")]
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
    #[command(after_help = "Examples:
  anirec data process --config experiments/quickstart.yaml
  anirec data process --config experiments/quickstart.yaml --no-cache --set data.max_rows=100000")]
    Process {
        #[command(flatten)]
        cfg: ConfigArg,
        /// Ignore and rewrite the cache.
        #[arg(long)]
        no_cache: bool,
    },
    /// Write train.csv / test.csv in the PROTOCOL format.
    #[command(after_help = "Examples:
  anirec data split --config experiments/quickstart.yaml --out split/")]
    Split {
        #[command(flatten)]
        cfg: ConfigArg,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print users, anime, ratings, sparsity and the rating histogram.
    #[command(after_help = "Examples:
  anirec data stats --config experiments/quickstart.yaml")]
    Stats {
        #[command(flatten)]
        cfg: ConfigArg,
    },
    /// Plots and explore.md: rating distribution, ratings per user and per
    /// anime, top genres.
    #[command(after_help = "Examples:
  anirec data explore --config experiments/quickstart.yaml --out reports/explore")]
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
        return Err(sweep::SweepError::NoTrialFinished {
            metric: summary.metric,
        }
        .into());
    }
    Ok(())
}

/// Logging to stderr in `format`; RUST_LOG overrides the default `info`
/// (`log` records of reqwest, rustls and burn included).
pub fn init_logging(format: LogFormat) {
    crate::logging::init(format, "info");
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
                    if tracking == Some(Tracking::Comet) && exp.tracking.comet.is_none() {
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
                goal: match goal {
                    Goal::Minimize => crate::config::SweepGoal::Minimize,
                    Goal::Maximize => crate::config::SweepGoal::Maximize,
                },
                to,
                from: match from {
                    MetricSource::Comet => promote::Ranking::Comet,
                    MetricSource::Local => promote::Ranking::Local,
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
            // The worst failure decides the exit code: Comet or the network
            // (5) over the settings or the arguments (2).
            let (mut failed, mut unreachable) = (0, false);
            for dir in run_dirs {
                match crate::track::comet::sync(&dir) {
                    Ok(r) if r.halted => {
                        tracing::error!(
                            "{}: Comet refused the API key; {} events still pending",
                            dir.display(),
                            crate::track::comet::group(r.pending)
                        );
                        failed += 1;
                    }
                    Ok(r) if r.pending > 0 => {
                        tracing::error!(
                            "{}: Comet did not take {} events before the deadline \
                             (ANIREC_COMET_SYNC_SECS); they stay pending",
                            dir.display(),
                            crate::track::comet::group(r.pending)
                        );
                        failed += 1;
                        unreachable = true;
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
                        tracing::error!("{}: {e}", dir.display());
                        failed += 1;
                        // Whether to say "unreachable" is the exit-code table's call.
                        unreachable |= Error::from(e).exit_code() == crate::error::exit::IO;
                    }
                }
            }
            if failed > 0 {
                return Err(Error::NotSynced {
                    failed,
                    unreachable,
                });
            }
        }
        Command::Comet(CometCommand::Runs {
            project,
            workspace,
            metric,
        }) => {
            let rows = crate::track::comet::runs(workspace.as_deref(), &project, &metric)?;
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
        Command::Data(DataCommand::Fetch {
            name,
            dir,
            base_url,
            sha256,
            force,
        }) => {
            use crate::data::fetch;
            let wanted = match name {
                FetchName::Ml100k => "ml-100k",
                FetchName::MlLatestSmall => "ml-latest-small",
            };
            let archive = fetch::archive(wanted)
                .ok_or_else(|| Error::Usage(format!("no pinned archive for {wanted}")))?;
            let f = fetch::fetch(
                &archive,
                &fetch::FetchOptions {
                    dir,
                    base_url,
                    sha256,
                    force,
                },
            )?;
            println!("{}", f.path.display());
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "anirec", &mut std::io::stdout());
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
