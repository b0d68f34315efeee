//! `anirec data fetch|synth|process|split|stats|explore`: the data stages on
//! their own — download a public archive ([`crate::data::fetch`]), write
//! synthetic MAL files, and ingest/clean/split an experiment's data section
//! ([`pipeline::stats`], [`pipeline::split`], [`crate::report::explore`]).

use crate::config::{load_experiment, Experiment};
use crate::data::fetch;
use crate::data::synth::SynthSpec;
use crate::{pipeline, Error, Result};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `anirec data …`.
#[derive(Debug, Subcommand)]
pub(super) enum DataCommand {
    /// Download a public MovieLens archive, verify its pinned SHA-256, unpack it.
    #[command(after_help = "Examples:
  anirec data fetch ml-100k                    # into $ANIREC_DATA_DIR, else ./data
  anirec data fetch ml-latest-small --dir ../shared/data
  ANIREC_DATA_DIR=$PWD/data cargo test --release   # tests then find it")]
    Fetch(FetchArgs),
    /// Write synthetic MAL 2020 files (anime.csv, anime_with_synopsis.csv, animelist.csv).
    #[command(after_help = "Examples:
  anirec data synth --out data/synth
  anirec data synth --out /tmp/s5m --users 25000 --anime 17000 --rows 5000000 --seed 7")]
    Synth(SynthArgs),
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

/// `anirec data fetch NAME [--dir DIR]`.
#[derive(Debug, Args)]
pub(super) struct FetchArgs {
    /// Data set.
    #[arg(value_enum)]
    name: FetchName,
    /// Data directory; the set lands in DIR/<name>/.
    #[arg(long, env = crate::testdata::DATA_DIR_ENV, default_value = "data")]
    dir: PathBuf,
    /// Mirror to download from instead of files.grouplens.org.
    #[arg(long, env = fetch::BASE_URL_ENV)]
    base_url: Option<String>,
    /// Expected SHA-256 instead of the pinned one (a re-published archive).
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,
    /// Replace DIR/<name>/ if it exists.
    #[arg(long)]
    force: bool,
}

/// `anirec data fetch NAME`: the data sets with a pinned archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FetchName {
    /// MovieLens 100K (GroupLens, 1998; 4.9 MB).
    #[value(name = "ml-100k")]
    Ml100k,
    /// MovieLens latest-small (GroupLens, 2018-09 edition; 1 MB).
    #[value(name = "ml-latest-small")]
    MlLatestSmall,
}

impl FetchName {
    /// The name as typed, which is also the archive's name in
    /// [`fetch::archive`]: spelled once, in the `#[value]` above.
    fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }
}

/// `anirec data synth --out DIR [--users N --anime N --rows N --seed S]`.
#[derive(Debug, Args)]
pub(super) struct SynthArgs {
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
}

/// `--config EXPERIMENT.yaml [--set …]`: the experiment whose data section
/// a stage uses.
#[derive(Debug, Args)]
pub(super) struct ConfigArg {
    /// Experiment YAML whose data section is used.
    #[arg(long)]
    config: PathBuf,
    #[command(flatten)]
    sets: super::Sets,
}

impl ConfigArg {
    fn load(&self) -> Result<Experiment> {
        Ok(load_experiment(&self.config, &self.sets.set)?)
    }
}

/// Runs one data stage and prints its result.
pub(super) fn run(c: DataCommand) -> Result<()> {
    match c {
        DataCommand::Fetch(a) => download(a),
        DataCommand::Synth(a) => synth(a),
        DataCommand::Process { cfg, no_cache } => {
            let mut exp = cfg.load()?;
            if no_cache {
                exp.data.cache = false;
            }
            print!("{}", pipeline::stats(&exp)?);
            Ok(())
        }
        DataCommand::Split { cfg, out } => {
            let (tr, te) = pipeline::split(&cfg.load()?, &out)?;
            println!("wrote {tr} train and {te} test rows to {}", out.display());
            Ok(())
        }
        DataCommand::Stats { cfg } => {
            print!("{}", pipeline::stats(&cfg.load()?)?);
            Ok(())
        }
        DataCommand::Explore { cfg, out } => {
            let exp = cfg.load()?;
            let out = out.unwrap_or_else(|| PathBuf::from(format!("explore-{}", exp.name)));
            super::report::print_written(&crate::report::explore(&exp, &out)?);
            Ok(())
        }
    }
}

/// Downloads, verifies and unpacks the archive; prints where it landed.
fn download(a: FetchArgs) -> Result<()> {
    let wanted = a.name.name();
    let archive = fetch::archive(&wanted)
        .ok_or_else(|| Error::Usage(format!("no pinned archive for {wanted}")))?;
    let f = fetch::fetch(
        &archive,
        &fetch::FetchOptions {
            dir: a.dir,
            base_url: a.base_url,
            sha256: a.sha256,
            force: a.force,
        },
    )?;
    println!("{}", f.path.display());
    Ok(())
}

/// Writes the synthetic files and summarises them.
fn synth(a: SynthArgs) -> Result<()> {
    let spec = SynthSpec {
        users: a.users,
        anime: a.anime,
        rows: a.rows,
        seed: a.seed,
    };
    let s = pipeline::synth(&spec, &a.out)?;
    println!(
        "wrote {} anime, {} users, {} animelist rows ({} unrated) to {}",
        s.anime,
        s.users,
        s.rows,
        s.unrated_rows,
        a.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fetchable_name_has_a_pinned_archive() {
        for n in FetchName::value_variants() {
            let name = n.name();
            assert!(fetch::archive(&name).is_some(), "{name}");
        }
    }
}
