//! `anirec compare RUN_A RUN_B [...]`: is a difference between runs real?
//!
//! Every run writes `per_user.csv` (one row per evaluated user, one column
//! per ranking metric). A comparison pairs the users the runs share and, per
//! metric, reports the mean difference (run − baseline, the first run), a
//! seeded 95 % percentile-bootstrap interval, a paired t-test and a Wilcoxon
//! signed-rank p-value (scipy's defaults); with more than two runs each
//! p-value is Holm-corrected over the comparisons of that metric.

pub mod gate;
pub mod stats;
pub mod track;

use crate::util::fsx;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// Name of the per-user metrics file beside summary.json.
pub const PER_USER: &str = "per_user.csv";
/// Bootstrap resamples by default.
pub const RESAMPLES: usize = 2000;
/// At most this many metric columns are read from a per_user.csv.
const MAX_COLUMNS: usize = 1024;

/// Why a comparison cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A file is missing or malformed.
    #[error("{path}: {msg}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        msg: String,
    },
    /// The request makes no sense.
    #[error("{0}")]
    Usage(String),
    /// Writing the result failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// One run's per-user values.
#[derive(Debug, Clone)]
pub struct PerUser {
    /// Metric names, in file order.
    pub metrics: Vec<String>,
    /// Raw user id → one value per metric.
    pub rows: BTreeMap<u64, Vec<f64>>,
}

impl PerUser {
    /// The values of one metric, by user.
    pub fn column(&self, metric: &str) -> Option<BTreeMap<u64, f64>> {
        let j = self.metrics.iter().position(|m| m == metric)?;
        Some(self.rows.iter().map(|(&u, v)| (u, v[j])).collect())
    }
}

/// Reads `<run>/per_user.csv` (or the file itself).
pub fn read_per_user(run: &Path) -> Result<PerUser, CompareError> {
    let path = if run.is_dir() {
        run.join(PER_USER)
    } else {
        run.to_path_buf()
    };
    let bad = |msg: String| CompareError::File {
        path: path.clone(),
        msg,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        bad(format!(
            "{e} (runs write it since per-user metrics exist; re-run the experiment)"
        ))
    })?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    if header.first() != Some(&"user_id") || header.len() < 2 || header.len() > MAX_COLUMNS {
        return Err(bad("not a per_user.csv (header user_id,<metrics…>)".into()));
    }
    let metrics: Vec<String> = header[1..].iter().map(|s| s.to_string()).collect();
    let mut rows = BTreeMap::new();
    for (n, line) in lines.enumerate() {
        if line.is_empty() {
            continue;
        }
        let mut f = line.split(',');
        let user: u64 = f
            .next()
            .and_then(|u| u.parse().ok())
            .ok_or_else(|| bad(format!("line {}: bad user id", n + 2)))?;
        let vals: Vec<f64> = f
            .map(|x| x.parse::<f64>().ok().filter(|v| v.is_finite()))
            .collect::<Option<_>>()
            .ok_or_else(|| bad(format!("line {}: a value is not a finite number", n + 2)))?;
        if vals.len() != metrics.len() {
            return Err(bad(format!(
                "line {}: {} values for {} metrics",
                n + 2,
                vals.len(),
                metrics.len()
            )));
        }
        rows.insert(user, vals);
    }
    Ok(PerUser { metrics, rows })
}

/// Writes per-user metrics: `user_id,<metric>…` with one row per user.
/// Values are written in the shortest form that reads back exactly.
pub fn write_per_user(
    path: &Path,
    metrics: &[String],
    users: &[u64],
    values: &[f64],
) -> io::Result<()> {
    let m = metrics.len();
    fsx::write_atomic_with(path, |w| {
        use std::io::Write;
        writeln!(w, "user_id,{}", metrics.join(","))?;
        let mut line = String::with_capacity(16 + m * 20);
        for (u, row) in users.iter().zip(values.chunks_exact(m.max(1))) {
            line.clear();
            let _ = write!(line, "{u}");
            for v in row {
                let _ = write!(line, ",{v}");
            }
            line.push('\n');
            w.write_all(line.as_bytes())?;
        }
        Ok(())
    })
}

