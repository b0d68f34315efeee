//! A sweep's report: the trials sorted by the sweep metric, the best trial,
//! the metric against each swept parameter, and the best trial per model
//! family.

use super::inputs::{self, SweepInfo, SweepTable, Trial};
use super::markdown::{self, num, table};
use super::plots::{self, Bar, BarFigure, Group, Scale, ScatterFigure, XAxis};
use super::{Plot, ReportError};
use crate::track::RunStatus;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// Everything read from a sweep directory.
pub(crate) struct SweepInputs {
    pub info: SweepInfo,
    pub table: SweepTable,
    /// Model family per trial (index into `table.trials`).
    pub family: Vec<Option<String>>,
}

impl SweepInputs {
    pub fn read(dir: &Path) -> Result<Self, ReportError> {
        let info: SweepInfo = inputs::read_json(&dir.join("sweep.json"))?;
        let mut table = inputs::read_sweep_csv(&dir.join("summary.csv"), &info.parameters)?;
        expand_sections(&mut table);
        // The family is the swept model.kind when there is one, else what
        // the trial's own run recorded.
        let family = table
            .trials
            .iter()
            .map(|t| {
                t.params
                    .get("model.kind")
                    .cloned()
                    .filter(|s| !s.is_empty())
                    .or_else(|| {
                        let run = t.run_path(dir)?;
                        let text = std::fs::read_to_string(run.join("config.yaml")).ok()?;
                        let v: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
                        v["model"]["kind"].as_str().map(str::to_string)
                    })
            })
            .collect();
        Ok(Self {
            info,
            table,
            family,
        })
    }

    /// Trials with the metric, best first; then the rest in trial order.
    pub fn ranked(&self) -> Vec<usize> {
        let m = &self.info.metric;
        let goal = self.info.goal;
        // A pruned trial has metrics (of its stopped model) but is no
        // candidate: it is listed after the ranked ones.
        let mut with: Vec<usize> = (0..self.table.trials.len())
            .filter(|&i| self.table.trials[i].metrics.contains_key(m))
            .filter(|&i| self.table.trials[i].status != RunStatus::Pruned)
            .collect();
        with.sort_by(|&a, &b| {
            let (x, y) = (
                self.table.trials[a].metrics[m],
                self.table.trials[b].metrics[m],
            );
            if goal.better(x, y) {
                std::cmp::Ordering::Less
            } else if goal.better(y, x) {
                std::cmp::Ordering::Greater
            } else {
                a.cmp(&b)
            }
        });
        let rest: Vec<usize> = (0..self.table.trials.len())
            .filter(|i| !with.contains(i))
            .collect();
        with.extend(rest);
        with
    }

    pub fn best(&self) -> Option<&Trial> {
        let i = *self.ranked().first()?;
        let t = &self.table.trials[i];
        t.metrics.contains_key(&self.info.metric).then_some(t)
    }

    /// Other metrics at the sweep metric's K (no member metrics), for the table.
    fn companion_metrics(&self) -> Vec<String> {
        let suffix = self
            .info
            .metric
            .split_once('@')
            .map(|x| format!("@{}", x.1));
        self.table
            .metrics
            .iter()
            .filter(|m| *m != &self.info.metric && !m.contains('/'))
            .filter(|m| suffix.as_ref().is_some_and(|s| m.ends_with(s.as_str())))
            .cloned()
            .collect()
    }
}

/// A swept value that is a whole section (`model: [{kind: ease, l2: 100},
/// {kind: user_knn, neighbors: 25}]`) becomes one column per key
/// (`model.kind`, `model.l2`, `model.neighbors`): one readable axis each,
/// and the family comes from `model.kind`.
fn expand_sections(table: &mut SweepTable) {
    let mut params = Vec::new();
    for p in std::mem::take(&mut table.params) {
        let parsed: Option<Vec<(usize, serde_yaml::Mapping)>> = table
            .trials
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                t.params
                    .get(&p)
                    .filter(|c| !c.trim().is_empty())
                    .map(|c| (i, c))
            })
            .map(
                |(i, c)| match serde_yaml::from_str::<serde_yaml::Value>(c) {
                    Ok(serde_yaml::Value::Mapping(m)) => Some((i, m)),
                    _ => None,
                },
            )
            .collect();
        let Some(parsed) = parsed.filter(|v| !v.is_empty()) else {
            params.push(p);
            continue;
        };
        let mut keys: Vec<String> = Vec::new();
        for (i, m) in parsed {
            for (k, v) in m {
                let k = format!("{p}.{}", crate::sweep::plan::flow(&k));
                if !keys.contains(&k) {
                    keys.push(k.clone());
                }
                table.trials[i]
                    .params
                    .insert(k, crate::sweep::plan::flow(&v));
            }
        }
        params.extend(keys);
    }
    table.params = params;
}

