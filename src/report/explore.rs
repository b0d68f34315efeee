//! Data exploration: rating distribution, the long tails of ratings per user
//! and per anime, and the most-rated genres, from the processed dataset
//! (train + test, after cleaning).

use super::markdown::{num, table};
use super::plots::{self, Bar, BarFigure, LineFigure, LinePanel, Scale, Series};
use super::{run, Plot};
use crate::data::stats::DatasetStats;
use crate::data::Dataset;
use std::collections::HashMap;
use std::fmt::Write;
use std::path::Path;

/// What the exploration computes.
pub(crate) struct Exploration {
    pub stats: DatasetStats,
    /// Ratings per user, descending.
    pub per_user: Vec<u32>,
    /// Ratings per rated anime, descending.
    pub per_item: Vec<u32>,
    /// (genre, ratings of anime in it, rated titles in it), by ratings descending.
    pub genres: Vec<(String, u64, u64)>,
}

impl Exploration {
    pub fn of(ds: &Dataset) -> Self {
        let stats = DatasetStats::of(ds);
        let mut per_user: Vec<u32> = (0..ds.train.n_rows)
            .map(|u| {
                (ds.train.indptr[u + 1] - ds.train.indptr[u] + ds.test.indptr[u + 1]
                    - ds.test.indptr[u]) as u32
            })
            .collect();
        per_user.sort_unstable_by(|a, b| b.cmp(a));
        let mut counts = ds.train.col_counts();
        for (c, t) in counts.iter_mut().zip(ds.test.col_counts()) {
            *c += t;
        }
        let mut genres: HashMap<&str, (u64, u64)> = HashMap::new();
        for (i, &c) in counts.iter().enumerate() {
            let Some(a) = ds.items.get(i).and_then(|&id| ds.catalog.get(id)) else {
                continue;
            };
            for g in &a.genres {
                let e = genres.entry(g.as_str()).or_default();
                e.0 += u64::from(c);
                e.1 += 1;
            }
        }
        let mut genres: Vec<(String, u64, u64)> = genres
            .into_iter()
            .map(|(g, (r, t))| (g.to_string(), r, t))
            .collect();
        genres.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        counts.sort_unstable_by(|a, b| b.cmp(a));
        Self {
            stats,
            per_user,
            per_item: counts,
            genres,
        }
    }
}

/// About `n` log-spaced (rank, value) points of a descending curve: a
/// long-tail line for 300,000 users draws as fast as for 300.
fn tail_points(sorted_desc: &[u32], n: usize) -> Vec<(f64, f64)> {
    let len = sorted_desc.len();
    let mut out = Vec::new();
    let mut last = 0usize;
    for k in 0..=n {
        let r = ((len as f64).powf(k as f64 / n as f64)).round() as usize;
        let r = r.clamp(1, len.max(1));
        if r > last && r <= len {
            out.push((r as f64, f64::from(sorted_desc[r - 1].max(1))));
            last = r;
        }
    }
    out
}

fn tail_figure(title: &str, who: &str, sorted_desc: &[u32]) -> LineFigure {
    LineFigure {
        title: title.to_string(),
        panels: vec![LinePanel {
            title: String::new(),
            x_desc: format!("{who} rank (most ratings first, log scale)"),
            y_desc: "ratings (log scale)".into(),
            series: vec![Series {
                name: who.to_string(),
                points: tail_points(sorted_desc, 600),
                markers: false,
            }],
            x_scale: Scale::Log,
            y_scale: Scale::Log,
            legend: plots::Legend::UpperRight,
            first_color: 0,
        }],
    }
}

/// Share of all ratings held by the top `frac` of the list.
fn top_share(sorted_desc: &[u32], frac: f64) -> f64 {
    let total: u64 = sorted_desc.iter().map(|&c| u64::from(c)).sum();
    let k = ((sorted_desc.len() as f64 * frac).ceil() as usize).min(sorted_desc.len());
    let top: u64 = sorted_desc[..k].iter().map(|&c| u64::from(c)).sum();
    if total == 0 {
        0.0
    } else {
        top as f64 / total as f64
    }
}

fn quantile(sorted_desc: &[u32], q: f64) -> f64 {
    if sorted_desc.is_empty() {
        return 0.0;
    }
    let pos = ((sorted_desc.len() - 1) as f64 * (1.0 - q)).round() as usize;
    f64::from(sorted_desc[pos])
}

