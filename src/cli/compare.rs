//! `anirec compare`: paired per-user statistics across runs
//! ([`crate::compare::compare`]), printed, optionally written and logged to
//! Comet.

use crate::compare::{compare, log_comparison_lines, markdown, write, Options, RESAMPLES};
use crate::Result;
use clap::Args;
use std::path::PathBuf;

/// `anirec compare RUN_A RUN_B [...]`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  anirec compare runs/ml100k-ease/<run-id> runs/ml100k-mf_bpr/<run-id>
  anirec compare runs/a/<run-id> runs/b/<run-id> runs/c/<run-id> --metric ndcg@10 --out cmp/
  anirec compare runs/a/<run-id> runs/b/<run-id> --resamples 10000 --seed 3")]
pub(super) struct CompareArgs {
    /// Run directories (each holds per_user.csv); the first is the baseline.
    #[arg(required = true, num_args = 2..)]
    runs: Vec<PathBuf>,
    /// Only this metric (repeatable; default: every metric the runs share).
    #[arg(long = "metric")]
    metrics: Vec<String>,
    /// Bootstrap resamples (1,000 to 1,000,000).
    #[arg(long, default_value_t = RESAMPLES)]
    resamples: usize,
    /// Bootstrap seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write compare.json and compare.md here (default: print only).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs the comparison, prints it, writes it and logs it to Comet.
pub(super) fn run(a: CompareArgs) -> Result<()> {
    let t0 = std::time::Instant::now();
    let c = compare(
        &a.runs,
        &Options {
            resamples: a.resamples,
            seed: a.seed,
            metrics: a.metrics,
            ..Options::default()
        },
    )?;
    print!("{}", markdown(&c));
    if let Some(out) = &a.out {
        let (j, m) = write(&c, out)?;
        println!("\nwrote {} and {}", j.display(), m.display());
        for line in log_comparison_lines(&c, &j) {
            println!("{line}");
        }
    }
    eprintln!("compared in {:.3} s", t0.elapsed().as_secs_f64());
    Ok(())
}
