//! End-to-end tests of the `anirec` binary: bad inputs and their exit codes and
//! messages, synthetic data, the PROTOCOL split, the processed-data cache, a
//! full `run` + `recommend`, and `--set` overrides.
//!
//! Most tests need only *some* MAL-shaped data and use the self-made fixture
//! `tests/fixtures/mal-tiny` (always present); the few that check the real
//! files read the public data sets through `ANIREC_DATA_DIR` and are skipped,
//! saying so, when those are absent. Data is read in place; everything
//! written goes into a temp dir (the experiments point `runs_dir` and
//! `data.cache_dir` there and the binary runs with the temp dir as its
//! working directory).

mod common;

use common::{json, Fx};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The self-made MAL-layout fixture (see its README.md).
fn tiny() -> PathBuf {
    anirec::testdata::fixture("mal-tiny")
}
/// The real MAL 2020 sample, or None: the test returns (see anirec::testdata).
fn sample() -> Option<PathBuf> {
    anirec::testdata::data_set("mal2020-sample")
}
/// The real head-100k MAL ratings, or None: the test returns.
fn real_100k() -> Option<PathBuf> {
    anirec::testdata::data_set("mal2020-real-100k")
}
const MAL_FILES: [&str; 3] = ["anime.csv", "anime_with_synopsis.csv", "animelist.csv"];

