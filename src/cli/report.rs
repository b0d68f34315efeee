//! `anirec report`: report.md and plots/ for a run or a sweep directory
//! ([`crate::report::report`]); also prints what `anirec data explore` wrote.

use crate::report::{self, Report};
use crate::Result;
use clap::Args;
use std::path::PathBuf;

/// `anirec report DIR [--out DIR]`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  anirec report runs/quickstart/<run-id>
  anirec report runs/sweep-synthetic/sweep-<id> --out reports/sweep")]
pub(super) struct ReportArgs {
    /// A run directory (meta.json + summary.json) or a sweep directory
    /// (sweep.json + summary.csv).
    dir: PathBuf,
    /// Output folder (default: the directory itself).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Writes the report and says where.
pub(super) fn run(a: ReportArgs) -> Result<()> {
    let r = report::report(&a.dir, a.out.as_deref())?;
    print_written(&r);
    Ok(())
}

/// One line naming the markdown file and how many plots and files it links.
pub(super) fn print_written(r: &Report) {
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
