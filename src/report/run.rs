//! A run's plots (training curves, metrics at each K, member comparison,
//! embedding projection) and its report.md.

use super::inputs::{self, Curves};
use super::markdown::{self, num, table};
use super::pca::{self, Rows};
use super::plots::{
    self, Bar, BarFigure, Group, LineFigure, LinePanel, Scale, ScatterFigure, Series, XAxis,
};
use super::{Plot, ReportError};
use crate::bundle::CatalogEntry;
use crate::config::ModelConfig;
use crate::model::{Engine, Part};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// Metric families reported at each K, in table order.
pub(crate) const AT_K: [&str; 6] = ["precision", "recall", "ndcg", "map", "hit_rate", "coverage"];

/// Everything read from a run directory.
pub(crate) struct RunInputs {
    pub meta: Option<Json>,
    pub summary: BTreeMap<String, f64>,
    pub config: Option<Yaml>,
    pub data_stats: Option<Json>,
    pub curves: Vec<Curves>,
    /// 95 % bootstrap intervals of the headline metrics from per_user.csv:
    /// (metric, mean, lo, hi).
    pub cis: Vec<(String, f64, f64, f64)>,
}

/// Above this many evaluated users the report's intervals are the normal
/// ones, mean ± 1.96·s/√n: 2,000 bootstrap resamples of 322,000 users for
/// five metrics drew 3.2 billion numbers (63 s, silently, after a
/// MAL-scale run), and at this size the two intervals agree to the four
/// digits shown (the mean of 20,000 per-user values is normal to well
/// within that).
const NORMAL_CI_USERS: usize = 20_000;

/// The 95 % normal interval of the mean of `col`.
fn normal_ci(col: &[f64], mean: f64) -> (f64, f64) {
    let n = col.len() as f64;
    let var = col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let half = 1.959_963_984_540_054 * (var / n).sqrt();
    (mean - half, mean + half)
}

/// 95 % intervals of the metrics at the headline K, from per_user.csv
/// (none for a run without it): percentile bootstrap, or normal above
/// [`NORMAL_CI_USERS`] users.
fn headline_cis(dir: &Path, summary: &BTreeMap<String, f64>) -> Vec<(String, f64, f64, f64)> {
    use crate::compare::{read_per_user, stats, RESAMPLES};
    let Ok(pu) = read_per_user(dir) else {
        return Vec::new();
    };
    let k = if summary.contains_key("ndcg@10") {
        "10".to_string()
    } else {
        match pu.metrics.iter().find(|m| m.starts_with("ndcg@")) {
            Some(m) => m["ndcg@".len()..].to_string(),
            None => return Vec::new(),
        }
    };
    AT_K[..5]
        .iter()
        .filter_map(|m| {
            let name = format!("{m}@{k}");
            let col: Vec<f64> = pu.column(&name)?.into_values().collect();
            let mean = col.iter().sum::<f64>() / col.len().max(1) as f64;
            let (lo, hi) = if col.len() > NORMAL_CI_USERS {
                normal_ci(&col, mean)
            } else {
                stats::bootstrap_ci(&col, RESAMPLES, 0.95, 0)
            };
            Some((name, mean, lo, hi))
        })
        .collect()
}

impl RunInputs {
    /// Reads a run directory; summary.json is required, the rest optional
    /// (a failed run, or one from an older anirec, still gets a report).
    pub fn read(dir: &Path) -> Result<Self, ReportError> {
        let summary = inputs::read_summary(&dir.join("summary.json"))?;
        let meta = inputs::read_json(&dir.join("meta.json")).ok();
        let config = std::fs::read_to_string(dir.join("config.yaml"))
            .ok()
            .and_then(|t| serde_yaml::from_str(&t).ok());
        let data_stats = inputs::read_json(&dir.join("data_stats.json")).ok();
        let metrics = dir.join("metrics.jsonl");
        let curves = if metrics.exists() {
            inputs::epoch_curves(&inputs::read_metrics(&metrics)?)
        } else {
            Vec::new()
        };
        let cis = headline_cis(dir, &summary);
        Ok(Self {
            meta,
            summary,
            config,
            data_stats,
            curves,
            cis,
        })
    }

