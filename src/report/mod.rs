//! Plots and reports: `anirec report RUN_OR_SWEEP_DIR`, `anirec data
//! explore`, and the plots every `anirec run` leaves in `<run_dir>/plots/`
//! (which the trackers log as images).
//!
//! Figures are drawn with plotters into SVG and PNG; report.md links the
//! PNGs by relative path so a report folder can be moved or committed whole.

mod explore;
mod inputs;
mod markdown;
mod pca;
mod plots;
mod run;
mod sweep;

use crate::bundle::CatalogEntry;
use crate::config::Experiment;
use crate::model::Engine;
use crate::util::fsx;
use std::path::{Path, PathBuf};

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The folder is neither a run nor a sweep.
    #[error("{}: neither a run directory (meta.json + summary.json) nor a sweep directory (sweep.json + summary.csv); give the folder `anirec run` printed after \"run dir:\", or a sweep's folder", path.display())]
    NotReportable {
        /// The folder.
        path: PathBuf,
    },
    /// An input file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        source: std::io::Error,
    },
    /// An input file is malformed.
    #[error("{}: line {line}: {msg}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// Writing the report failed.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One figure, written as `<stem>.svg` and `<stem>.png`.
#[derive(Debug, Clone)]
pub struct Plot {
    /// File stem.
    pub stem: String,
    /// Its title (used as alt text).
    pub caption: String,
    /// The files written.
    pub files: Vec<PathBuf>,
}

/// Keeps a written figure; a figure that failed is logged and skipped, so one
/// bad plot never costs the others (or the run that draws them).
pub(crate) fn keep_plot(
    out: &mut Vec<Plot>,
    stem: &str,
    caption: String,
    r: Result<Vec<PathBuf>, plots::PlotError>,
) {
    match r {
        Ok(files) => out.push(Plot {
            stem: stem.to_string(),
            caption,
            files,
        }),
        Err(e) => tracing::warn!(plot = %stem, error = %e, "could not draw a plot; skipping it"),
    }
}

/// What a report command wrote.
#[derive(Debug, Clone)]
pub struct Report {
    /// `run`, `sweep` or `data`.
    pub kind: &'static str,
    /// The markdown file.
    pub markdown: PathBuf,
    /// The figures.
    pub plots: Vec<Plot>,
}

fn is_run(dir: &Path) -> bool {
    dir.join("meta.json").is_file() && dir.join("summary.json").is_file()
}

fn is_sweep(dir: &Path) -> bool {
    dir.join("sweep.json").is_file() && dir.join("summary.csv").is_file()
}

fn write_md(path: &Path, text: &str) -> Result<(), ReportError> {
    fsx::write_atomic(path, text.as_bytes()).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// `anirec report`: report.md and `plots/` for a run or a sweep directory,
/// written into `out` (default: the directory itself).
pub fn report(dir: &Path, out: Option<&Path>) -> Result<Report, ReportError> {
    let out = out.unwrap_or(dir);
    let plots_dir = out.join("plots");
    let md_path = out.join("report.md");
    if is_run(dir) {
        let inp = run::RunInputs::read(dir)?;
        let emb = if dir.join("bundle/manifest.json").is_file() {
            match crate::bundle::read(&crate::bundle::in_run(dir)) {
                Ok(b) => run::embedding_of(&b.engine, &b.catalog),
                Err(e) => {
                    tracing::warn!(error = %e, "bundle unreadable; the report has no embedding plot");
                    None
                }
            }
        } else {
            None
        };
        let mut plots = run::write_plots(&inp, emb.as_ref(), &plots_dir);
        if let Some(fig) = inp.data_stats.as_ref().and_then(run::rating_figure) {
            match plots::save(&fig, &plots_dir, "rating_distribution") {
                Ok(files) => plots.push(Plot {
                    stem: "rating_distribution".into(),
                    caption: fig.title.clone(),
                    files,
                }),
                Err(e) => tracing::warn!(error = %e, "could not draw the rating distribution"),
            }
        }
        let md = run::markdown(&inp, &plots, "plots", &[]);
        write_md(&md_path, &md)?;
        Ok(Report {
            kind: "run",
            markdown: md_path,
            plots,
        })
    } else if is_sweep(dir) {
        let inp = sweep::SweepInputs::read(dir)?;
        let plots = sweep::write_plots(&inp, &plots_dir);
        let md = sweep::markdown(&inp, dir, &plots, "plots");
        write_md(&md_path, &md)?;
        Ok(Report {
            kind: "sweep",
            markdown: md_path,
            plots,
        })
    } else {
        Err(ReportError::NotReportable {
            path: dir.to_path_buf(),
        })
    }
}

/// The plots of a finished run, into `<run_dir>/plots/`: training curves
/// (when the model trained per epoch), metrics at each K, the member
/// comparison (hybrids), and the PCA of item embeddings (when the engine
/// has any). `model` is the fitted engine and its catalogue, in item order.
pub fn run_plots(
    run_dir: &Path,
    model: Option<(&Engine, &[CatalogEntry])>,
) -> Result<Vec<Plot>, ReportError> {
    let inp = run::RunInputs::read(run_dir)?;
    let emb = model.and_then(|(e, c)| run::embedding_of(e, c));
    Ok(run::write_plots(&inp, emb.as_ref(), &run_dir.join("plots")))
}

/// `anirec data explore`: explore.md and `plots/` in `out`, from the data
/// section of `exp`.
pub fn explore(exp: &Experiment, out: &Path) -> crate::Result<Report> {
    let ds = crate::data::load(&exp.data, exp.seed)?;
    let ex = explore::Exploration::of(&ds);
    let plots = explore::write_plots(&ex, &out.join("plots"));
    let source = crate::data::source_dir(&exp.data)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let md = explore::markdown(&exp.name, &source, &ex, &plots, "plots");
    let md_path = out.join("explore.md");
    write_md(&md_path, &md)?;
    Ok(Report {
        kind: "data",
        markdown: md_path,
        plots,
    })
}