/// Settings of a comparison.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bootstrap resamples (at least 1,000).
    pub resamples: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Confidence level of the interval.
    pub level: f64,
    /// Significance level for the verdict.
    pub alpha: f64,
    /// Only these metrics (all shared ones when empty).
    pub metrics: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            resamples: RESAMPLES,
            seed: 0,
            level: 0.95,
            alpha: 0.05,
            metrics: Vec::new(),
        }
    }
}

/// One metric of one run against the baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Test {
    pub metric: String,
    /// Users paired.
    pub users: usize,
    /// Baseline mean.
    pub mean_a: f64,
    /// This run's mean.
    pub mean_b: f64,
    /// Mean of (b − a).
    pub diff: f64,
    /// Bootstrap interval of the mean difference.
    pub ci: [f64; 2],
    /// Paired t statistic.
    pub t: f64,
    /// Paired t-test p-value (two-sided).
    pub p_t: f64,
    /// Wilcoxon statistic min(W+, W−).
    pub w: f64,
    /// Wilcoxon p-value (two-sided).
    pub p_wilcoxon: f64,
    /// How the Wilcoxon p was computed: exact, permutation or normal.
    pub wilcoxon_method: &'static str,
    /// Holm-adjusted t-test p (equal to p_t for a single comparison).
    pub p_t_holm: f64,
    /// Holm-adjusted Wilcoxon p.
    pub p_wilcoxon_holm: f64,
    /// Both adjusted p-values below alpha.
    pub significant: bool,
}

/// One run against the baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    /// The run.
    pub run: PathBuf,
    /// Per metric.
    pub tests: Vec<Test>,
}

/// The whole comparison (`compare.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The first run.
    pub baseline: PathBuf,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Interval level.
    pub level: f64,
    /// Significance level.
    pub alpha: f64,
    /// Holm correction over this many comparisons per metric.
    pub family: usize,
    /// Each other run.
    pub pairs: Vec<Pair>,
}

/// The paired test of two per-user columns (users both have).
pub fn paired(
    metric: &str,
    a: &BTreeMap<u64, f64>,
    b: &BTreeMap<u64, f64>,
    opts: &Options,
) -> Test {
    let (mut va, mut vb) = (Vec::new(), Vec::new());
    for (u, x) in a {
        if let Some(y) = b.get(u) {
            va.push(*x);
            vb.push(*y);
        }
    }
    let n = va.len().max(1) as f64;
    let d: Vec<f64> = va.iter().zip(&vb).map(|(x, y)| y - x).collect();
    let (t, p_t) = stats::paired_t(&d);
    let (w, p_w, method) = stats::wilcoxon(&d);
    let (lo, hi) = stats::bootstrap_ci(&d, opts.resamples, opts.level, opts.seed);
    Test {
        metric: metric.to_string(),
        users: d.len(),
        mean_a: va.iter().sum::<f64>() / n,
        mean_b: vb.iter().sum::<f64>() / n,
        diff: d.iter().sum::<f64>() / n,
        ci: [lo, hi],
        t,
        p_t,
        w,
        p_wilcoxon: p_w,
        wilcoxon_method: method,
        p_t_holm: p_t,
        p_wilcoxon_holm: p_w,
        significant: p_t < opts.alpha && p_w < opts.alpha,
    }
}