// ---------------------------------------------------------------- helpers

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn exec(cmd: &mut Command) -> Output {
    let o = cmd.output().expect("spawn anirec");
    Output {
        code: o.status.code().expect("exit code (not killed by a signal)"),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn ok(cmd: &mut Command) -> Output {
    let o = exec(cmd);
    assert_eq!(
        o.code, 0,
        "expected success\nstdout:\n{}\nstderr:\n{}",
        o.stdout, o.stderr
    );
    o
}

/// The MAL-layout fixture and experiment files on a [`Fx`]: the data is a
/// copy in `src/`, and runs and caches stay inside the folder.
trait MalFx {
    /// A fixture with `src/` holding a copy of the three `mal-tiny` files.
    fn with_fixture() -> Self;
    fn src(&self) -> PathBuf;
    /// Writes `<root>/<file>` with `name`, `runs_dir` and the given data
    /// section (its `cache_dir` filled in) plus `rest` (top-level YAML).
    fn exp(&self, file: &str, name: &str, data: &str, rest: &str) -> PathBuf;
    /// An experiment on the MAL 2020 files in `src/`.
    fn mal_exp(&self) -> PathBuf;
    fn file(&self, name: &str) -> PathBuf;
}

impl MalFx for Fx {
    fn with_fixture() -> Self {
        let fx = Self::new();
        fs::create_dir_all(fx.src()).unwrap();
        for f in MAL_FILES {
            fs::copy(tiny().join(f), fx.src().join(f)).unwrap();
        }
        fx
    }

    fn src(&self) -> PathBuf {
        self.root().join("src")
    }

    fn exp(&self, file: &str, name: &str, data: &str, rest: &str) -> PathBuf {
        let p = self.root().join(file);
        let text = format!(
            "name: {name}\nruns_dir: '{}'\ndata:\n  cache_dir: '{}'\n{}\n{rest}\n",
            self.runs().display(),
            self.cache().display(),
            indent(data)
        );
        fs::write(&p, text).unwrap();
        p
    }

    fn mal_exp(&self) -> PathBuf {
        self.exp(
            "exp.yaml",
            "bad",
            &format!(
                "format: mal2020\nsource: '{}'\nmin_user_ratings: 5",
                self.src().display()
            ),
            "eval: {k: [10], relevance_threshold: 7}",
        )
    }

    fn file(&self, name: &str) -> PathBuf {
        self.src().join(name)
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("  {l}\n"))
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// Rewrites line `n` (1-based) of a file; bytes, so invalid UTF-8 can be put in.
fn edit_line(path: &Path, n: usize, f: impl FnOnce(&[u8]) -> Vec<u8>) {
    let bytes = fs::read(path).unwrap();
    let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    lines[n - 1] = f(&lines[n - 1]);
    fs::write(path, lines.join(&b'\n')).unwrap();
}

/// Replaces field `k` (0-based) of a comma-separated, unquoted line.
fn set_field(line: &[u8], k: usize, value: &[u8]) -> Vec<u8> {
    let mut fields: Vec<Vec<u8>> = line.split(|&b| b == b',').map(<[u8]>::to_vec).collect();
    fields[k] = value.to_vec();
    fields.join(&b',')
}

/// The single `error: ...` line of a failed command, without the prefix.
/// Every other stderr line must be the `run <dir>` notice of `anirec run`.
fn error_line(o: &Output) -> String {
    let lines: Vec<&str> = o.stderr.lines().collect();
    let errors: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "want exactly one error line, stderr:\n{}",
        o.stderr
    );
    for l in &lines {
        assert!(
            l.starts_with("error: ") || l.starts_with("run /"),
            "unexpected stderr line {l:?}; stderr:\n{}",
            o.stderr
        );
    }
    errors[0]["error: ".len()..].to_string()
}

fn names_in(dir: &Path) -> BTreeSet<String> {
    match fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// `data split` must fail with `code` and leave nothing in OUT (no split
/// files, no `.anirec-tmp-*`). Returns the error message.
fn split_fails(fx: &Fx, exp: &Path, sets: &[&str], code: i32) -> String {
    let out = fx.root().join("split-out");
    let mut c = fx.cmd();
    c.args(["data", "split", "--config"])
        .arg(exp)
        .arg("--out")
        .arg(&out);
    for s in sets {
        c.args(["--set", s]);
    }
    let o = exec(&mut c);
    assert_eq!(o.code, code, "stderr:\n{}", o.stderr);
    assert!(
        o.stdout.is_empty(),
        "stdout of a failed split: {}",
        o.stdout
    );
    assert_eq!(
        o.stderr.lines().count(),
        1,
        "one stderr line, got:\n{}",
        o.stderr
    );
    let left = names_in(&out);
    assert!(
        !out.join("train.csv").exists() && !out.join("test.csv").exists(),
        "split files left behind: {left:?}"
    );
    assert!(
        left.is_empty(),
        "OUT is not empty after a failure: {left:?}"
    );
    error_line(&o)
}

/// `anirec run` must fail with a data error (3): the run dir exists, meta.json
/// says failed with the same message, and no summary.json / bundle is there.
fn run_fails_with_data_error(fx: &Fx, exp: &Path) -> String {
    let o = exec(fx.cmd().arg("run").arg(exp));
    assert_eq!(o.code, 3, "stderr:\n{}", o.stderr);
    let msg = error_line(&o);
    let base = fx.runs().join("bad");
    let ids = names_in(&base);
    assert_eq!(
        ids.len(),
        1,
        "one run dir under {}: {ids:?}",
        base.display()
    );
    let run = base.join(ids.iter().next().unwrap());
    let meta: Json = serde_json::from_slice(&fs::read(run.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["status"], "failed", "{meta}");
    assert_eq!(meta["error"].as_str(), Some(msg.as_str()), "{meta}");
    assert!(meta["ended_at"].is_string(), "{meta}");
    let files = names_in(&run);
    assert!(!files.contains("summary.json"), "{files:?}");
    assert!(!files.contains("bundle"), "{files:?}");
    assert!(
        !files.iter().any(|f| f.starts_with(".anirec-tmp-")),
        "{files:?}"
    );
    assert!(files.contains("config.yaml"), "{files:?}");
    msg
}

/// Bad animelist.csv: `data split` and `run` both fail with exit 3 and the
/// same message, which is returned.
fn animelist_fails(fx: &Fx) -> String {
    let exp = fx.mal_exp();
    let a = split_fails(fx, &exp, &[], 3);
    let b = run_fails_with_data_error(fx, &exp);
    assert_eq!(a, b);
    a
}

/// A config error: `run` and `data split` exit 2 with one line naming the
/// file, and nothing is created (no runs dir, no split output).
fn config_fails(fx: &Fx, exp: &Path, sets: &[&str]) -> String {
    let mut c = fx.cmd();
    c.arg("run").arg(exp);
    for s in sets {
        c.args(["--set", s]);
    }
    let o = exec(&mut c);
    assert_eq!(o.code, 2, "stderr:\n{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "stderr:\n{}", o.stderr);
    let msg = error_line(&o);
    assert!(
        !fx.runs().exists(),
        "a config error must not create {}",
        fx.runs().display()
    );
    assert_eq!(split_fails(fx, exp, sets, 2), msg);
    msg
}

fn has(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "message lacks {p:?}: {msg}");
    }
}

fn show(p: &Path) -> String {
    p.display().to_string()
}

// ---------------------------------------------------------------- 1. bad inputs

#[test]
fn bad_input_missing_animelist() {
    let fx = Fx::with_fixture();
    fs::remove_file(fx.file("animelist.csv")).unwrap();
    let m = animelist_fails(&fx);
    has(&m, &[&show(&fx.file("animelist.csv")), "not found"]);
}

#[test]
fn bad_input_renamed_rating_column() {
    let fx = Fx::with_fixture();
    edit_line(&fx.file("animelist.csv"), 1, |l| {
        String::from_utf8_lossy(l)
            .replace("rating", "score")
            .into_bytes()
    });
    let m = animelist_fails(&fx);
    has(
        &m,
        &[
            &show(&fx.file("animelist.csv")),
            "missing column \"rating\"",
        ],
    );
}

#[test]
fn bad_input_non_numeric_rating() {
    let fx = Fx::with_fixture();
    let n = 37;
    edit_line(&fx.file("animelist.csv"), n, |l| set_field(l, 2, b"nine"));
    let m = animelist_fails(&fx);
    has(
        &m,
        &[
            &format!("{}:{n}:", show(&fx.file("animelist.csv"))),
            "\"rating\"",
            "\"nine\"",
        ],
    );
}

#[test]
fn bad_input_non_numeric_rating_past_the_first_read_block() {
    // The reader works in 16 MiB blocks; a line number far past the first
    // block must still be exact. ~25 MB of synthetic animelist.csv.
    let fx = Fx::new();
    ok(fx
        .cmd()
        .args(["data", "synth", "--users", "20000", "--anime", "3000"])
        .args(["--rows", "1500000", "--seed", "3", "--out"])
        .arg(fx.src()));
    let path = fx.file("animelist.csv");
    assert!(fs::metadata(&path).unwrap().len() > 20 << 20);
    let n = 1_400_000;
    edit_line(&path, n, |l| set_field(l, 2, b"x7"));
    let m = split_fails(&fx, &fx.mal_exp(), &[], 3);
    has(
        &m,
        &[&format!("{}:{n}:", show(&path)), "\"rating\"", "\"x7\""],
    );
}

#[test]
fn bad_input_empty_animelist() {
    let fx = Fx::with_fixture();
    fs::write(fx.file("animelist.csv"), b"").unwrap();
    let m = animelist_fails(&fx);
    has(&m, &[&show(&fx.file("animelist.csv")), "empty"]);
}

#[test]
fn bad_input_invalid_utf8_in_animelist() {
    let fx = Fx::with_fixture();
    let n = 51;
    edit_line(&fx.file("animelist.csv"), n, |l| {
        set_field(l, 4, b"\xff\xfe")
    });
    let m = animelist_fails(&fx);
    has(
        &m,
        &[
            &format!("{}:{n}:", show(&fx.file("animelist.csv"))),
            "invalid UTF-8",
        ],
    );
}

#[test]
fn bad_input_invalid_utf8_in_anime_csv() {
    // anime.csv is only read where the catalogue is needed: run and stats.
    let fx = Fx::with_fixture();
    let n = 3;
    edit_line(&fx.file("anime.csv"), n, |l| {
        let mut v = l.to_vec();
        v.splice(4..4, *b"\xc3(");
        v
    });
    let exp = fx.mal_exp();
    let m = run_fails_with_data_error(&fx, &exp);
    has(
        &m,
        &[
            &format!("{}:{n}:", show(&fx.file("anime.csv"))),
            "invalid UTF-8",
        ],
    );
    let o = exec(fx.cmd().args(["data", "stats", "--config"]).arg(&exp));
    assert_eq!(o.code, 3, "stderr:\n{}", o.stderr);
    assert_eq!(error_line(&o), m);
}

#[test]
fn bad_input_truncated_last_line() {
    let fx = Fx::with_fixture();
    let path = fx.file("animelist.csv");
    let bytes = fs::read(&path).unwrap();
    let body = bytes.strip_suffix(b"\n").unwrap();
    let last_start = body.iter().rposition(|&b| b == b'\n').unwrap() + 1;
    let last_line_no = body.iter().filter(|&&b| b == b'\n').count() + 1;
    let cut = last_start + (body.len() - last_start) / 2;
    fs::write(&path, &body[..cut]).unwrap();
    let m = animelist_fails(&fx);
    has(
        &m,
        &[&format!("{}:{last_line_no}:", show(&path)), "truncated"],
    );
}

/// animelist.csv is parsed by polars with a projection of the three needed
/// columns, so a line that lacks (or has extra) fields *after* `rating` must
/// be caught by the reader's own field count, including a last line cut in
/// `rating` itself (`2,4,1` for `2,4,10,2,0`), which would otherwise be read
/// as rating 1.
#[test]
fn bad_input_ragged_rows_outside_the_projected_columns() {
    let orig = fs::read(tiny().join("animelist.csv")).unwrap();
    let n_lines = orig.iter().filter(|&&b| b == b'\n').count();
    let cases: Vec<(&str, Vec<u8>, usize)> = vec![
        // last line "8,96,0,6,0" cut after the rating
        (
            "cut in watched_episodes",
            orig[..orig.len() - 2].to_vec(),
            n_lines,
        ),
        (
            "cut in watching_status",
            orig[..orig.len() - 4].to_vec(),
            n_lines,
        ),
        (
            "cut right after rating",
            orig[..orig.len() - 5].to_vec(),
            n_lines,
        ),
        (
            "cut inside rating",
            [&orig[..], b"2,4,1"].concat(),
            n_lines + 1,
        ),
    ];
    for (what, bytes, line) in cases {
        let fx = Fx::with_fixture();
        fs::write(fx.file("animelist.csv"), bytes).unwrap();
        let o = exec(
            fx.cmd()
                .args(["data", "split", "--config"])
                .arg(fx.mal_exp())
                .arg("--out")
                .arg(fx.root().join("out")),
        );
        assert_eq!(o.code, 3, "{what}: accepted; stderr:\n{}", o.stderr);
        has(&o.stderr, &[&format!("animelist.csv:{line}:"), "truncated"]);
    }
    // A short line in the middle of the file.
    let fx = Fx::with_fixture();
    edit_line(&fx.file("animelist.csv"), 30, |l| {
        let s = String::from_utf8_lossy(l);
        s.splitn(4, ',')
            .take(3)
            .collect::<Vec<_>>()
            .join(",")
            .into_bytes()
    });
    let o = exec(
        fx.cmd()
            .args(["data", "split", "--config"])
            .arg(fx.mal_exp())
            .arg("--out")
            .arg(fx.root().join("out")),
    );
    assert_eq!(
        o.code, 3,
        "short middle line accepted; stderr:\n{}",
        o.stderr
    );
    has(&o.stderr, &["animelist.csv:30:", "3 fields, expected 5"]);
}

#[test]
fn bad_config_unknown_key() {
    let fx = Fx::with_fixture();
    let exp = fx.exp(
        "typo.yaml",
        "bad",
        &format!("source: '{}'\nmin_user_ratngs: 5", fx.src().display()),
        "",
    );
    let m = config_fails(&fx, &exp, &[]);
    has(
        &m,
        &[
            &show(&exp),
            "data.min_user_ratngs",
            "unknown field",
            "min_user_ratings",
            "max_rows",
        ],
    );
}

#[test]
fn bad_config_out_of_range_value() {
    let fx = Fx::with_fixture();
    let exp = fx.exp(
        "ratio.yaml",
        "bad",
        &format!(
            "source: '{}'\nsplit: {{test_ratio: 1.5}}",
            fx.src().display()
        ),
        "",
    );
    let m = config_fails(&fx, &exp, &[]);
    has(
        &m,
        &[
            &show(&exp),
            "data.split.test_ratio",
            "1.5",
            "between 0 and 1",
        ],
    );
    // The same check reached through --set names the same file and key.
    let good = fx.mal_exp();
    let m = config_fails(&fx, &good, &["data.split.test_ratio=0"]);
    has(
        &m,
        &[&show(&good), "data.split.test_ratio", "0 is not allowed"],
    );
}

#[test]
fn bad_config_unknown_model_kind() {
    let fx = Fx::with_fixture();
    let exp = fx.exp(
        "kind.yaml",
        "bad",
        &format!("source: '{}'", fx.src().display()),
        "model: {kind: popularty}",
    );
    let m = config_fails(&fx, &exp, &[]);
    has(
        &m,
        &[
            &show(&exp),
            "model.kind",
            "\"popularty\"",
            "popularity",
            "ease",
            "user_knn",
            "content",
            "hybrid",
        ],
    );
}

#[test]
fn bad_set_argument() {
    let fx = Fx::with_fixture();
    let exp = fx.mal_exp();
    let m = config_fails(&fx, &exp, &["novalue"]);
    has(&m, &["--set novalue", "KEY=VALUE"]);
    let m = config_fails(&fx, &exp, &["data..min_user_ratings=3"]);
    has(&m, &["--set data..min_user_ratings=3", "dotted path"]);
}

#[test]
fn bad_input_renamed_anime_id_column_in_anime_csv() {
    let fx = Fx::with_fixture();
    edit_line(&fx.file("anime.csv"), 1, |l| {
        let s = String::from_utf8_lossy(l);
        assert!(s.starts_with("MAL_ID,"));
        s.replacen("MAL_ID", "ID", 1).into_bytes()
    });
    let exp = fx.mal_exp();
    let m = run_fails_with_data_error(&fx, &exp);
    has(
        &m,
        &[&show(&fx.file("anime.csv")), "missing column \"MAL_ID\""],
    );
    let o = exec(fx.cmd().args(["data", "stats", "--config"]).arg(&exp));
    assert_eq!(o.code, 3, "stderr:\n{}", o.stderr);
    assert_eq!(error_line(&o), m);
}

// ---------------------------------------------------------------- 2. synth

/// The first line of a file (its CSV header).
fn header(bytes: &[u8]) -> String {
    let line = bytes.split(|&x| x == b'\n').next().unwrap_or_default();
    String::from_utf8(line.to_vec()).unwrap()
}

/// The fixture's headers are the real files' headers, so every test that
/// compares against the fixture compares against the real layout.
#[test]
fn fixture_headers_match_the_real_sample() {
    let Some(sample_dir) = sample() else { return };
    for f in MAL_FILES {
        assert_eq!(
            header(&fs::read(tiny().join(f)).unwrap()),
            header(&fs::read(sample_dir.join(f)).unwrap()),
            "{f}: tests/fixtures/mal-tiny header differs from the real sample"
        );
    }
}

#[test]
fn synth_is_deterministic_and_shaped_like_the_real_files() {
    let fx = Fx::new();
    let gen = |dir: &str, seed: &str| {
        let out = fx.root().join(dir);
        let o = ok(fx
            .cmd()
            .args(["data", "synth", "--users", "150", "--anime", "60"])
            .args(["--rows", "4000", "--seed", seed, "--out"])
            .arg(&out));
        assert!(o.stdout.contains("4000 animelist rows"), "{}", o.stdout);
        MAL_FILES
            .iter()
            .map(|f| fs::read(out.join(f)).unwrap())
            .collect::<Vec<_>>()
    };
    let a = gen("a", "7");
    let b = gen("b", "7");
    let c = gen("c", "8");
    for (k, f) in MAL_FILES.iter().enumerate() {
        assert!(a[k] == b[k], "{f}: same seed, different bytes");
        // The fixture carries the real headers (checked against the real
        // sample above when that is present).
        let real = fs::read(tiny().join(f)).unwrap();
        assert_eq!(
            header(&a[k]),
            header(&real),
            "{f}: header differs from the real layout"
        );
    }
    assert!(
        a[2] != c[2],
        "animelist.csv: seeds 7 and 8 gave the same file"
    );
    let rows = a[2].iter().filter(|&&x| x == b'\n').count();
    assert_eq!(rows, 4001, "header + --rows lines");
}

// ---------------------------------------------------------------- 3. split

type Rows = Vec<(u32, u32, i64)>;

fn read_protocol_csv(path: &Path) -> Rows {
    let text = fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("user_id,item_id,rating"),
        "{}",
        path.display()
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 3, "{}: {l:?}", path.display());
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse()
                    .unwrap_or_else(|_| panic!("{}: non-integer rating {l:?}", path.display())),
            )
        })
        .collect()
}