/// Writes the exploration figures; a failing figure is logged and skipped.
pub(crate) fn write_plots(ex: &Exploration, plots_dir: &Path) -> Vec<Plot> {
    let mut out = Vec::new();
    let mut put =
        |stem: &str, caption: String, r: Result<Vec<std::path::PathBuf>, plots::PlotError>| {
            super::keep_plot(&mut out, stem, caption, r)
        };
    let stats = serde_json::to_value(&ex.stats).unwrap_or_default();
    if let Some(fig) = run::rating_figure(&stats) {
        put(
            "rating_distribution",
            fig.title.clone(),
            plots::save(&fig, plots_dir, "rating_distribution"),
        );
    }
    let fig = tail_figure("Ratings per user (long tail)", "user", &ex.per_user);
    put(
        "ratings_per_user",
        fig.title.clone(),
        plots::save(&fig, plots_dir, "ratings_per_user"),
    );
    let fig = tail_figure("Ratings per anime (long tail)", "anime", &ex.per_item);
    put(
        "ratings_per_anime",
        fig.title.clone(),
        plots::save(&fig, plots_dir, "ratings_per_anime"),
    );
    if !ex.genres.is_empty() {
        let fig = BarFigure {
            title: "Top genres by number of ratings (train + test)".into(),
            category_desc: String::new(),
            value_desc: "ratings of titles in the genre".into(),
            bars: ex
                .genres
                .iter()
                .take(20)
                .map(|(g, r, _)| Bar {
                    label: g.clone(),
                    value: *r as f64,
                    color: 0,
                })
                .collect(),
            horizontal: true,
        };
        put(
            "top_genres",
            fig.title.clone(),
            plots::save(&fig, plots_dir, "top_genres"),
        );
    }
    out
}

/// explore.md: the statistics, long-tail figures and the genre table.
pub(crate) fn markdown(
    name: &str,
    source: &str,
    ex: &Exploration,
    plots: &[Plot],
    plots_rel: &str,
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Data exploration: {name}\n");
    let _ = writeln!(md, "Source: `{source}`. Counts are after cleaning (unrated rows, duplicates and sparse users dropped), train and test together.\n");
    let s = &ex.stats;
    let rows = vec![
        vec!["rows read".into(), plots::fmt_num(s.rows_read as f64)],
        vec!["users".into(), plots::fmt_num(s.users as f64)],
        vec![
            "titles in the catalogue".into(),
            plots::fmt_num(s.catalog_anime as f64),
        ],
        vec![
            "titles with a train rating".into(),
            plots::fmt_num(s.rated_anime as f64),
        ],
        vec![
            "ratings (train / test)".into(),
            format!(
                "{} / {}",
                plots::fmt_num(s.train_ratings as f64),
                plots::fmt_num(s.test_ratings as f64)
            ),
        ],
        vec!["sparsity".into(), format!("{:.6}", s.sparsity)],
    ];
    md.push_str(&table(&["", "value"], &[false, true], &rows));
    let img = |md: &mut String, stem: &str| {
        if let Some(p) = plots.iter().find(|p| p.stem == stem) {
            md.push('\n');
            md.push_str(&super::markdown::image(
                &p.caption,
                &format!("{plots_rel}/{}.png", p.stem),
            ));
        }
    };
    md.push_str("\n## Ratings\n");
    img(&mut md, "rating_distribution");

    md.push_str("\n## Long tails\n\n");
    let row = |label: &str, v: &[u32]| {
        let mean = v.iter().map(|&c| f64::from(c)).sum::<f64>() / v.len().max(1) as f64;
        vec![
            label.to_string(),
            num(v.last().map(|&c| f64::from(c))),
            num(Some(quantile(v, 0.5))),
            format!("{mean:.1}"),
            num(Some(quantile(v, 0.9))),
            num(Some(quantile(v, 0.99))),
            num(v.first().map(|&c| f64::from(c))),
            format!("{:.1}%", top_share(v, 0.1) * 100.0),
        ]
    };
    md.push_str(&table(
        &[
            "ratings per",
            "min",
            "median",
            "mean",
            "p90",
            "p99",
            "max",
            "share of ratings held by the top 10%",
        ],
        &[false, true, true, true, true, true, true, true],
        &[row("user", &ex.per_user), row("anime", &ex.per_item)],
    ));
    img(&mut md, "ratings_per_user");
    img(&mut md, "ratings_per_anime");

    if !ex.genres.is_empty() {
        md.push_str("\n## Genres\n\nA title counts for every genre it lists; \"ratings\" sums the ratings of the titles in the genre.\n\n");
        let total: u64 = ex.stats.train_ratings as u64 + ex.stats.test_ratings as u64;
        let rows: Vec<Vec<String>> = ex
            .genres
            .iter()
            .take(20)
            .map(|(g, r, t)| {
                vec![
                    g.clone(),
                    plots::fmt_num(*r as f64),
                    format!("{:.1}%", *r as f64 / total.max(1) as f64 * 100.0),
                    plots::fmt_num(*t as f64),
                ]
            })
            .collect();
        md.push_str(&table(
            &["genre", "ratings", "share of ratings", "titles rated"],
            &[false, true, true, true],
            &rows,
        ));
        img(&mut md, "top_genres");
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_points_are_log_spaced_and_end_at_the_last_rank() {
        let v: Vec<u32> = (1..=100_000u32).rev().collect();
        let p = tail_points(&v, 600);
        assert!(p.len() <= 601 && p.len() > 100, "{}", p.len());
        assert_eq!(p.first(), Some(&(1.0, 100_000.0)));
        assert_eq!(p.last(), Some(&(100_000.0, 1.0)));
        assert!(p.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(tail_points(&[], 10).is_empty());
    }

    #[test]
    fn shares_and_quantiles() {
        let v = [50, 20, 10, 5, 5, 4, 3, 1, 1, 1];
        assert!((top_share(&v, 0.1) - 0.5).abs() < 1e-12);
        assert_eq!(quantile(&v, 1.0), 50.0);
        assert_eq!(quantile(&v, 0.0), 1.0);
    }
}
