//! The data tools end to end. `anirec data compare A B`: a hand-made folder
//! against an experiment on synthetic data (generated on first use), the real
//! head-100k MAL ratings when `ANIREC_DATA_DIR` has them, and the refusals.
//! `anirec data synth --scale`: presets are sizes, exclusive with explicit ones.

mod common;

use common::{run, text, Fx};
use std::fs;
use std::path::{Path, PathBuf};

/// The hand-made data set whose figures the library's unit test works out
/// by hand (tests/fixtures/compare-hand); read in place.
fn hand_folder() -> PathBuf {
    anirec::testdata::fixture("compare-hand")
}

fn synth_exp(fx: &Fx) -> PathBuf {
    let p = fx.path("synth.yaml");
    let yaml = format!(
        "name: synthcmp\nruns_dir: '{}'\ndata:\n  cache_dir: '{}'\n  format: synthetic\n  synth: {{users: 120, anime: 80, rows: 3000, seed: 1}}\n",
        fx.runs().display(),
        fx.cache().display()
    );
    fs::write(&p, yaml).unwrap();
    p
}

/// The markdown table as statistic -> (A, B).
fn table(stdout: &str) -> Vec<(String, String, String)> {
    stdout
        .lines()
        .skip(2)
        .map(|l| {
            let c: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(c.len(), 3, "row {l:?}");
            (c[0].to_owned(), c[1].to_owned(), c[2].to_owned())
        })
        .collect()
}

fn cell<'a>(t: &'a [(String, String, String)], label: &str) -> (&'a str, &'a str) {
    let r = t
        .iter()
        .find(|r| r.0 == label)
        .unwrap_or_else(|| panic!("no row {label:?}"));
    (&r.1, &r.2)
}

fn compare(fx: &Fx, a: &Path, b: &Path) -> String {
    let o = run(fx
        .cmd()
        .args(["data", "compare"])
        .arg(a)
        .arg(b)
        .arg("--markdown"));
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn hand_made_folder_against_a_synthetic_experiment() {
    let fx = Fx::new();
    let out = compare(&fx, &hand_folder(), &synth_exp(&fx));
    assert!(
        out.starts_with("| statistic | compare-hand | synthcmp |"),
        "{out}"
    );
    let t = table(&out);
    assert_eq!(cell(&t, "animelist rows"), ("9", "3000"));
    assert_eq!(cell(&t, "users").1, "120");
    assert_eq!(cell(&t, "anime in anime.csv"), ("4", "80"));
    // By hand: 6 ratings (8, 9, 7, 10, 3, 8), 3 of 9 rows unrated.
    assert_eq!(cell(&t, "rated rows (rating 1-10)").0, "6");
    assert_eq!(cell(&t, "unrated share (rating 0)").0, "33.3%");
    assert_eq!(cell(&t, "rating 8").0, "33.3%");
    assert_eq!(cell(&t, "ratings below 4").0, "16.7%");
    assert_eq!(cell(&t, "ratings per user: p90").0, "4");
    assert_eq!(cell(&t, "Gini of ratings per anime").0, "0.222");
    assert_eq!(cell(&t, "status: completed").0, "44.4%");
    // 3 of 4 catalogue anime are Action.
    assert_eq!(cell(&t, "genre share: Action").0, "75.0%");
    // The generator's files were written where the experiment caches them.
    let generated = fx.cache().join("synth-v2-u120-a80-r3000-s1");
    assert!(generated.join("animelist.csv").exists());
    // The synthetic side is real data of its own: ratings spread over 1..10
    // and a status mix with plan-to-watch rows.
    let (_, unrated) = cell(&t, "unrated share (rating 0)");
    assert_ne!(unrated, "0.0%");
    assert_ne!(cell(&t, "status: plan to watch").1, "0.0%");
    // The text form has one line per statistic plus the header.
    let o = run(fx
        .cmd()
        .args(["data", "compare"])
        .arg(hand_folder())
        .arg(&generated));
    assert!(o.status.success(), "{}", text(&o));
    let plain = String::from_utf8_lossy(&o.stdout);
    assert_eq!(plain.lines().count(), t.len() + 1, "{plain}");
}

#[test]
fn real_mal_ratings_are_read_whole() {
    let Some(real) = anirec::testdata::data_set("mal2020-real-100k") else {
        return;
    };
    let fx = Fx::new();
    let out = compare(&fx, &real, &hand_folder());
    let t = table(&out);
    // The folder's README: 99,999 rows of 575 users on 7,123 anime, all rated
    // and all written as completed.
    assert_eq!(cell(&t, "animelist rows").0, "99999");
    assert_eq!(cell(&t, "users").0, "575");
    assert_eq!(cell(&t, "rated anime").0, "7123");
    assert_eq!(cell(&t, "unrated share (rating 0)").0, "0.0%");
    assert_eq!(cell(&t, "status: completed").0, "100.0%");
    assert_eq!(cell(&t, "anime in anime.csv").0, "13497");
}

#[test]
fn refusals_name_the_problem() {
    let fx = Fx::new();
    let hand = hand_folder();
    let bad = fx.path("bad");
    fs::create_dir_all(&bad).unwrap();
    fs::write(
        bad.join("animelist.csv"),
        "user_id,anime_id,rating\n1,2,7\n1,3,12\n",
    )
    .unwrap();
    let o = run(fx.cmd().args(["data", "compare"]).arg(&hand).arg(&bad));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        err.contains("animelist.csv:3") && err.contains("rating"),
        "{err}"
    );
    let empty = fx.path("empty");
    fs::create_dir_all(&empty).unwrap();
    let o = run(fx.cmd().args(["data", "compare"]).arg(&hand).arg(&empty));
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("animelist.csv"),
        "{}",
        text(&o)
    );
}

