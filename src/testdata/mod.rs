//! Where tests find their data. Self-made fixtures ship in
//! `tests/fixtures/` ([`fixture`]); the public data sets (MovieLens, the MAL
//! samples) are found through one setting, `ANIREC_DATA_DIR`, defaulting to
//! `../shared/data` beside the crate. A test whose data set is absent prints one line saying how to get
//! it and returns early; with `ANIREC_REQUIRE_DATA=1` (CI) it fails instead,
//! so a CI machine can never pass by skipping.
//!
//! Public (and hidden from the docs) so the integration tests in `tests/`
//! use the same rule as the unit tests. [`bundle`] makes synthetic model
//! bundles for the serving tests and benchmark.

pub mod bundle;

use std::io::Write;
use std::path::{Path, PathBuf};

/// Folder holding one sub-folder per data set (`ml-100k/`, `mal2020-sample/` …).
pub const DATA_DIR_ENV: &str = "ANIREC_DATA_DIR";
/// Set to `1` to turn a missing data set into a test failure.
pub const REQUIRE_DATA_ENV: &str = "ANIREC_REQUIRE_DATA";

/// `$ANIREC_DATA_DIR`, or `<crate>/../shared/data`.
pub fn data_dir() -> PathBuf {
    match std::env::var_os(DATA_DIR_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")),
    }
}

/// The folder of data set `name`, or `None` after one line on stderr that
/// says how to get it.
///
/// # Panics
/// When the data set is absent and `ANIREC_REQUIRE_DATA=1`.
pub fn data_set(name: &str) -> Option<PathBuf> {
    let require = std::env::var(REQUIRE_DATA_ENV).is_ok_and(|v| v == "1");
    match find(&data_dir(), name) {
        Ok(p) => Some(p),
        Err(msg) if require => {
            panic!("{msg}; {REQUIRE_DATA_ENV}=1 makes a missing data set a failure")
        }
        Err(msg) => {
            // Straight to stderr: the test harness captures eprintln!, and a
            // skip nobody sees is a silent pass.
            let _ = writeln!(std::io::stderr(), "{msg}");
            None
        }
    }
}

/// `<crate>/tests/fixtures/<name>`: small self-made data shipped with the
/// repository, for tests that need *some* data of a layout but not the real
/// thing; always present, so such tests never skip.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// `dir/name` if it is a folder, else the skip message.
fn find(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let path = dir.join(name);
    if path.is_dir() {
        return Ok(path);
    }
    let how = match name {
        "ml-100k" | "ml-latest-small" => {
            format!("`anirec data fetch {name} --dir {}`", dir.display())
        }
        _ => "the README's Data section".to_string(),
    };
    Err(format!(
        "skipping: data set {name} not found in {} (set {DATA_DIR_ENV}; get it with {how})",
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_present_set_and_says_how_to_get_a_missing_one() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("ml-100k")).unwrap();
        assert_eq!(find(d.path(), "ml-100k").unwrap(), d.path().join("ml-100k"));
        let msg = find(d.path(), "ml-latest-small").unwrap_err();
        assert!(
            msg.starts_with("skipping: data set ml-latest-small not found"),
            "{msg}"
        );
        assert!(
            msg.contains("anirec data fetch ml-latest-small --dir"),
            "{msg}"
        );
        assert!(find(d.path(), "mal2020-sample")
            .unwrap_err()
            .contains("README"));
    }
}