/// A file-name-safe stem for a parameter path.
fn stem_of(param: &str) -> String {
    let s: String = param
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("param_{s}")
}

fn param_figure(inp: &SweepInputs, param: &str) -> Option<ScatterFigure> {
    let metric = &inp.info.metric;
    let best = inp.best().map(|t| t.trial.clone());
    let pts: Vec<(&str, f64, bool, bool)> = inp
        .table
        .trials
        .iter()
        .filter_map(|t| {
            let v = t.metrics.get(metric)?;
            // An empty cell: the parameter does not apply to this trial.
            let p = t.params.get(param).filter(|p| !p.trim().is_empty())?;
            Some((
                p.as_str(),
                *v,
                Some(&t.trial) == best.as_ref(),
                t.status == RunStatus::Pruned,
            ))
        })
        .collect();
    if pts.is_empty() {
        return None;
    }
    let numeric: Option<Vec<f64>> = pts.iter().map(|p| p.0.trim().parse::<f64>().ok()).collect();
    let (x, xs): (XAxis, Vec<f64>) = match numeric {
        Some(xs) if xs.iter().any(|x| *x != xs[0]) => {
            let (lo, hi) = xs
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                    (a.min(*x), b.max(*x))
                });
            let scale = if lo > 0.0 && hi / lo >= 20.0 {
                Scale::Log
            } else {
                Scale::Linear
            };
            (XAxis::Numeric(scale), xs)
        }
        _ => {
            let mut cats: Vec<String> = Vec::new();
            for p in &pts {
                if !cats.iter().any(|c| c == p.0) {
                    cats.push(p.0.to_string());
                }
            }
            let xs = pts
                .iter()
                .map(|p| cats.iter().position(|c| c == p.0).unwrap_or(0) as f64)
                .collect();
            (XAxis::Categorical(cats), xs)
        }
    };
    let mut trials = Group {
        name: "trial".into(),
        points: Vec::new(),
        color: 0,
    };
    let mut top = Group {
        name: "best trial".into(),
        points: Vec::new(),
        color: 3,
    };
    let mut pruned = Group {
        name: "pruned trial (stopped early)".into(),
        points: Vec::new(),
        color: 1,
    };
    for (p, x) in pts.iter().zip(xs) {
        if p.2 {
            top.points.push((x, p.1));
        } else if p.3 {
            pruned.points.push((x, p.1));
        } else {
            trials.points.push((x, p.1));
        }
    }
    let mut groups = vec![trials, top];
    if !pruned.points.is_empty() {
        groups.push(pruned);
    }
    let log = matches!(x, XAxis::Numeric(Scale::Log));
    Some(ScatterFigure {
        title: format!("{metric} against {param}"),
        x_desc: if log {
            format!("{param} (log scale)")
        } else {
            param.to_string()
        },
        y_desc: metric.clone(),
        x,
        groups,
        radius: 8,
        legend: true,
    })
}

fn families_figure(inp: &SweepInputs) -> Option<BarFigure> {
    let metric = &inp.info.metric;
    let mut best: BTreeMap<&str, f64> = BTreeMap::new();
    for (t, f) in inp.table.trials.iter().zip(&inp.family) {
        let (Some(f), Some(v)) = (f, t.metrics.get(metric)) else {
            continue;
        };
        if t.status == RunStatus::Pruned {
            continue;
        }
        let e = best.entry(f.as_str()).or_insert(*v);
        if inp.info.goal.better(*v, *e) {
            *e = *v;
        }
    }
    if best.is_empty() {
        return None;
    }
    let mut bars: Vec<Bar> = best
        .into_iter()
        .map(|(f, v)| Bar {
            label: f.to_string(),
            value: v,
            color: 0,
        })
        .collect();
    bars.sort_by(|a, b| {
        if inp.info.goal.better(a.value, b.value) {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Greater
        }
    });
    if let Some(b) = bars.first_mut() {
        b.color = 3;
    }
    Some(BarFigure {
        title: format!("Best {metric} per model family"),
        category_desc: String::new(),
        value_desc: metric.clone(),
        bars,
        horizontal: true,
    })
}