/// (user, item) → rating of the raw animelist.csv after PROTOCOL cleaning
/// steps 1–2: unrated rows (rating <= 0) dropped, the last row of a pair wins.
fn raw_rated(path: &Path) -> HashMap<(u32, u32), f64> {
    let text = fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (cu, ci, cr) = (col("user_id"), col("anime_id"), col("rating"));
    let mut out = HashMap::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        let r: f64 = f[cr].parse().unwrap();
        if r > 0.0 {
            out.insert((f[cu].parse().unwrap(), f[ci].parse().unwrap()), r);
        }
    }
    out
}

#[test]
fn split_of_real_100k_follows_the_protocol() {
    let Some(real) = real_100k() else { return };
    let fx = Fx::new();
    let exp = fx.exp(
        "real.yaml",
        "real",
        &format!(
            "format: mal2020\nsource: '{}'\nmin_user_ratings: 5\nsplit: {{kind: per_user_random, test_ratio: 0.2, seed: 42}}",
            real.display()
        ),
        "",
    );
    let out = fx.root().join("split");
    let o = ok(fx
        .cmd()
        .args(["data", "split", "--config"])
        .arg(&exp)
        .arg("--out")
        .arg(&out));
    let train = read_protocol_csv(&out.join("train.csv"));
    let test = read_protocol_csv(&out.join("test.csv"));
    assert!(
        o.stdout.contains(&format!(
            "wrote {} train and {} test rows",
            train.len(),
            test.len()
        )),
        "{}",
        o.stdout
    );
    assert!(!test.is_empty());
    for (name, rows) in [("train", &train), ("test", &test)] {
        assert!(
            rows.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)),
            "{name}.csv is not strictly sorted by (user_id, item_id)"
        );
    }

    let raw = raw_rated(&real.join("animelist.csv"));
    let mut n: BTreeMap<u32, usize> = BTreeMap::new();
    for &(u, _) in raw.keys() {
        *n.entry(u).or_default() += 1;
    }
    for &(u, i, r) in train.iter().chain(&test) {
        assert_eq!(raw.get(&(u, i)), Some(&(r as f64)), "({u},{i}) rating");
    }

    let train_pairs: BTreeSet<(u32, u32)> = train.iter().map(|r| (r.0, r.1)).collect();
    let train_items: BTreeSet<u32> = train.iter().map(|r| r.1).collect();
    for &(u, i, _) in &test {
        assert!(
            !train_pairs.contains(&(u, i)),
            "({u},{i}) in train and test"
        );
        assert!(train_items.contains(&i), "test item {i} never in train");
    }

    let count = |rows: &Rows| {
        let mut m: BTreeMap<u32, usize> = BTreeMap::new();
        for r in rows {
            *m.entry(r.0).or_default() += 1;
        }
        m
    };
    let (tr, te) = (count(&train), count(&test));
    let kept: BTreeSet<u32> = n.iter().filter(|(_, &c)| c >= 5).map(|(&u, _)| u).collect();
    assert!(kept.len() < n.len(), "the fixture should drop some users");
    assert_eq!(tr.keys().copied().collect::<BTreeSet<_>>(), kept);
    assert!(te.keys().all(|u| kept.contains(u)));
    for (&u, &nu) in n.iter().filter(|(u, _)| kept.contains(u)) {
        let k = ((nu + 2) / 5).max(1);
        let t = te.get(&u).copied().unwrap_or(0);
        assert!(t <= k, "user {u}: {t} test rows of {nu} (at most {k})");
        assert_eq!(tr[&u], nu - k, "user {u}: train rows of {nu}");
    }
}

