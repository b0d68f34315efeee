//! Helpers shared by the generator's tests: a temporary folder, a small RFC 4180 parser and
//! a parsed copy of one generated data set.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::animelist::ANIMELIST_HEADER;
use super::{write_mal2020, SynthSpec, SynthSummary};

/// Fresh directory under the system temp dir (no tempfile crate in this module's deps).
pub(super) struct TempDir(pub(super) PathBuf);
impl TempDir {
    pub(super) fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("anirec-synth-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Minimal RFC 4180 parser: quoted fields may hold commas, `""` and newlines.
pub(super) fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
        } else {
            match c {
                '"' => in_quotes = true,
                ',' => record.push(std::mem::take(&mut field)),
                '\n' => {
                    record.push(std::mem::take(&mut field));
                    records.push(std::mem::take(&mut record));
                }
                _ => field.push(c),
            }
        }
    }
    assert!(!in_quotes, "unterminated quoted field");
    assert!(
        field.is_empty() && record.is_empty(),
        "missing trailing newline"
    );
    records
}

pub(super) fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).expect("read generated file")
}

pub(super) struct Parsed {
    pub(super) anime: Vec<Vec<String>>,
    pub(super) synopsis: Vec<Vec<String>>,
    pub(super) list: Vec<[u64; 5]>,
}

pub(super) fn generate(spec: &SynthSpec, tag: &str) -> (Parsed, SynthSummary) {
    let dir = TempDir::new(tag);
    let summary = write_mal2020(spec, &dir.0).expect("generate");
    let anime = parse_csv(&read(&dir.0, "anime.csv"));
    let synopsis = parse_csv(&read(&dir.0, "anime_with_synopsis.csv"));
    let list_text = read(&dir.0, "animelist.csv");
    let mut lines = list_text.lines();
    assert_eq!(lines.next(), Some(ANIMELIST_HEADER));
    let list = lines
        .map(|l| {
            let f: Vec<u64> = l
                .split(',')
                .map(|x| x.parse::<u64>().expect("integer field"))
                .collect();
            assert_eq!(f.len(), 5, "animelist row {l:?}");
            [f[0], f[1], f[2], f[3], f[4]]
        })
        .collect();
    (
        Parsed {
            anime,
            synopsis,
            list,
        },
        summary,
    )
}

pub(super) fn small_spec() -> SynthSpec {
    SynthSpec {
        users: 300,
        anime: 400,
        rows: 30_000,
        seed: 7,
    }
}

pub(super) fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}
