use super::*;
use std::process::Command;

/// Per-user-like pairs: many exact ties and zero differences (two rankers
/// that often agree), like NDCG values of two models.
fn arrays(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) as f64 / (1u64 << 31) as f64
    };
    let levels = [0.0, 0.1, 0.25, 0.3868528072, 0.5, 0.6309297536, 1.0];
    let mut a = Vec::with_capacity(n);
    let mut b = Vec::with_capacity(n);
    for _ in 0..n {
        let x = levels[(next() * levels.len() as f64) as usize % levels.len()];
        let y = if next() < 0.4 {
            x
        } else {
            levels[(next() * levels.len() as f64) as usize % levels.len()]
        };
        a.push(x);
        b.push(y);
    }
    (a, b)
}

fn python_with_scipy() -> Option<String> {
    let py = std::env::var("ANIREC_PYTHON")
        .ok()
        .or_else(|| {
            Path::new("/var/tmp/anirec-venv/bin/python")
                .exists()
                .then(|| "/var/tmp/anirec-venv/bin/python".to_string())
        })
        .unwrap_or_else(|| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import scipy.stats"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(py)
}

const SCRIPT: &str = r#"
import json, sys
import numpy as np
from scipy import stats
out = []
for case in json.load(open(sys.argv[1])):
    a, b = np.array(case["a"]), np.array(case["b"])
    t = stats.ttest_rel(b, a)
    w = stats.wilcoxon(b - a)
    out.append([float(t.statistic), float(t.pvalue), float(w.statistic), float(w.pvalue)])
print(json.dumps(out))
"#;

/// The t-test and Wilcoxon p-values match scipy's on the same arrays to
/// 1e-6: large n with ties and zeros (normal approximation), small n
/// without ties (exact) and tiny n with ties (sign-flip enumeration).
#[test]
fn p_values_match_scipy() {
    let Some(py) = python_with_scipy() else {
        println!("SKIPPED p_values_match_scipy: no python with scipy (set ANIREC_PYTHON)");
        return;
    };
    let mut cases: Vec<(Vec<f64>, Vec<f64>)> = vec![
        arrays(943, 1),
        arrays(5000, 2),
        arrays(120, 3),
        arrays(11, 5),
    ];
    // Exact branch: distinct, nonzero differences (no ties, no zeros).
    let a: Vec<f64> = (0..30).map(|i| i as f64 * 0.5).collect();
    let b: Vec<f64> = (0..30)
        .map(|i| {
            let d = (i + 1) as f64 * 0.25;
            i as f64 * 0.5 + if i % 3 == 0 { -d } else { d }
        })
        .collect();
    cases.push((a, b));
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("cases.json");
    let js: Vec<serde_json::Value> = cases
        .iter()
        .map(|(a, b)| serde_json::json!({"a": a, "b": b}))
        .collect();
    std::fs::write(&input, serde_json::to_vec(&js).unwrap()).unwrap();
    let script = d.path().join("check.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let out = Command::new(&py).arg(&script).arg(&input).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want: Vec<[f64; 4]> = serde_json::from_slice(&out.stdout).unwrap();
    let mut methods = Vec::new();
    for ((a, b), w) in cases.iter().zip(&want) {
        let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| y - x).collect();
        let (t, p_t) = stats::paired_t(&d);
        let (ws, p_w, method) = stats::wilcoxon(&d);
        methods.push(method);
        assert!(
            (t - w[0]).abs() < 1e-6 * w[0].abs().max(1.0),
            "t {t} vs {}",
            w[0]
        );
        assert!((p_t - w[1]).abs() < 1e-6, "p_t {p_t} vs scipy {}", w[1]);
        assert!((ws - w[2]).abs() < 1e-6, "W {ws} vs scipy {}", w[2]);
        assert!(
            (p_w - w[3]).abs() < 1e-6,
            "p_wilcoxon {p_w} vs scipy {} (n {}, {method})",
            w[3],
            d.len()
        );
    }
    assert_eq!(
        methods,
        ["normal", "normal", "normal", "permutation", "exact"]
    );
}

fn write_run(dir: &Path, metrics: &[&str], rows: &[(u64, Vec<f64>)]) {
    std::fs::create_dir_all(dir).unwrap();
    let users: Vec<u64> = rows.iter().map(|r| r.0).collect();
    let vals: Vec<f64> = rows.iter().flat_map(|r| r.1.clone()).collect();
    let names: Vec<String> = metrics.iter().map(|s| s.to_string()).collect();
    write_per_user(&dir.join(PER_USER), &names, &users, &vals).unwrap();
}

#[test]
fn compare_pairs_users_and_holm_corrects_three_runs() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = arrays(400, 9);
    let rows = |v: &[f64], shift: f64| -> Vec<(u64, Vec<f64>)> {
        v.iter()
            .enumerate()
            .map(|(u, &x)| (u as u64 * 3 + 1, vec![x + shift, x]))
            .collect()
    };
    write_run(
        &d.path().join("a"),
        &["ndcg@10", "recall@10"],
        &rows(&a, 0.0),
    );
    write_run(
        &d.path().join("b"),
        &["ndcg@10", "recall@10"],
        &rows(&b, 0.0),
    );
    // c: a shifted by +0.05 on ndcg, users in another order and one extra.
    let mut rc = rows(&a, 0.05);
    rc.reverse();
    rc.push((999_999, vec![1.0, 1.0]));
    write_run(&d.path().join("c"), &["ndcg@10", "recall@10"], &rc);
    let runs: Vec<PathBuf> = ["a", "b", "c"].iter().map(|r| d.path().join(r)).collect();
    let c = compare(&runs, &Options::default()).unwrap();
    assert_eq!(c.family, 2);
    let ndcg_c = &c.pairs[1].tests[0];
    assert_eq!(ndcg_c.metric, "ndcg@10");
    assert_eq!(ndcg_c.users, 400, "the extra user is not paired");
    assert!((ndcg_c.diff - 0.05).abs() < 1e-12);
    assert!(ndcg_c.ci[0] > 0.049 && ndcg_c.ci[1] < 0.051);
    assert!(ndcg_c.significant);
    let recall_c = &c.pairs[1].tests[1];
    assert_eq!(recall_c.diff, 0.0);
    assert!(!recall_c.significant);
    for p in &c.pairs {
        for t in &p.tests {
            assert!(t.p_t_holm >= t.p_t && t.p_wilcoxon_holm >= t.p_wilcoxon);
        }
    }
    let md = markdown(&c);
    assert!(md.contains("Holm-corrected over 2 comparisons"), "{md}");
    // Seeded: the same call gives the same interval.
    let again = compare(&runs, &Options::default()).unwrap();
    assert_eq!(again.pairs[0].tests[0].ci, c.pairs[0].tests[0].ci);
}

#[test]
fn malformed_per_user_files_are_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join(PER_USER), "user,ndcg@10\n1,0.5\n").unwrap();
    let e = read_per_user(d.path()).unwrap_err().to_string();
    assert!(e.contains("not a per_user.csv"), "{e}");
    std::fs::write(d.path().join(PER_USER), "user_id,ndcg@10\n1,NaN\n").unwrap();
    let e = read_per_user(d.path()).unwrap_err().to_string();
    assert!(e.contains("line 2"), "{e}");
    let e = compare(&[d.path().to_path_buf()], &Options::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least two runs"), "{e}");
}