/// Writes the sweep's figures; a failing figure is logged and skipped.
pub(crate) fn write_plots(inp: &SweepInputs, plots_dir: &Path) -> Vec<Plot> {
    let mut out = Vec::new();
    let mut put =
        |stem: String, caption: String, r: Result<Vec<std::path::PathBuf>, plots::PlotError>| {
            super::keep_plot(&mut out, &stem, caption, r)
        };
    if let Some(fig) = families_figure(inp) {
        put(
            "families".into(),
            fig.title.clone(),
            plots::save(&fig, plots_dir, "families"),
        );
    }
    for p in &inp.table.params {
        if let Some(fig) = param_figure(inp, p) {
            let stem = stem_of(p);
            put(
                stem.clone(),
                fig.title.clone(),
                plots::save(&fig, plots_dir, &stem),
            );
        }
    }
    out
}

/// The markdown of a sweep report.
pub(crate) fn markdown(inp: &SweepInputs, dir: &Path, plots: &[Plot], plots_rel: &str) -> String {
    let info = &inp.info;
    let trials = &inp.table.trials;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Sweep report: {}{}\n",
        if info.id.is_empty() {
            "sweep"
        } else {
            &info.id
        },
        if info.experiment.is_empty() {
            String::new()
        } else {
            format!(" ({})", info.experiment)
        }
    );
    let mut status: BTreeMap<&str, usize> = BTreeMap::new();
    for t in trials {
        *status.entry(t.status.as_str()).or_default() += 1;
    }
    let status_line: Vec<String> = status.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let goal = match info.goal {
        inputs::Goal::Maximize => "maximize",
        inputs::Goal::Minimize => "minimize",
    };
    let _ = writeln!(
        md,
        "Metric **{}** ({goal}); {} trials{}: {}.\n",
        info.metric,
        trials.len(),
        info.trials
            .map_or(String::new(), |n| format!(" of {n} planned")),
        status_line.join(", ")
    );
    match inp.best() {
        Some(b) => {
            let _ = writeln!(md, "## Best trial\n");
            let mut rows = vec![
                vec!["trial".into(), b.trial.clone()],
                vec!["trial id".into(), format!("`{}`", b.trial_id)],
                vec![
                    info.metric.clone(),
                    num(b.metrics.get(&info.metric).copied()),
                ],
            ];
            for p in &inp.table.params {
                rows.push(vec![
                    format!("`{p}`"),
                    b.params.get(p).cloned().unwrap_or_default(),
                ]);
            }
            if let Some(run) = b.run_path(dir) {
                rows.push(vec!["run dir".into(), format!("`{}`", run.display())]);
            }
            md.push_str(&table(&["", ""], &[false, false], &rows));
        }
        None => md.push_str("No trial has finished with the metric yet.\n"),
    }

    let companions = inp.companion_metrics();
    let _ = writeln!(md, "\n## Trials (sorted by {})\n", info.metric);
    let mut headers = vec!["#".to_string(), "trial".into(), "status".into()];
    headers.extend(inp.table.params.iter().cloned());
    headers.push(info.metric.clone());
    headers.extend(companions.iter().cloned());
    let rows: Vec<Vec<String>> = inp
        .ranked()
        .iter()
        .enumerate()
        .map(|(pos, &i)| {
            let t = &trials[i];
            let has = t.metrics.contains_key(&info.metric);
            let mut r = vec![
                if has {
                    (pos + 1).to_string()
                } else {
                    String::new()
                },
                t.trial.clone(),
                t.status.to_string(),
            ];
            r.extend(
                inp.table
                    .params
                    .iter()
                    .map(|p| t.params.get(p).cloned().unwrap_or_default()),
            );
            r.push(num(t.metrics.get(&info.metric).copied()));
            r.extend(companions.iter().map(|m| num(t.metrics.get(m).copied())));
            r
        })
        .collect();
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    let first_metric = 3 + inp.table.params.len();
    let numeric: Vec<bool> = (0..h.len()).map(|k| k >= first_metric).collect();
    md.push_str(&table(&h, &numeric, &rows));

    let img = |md: &mut String, p: &Plot| {
        md.push('\n');
        md.push_str(&markdown::image(
            &p.caption,
            &format!("{plots_rel}/{}.png", p.stem),
        ));
    };
    if let Some(p) = plots.iter().find(|p| p.stem == "families") {
        md.push_str("\n## Model families\n");
        img(&mut md, p);
    }
    let params: Vec<&Plot> = plots
        .iter()
        .filter(|p| p.stem.starts_with("param_"))
        .collect();
    if !params.is_empty() {
        let _ = writeln!(md, "\n## {} against each swept parameter", info.metric);
        for p in params {
            img(&mut md, p);
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(dir: &Path) {
        std::fs::write(
            dir.join("sweep.json"),
            r#"{"id": "sw1", "experiment": "synth", "metric": "ndcg@10", "goal": "maximize",
                "parameters": ["model.kind", "model.l2"], "trials": 4, "extra": {"ignored": true}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("summary.csv"),
            "rank,trial,trial_id,status,run_dir,model.kind,model.l2,ndcg@10,precision@10,ease/ndcg@10\n\
             2,0,a0,done,trials/0,ease,50,0.30,0.2,\n\
             1,1,a1,done,trials/1,ease,500,0.35,0.25,\n\
             ,2,a2,failed,trials/2,mf_bpr,,,,\n\
             3,3,a3,done,trials/3,mf_bpr,,0.28,0.21,\n\
             ,4,a4,pruned,trials/4,mf_bpr,,0.99,0.21,\n",
        )
        .unwrap();
    }

    #[test]
    fn ranks_best_and_families() {
        let d = tempfile::tempdir().unwrap();
        fixture(d.path());
        let inp = SweepInputs::read(d.path()).unwrap();
        let order: Vec<&str> = inp
            .ranked()
            .iter()
            .map(|&i| inp.table.trials[i].trial.as_str())
            .collect();
        assert_eq!(order, ["1", "0", "3", "2", "4"], "pruned: no candidate");
        assert_eq!(inp.best().unwrap().trial_id, "a1");
        assert_eq!(inp.companion_metrics(), vec!["precision@10".to_string()]);
        let fam = families_figure(&inp).unwrap();
        let bars: Vec<(&str, f64)> = fam
            .bars
            .iter()
            .map(|b| (b.label.as_str(), b.value))
            .collect();
        assert_eq!(bars, [("ease", 0.35), ("mf_bpr", 0.28)]);
        // the kind axis is categorical; l2 is numeric (trials without it are left out)
        match param_figure(&inp, "model.kind").unwrap().x {
            XAxis::Categorical(c) => assert_eq!(c, ["ease", "mf_bpr"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            param_figure(&inp, "model.l2").unwrap().x,
            XAxis::Numeric(_)
        ));
    }

    #[test]
    fn whole_section_values_become_one_column_per_key() {
        let row = |cell: &str| Trial {
            rank: None,
            trial: "0".into(),
            trial_id: "x".into(),
            status: RunStatus::Done,
            run_dir: String::new(),
            params: [
                ("model".to_string(), cell.to_string()),
                ("seed".to_string(), "1".to_string()),
            ]
            .into(),
            metrics: BTreeMap::new(),
        };
        let mut t = SweepTable {
            params: vec!["model".into(), "seed".into()],
            metrics: vec![],
            trials: vec![
                row("{kind: ease, l2: 100}"),
                row("{kind: user_knn, neighbors: 25}"),
            ],
        };
        expand_sections(&mut t);
        assert_eq!(
            t.params,
            ["model.kind", "model.l2", "model.neighbors", "seed"]
        );
        assert_eq!(t.trials[1].params["model.kind"], "user_knn");
        assert_eq!(t.trials[0].params["model.l2"], "100");
        assert!(!t.trials[0].params.contains_key("model.neighbors"));
    }

    #[test]
    fn minimize_flips_the_order() {
        let d = tempfile::tempdir().unwrap();
        fixture(d.path());
        let text = std::fs::read_to_string(d.path().join("sweep.json")).unwrap();
        std::fs::write(
            d.path().join("sweep.json"),
            text.replace("maximize", "minimize"),
        )
        .unwrap();
        let inp = SweepInputs::read(d.path()).unwrap();
        assert_eq!(inp.best().unwrap().trial, "3");
    }
}