    fn model_kind(&self) -> String {
        self.config
            .as_ref()
            .and_then(|c| c["model"]["kind"].as_str())
            .unwrap_or("model")
            .to_string()
    }

    /// Ks present in the summary, ascending.
    pub fn ks(&self) -> Vec<u32> {
        let mut ks: Vec<u32> = self
            .summary
            .keys()
            .filter(|k| !k.contains('/'))
            .filter_map(|k| k.split_once('@')?.1.parse().ok())
            .collect();
        ks.sort_unstable();
        ks.dedup();
        ks
    }

    /// The headline metric: ndcg@10, else the first ndcg@K.
    pub fn primary(&self) -> Option<String> {
        if self.summary.contains_key("ndcg@10") {
            return Some("ndcg@10".into());
        }
        self.ks()
            .into_iter()
            .map(|k| format!("ndcg@{k}"))
            .find(|m| self.summary.contains_key(m))
    }

    /// Members evaluated alone (`<member>/<metric>` keys), in summary order.
    pub fn members(&self) -> Vec<String> {
        let mut m: Vec<String> = self
            .summary
            .keys()
            .filter_map(|k| k.split_once('/').map(|(a, _)| a.to_string()))
            .collect();
        m.dedup();
        m
    }

    /// Names for the trainers whose curves were logged, in order: the
    /// config's models that train epoch by epoch, when their count matches.
    fn trainer_names(&self) -> Vec<String> {
        let model = self.config.as_ref().map(|c| &c["model"]);
        let parsed = model.and_then(|m| {
            ModelConfig::from_value(Some(m), std::path::Path::new("config.yaml"), "model").ok()
        });
        let kinds: Vec<String> = parsed
            .iter()
            .flat_map(|m| m.specs())
            .filter(|s| s.trains())
            .map(|s| s.kind().to_string())
            .collect();
        if kinds.len() == self.curves.len() {
            kinds
        } else {
            (1..=self.curves.len())
                .map(|k| format!("trainer {k}"))
                .collect()
        }
    }
}

/// Item vectors to project, and what they are.
pub(crate) struct Embedding {
    pub source: String,
    pub pca: pca::Pca,
    pub genres: Vec<Option<String>>,
}

/// PCA of the item embeddings of `engine`: factor vectors of mf_bpr, else
/// recommender_net, else any member with item vectors (factors, an
/// autoencoder's output layer), else content vectors. `None`
/// when the model has no item vectors (EASE, kNN, popularity).
pub(crate) fn embedding_of(engine: &Engine, catalog: &[CatalogEntry]) -> Option<Embedding> {
    let factors = |name: Option<&str>| {
        engine.members.iter().find_map(|m| {
            let item = m.part.item_vectors()?;
            name.is_none_or(|n| n == m.name)
                .then(|| (m.name.clone(), item))
        })
    };
    let (source, pca) = if let Some((name, item)) = factors(Some("mf_bpr"))
        .or_else(|| factors(Some("recommender_net")))
        .or_else(|| factors(None))
    {
        let rows = Rows::Dense {
            data: &item.data,
            n: item.rows,
            d: item.cols,
        };
        (
            format!("{name} item factors ({}-d)", item.cols),
            pca::pca2(&rows)?,
        )
    } else {
        let (name, vectors) = engine.members.iter().find_map(|m| match &m.part {
            Part::Content { vectors, .. } => Some((m.name.clone(), vectors)),
            _ => None,
        })?;
        (
            format!("{name} vectors ({} features)", vectors.n_cols),
            pca::pca2(&Rows::Sparse(vectors))?,
        )
    };
    let genres = (0..pca.scores.len())
        .map(|i| catalog.get(i).and_then(|c| c.genres.first().cloned()))
        .collect();
    Some(Embedding {
        source,
        pca,
        genres,
    })
}

