//! The `anirec` command line: the top-level clap definition, logging set-up
//! and [`dispatch`], which only routes a parsed command to its module. Each
//! submodule owns one command group — its clap types, the checks clap cannot
//! make, the library call and what the command prints — so a new flag or
//! command goes next to the others of its group. Kept in the library so it is
//! testable; `src/bin/anirec.rs` only parses, dispatches and exits with
//! [`crate::Error::exit_code`].

mod comet;
mod compare;
mod data;
mod promote;
mod recommend;
mod report;
mod run;
mod sweep;

use crate::logging::LogFormat;
use crate::Result;
use clap::{Args, CommandFactory, Parser, Subcommand};

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

/// The exit-code summary under `anirec --help`; the codes themselves are
/// [`crate::error::exit`].
const EXIT_CODES: &str = "Exit codes: 0 ok, 2 bad config or arguments, 3 bad or missing data, \
4 model failure, 5 I/O (files, network, Comet unreachable).";

/// The commands. A variant's doc comment is the one-line summary in
/// `anirec --help` and overrides its argument struct's; the examples under
/// each command's `--help` sit with the arguments in its module.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run an experiment: data, model, evaluation, tracking.
    Run(run::RunArgs),
    /// Config sweeps: run locally, or plan / run one trial / collect for a
    /// Kubernetes Indexed Job.
    Sweep(sweep::SweepCmd),
    /// Promote the best run's bundle for serving (verified, atomic, with
    /// lineage in PROMOTED.json; registered in Comet when configured).
    Promote(promote::PromoteArgs),
    /// Is a difference real? Pairs users across runs: mean difference, 95 %
    /// bootstrap CI, paired t-test and Wilcoxon p-values (Holm-corrected for
    /// more than two runs) per metric, against the first run.
    Compare(compare::CompareArgs),
    /// Comet ML: deliver pending events, list a project's runs.
    #[command(subcommand)]
    Comet(comet::CometCommand),
    /// Data stages: fetch, synth, process, split, stats, explore.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Write report.md and plots/ for a run or a sweep directory.
    Report(report::ReportArgs),
    /// Write top-k lists of a run's model (PROTOCOL recs.csv format).
    Recommend(recommend::RecommendArgs),
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

/// `--set KEY=VALUE` overrides, shared by the commands that read an
/// experiment file.
#[derive(Debug, Args)]
struct Sets {
    /// Override a config key, e.g. --set train.epochs=3 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

/// Logging to stderr in `format`; RUST_LOG overrides the default `info`
/// (`log` records of reqwest, rustls and burn included).
pub fn init_logging(format: LogFormat) {
    crate::logging::init(format, "info");
}

/// Executes a parsed command line: each command group's module does the work.
pub fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(a) => run::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Promote(a) => promote::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Comet(c) => comet::run(c),
        Command::Data(c) => data::run(c),
        Command::Report(a) => report::run(a),
        Command::Recommend(a) => recommend::run(a),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "anirec", &mut std::io::stdout());
            Ok(())
        }
    }
}