// ---------------------------------------------------------------- 4. cache

#[test]
fn process_reuses_the_cache_per_fingerprint() {
    let fx = Fx::new();
    let exp = fx.exp(
        "cache.yaml",
        "cache",
        &format!(
            "format: mal2020\nsource: '{}'\nmin_user_ratings: 5",
            tiny().display()
        ),
        "",
    );
    let process = |extra: &[&str]| {
        ok(fx
            .cmd()
            .env("RUST_LOG", "info")
            .args(["data", "process", "--config"])
            .arg(&exp)
            .args(extra))
    };
    let folders = || -> Vec<String> {
        let all = names_in(&fx.cache());
        assert!(
            !all.iter().any(|n| n.starts_with(".processed-tmp-")),
            "staging folder left behind: {all:?}"
        );
        all.into_iter()
            .filter(|n| n.starts_with("processed-"))
            .collect()
    };

    let first = process(&[]);
    assert!(!first.stderr.contains("from cache"), "{}", first.stderr);
    assert!(first.stdout.contains("users"), "{}", first.stdout);
    assert_eq!(folders().len(), 1);

    let second = process(&[]);
    assert!(second.stderr.contains("from cache"), "{}", second.stderr);
    assert_eq!(second.stdout, first.stdout);
    assert_eq!(folders().len(), 1);

    let no_cache = process(&["--no-cache"]);
    assert!(
        !no_cache.stderr.contains("from cache"),
        "{}",
        no_cache.stderr
    );
    assert_eq!(no_cache.stdout, first.stdout);

    let other = process(&["--set", "data.min_user_ratings=10"]);
    assert!(!other.stderr.contains("from cache"), "{}", other.stderr);
    assert_eq!(folders().len(), 2);
    let again = process(&["--set", "data.min_user_ratings=10"]);
    assert!(again.stderr.contains("from cache"), "{}", again.stderr);
    assert_eq!(folders().len(), 2);
}

// ---------------------------------------------------------------- 5. run + recommend

const SYNTH_DATA: &str = "format: synthetic\nsynth: {users: 300, anime: 200, rows: 20000, seed: 1}";

/// Runs `exp` and returns the single run directory it created.
fn run_ok(fx: &Fx, exp: &Path, name: &str, sets: &[&str]) -> PathBuf {
    let mut c = fx.cmd();
    c.arg("run").arg(exp);
    for s in sets {
        c.args(["--set", s]);
    }
    let o = ok(&mut c);
    let ids = names_in(&fx.runs().join(name));
    assert_eq!(ids.len(), 1, "{ids:?}");
    let dir = fx.runs().join(name).join(ids.iter().next().unwrap());
    assert!(
        o.stdout.contains(&format!("run dir: {}", dir.display())),
        "{}",
        o.stdout
    );
    dir
}