/// Writes the run's figures into `plots_dir`. A figure that fails is
/// logged and skipped; the others are still written.
pub(crate) fn write_plots(inp: &RunInputs, emb: Option<&Embedding>, plots_dir: &Path) -> Vec<Plot> {
    let mut out = Vec::new();
    let mut put =
        |stem: String, caption: String, r: Result<Vec<std::path::PathBuf>, plots::PlotError>| {
            super::keep_plot(&mut out, &stem, caption, r)
        };
    let names = inp.trainer_names();
    for (c, name) in inp.curves.iter().zip(&names) {
        let stem = if inp.curves.len() == 1 {
            "training".to_string()
        } else {
            format!("training-{}", name.replace(' ', "_"))
        };
        let fig = training_figure(c, name);
        put(
            stem.clone(),
            fig.title.clone(),
            plots::save(&fig, plots_dir, &stem),
        );
    }
    if let Some(fig) = metrics_at_k_figure(inp) {
        put(
            "metrics_at_k".into(),
            fig.title.clone(),
            plots::save(&fig, plots_dir, "metrics_at_k"),
        );
    }
    if let Some(fig) = members_figure(inp) {
        put(
            "members".into(),
            fig.title.clone(),
            plots::save(&fig, plots_dir, "members"),
        );
    }
    if let Some(e) = emb {
        let fig = embedding_figure(e);
        put(
            "embeddings_pca".into(),
            fig.title.clone(),
            plots::save(&fig, plots_dir, "embeddings_pca"),
        );
    }
    out
}

