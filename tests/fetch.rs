//! `anirec data fetch` against a loopback HTTP server that serves archives
//! built from the local copies of the MovieLens data (no other network).
//!
//! The real GroupLens archives cannot be downloaded here, so the served
//! archives are not byte-identical to them: the happy path passes the served
//! archive's SHA-256 with `--sha256` (the same override a user needs when
//! GroupLens re-publishes), and the pinned sums are shown to be enforced by
//! the mismatch case.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Serves `files` (URL path → body) on 127.0.0.1 for at most `max_conn`
/// connections; anything else is a 404.
fn serve(files: Vec<(String, Vec<u8>)>, max_conn: usize) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming().take(max_conn) {
            let Ok(mut s) = conn else { continue };
            let _ = answer(&mut s, &files);
        }
    });
    format!("http://{addr}/datasets/movielens")
}

fn answer(s: &mut TcpStream, files: &[(String, Vec<u8>)]) -> std::io::Result<()> {
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut first = String::new();
    r.read_line(&mut first)?;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
    }
    let path = first.split_whitespace().nth(1).unwrap_or("");
    match files.iter().find(|(p, _)| p == path) {
        Some((_, body)) => {
            write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            s.write_all(body)
        }
        None => {
            s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        }
    }
}

/// A deflated zip of every file of `src` under `name/`, as GroupLens lays it out.
fn zip_of(src: &Path, name: &str) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut out);
        let opt = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        w.add_directory(format!("{name}/"), opt).unwrap();
        for f in files_of(src) {
            let rel = f.file_name().unwrap().to_string_lossy().into_owned();
            w.start_file(format!("{name}/{rel}"), opt).unwrap();
            w.write_all(&std::fs::read(&f).unwrap()).unwrap();
        }
        w.finish().unwrap();
    }
    out.into_inner()
}

fn files_of(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn fetch(args: &[&str], dir: &Path) -> std::process::Output {
    assert_cmd::Command::cargo_bin("anirec")
        .unwrap()
        .env("RUST_LOG", "warn")
        .env_remove("ANIREC_FETCH_BASE_URL")
        .args(["data", "fetch"])
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".anirec-fetch"))
        .collect()
}

#[test]
fn fetch_verifies_unpacks_and_refuses_a_wrong_sum() {
    let Some(small) = anirec::testdata::data_set("ml-latest-small") else {
        return;
    };
    let Some(ml100k) = anirec::testdata::data_set("ml-100k") else {
        return;
    };
    let small_zip = zip_of(&small, "ml-latest-small");
    let big_zip = zip_of(&ml100k, "ml-100k");
    let small_sum = sha256_hex(&small_zip);
    let base = serve(
        vec![
            ("/datasets/movielens/ml-latest-small.zip".into(), small_zip),
            ("/datasets/movielens/ml-100k.zip".into(), big_zip),
        ],
        20,
    );
    let d = tempfile::tempdir().unwrap();

    // The served archive is not GroupLens' file: the pinned sum refuses it,
    // exit 3 (bad data), and nothing is left behind.
    let o = fetch(&["ml-100k", "--base-url", &base], d.path());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("does not match the pinned 50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"),
        "{err}"
    );
    assert!(!d.path().join("ml-100k").exists());
    assert!(leftovers(d.path()).is_empty(), "{:?}", leftovers(d.path()));

    // With the served archive's sum: unpacked byte for byte into DIR/<name>/.
    let o = fetch(
        &[
            "ml-latest-small",
            "--base-url",
            &base,
            "--sha256",
            &small_sum,
        ],
        d.path(),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let dest = d.path().join("ml-latest-small");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        dest.display().to_string()
    );
    let want = files_of(&small);
    assert_eq!(files_of(&dest).len(), want.len());
    for f in want {
        let got = std::fs::read(dest.join(f.file_name().unwrap())).unwrap();
        assert!(got == std::fs::read(&f).unwrap(), "{} differs", f.display());
    }
    assert!(leftovers(d.path()).is_empty());

    // Present: nothing is downloaded (the server is not even asked).
    let o = fetch(
        &["ml-latest-small", "--base-url", "http://127.0.0.1:9/"],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(0));

    // --force fetches again and replaces the folder.
    std::fs::write(dest.join("stale.txt"), "x").unwrap();
    let o = fetch(
        &[
            "ml-latest-small",
            "--base-url",
            &base,
            "--sha256",
            &small_sum,
            "--force",
        ],
        d.path(),
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!dest.join("stale.txt").exists());
    assert!(dest.join("ratings.csv").is_file());
}

#[test]
fn http_errors_and_unreachable_servers_are_io_failures() {
    let base = serve(Vec::new(), 4);
    let d = tempfile::tempdir().unwrap();
    let o = fetch(&["ml-100k", "--base-url", &base], d.path());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(err.contains("HTTP 404"), "{err}");
    // Port 9 (discard) on loopback: nothing listens in a test environment.
    let o = fetch(&["ml-100k", "--base-url", "http://127.0.0.1:9/x"], d.path());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(err.contains("cannot download"), "{err}");
    assert!(leftovers(d.path()).is_empty());
    assert!(!d.path().join("ml-100k").exists());
}

#[test]
fn a_bad_name_is_refused_by_the_parser() {
    let d = tempfile::tempdir().unwrap();
    let o = fetch(&["ml-1m"], d.path());
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("ml-100k") && err.contains("ml-latest-small"),
        "{err}"
    );
}