#[test]
fn run_records_everything_and_recommend_excludes_train_items() {
    let fx = Fx::new();
    let exp = fx.exp("syn.yaml", "syn", SYNTH_DATA, "model: {kind: popularity}");
    let run = run_ok(&fx, &exp, "syn", &[]);

    let files = names_in(&run);
    for f in [
        "config.yaml",
        "meta.json",
        "params.json",
        "metrics.jsonl",
        "summary.json",
    ] {
        assert!(files.contains(f), "{f} missing: {files:?}");
    }
    assert!(!files.iter().any(|f| f.starts_with(".anirec-tmp-")));

    let cfg: serde_yaml::Value =
        serde_yaml::from_str(&fs::read_to_string(run.join("config.yaml")).unwrap()).unwrap();
    assert_eq!(cfg["data"]["min_user_ratings"].as_u64(), Some(5));
    assert_eq!(cfg["data"]["split"]["test_ratio"].as_f64(), Some(0.2));
    assert_eq!(cfg["data"]["synth"]["rows"].as_u64(), Some(20000));
    assert_eq!(cfg["model"]["kind"].as_str(), Some("popularity"));
    assert_eq!(
        cfg["eval"]["k"],
        serde_yaml::from_str::<serde_yaml::Value>("[5, 10, 20]").unwrap()
    );

    let meta = json(&run.join("meta.json"));
    assert_eq!(meta["status"], "done", "{meta}");
    assert!(meta["error"].is_null(), "{meta}");
    let fp = meta["data_fingerprint"].as_str().unwrap_or_default();
    assert!(!fp.is_empty(), "{meta}");
    assert_eq!(meta["run_id"].as_str(), run.file_name().unwrap().to_str());

    let params = json(&run.join("params.json"));
    assert_eq!(params["model.kind"], "popularity", "{params}");
    assert_eq!(params["data.min_user_ratings"], "5", "{params}");

    let summary = json(&run.join("summary.json"));
    let ndcg = summary["ndcg@10"]
        .as_f64()
        .expect("ndcg@10 in summary.json");
    assert!((0.0..=1.0).contains(&ndcg), "ndcg@10 = {ndcg}");
    assert!(
        ndcg > 0.0,
        "popularity on synthetic data should hit something"
    );
    let logged: Vec<Json> = fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        logged
            .iter()
            .any(|e| e["name"] == "ndcg@10" && e["value"].as_f64() == Some(ndcg)),
        "ndcg@10 not in metrics.jsonl"
    );

    let manifest = json(&run.join("bundle/manifest.json"));
    assert_eq!(manifest["model_kind"], "popularity");
    assert_eq!(manifest["data_fingerprint"].as_str(), Some(fp));

    // The split the run used, made again from the same config; the saved
    // config.yaml must reproduce it byte for byte.
    let split = fx.root().join("split");
    ok(fx
        .cmd()
        .args(["data", "split", "--config"])
        .arg(&exp)
        .arg("--out")
        .arg(&split));
    assert_eq!(
        json(&split.join("split.json"))["fingerprint"].as_str(),
        Some(fp)
    );
    let resplit = fx.root().join("resplit");
    ok(fx
        .cmd()
        .args(["data", "split", "--config"])
        .arg(run.join("config.yaml"))
        .arg("--out")
        .arg(&resplit));
    assert!(
        fs::read(split.join("train.csv")).unwrap() == fs::read(resplit.join("train.csv")).unwrap()
    );

    let mut seen: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    for (u, i, _) in read_protocol_csv(&split.join("train.csv")) {
        seen.entry(u).or_default().insert(i);
    }
    let catalog: BTreeSet<u32> = seen.values().flatten().copied().collect();

    let recs = fx.root().join("recs.csv");
    let o = ok(fx
        .cmd()
        .args(["recommend", "--run"])
        .arg(&run)
        .args(["--users", "all", "--k", "10", "--out"])
        .arg(&recs));
    let text = fs::read_to_string(&recs).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("user_id,item_id,rank,score"));
    let mut lists: BTreeMap<u32, Vec<(u32, usize, f64)>> = BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), 4, "{l:?}");
        lists.entry(f[0].parse().unwrap()).or_default().push((
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
            f[3].parse().unwrap(),
        ));
    }
    assert!(
        o.stdout
            .contains(&format!("wrote {} recommendations", lists.len() * 10)),
        "{}",
        o.stdout
    );
    assert_eq!(
        lists.keys().collect::<BTreeSet<_>>(),
        seen.keys().collect::<BTreeSet<_>>(),
        "recommend --users all must cover exactly the train users"
    );
    for (u, list) in &lists {
        let ranks: Vec<usize> = list.iter().map(|r| r.1).collect();
        assert_eq!(ranks, (1..=10).collect::<Vec<_>>(), "user {u}");
        assert!(
            list.windows(2).all(|w| w[0].2 >= w[1].2),
            "user {u}: scores increase: {list:?}"
        );
        let items: BTreeSet<u32> = list.iter().map(|r| r.0).collect();
        assert_eq!(items.len(), 10, "user {u}: repeated item");
        for (i, _, _) in list {
            assert!(!seen[u].contains(i), "user {u}: train item {i} recommended");
            assert!(catalog.contains(i), "user {u}: unknown item {i}");
        }
    }
}

// ---------------------------------------------------------------- 6. --set

#[test]
fn set_overrides_reach_the_run() {
    let fx = Fx::new();
    let exp = fx.exp("syn.yaml", "syn", SYNTH_DATA, "model: {kind: popularity}");
    let run = run_ok(&fx, &exp, "syn", &["eval.k=[5]"]);
    let summary = json(&run.join("summary.json"));
    assert!(summary["ndcg@5"].is_f64(), "{summary}");
    for k in ["ndcg@10", "ndcg@20", "precision@10"] {
        assert!(summary.get(k).is_none(), "{k} in {summary}");
    }
    let cfg: serde_yaml::Value =
        serde_yaml::from_str(&fs::read_to_string(run.join("config.yaml")).unwrap()).unwrap();
    assert_eq!(
        cfg["eval"]["k"],
        serde_yaml::from_str::<serde_yaml::Value>("[5]").unwrap()
    );
}