fn training_figure(c: &Curves, name: &str) -> LineFigure {
    let series = |metric: &str, label: &str| {
        c.series.get(metric).map(|s| Series {
            name: label.to_string(),
            points: s.iter().map(|&(e, v)| (f64::from(e), v)).collect(),
            markers: s.len() <= 40,
        })
    };
    let loss: Vec<Series> = [
        series("train_loss", "train loss"),
        series("val_loss", "validation loss"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut panels = vec![LinePanel {
        title: "loss".into(),
        x_desc: "epoch".into(),
        y_desc: "loss".into(),
        series: loss,
        x_scale: Scale::Linear,
        y_scale: Scale::Linear,
        legend: plots::Legend::UpperRight,
        first_color: 0,
    }];
    if let Some(lr) = series("lr", "learning rate") {
        panels.push(LinePanel {
            title: "learning rate".into(),
            x_desc: "epoch".into(),
            y_desc: "learning rate".into(),
            series: vec![lr],
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            legend: plots::Legend::UpperRight,
            first_color: 2,
        });
    }
    LineFigure {
        title: format!("{name}: loss and learning rate per epoch"),
        panels,
    }
}

fn metrics_at_k_figure(inp: &RunInputs) -> Option<LineFigure> {
    let ks = inp.ks();
    let series: Vec<Series> = AT_K
        .iter()
        .filter_map(|m| {
            let points: Vec<(f64, f64)> = ks
                .iter()
                .filter_map(|k| {
                    inp.summary
                        .get(&format!("{m}@{k}"))
                        .map(|v| (f64::from(*k), *v))
                })
                .collect();
            (!points.is_empty()).then(|| Series {
                name: m.to_string(),
                points,
                markers: true,
            })
        })
        .collect();
    if series.is_empty() {
        return None;
    }
    Some(LineFigure {
        title: format!("{}: metrics at each K", inp.model_kind()),
        panels: vec![LinePanel {
            title: String::new(),
            x_desc: "K (list length)".into(),
            y_desc: "value".into(),
            series,
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            legend: plots::Legend::Side,
            first_color: 0,
        }],
    })
}

/// The hybrid and each member alone, best first.
pub(crate) fn member_rows(inp: &RunInputs, metric: &str) -> Vec<(String, f64)> {
    let mut rows: Vec<(String, f64)> = inp
        .members()
        .into_iter()
        .filter_map(|m| inp.summary.get(&format!("{m}/{metric}")).map(|v| (m, *v)))
        .collect();
    if rows.is_empty() {
        return rows;
    }
    if let Some(v) = inp.summary.get(metric) {
        rows.push((format!("{} (blend)", inp.model_kind()), *v));
    }
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    rows
}

fn members_figure(inp: &RunInputs) -> Option<BarFigure> {
    let metric = inp.primary()?;
    let rows = member_rows(inp, &metric);
    if rows.is_empty() {
        return None;
    }
    let bars = rows
        .into_iter()
        .map(|(label, value)| Bar {
            color: if label.ends_with("(blend)") { 3 } else { 0 },
            label,
            value,
        })
        .collect();
    Some(BarFigure {
        title: format!("{metric}: the blend and each member alone"),
        category_desc: String::new(),
        value_desc: metric,
        bars,
        horizontal: true,
    })
}

fn embedding_figure(e: &Embedding) -> ScatterFigure {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for g in e.genres.iter().flatten() {
        *counts.entry(g.as_str()).or_default() += 1;
    }
    let mut top: Vec<(&str, usize)> = counts.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    top.truncate(plots::GREY);
    let mut groups: Vec<Group> = top
        .iter()
        .enumerate()
        .map(|(k, (g, c))| Group {
            name: format!("{g} ({c})"),
            points: Vec::new(),
            color: k,
        })
        .collect();
    let mut other = Group {
        name: String::new(),
        points: Vec::new(),
        color: plots::GREY,
    };
    for (p, g) in e.pca.scores.iter().zip(&e.genres) {
        match g.as_deref().and_then(|g| top.iter().position(|t| t.0 == g)) {
            Some(k) => groups[k].points.push(*p),
            None => other.points.push(*p),
        }
    }
    other.name = format!("other / none ({})", other.points.len());
    // Grey first, so the named genres are drawn on top of it.
    if !other.points.is_empty() {
        groups.insert(0, other);
    }
    let (e1, e2) = e.pca.explained();
    ScatterFigure {
        title: format!("PCA of {}, coloured by first genre", e.source),
        x_desc: format!("PC1 ({:.1}% of variance)", e1 * 100.0),
        y_desc: format!("PC2 ({:.1}% of variance)", e2 * 100.0),
        x: XAxis::Numeric(Scale::Linear),
        radius: if e.pca.scores.len() > 3000 { 2 } else { 4 },
        groups,
        legend: true,
    }
}

/// The rating histogram in data_stats.json as a bar chart.
pub(crate) fn rating_figure(stats: &Json) -> Option<BarFigure> {
    let hist = stats["rating_histogram"].as_array()?;
    let bars: Vec<Bar> = hist
        .iter()
        .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
        .map(|(r, c)| Bar {
            label: plots::fmt_num(r),
            value: c,
            color: 0,
        })
        .collect();
    (!bars.is_empty()).then(|| BarFigure {
        title: "Rating distribution (train + test)".into(),
        category_desc: "rating".into(),
        value_desc: "ratings".into(),
        bars,
        horizontal: false,
    })
}

/// A config as dotted keys; lists of scalars become `[a, b]`, other lists
/// are left out (members get their own table).
fn flat_config(v: &Yaml) -> Vec<(String, String)> {
    crate::config::flatten(v, &|v| match v {
        Yaml::Sequence(s)
            if s.iter()
                .all(|x| !matches!(x, Yaml::Mapping(_) | Yaml::Sequence(_))) =>
        {
            let items: Vec<String> = s.iter().map(scalar).collect();
            Some(format!("[{}]", items.join(", ")))
        }
        Yaml::Sequence(_) => None,
        other => Some(scalar(other)),
    })
}

fn scalar(v: &Yaml) -> String {
    match v {
        Yaml::Null => "null".into(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        Yaml::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// The config keys worth a line in a report.
fn config_rows(cfg: &Yaml, trains: bool) -> Vec<Vec<String>> {
    let flat = flat_config(cfg);
    let keep = |k: &str| {
        matches!(
            k,
            "name"
                | "seed"
                | "data.format"
                | "data.source"
                | "data.max_rows"
                | "data.sample"
                | "data.min_user_ratings"
                | "data.split.kind"
                | "data.split.test_ratio"
                | "data.holdout"
                | "eval.k"
                | "eval.relevance_threshold"
        ) || k.starts_with("model.")
            || (trains && k.starts_with("train.") && !k.starts_with("train.lr_schedule."))
            || (cfg["data"]["format"].as_str() == Some("synthetic") && k.starts_with("data.synth."))
            || (cfg["data"]["split"]["kind"].as_str() == Some("external")
                && matches!(k, "data.split.train" | "data.split.test"))
    };
    flat.into_iter()
        .filter(|(k, _)| keep(k))
        .map(|(k, v)| vec![format!("`{k}`"), v])
        .collect()
}

fn member_settings(m: &Yaml) -> String {
    let flat = flat_config(m);
    flat.into_iter()
        .filter(|(k, _)| k != "kind" && k != "weight")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn stats_rows(stats: &Json) -> Vec<Vec<String>> {
    let labels = [
        ("rows_read", "rows read"),
        ("unrated_dropped", "unrated rows dropped"),
        ("duplicates_dropped", "duplicates dropped"),
        ("sparse_users_dropped", "users dropped (too few ratings)"),
        ("users", "users"),
        ("catalog_anime", "titles in the catalogue"),
        ("rated_anime", "titles with a train rating"),
        ("train_ratings", "train ratings"),
        ("test_ratings", "test ratings"),
        ("sparsity", "sparsity"),
        ("ratings_per_user_mean", "ratings per user, mean"),
        ("ratings_per_user_median", "ratings per user, median"),
    ];
    // External splits skip cleaning: its counters are all zero then.
    let cleaned = stats.get("rows_read").and_then(Json::as_f64).unwrap_or(0.0) > 0.0;
    labels
        .iter()
        .filter(|(k, _)| cleaned || !k.ends_with("_dropped") && *k != "rows_read")
        .filter_map(|(k, label)| {
            let v = stats.get(*k)?.as_f64()?;
            let s = if v.fract() == 0.0 {
                plots::fmt_num(v)
            } else if *k == "sparsity" {
                format!("{v:.6}")
            } else {
                format!("{v:.1}")
            };
            Some(vec![label.to_string(), s])
        })
        .collect()
}

/// The markdown of a run report. `plots` are relative to the markdown file
/// under `plots_rel`.
/// The run's plots as the report links them.
struct Figures<'a> {
    plots: &'a [Plot],
    extra: &'a [Plot],
    rel: &'a str,
}

impl Figures<'_> {
    fn find(&self, stem: &str) -> Option<&Plot> {
        self.plots.iter().chain(self.extra).find(|p| p.stem == stem)
    }

    fn img(&self, md: &mut String, p: &Plot) {
        md.push('\n');
        md.push_str(&markdown::image(
            &p.caption,
            &format!("{}/{}.png", self.rel, p.stem),
        ));
    }
}

/// report.md of one run: identity, configuration, data, metrics, members,
/// training curves and the embedding plot, each section only when the run
/// has what it needs.
pub(crate) fn markdown(inp: &RunInputs, plots: &[Plot], plots_rel: &str, extra: &[Plot]) -> String {
    let figs = Figures {
        plots,
        extra,
        rel: plots_rel,
    };
    let mut md = String::new();
    identity_section(&mut md, inp);
    config_section(&mut md, inp);
    data_section(&mut md, inp, &figs);
    metrics_section(&mut md, inp, &figs);
    members_section(&mut md, inp, &figs);
    training_section(&mut md, inp, &figs);
    if let Some(p) = figs.find("embeddings_pca") {
        md.push_str("\n## Item embeddings\n");
        figs.img(&mut md, p);
    }
    md
}

/// Title and the run's identity table (status, model, times, git, data).
fn identity_section(md: &mut String, inp: &RunInputs) {
    let meta = inp.meta.clone().unwrap_or(Json::Null);
    let s = |k: &str| meta[k].as_str().unwrap_or("?").to_string();
    let _ = writeln!(md, "# Run report: {} / {}\n", s("experiment"), s("run_id"));
    let git = match meta["git"].as_object() {
        Some(g) => format!(
            "{}{}",
            g.get("commit")
                .and_then(Json::as_str)
                .map_or("?", |c| &c[..c.len().min(12)]),
            if g.get("dirty").and_then(Json::as_bool) == Some(true) {
                " (dirty)"
            } else {
                ""
            }
        ),
        None => "not recorded".into(),
    };
    let rows = vec![
        vec!["status".into(), s("status")],
        vec!["model".into(), inp.model_kind()],
        vec!["started".into(), s("started_at")],
        vec![
            "ended".into(),
            meta["ended_at"].as_str().unwrap_or("-").into(),
        ],
        vec!["git commit".into(), git],
        vec![
            "data fingerprint".into(),
            meta["data_fingerprint"].as_str().unwrap_or("-").into(),
        ],
    ];
    md.push_str(&table(&["run", ""], &[false, false], &rows));
    if let Some(e) = meta["error"].as_str() {
        let _ = writeln!(md, "\n**Error:** {}", markdown::cell(e));
    }
}

fn config_section(md: &mut String, inp: &RunInputs) {
    if let Some(cfg) = &inp.config {
        md.push_str("\n## Configuration\n\n");
        // train.* drives recommender_net only (mf_bpr has its own keys).
        let recnet =
            serde_yaml::to_string(&cfg["model"]).is_ok_and(|m| m.contains("recommender_net"));
        md.push_str(&table(
            &["key", "value"],
            &[false, false],
            &config_rows(cfg, recnet),
        ));
    }
}

fn data_section(md: &mut String, inp: &RunInputs, figs: &Figures) {
    if let Some(stats) = &inp.data_stats {
        md.push_str("\n## Data\n\n");
        md.push_str(&table(&["", "value"], &[false, true], &stats_rows(stats)));
        if let Some(p) = figs.find("rating_distribution") {
            figs.img(md, p);
        }
    }
}

/// Ranking metrics at each K, the scalar figures, the per-user spread.
fn metrics_section(md: &mut String, inp: &RunInputs, figs: &Figures) {
    md.push_str("\n## Metrics\n\n");
    let ks = inp.ks();
    let mut headers = vec!["metric".to_string()];
    headers.extend(ks.iter().map(|k| format!("@{k}")));
    let rows: Vec<Vec<String>> = AT_K
        .iter()
        .filter(|m| {
            ks.iter()
                .any(|k| inp.summary.contains_key(&format!("{m}@{k}")))
        })
        .map(|m| {
            let mut r = vec![m.to_string()];
            r.extend(
                ks.iter()
                    .map(|k| num(inp.summary.get(&format!("{m}@{k}")).copied())),
            );
            r
        })
        .collect();
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    let numeric: Vec<bool> = (0..h.len()).map(|k| k > 0).collect();
    md.push_str(&table(&h, &numeric, &rows));
    let scalars: Vec<Vec<String>> = [
        "users_evaluated",
        "rmse",
        "mae",
        "fit_seconds",
        "eval_seconds",
    ]
    .iter()
    .filter_map(|k| {
        inp.summary
            .get(*k)
            .map(|v| vec![k.to_string(), num(Some(*v))])
    })
    .collect();
    if !scalars.is_empty() {
        md.push('\n');
        md.push_str(&table(&["", "value"], &[false, true], &scalars));
    }
    if !inp.cis.is_empty() {
        md.push_str("\nPer-user spread (95 % interval of the mean over evaluated users: percentile bootstrap, 2,000 resamples, seed 0; mean ± 1.96·s/√n above 20,000 users):\n\n");
        let rows: Vec<Vec<String>> = inp
            .cis
            .iter()
            .map(|(m, v, lo, hi)| vec![m.clone(), num(Some(*v)), format!("[{lo:.4}, {hi:.4}]")])
            .collect();
        md.push_str(&table(
            &["metric", "mean", "95 % CI"],
            &[false, true, false],
            &rows,
        ));
    }
    if let Some(p) = figs.find("metrics_at_k") {
        figs.img(md, p);
    }
}

/// A blend's members, each evaluated alone, beside the blend.
fn members_section(md: &mut String, inp: &RunInputs, figs: &Figures) {
    if let Some(primary) = inp.primary() {
        let rows = member_rows(inp, &primary);
        if !rows.is_empty() {
            let k = primary.split_once('@').map_or("10", |x| x.1).to_string();
            let cols: Vec<String> = AT_K[..5].iter().map(|m| format!("{m}@{k}")).collect();
            let members_cfg: Vec<Yaml> = inp
                .config
                .as_ref()
                .and_then(|c| c["model"]["members"].as_sequence().cloned())
                .unwrap_or_default();
            let _ = writeln!(md, "\n## Members (each alone, sorted by {primary})\n");
            let mut headers = vec!["member".to_string(), "weight".into(), "settings".into()];
            headers.extend(cols.iter().cloned());
            let table_rows: Vec<Vec<String>> = rows
                .iter()
                .map(|(name, _)| {
                    let cfg = members_cfg
                        .iter()
                        .find(|m| m["kind"].as_str() == Some(name));
                    let blend = name.ends_with("(blend)");
                    let mut r = vec![
                        if blend {
                            format!("**{name}**")
                        } else {
                            name.clone()
                        },
                        cfg.and_then(|m| m["weight"].as_f64())
                            .map_or(String::new(), plots::fmt_num),
                        cfg.map(member_settings).unwrap_or_default(),
                    ];
                    r.extend(cols.iter().map(|c| {
                        let key = if blend {
                            c.clone()
                        } else {
                            format!("{name}/{c}")
                        };
                        num(inp.summary.get(&key).copied())
                    }));
                    r
                })
                .collect();
            let h: Vec<&str> = headers.iter().map(String::as_str).collect();
            let numeric: Vec<bool> = (0..h.len()).map(|k| k >= 3 || k == 1).collect();
            md.push_str(&table(&h, &numeric, &table_rows));
            if let Some(p) = figs.find("members") {
                figs.img(md, p);
            }
        }
    }
}

/// Loss curves of each trainer.
fn training_section(md: &mut String, inp: &RunInputs, figs: &Figures) {
    let plots = figs.plots;
    let training: Vec<&Plot> = plots
        .iter()
        .filter(|p| p.stem.starts_with("training"))
        .collect();
    if !training.is_empty() {
        md.push_str("\n## Training\n");
        let names = inp.trainer_names();
        for (c, name) in inp.curves.iter().zip(&names) {
            let last = |m: &str| c.series.get(m).and_then(|s| s.last()).map(|x| x.1);
            let best_val = c
                .series
                .get("val_loss")
                .and_then(|s| s.iter().min_by(|a, b| a.1.total_cmp(&b.1)));
            let _ = writeln!(
                md,
                "\n{name}: {} epochs, final train loss {}, final validation loss {}{}.",
                c.series.values().map(Vec::len).max().unwrap_or(0),
                num(last("train_loss")),
                num(last("val_loss")),
                best_val.map_or(String::new(), |(e, v)| format!(
                    " (lowest {} at epoch {e})",
                    num(Some(*v))
                ))
            );
        }
        for p in training {
            figs.img(md, p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_interval_agrees_with_the_bootstrap_at_its_threshold() {
        // 20,001 skewed per-user values (a third zeros, like NDCG@10).
        let col: Vec<f64> = (0..=NORMAL_CI_USERS)
            .map(|i| {
                if i % 3 == 0 {
                    0.0
                } else {
                    ((i * 7919) % 1000) as f64 / 1000.0
                }
            })
            .collect();
        let mean = col.iter().sum::<f64>() / col.len() as f64;
        let (lo, hi) = normal_ci(&col, mean);
        let (blo, bhi) = crate::compare::stats::bootstrap_ci(&col, 2000, 0.95, 0);
        assert!(
            (lo - blo).abs() < 5e-4 && (hi - bhi).abs() < 5e-4,
            "{lo} {hi} vs {blo} {bhi}"
        );
        // By hand: symmetric about the mean, 1.96 standard errors wide.
        assert!(((hi - mean) - (mean - lo)).abs() < 1e-12);
    }

    #[test]
    fn members_sorted_with_the_blend() {
        let mut summary = BTreeMap::new();
        for (k, v) in [
            ("ndcg@10", 0.40),
            ("ndcg@5", 0.41),
            ("ease/ndcg@10", 0.38),
            ("ease/ndcg@5", 0.39),
            ("mf_bpr/ndcg@10", 0.29),
            ("popularity/ndcg@10", 0.17),
        ] {
            summary.insert(k.to_string(), v);
        }
        let inp = RunInputs {
            meta: None,
            summary,
            config: serde_yaml::from_str("model: {kind: hybrid}").ok(),
            data_stats: None,
            curves: Vec::new(),
            cis: Vec::new(),
        };
        assert_eq!(inp.ks(), vec![5, 10]);
        assert_eq!(inp.primary().as_deref(), Some("ndcg@10"));
        let rows = member_rows(&inp, "ndcg@10");
        let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(names, ["hybrid (blend)", "ease", "mf_bpr", "popularity"]);
    }
}
