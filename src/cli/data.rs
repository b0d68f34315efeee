//! `anirec data fetch|synth|process|split|stats|compare|explore`: the data
//! stages on their own — download a public archive ([`crate::data::fetch`]),
//! write synthetic MAL files, ingest/clean/split an experiment's data section
//! ([`pipeline::stats`], [`pipeline::split`], [`crate::report::explore`]), and
//! set two data sets side by side ([`crate::data::compare`]).

use crate::config::{load_experiment, DataFormat, Experiment};
use crate::data::synth::{Scale, SynthSpec};
use crate::data::{compare, fetch};
use crate::{pipeline, Error, Result};
use clap::{Args, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

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
  anirec data synth --out data/mal-full --scale mal-full
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
    /// Statistics of two MAL-layout data sets side by side (synthetic vs real
    /// MAL): rating histogram, ratings per user and per anime, popularity
    /// concentration, unrated share, watching_status mix, genres.
    #[command(
        after_help = "A and B are each a folder with animelist.csv (and anime.csv for the
genre rows), or an experiment YAML (or a data-only config such as
configs/synthetic-mal-scale.yaml) whose data section names one; synthetic data
is generated on first use. One streaming pass per file; memory grows with the
distinct users and anime, not the rows.

Examples:
  anirec data compare configs/synthetic-mal-scale.yaml ../shared/data/mal2020-real-100k
  anirec data compare data/synth data/mal2020 --markdown > compare.md"
    )]
    Compare(CompareArgs),
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

/// `anirec data synth --out DIR [--scale NAME | --users N --anime N --rows N] [--seed S]`.
#[derive(Debug, Args)]
pub(super) struct SynthArgs {
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Preset size instead of --users/--anime/--rows: quickstart = 2,000 users
    /// x 2,500 anime x 300k rows (the default sizes, configs/synthetic.yaml),
    /// mal-5m = 4,200 x 17,000 x 5.7M (the original project's working set,
    /// configs/synthetic-mal-scale.yaml), mal-full = 325,000 x 17,500 x 70M
    /// (the shape of the whole Kaggle MAL 2020 animelist.csv).
    #[arg(long, value_enum, conflicts_with_all = ["users", "anime", "rows"])]
    scale: Option<Scale>,
    /// Users [default: 2000, the quickstart size].
    #[arg(long)]
    users: Option<u32>,
    /// Anime [default: 2500].
    #[arg(long)]
    anime: Option<u32>,
    /// animelist.csv rows [default: 300000].
    #[arg(long)]
    rows: Option<u64>,
    /// Seed; the same seed gives byte-identical files.
    #[arg(long, default_value_t = SynthSpec::default().seed)]
    seed: u64,
}

/// `anirec data compare A B [--markdown]`.
#[derive(Debug, Args)]
pub(super) struct CompareArgs {
    /// First data set: a folder with animelist.csv, or an experiment YAML.
    a: PathBuf,
    /// Second data set, likewise.
    b: PathBuf,
    /// Print a GitHub markdown table instead of aligned text.
    #[arg(long)]
    markdown: bool,
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
        DataCommand::Compare(a) => compare_sets(a),
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
    let base = a.scale.unwrap_or(Scale::Quickstart).spec(a.seed);
    let spec = SynthSpec {
        users: a.users.unwrap_or(base.users),
        anime: a.anime.unwrap_or(base.anime),
        rows: a.rows.unwrap_or(base.rows),
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

/// Prints the statistics of A and B side by side.
fn compare_sets(a: CompareArgs) -> Result<()> {
    let read = |p: &Path| -> Result<compare::CompareStats> {
        let (name, dir) = compare_source(p)?;
        let bar = crate::progress::bytes_bar("reading animelist.csv");
        let tick = |done: u64, total: u64| {
            bar.set_length(total);
            bar.set_position(done);
        };
        let s = compare::dataset_stats(&dir, &name, &tick);
        bar.finish_and_clear();
        Ok(s?)
    };
    let t = compare::Comparison::new(&read(&a.a)?, &read(&a.b)?);
    if a.markdown {
        print!("{}", t.to_markdown());
    } else {
        print!("{t}");
    }
    Ok(())
}

/// A data set named on the command line: a folder, or an experiment (or a
/// data-only config) whose data section names one (generated first when
/// synthetic).
fn compare_source(p: &Path) -> Result<(String, PathBuf)> {
    if p.is_dir() {
        let name = p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        return Ok((name, p.to_path_buf()));
    }
    // A data-only config (configs/*.yaml, which experiments extend) has no
    // name: the file's stem names its column instead.
    let mut merged = crate::config::load::load_merged(p)?;
    if let serde_yaml::Value::Mapping(m) = &mut merged {
        if !m.contains_key("name") {
            let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
            m.insert("name".into(), stem.unwrap_or_else(|| "data".into()).into());
        }
    }
    let exp = Experiment::from_value(merged, p)?;
    if exp.data.format == DataFormat::Movielens {
        return Err(Error::Usage(format!(
            "{}: data compare reads the MAL 2020 layout (animelist.csv); this experiment uses MovieLens",
            p.display()
        )));
    }
    Ok((exp.name.clone(), crate::data::source_dir(&exp.data)?))
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