/// `--run-dir` puts the run at exactly that path (what a DVC stage declares
/// as its output), nothing under runs_dir; a second run into the now
/// non-empty directory is refused with exit 2 and leaves the first intact.
#[test]
fn run_dir_is_used_exactly_and_never_overwritten() {
    let fx = Fx::new();
    let exp = fx.exp("syn.yaml", "syn", SYNTH_DATA, "model: {kind: popularity}");
    let fixed = fx.root().join("pipeline/train");
    let o = ok(fx.cmd().arg("run").arg(&exp).arg("--run-dir").arg(&fixed));
    assert!(
        o.stdout.contains(&format!("run dir: {}", fixed.display())),
        "{}",
        o.stdout
    );
    for f in ["config.yaml", "meta.json", "summary.json", "bundle"] {
        assert!(fixed.join(f).exists(), "{f} missing in {}", fixed.display());
    }
    assert!(
        names_in(&fx.runs()).is_empty(),
        "{:?}",
        names_in(&fx.runs())
    );
    let meta = json(&fixed.join("meta.json"));
    assert_eq!(meta["status"], "done", "{meta}");
    let summary = fs::read(fixed.join("summary.json")).unwrap();

    let o = exec(fx.cmd().arg("run").arg(&exp).arg("--run-dir").arg(&fixed));
    assert_eq!(o.code, 2, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    has(
        &error_line(&o),
        &[&fixed.display().to_string(), "not empty"],
    );
    assert_eq!(fs::read(fixed.join("summary.json")).unwrap(), summary);

    // An existing empty directory (what `dvc repro` leaves) is fine, relative
    // paths are taken from the working directory, and --resume excludes it.
    fs::create_dir_all(fx.root().join("empty")).unwrap();
    ok(fx.cmd().arg("run").arg(&exp).args(["--run-dir", "empty"]));
    assert!(fx.root().join("empty/summary.json").is_file());
    let o = exec(
        fx.cmd()
            .args(["run", "--resume", "empty", "--run-dir", "other"]),
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
}

// ---------------------------------------------------------------- 7. models

/// Every model family fits, evaluates and leaves a bundle whose
/// recommendations never contain a train item; the same config twice gives
/// the same metrics (timings aside).
#[test]
fn every_family_runs_and_is_deterministic() {
    let fx = Fx::new();
    let hybrid = "model:\n  kind: hybrid\n  members:\n    - {kind: ease, weight: 1, l2: 50}\n    - {kind: user_knn, weight: 0.3}\n    - {kind: content, weight: 0.1}\n    - {kind: popularity, weight: 0.05}";
    for (name, model) in [
        ("pop", "model: {kind: popularity}".to_string()),
        ("ease", "model: {kind: ease, l2: 50}".to_string()),
        ("knn", "model: {kind: user_knn, neighbors: 20}".to_string()),
        ("content", "model: {kind: content}".to_string()),
        ("hybrid", hybrid.to_string()),
    ] {
        let exp = fx.exp(&format!("{name}.yaml"), name, SYNTH_DATA, &model);
        let mut summaries = Vec::new();
        for _ in 0..2 {
            ok(fx.cmd().arg("run").arg(&exp));
            let ids = names_in(&fx.runs().join(name));
            let run = fx.runs().join(name).join(ids.iter().next_back().unwrap());
            let mut s = json(&run.join("summary.json"));
            let m = s.as_object_mut().unwrap();
            m.retain(|k, _| !k.ends_with("_seconds"));
            let ndcg = m["ndcg@10"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&ndcg), "{name}: {ndcg}");
            summaries.push(s);
            assert!(
                run.join("bundle/manifest.json").exists(),
                "{name}: no bundle"
            );
        }
        assert_eq!(
            summaries[0], summaries[1],
            "{name}: metrics differ between identical runs"
        );
    }
}

// ---------------------------------------------------------------- 8. sweeps

/// Eight trials over two model families; the four with
/// `min_user_ratings: 100000` fail on purpose (no user keeps that many), which
/// must be recorded and must not stop the sweep.
const SWEEP: &str = "model: {kind: ease}\neval: {k: [10]}\nsweep:\n  parallel: 1\n  parameters:\n    model:\n      - {kind: ease, l2: 10}\n      - {kind: ease, l2: 100}\n      - {kind: user_knn, neighbors: 5}\n      - {kind: user_knn, neighbors: 20}\n    data.min_user_ratings: [5, 100000]";

/// Trials whose state file says `state` (one state file per trial).
fn ledger_count(sweep_dir: &Path, state: &str) -> usize {
    names_in(&sweep_dir.join("state"))
        .iter()
        .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
        .filter_map(|n| fs::read(sweep_dir.join("state").join(n)).ok())
        .filter_map(|b| serde_json::from_slice::<Json>(&b).ok())
        .filter(|v| v["state"] == state)
        .count()
}

/// Killed halfway, the same command resumes: finished trials are skipped,
/// the interrupted one is set aside and re-run, failures are recorded, and
/// the summary ranks every trial.
#[test]
fn sweep_survives_a_kill_and_resumes() {
    let fx = Fx::new();
    let exp = fx.exp("sweep.yaml", "sw", SYNTH_DATA, SWEEP);
    let sweep_root = fx.runs().join("sw");

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_anirec"))
        .current_dir(fx.root())
        .env("RUST_LOG", "warn")
        .arg("sweep")
        .arg(&exp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    let sweep_dir = loop {
        let dirs = names_in(&sweep_root);
        if let Some(d) = dirs.iter().find(|d| d.starts_with("sweep-")) {
            let d = sweep_root.join(d);
            if ledger_count(&d, "done") + ledger_count(&d, "failed") >= 3 {
                break d;
            }
        }
        assert!(t0.elapsed().as_secs() < 120, "sweep made no progress");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    // The trial that was running notices its parent is gone and stops.
    std::thread::sleep(std::time::Duration::from_millis(800));
    let finished_at_kill = ledger_count(&sweep_dir, "done") + ledger_count(&sweep_dir, "failed");
    assert!(finished_at_kill < 8, "the sweep finished before the kill");

    let o = ok(fx.cmd().arg("sweep").arg(&exp));
    assert!(
        o.stderr.contains("done earlier"),
        "resume did not report earlier trials:\n{}",
        o.stderr
    );
    // Every trial ran to an end exactly once after the kill: the ledger holds
    // at most one final state per trial, plus those recorded before it.
    let finals = ledger_count(&sweep_dir, "done") + ledger_count(&sweep_dir, "failed");
    assert_eq!(finals, 8, "{:?}", names_in(&sweep_dir.join("state")));

    let csv = fs::read_to_string(sweep_dir.join("summary.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 9, "{csv}");
    assert!(lines[0].starts_with("rank,trial,trial_id,status,run_dir,data.min_user_ratings,model,"));
    let done = lines.iter().filter(|l| l.contains(",done,")).count();
    let failed = lines.iter().filter(|l| l.contains(",failed,")).count();
    assert_eq!((done, failed), (4, 4), "{csv}");
    // Best first, and it is the largest ndcg@10 among the finished trials.
    let sweep = json(&sweep_dir.join("sweep.json"));
    let best = sweep["best"]["metrics"]["ndcg@10"].as_f64().unwrap();
    for row in sweep["rows"].as_array().unwrap() {
        if let Some(v) = row["metrics"]["ndcg@10"].as_f64() {
            assert!(v <= best);
        }
    }
    assert!(lines[1].starts_with("1,"), "{csv}");
    let md = fs::read_to_string(sweep_dir.join("summary.md")).unwrap();
    assert!(md.contains("no user has at least 100000"), "{md}");
    assert!(o.stdout.contains("Best: trial"), "{}", o.stdout);

    // A third run has nothing left to do.
    let again = ok(fx.cmd().arg("sweep").arg(&exp));
    assert!(again.stderr.contains("0 to run"), "{}", again.stderr);
    assert_eq!(ledger_count(&sweep_dir, "done"), 4);
}

/// The cluster path: plan, one trial per index (any order, re-runnable),
/// then collect; the same trial ids as a local sweep.
#[test]
fn sweep_plan_trial_collect() {
    let fx = Fx::new();
    let exp = fx.exp("sweep.yaml", "sw", SYNTH_DATA, SWEEP);
    let plan = fx.root().join("plan.json");
    let o = ok(fx
        .cmd()
        .args(["sweep", "plan"])
        .arg(&exp)
        .arg("--out")
        .arg(&plan));
    assert!(o.stdout.contains("8 trials"), "{}", o.stdout);
    let out_dir = fx.root().join("k8s-sweep");
    for i in [2usize, 0] {
        let o = ok(fx
            .cmd()
            .args(["sweep", "trial", "--plan"])
            .arg(&plan)
            .arg("--sweep-dir")
            .arg(&out_dir)
            .env("JOB_COMPLETION_INDEX", i.to_string()));
        assert!(o.stdout.contains("run dir:"), "{}", o.stdout);
    }
    // A retried pod does not run its trial twice.
    let o = ok(fx
        .cmd()
        .args(["sweep", "trial", "--plan"])
        .arg(&plan)
        .args(["--index", "0", "--sweep-dir"])
        .arg(&out_dir));
    assert!(o.stderr.contains("already done"), "{}", o.stderr);
    let bad = exec(
        fx.cmd()
            .args(["sweep", "trial", "--plan"])
            .arg(&plan)
            .args(["--index", "8", "--sweep-dir"])
            .arg(&out_dir),
    );
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("out of range"), "{}", bad.stderr);

    let o = ok(fx.cmd().args(["sweep", "collect"]).arg(&out_dir));
    assert!(
        o.stdout
            .contains("2 done, 0 pruned, 0 failed, 0 running, 6 queued"),
        "{}",
        o.stdout
    );
    let trials = names_in(&out_dir.join("trials"));
    assert_eq!(trials.len(), 2, "{trials:?}");
    let p = json(&plan);
    for t in &trials {
        let idx: usize = t[..3].parse().unwrap();
        assert_eq!(t[4..], *p["trials"][idx]["id"].as_str().unwrap());
        let cfg = fs::read_to_string(out_dir.join("trials").join(t).join("config.yaml")).unwrap();
        assert!(!cfg.contains("sweep:"), "{cfg}");
    }
}

// ---------------------------------------------------------------- 9. promote

fn sha(path: &Path) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(fs::read(path).unwrap()))
}

/// Picks the best finished run, copies its verified bundle with lineage, and
/// refuses failed runs, missing metrics and corrupted bundles without
/// touching what is already promoted.
#[test]
fn promote_picks_the_best_and_refuses_bad_runs() {
    let fx = Fx::new();
    let exp = fx.exp(
        "p.yaml",
        "p",
        SYNTH_DATA,
        "model: {kind: popularity}\neval: {k: [10]}",
    );
    ok(fx.cmd().arg("run").arg(&exp));
    ok(fx
        .cmd()
        .arg("run")
        .arg(&exp)
        .args(["--set", "model={kind: ease, l2: 50}"]));
    let failed = exec(
        fx.cmd()
            .arg("run")
            .arg(&exp)
            .args(["--set", "data.min_user_ratings=100000"]),
    );
    assert_eq!(failed.code, 3, "{}", failed.stderr);
    let runs: Vec<PathBuf> = names_in(&fx.runs().join("p"))
        .iter()
        .map(|n| fx.runs().join("p").join(n))
        .collect();
    assert_eq!(runs.len(), 3);
    let ndcg = |r: &Path| json(&r.join("summary.json"))["ndcg@10"].as_f64().unwrap();
    let bad = runs.iter().find(|r| !r.join("bundle").exists()).unwrap();
    let mut done: Vec<&PathBuf> = runs.iter().filter(|r| r.join("bundle").exists()).collect();
    done.sort_by(|a, b| ndcg(b).total_cmp(&ndcg(a)));
    let (best, other) = (done[0], done[1]);
    assert!(ndcg(best) > ndcg(other));
    let best_kind = json(&best.join("bundle/manifest.json"))["model_kind"].clone();
    let other_kind = json(&other.join("bundle/manifest.json"))["model_kind"].clone();

    let o = ok(fx
        .cmd()
        .args(["promote", "runs/p", "--to", "models/promoted"]));
    assert!(o.stdout.contains("promoted runs/p/"), "{}", o.stdout);
    let dest = fx.root().join("models/promoted");
    for f in ["manifest.json", "tensors.safetensors", "catalog.json"] {
        assert_eq!(sha(&dest.join(f)), sha(&best.join("bundle").join(f)), "{f}");
    }
    let p = json(&dest.join("PROMOTED.json"));
    assert_eq!(p["value"].as_f64().unwrap(), ndcg(best));
    assert_eq!(p["metric"], "ndcg@10");
    assert_eq!(p["model_kind"], best_kind);
    assert_eq!(p["run"]["id"], json(&best.join("meta.json"))["run_id"]);
    assert_eq!(p["config"]["model"]["kind"], best_kind);
    assert!(p["data_fingerprint"].is_string());
    assert!(
        p["candidates"].to_string().contains("the run failed"),
        "{p}"
    );
    let before = sha(&dest.join("PROMOTED.json"));

    // Refusals, each leaving models/promoted as it was.
    let e = exec(
        fx.cmd()
            .arg("promote")
            .arg(bad)
            .args(["--to", "models/promoted"]),
    );
    assert_eq!(e.code, 2);
    assert!(e.stderr.contains("the run failed"), "{}", e.stderr);
    let e = exec(fx.cmd().arg("promote").arg(other).args([
        "--metric",
        "ndcg@7",
        "--to",
        "models/promoted",
    ]));
    assert_eq!(e.code, 2);
    assert!(e.stderr.contains("has no metric ndcg@7"), "{}", e.stderr);
    let tensors = best.join("bundle/tensors.safetensors");
    let mut bytes = fs::read(&tensors).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&tensors, bytes).unwrap();
    let e = exec(
        fx.cmd()
            .args(["promote", "runs/p", "--to", "models/promoted"]),
    );
    assert_eq!(e.code, 4);
    assert!(e.stderr.contains("does not verify"), "{}", e.stderr);
    assert_eq!(sha(&dest.join("PROMOTED.json")), before);

    // A crash between the two renames of a swap left the old bundle aside:
    // the next promote restores it first, then swaps cleanly.
    fs::rename(&dest, fx.root().join("models/promoted.old-4242")).unwrap();
    let o = ok(fx
        .cmd()
        .arg("promote")
        .arg(other)
        .args(["--to", "models/promoted"]));
    assert!(o.stderr.contains("restored"), "{}", o.stderr);
    assert_eq!(
        names_in(&fx.root().join("models")),
        // The promote lock file stays (an OS lock; never deleted).
        BTreeSet::from(["promoted".to_string(), ".promoted.promote.lock".to_string()])
    );
    assert_eq!(json(&dest.join("PROMOTED.json"))["model_kind"], other_kind);
}

// ---------------------------------------------------------------- 10. reports and plots

/// Every `![..](path)` link in a markdown file, checked to exist (relative
/// to the file) and to be a real PNG; returns the linked paths.
fn linked_images(md_path: &Path) -> Vec<String> {
    let md = fs::read_to_string(md_path).unwrap();
    let links: Vec<String> = md
        .split("](")
        .skip(1)
        .filter_map(|s| s.split_once(')').map(|(l, _)| l.to_string()))
        .collect();
    for l in &links {
        let p = md_path.parent().unwrap().join(l);
        assert_png(&p);
        assert!(
            p.with_extension("svg").is_file(),
            "{}: no SVG twin",
            p.display()
        );
    }
    links
}

fn assert_png(p: &Path) {
    let b = fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(
        b.starts_with(b"\x89PNG") && b.len() > 5_000,
        "{}: {} bytes",
        p.display(),
        b.len()
    );
}

#[test]
fn run_writes_plots_and_report_covers_runs_and_sweeps() {
    let fx = Fx::new();
    let hybrid = "model:\n  kind: hybrid\n  members:\n    - {kind: ease, weight: 1, l2: 50}\n    - {kind: mf_bpr, weight: 0.3, factors: 8, epochs: 3}\n    - {kind: popularity, weight: 0.05}";
    let exp = fx.exp("hyb.yaml", "hyb", SYNTH_DATA, hybrid);
    let run = run_ok(&fx, &exp, "hyb", &[]);

    // The run itself left its plots (training curves of the BPR member,
    // metrics at K, members, PCA of the BPR item factors).
    let plots = names_in(&run.join("plots"));
    for stem in ["training", "metrics_at_k", "members", "embeddings_pca"] {
        assert_png(&run.join("plots").join(format!("{stem}.png")));
        assert!(
            plots.contains(&format!("{stem}.svg")),
            "{stem}.svg: {plots:?}"
        );
    }
    assert!(
        !plots.iter().any(|p| p.starts_with(".anirec-tmp")),
        "{plots:?}"
    );
    let svg = fs::read_to_string(run.join("plots/members.svg")).unwrap();
    for label in ["ease", "mf_bpr", "popularity", "hybrid (blend)", "ndcg@10"] {
        assert!(svg.contains(label), "members.svg lacks {label}");
    }
    let pca = fs::read_to_string(run.join("plots/embeddings_pca.svg")).unwrap();
    assert!(
        pca.contains("mf_bpr item factors (8-d)"),
        "PCA title names its source"
    );

    // Report of the run, elsewhere.
    let rep = fx.root().join("rep");
    let o = ok(fx.cmd().arg("report").arg(&run).arg("--out").arg(&rep));
    assert!(o.stdout.contains("report.md"), "{}", o.stdout);
    let md = fs::read_to_string(rep.join("report.md")).unwrap();
    for part in [
        "# Run report: hyb /",
        "## Configuration",
        "## Data",
        "## Metrics",
        "| ndcg |",
        "## Members (each alone, sorted by ndcg@10)",
        "| **hybrid (blend)** |",
        "| mf_bpr | 0.3 |",
        "## Training",
        "## Item embeddings",
    ] {
        assert!(md.contains(part), "report.md lacks {part:?}:\n{md}");
    }
    let summary = json(&run.join("summary.json"));
    let ndcg = summary["ndcg@10"].as_f64().unwrap();
    assert!(
        md.contains(&format!("{ndcg:.4}")),
        "ndcg@10 {ndcg:.4} not in report.md"
    );
    let links = linked_images(&rep.join("report.md"));
    assert!(
        links.contains(&"plots/rating_distribution.png".to_string()),
        "{links:?}"
    );
    assert_eq!(links.len(), 5, "{links:?}");
    // Default output: the run directory itself.
    ok(fx.cmd().arg("report").arg(&run));
    assert!(run.join("report.md").is_file());

    // A sweep directory in the layout of the sweep runner: the report ranks
    // the trials, names the best one and plots the metric per parameter.
    let sw = fx.root().join("sweep");
    fs::create_dir_all(&sw).unwrap();
    fs::write(
        sw.join("sweep.json"),
        r#"{"id": "sw-1", "experiment": "hyb", "metric": "ndcg@10", "goal": "maximize", "parameters": ["model.kind", "model.l2"], "trials": 5}"#,
    )
    .unwrap();
    let rel = format!("../runs/hyb/{}", run.file_name().unwrap().to_string_lossy());
    fs::write(
        sw.join("summary.csv"),
        format!(
            "rank,trial,trial_id,status,run_dir,model.kind,model.l2,ndcg@10,precision@10\n\
             2,0,t0,done,{rel},ease,50,0.31,0.2\n\
             1,1,t1,done,{rel},ease,500,0.36,0.25\n\
             3,2,t2,done,,mf_bpr,,0.22,0.15\n\
             ,3,t3,failed,,mf_bpr,,,\n\
             ,4,t4,queued,,ease,5000,,\n"
        ),
    )
    .unwrap();
    ok(fx.cmd().arg("report").arg(&sw));
    let md = fs::read_to_string(sw.join("report.md")).unwrap();
    for part in [
        "# Sweep report: sw-1 (hyb)",
        "Metric **ndcg@10** (maximize); 5 trials of 5 planned: 3 done, 1 failed, 1 queued.",
        "## Best trial",
        "| trial id | `t1` |",
        "## Trials (sorted by ndcg@10)",
        "## Model families",
    ] {
        assert!(md.contains(part), "sweep report.md lacks {part:?}:\n{md}");
    }
    let order: Vec<usize> = [
        "| 1 | 1 | done |",
        "| 2 | 0 | done |",
        "| 3 | 2 | done |",
        "|  | 3 | failed |",
    ]
    .iter()
    .map(|r| md.find(r).unwrap_or_else(|| panic!("{r:?} not in:\n{md}")))
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "trials not sorted by the metric:\n{md}"
    );
    let links = linked_images(&sw.join("report.md"));
    for l in [
        "plots/families.png",
        "plots/param_model_kind.png",
        "plots/param_model_l2.png",
    ] {
        assert!(links.contains(&l.to_string()), "{l}: {links:?}");
    }

    // Not a run, not a sweep: a usage error that says what is expected.
    let o = exec(fx.cmd().arg("report").arg(fx.root()));
    assert_eq!(o.code, 2, "{}", o.stderr);
    has(
        &o.stderr,
        &["neither a run directory", "sweep.json + summary.csv"],
    );
    // A broken summary.csv: an I/O-class error naming the file and line.
    fs::write(
        sw.join("summary.csv"),
        "rank,trial,trial_id,status,run_dir,ndcg@10\n1,0,a,done,,zero\n",
    )
    .unwrap();
    let o = exec(fx.cmd().arg("report").arg(&sw));
    assert_eq!(o.code, 5, "{}", o.stderr);
    has(
        &o.stderr,
        &["summary.csv", "line 2", "\"zero\" is not a number"],
    );
}