/// Compares every run after the first against the first.
pub fn compare(runs: &[PathBuf], opts: &Options) -> Result<Comparison, CompareError> {
    if runs.len() < 2 {
        return Err(CompareError::Usage(
            "give at least two runs: anirec compare RUN_A RUN_B [...]".into(),
        ));
    }
    if opts.resamples < 1000 || opts.resamples > 1_000_000 {
        return Err(CompareError::Usage(format!(
            "--resamples {} is not allowed; allowed: 1000..=1000000",
            opts.resamples
        )));
    }
    let per: Vec<PerUser> = runs
        .iter()
        .map(|r| read_per_user(r))
        .collect::<Result<_, _>>()?;
    let base = &per[0];
    let metrics: Vec<String> = base
        .metrics
        .iter()
        .filter(|m| opts.metrics.is_empty() || opts.metrics.contains(m))
        .filter(|m| per[1..].iter().all(|p| p.metrics.contains(m)))
        .cloned()
        .collect();
    if metrics.is_empty() {
        return Err(CompareError::Usage(
            "the runs share no per-user metric (check --metric and eval.k)".into(),
        ));
    }
    let mut pairs: Vec<Pair> = Vec::new();
    for (run, p) in runs[1..].iter().zip(&per[1..]) {
        let tests = metrics
            .iter()
            .filter_map(|m| Some(paired(m, &base.column(m)?, &p.column(m)?, opts)))
            .collect();
        pairs.push(Pair {
            run: run.clone(),
            tests,
        });
    }
    for (j, _) in metrics.iter().enumerate() {
        let pt: Vec<f64> = pairs.iter().map(|p| p.tests[j].p_t).collect();
        let pw: Vec<f64> = pairs.iter().map(|p| p.tests[j].p_wilcoxon).collect();
        let (ht, hw) = (stats::holm(&pt), stats::holm(&pw));
        for (i, p) in pairs.iter_mut().enumerate() {
            let t = &mut p.tests[j];
            t.p_t_holm = ht[i];
            t.p_wilcoxon_holm = hw[i];
            t.significant = ht[i] < opts.alpha && hw[i] < opts.alpha;
        }
    }
    Ok(Comparison {
        baseline: runs[0].clone(),
        resamples: opts.resamples,
        seed: opts.seed,
        level: opts.level,
        alpha: opts.alpha,
        family: pairs.len(),
        pairs,
    })
}

/// A short value for tables: 4 significant digits, or `<1e-300`.
fn p_text(p: f64) -> String {
    if p.is_nan() {
        "n/a".into()
    } else if p < 1e-300 {
        "<1e-300".into()
    } else if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

/// The comparison as Markdown tables, one per run.
pub fn markdown(c: &Comparison) -> String {
    let mut out = format!(
        "# Comparison against {}\n\nPaired by user; difference = run − baseline; {:.0} % percentile bootstrap ({} resamples, seed {}); two-sided paired t-test and Wilcoxon signed-rank{}; significant = both below {}.\n",
        c.baseline.display(),
        c.level * 100.0,
        c.resamples,
        c.seed,
        if c.family > 1 {
            format!(", Holm-corrected over {} comparisons", c.family)
        } else {
            String::new()
        },
        c.alpha
    );
    for p in &c.pairs {
        let _ = writeln!(
            out,
            "\n## {}\n\n| metric | users | baseline | run | diff | 95 % CI | p (t) | p (Wilcoxon) | significant |\n|---|---:|---:|---:|---:|---|---:|---:|---|",
            p.run.display()
        );
        for t in &p.tests {
            let _ = writeln!(
                out,
                "| {} | {} | {:.4} | {:.4} | {:+.4} | [{:+.4}, {:+.4}] | {} | {} | {} |",
                t.metric,
                t.users,
                t.mean_a,
                t.mean_b,
                t.diff,
                t.ci[0],
                t.ci[1],
                p_text(t.p_t_holm),
                p_text(t.p_wilcoxon_holm),
                if t.significant { "yes" } else { "no" }
            );
        }
    }
    out
}

/// Writes compare.json and compare.md into `out`.
pub fn write(c: &Comparison, out: &Path) -> io::Result<(PathBuf, PathBuf)> {
    fsx::create_dir_all(out)?;
    let (j, m) = (out.join("compare.json"), out.join("compare.md"));
    fsx::write_json_atomic(&j, c)?;
    fsx::write_atomic(&m, markdown(c).as_bytes())?;
    Ok((j, m))
}

/// Logs a written comparison to the tracked runs (see [`track`]).
pub fn log_comparison_lines(c: &Comparison, json: &Path) -> Vec<String> {
    track::log_comparison(c, json)
}

#[cfg(test)]
mod tests;