#[test]
fn synth_scale_presets_are_sizes_and_exclude_explicit_sizes() {
    let fx = Fx::new();
    let synth = |dir: &str, extra: &[&str]| {
        let o = run(fx
            .cmd()
            .args(["data", "synth", "--out", dir, "--seed", "3"])
            .args(extra));
        assert!(o.status.success(), "{}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let files: Vec<Vec<u8>> = ["anime.csv", "anime_with_synopsis.csv", "animelist.csv"]
            .iter()
            .map(|f| fs::read(fx.path(dir).join(f)).unwrap())
            .collect();
        (out, files)
    };
    // quickstart is the default sizes: the same bytes as no size flags.
    let (said, preset) = synth("preset", &["--scale", "quickstart"]);
    assert!(
        said.contains("wrote 2500 anime, 2000 users, 300000 animelist rows"),
        "{said}"
    );
    let (_, plain) = synth("plain", &[]);
    assert!(
        preset == plain,
        "--scale quickstart differs from the defaults"
    );
    let o = run(fx.cmd().args([
        "data", "synth", "--out", "x", "--scale", "mal-5m", "--rows", "10",
    ]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot be used with"),
        "{}",
        text(&o)
    );
    assert!(!fx.path("x").exists(), "nothing written on a usage error");
    let o = run(fx.cmd().args(["data", "synth", "--help"]));
    let help = String::from_utf8_lossy(&o.stdout);
    for name in ["quickstart", "mal-5m", "mal-full", "325,000"] {
        assert!(help.contains(name), "--help lacks {name}:\n{help}");
    }
}

#[test]
fn a_data_only_config_is_named_after_its_file() {
    let fx = Fx::new();
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/synthetic.yaml");
    let out = compare(&fx, &cfg, &hand_folder());
    assert!(
        out.starts_with("| statistic | synthetic | compare-hand |"),
        "{out}"
    );
    // configs/synthetic.yaml: 2,000 users, 300,000 rows, generated under the
    // working folder's default cache.
    let t = table(&out);
    assert_eq!(cell(&t, "animelist rows").0, "300000");
    assert_eq!(cell(&t, "users").0, "2000");
    assert!(fx
        .path(".anirec-cache/synth-v2-u2000-a2500-r300000-s42/animelist.csv")
        .exists());
}