#[test]
fn data_explore_writes_plots_and_stats() {
    let fx = Fx::new();
    let exp = fx.exp("syn.yaml", "syn", SYNTH_DATA, "model: {kind: popularity}");
    let out = fx.root().join("explore");
    let o = ok(fx
        .cmd()
        .args(["data", "explore", "--config"])
        .arg(&exp)
        .arg("--out")
        .arg(&out));
    assert!(o.stdout.contains("explore.md"), "{}", o.stdout);
    let md = fs::read_to_string(out.join("explore.md")).unwrap();
    for part in [
        "# Data exploration: syn",
        "| users |",
        "## Long tails",
        "| user | ",
        "| anime | ",
        "## Genres",
        "| genre | ratings |",
    ] {
        assert!(md.contains(part), "explore.md lacks {part:?}:\n{md}");
    }
    let links = linked_images(&out.join("explore.md"));
    assert_eq!(
        links,
        [
            "plots/rating_distribution.png",
            "plots/ratings_per_user.png",
            "plots/ratings_per_anime.png",
            "plots/top_genres.png"
        ]
    );
    // The histogram covers every rating in the stats the CLI prints.
    let stats = ok(fx.cmd().args(["data", "stats", "--config"]).arg(&exp)).stdout;
    let svg = fs::read_to_string(out.join("plots/rating_distribution.svg")).unwrap();
    let texts: BTreeSet<String> = svg
        .split("<text")
        .skip(1)
        .filter_map(|t| {
            Some(
                t.split_once('>')?
                    .1
                    .split_once("</text>")?
                    .0
                    .trim()
                    .to_string(),
            )
        })
        .collect();
    for line in stats
        .lines()
        .skip_while(|l| !l.starts_with("rating histogram"))
        .skip(1)
    {
        let count: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let grouped = {
            let s = count.to_string();
            let mut o = String::new();
            for (k, c) in s.chars().enumerate() {
                if k > 0 && (s.len() - k).is_multiple_of(3) {
                    o.push(',');
                }
                o.push(c);
            }
            o
        };
        assert!(
            texts.contains(&grouped),
            "count {grouped} not labelled: {texts:?}"
        );
    }
}
