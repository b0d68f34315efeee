//! `anirec data fetch`: downloads a public MovieLens archive from GroupLens,
//! checks it against a pinned SHA-256 before anything is unpacked, and
//! unpacks it into `<dir>/<name>/` (the layout `data.format: movielens`
//! reads and `ANIREC_DATA_DIR` points tests at).
//!
//! The archive goes to a temporary file; its members go to a staging folder
//! inside `dir` that is renamed into place once complete, so an interrupted
//! fetch never leaves a half-unpacked data set under the final name.

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::DataError;
use crate::Error;

/// Where GroupLens publishes the archives.
pub const BASE_URL: &str = "https://files.grouplens.org/datasets/movielens/";
/// Overrides [`BASE_URL`] (a mirror, or a local server in tests).
pub const BASE_URL_ENV: &str = "ANIREC_FETCH_BASE_URL";

/// Largest archive accepted (the real ones are 4.9 MB and 1.0 MB).
const MAX_ARCHIVE_BYTES: u64 = 256 << 20;
/// Largest unpacked total (ml-100k unpacks to 16 MB).
const MAX_UNPACKED_BYTES: u64 = 1 << 30;
/// Most members accepted in one archive (ml-100k has 24).
const MAX_MEMBERS: usize = 10_000;

/// A data set `anirec data fetch` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Archive {
    /// Data set name: the folder the archive unpacks to.
    pub name: &'static str,
    /// File name under [`BASE_URL`].
    pub file: &'static str,
    /// SHA-256 of the archive as GroupLens serves it.
    pub sha256: &'static str,
    /// Its size in bytes.
    pub bytes: u64,
}

/// The pinned archives. The sums are GroupLens' current files (ml-100k is
/// frozen since 1998; ml-latest-small is the 2018-09 edition, which
/// GroupLens may replace at the same URL: then pass `--sha256`).
pub const ARCHIVES: [Archive; 2] = [
    Archive {
        name: "ml-100k",
        file: "ml-100k.zip",
        sha256: "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        bytes: 4_924_029,
    },
    Archive {
        name: "ml-latest-small",
        file: "ml-latest-small.zip",
        sha256: "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
        bytes: 978_202,
    },
];

/// The archive named `name`.
pub fn archive(name: &str) -> Option<Archive> {
    ARCHIVES.iter().copied().find(|a| a.name == name)
}

/// What to fetch and where.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Data directory; the data set lands in `dir/<name>/`.
    pub dir: PathBuf,
    /// Base URL instead of GroupLens (else `ANIREC_FETCH_BASE_URL`, else [`BASE_URL`]).
    pub base_url: Option<String>,
    /// Expected SHA-256 instead of the pinned one (a re-published archive).
    pub sha256: Option<String>,
    /// Replace an existing `dir/<name>/`.
    pub force: bool,
}

/// What a fetch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// `dir/<name>/`.
    pub path: PathBuf,
    /// Files unpacked (0 when the data set was already there).
    pub files: usize,
    /// Archive bytes downloaded (0 when already there).
    pub bytes: u64,
}

/// Downloads, verifies and unpacks `a` (see the module docs).
///
/// Errors: network and file-system failures are I/O errors (exit 5); a
/// checksum mismatch or a malformed archive is bad data (exit 3).
pub fn fetch(a: &Archive, opt: &FetchOptions) -> Result<Fetched, Error> {
    let dest = opt.dir.join(a.name);
    if dest.exists() && !opt.force {
        tracing::info!(path = %dest.display(), "already present; --force fetches it again");
        return Ok(Fetched {
            path: dest,
            files: 0,
            bytes: 0,
        });
    }
    crate::util::fsx::create_dir_all(&opt.dir)?;
    let base = opt
        .base_url
        .clone()
        .or_else(|| std::env::var(BASE_URL_ENV).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| BASE_URL.to_string());
    let url = format!("{}/{}", base.trim_end_matches('/'), a.file);
    let expected = opt
        .sha256
        .as_deref()
        .unwrap_or(a.sha256)
        .trim()
        .to_ascii_lowercase();

    let mut zip_file = tempfile::Builder::new()
        .prefix(".anirec-fetch-")
        .tempfile_in(&opt.dir)?;
    let (bytes, actual) = download(&url, a.bytes, zip_file.as_file_mut())?;
    if actual != expected {
        return Err(DataError::Unusable(format!(
            "{url}: SHA-256 {actual} does not match the pinned {expected}; nothing was unpacked. \
             If GroupLens re-published the archive, check it and pass --sha256 {actual}"
        ))
        .into());
    }
    let staging = tempfile::Builder::new()
        .prefix(".anirec-fetch-")
        .tempdir_in(&opt.dir)?;
    let files = unpack(zip_file.as_file_mut(), a.name, staging.path())
        .map_err(|msg| DataError::Unusable(format!("{url}: {msg}")))?;
    let unpacked = staging.path().join(a.name);
    if !unpacked.is_dir() {
        return Err(
            DataError::Unusable(format!("{url}: the archive has no {}/ folder", a.name)).into(),
        );
    }
    if dest.exists() {
        // --force: move the old copy aside first so the swap is two renames.
        let old = staging.path().join(".old");
        crate::util::fsx::rename_synced(&dest, &old)?;
    }
    crate::util::fsx::rename_synced(&unpacked, &dest)?;
    tracing::info!(path = %dest.display(), files, bytes, "fetched and verified");
    Ok(Fetched {
        path: dest,
        files,
        bytes,
    })
}

/// GETs `url` into `out` (bounded), returning its size and SHA-256.
fn download(url: &str, size_hint: u64, out: &mut File) -> Result<(u64, String), Error> {
    let net = |msg: String| Error::Io(io::Error::other(format!("{url}: {msg}")));
    let client = crate::net::client_builder()
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(600))
        .build()
        .map_err(|e| net(e.to_string()))?;
    tracing::info!(%url, "downloading");
    let mut resp = client
        .get(url)
        .send()
        .map_err(|e| net(format!("cannot download: {}", chain(&e))))?;
    if !resp.status().is_success() {
        return Err(net(format!("HTTP {}", resp.status())));
    }
    let total = resp.content_length().unwrap_or(size_hint);
    if total > MAX_ARCHIVE_BYTES {
        return Err(net(format!(
            "{total} bytes is more than the {MAX_ARCHIVE_BYTES} allowed"
        )));
    }
    let bar = crate::progress::bytes_bar("downloading");
    bar.set_length(total);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut n: u64 = 0;
    loop {
        let k = resp
            .read(&mut buf)
            .map_err(|e| net(format!("download interrupted: {e}")))?;
        if k == 0 {
            break;
        }
        n += k as u64;
        if n > MAX_ARCHIVE_BYTES {
            return Err(net(format!(
                "more than the {MAX_ARCHIVE_BYTES} bytes allowed"
            )));
        }
        hasher.update(&buf[..k]);
        out.write_all(&buf[..k])?;
        bar.set_position(n);
    }
    bar.finish_and_clear();
    out.sync_all()?;
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((n, hex))
}

/// reqwest's error with its causes (the top level alone says only "error
/// sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Unpacks the members under `name/` into `into`; returns the file count.
/// Members outside `name/`, absolute or `..` paths and links are refused.
fn unpack(zip: &mut File, name: &str, into: &Path) -> Result<usize, String> {
    zip.rewind().map_err(|e| e.to_string())?;
    let mut z = zip::ZipArchive::new(zip).map_err(|e| format!("not a zip archive: {e}"))?;
    if z.len() > MAX_MEMBERS {
        return Err(format!(
            "{} members, more than the {MAX_MEMBERS} allowed",
            z.len()
        ));
    }
    let (mut files, mut total) = (0usize, 0u64);
    for i in 0..z.len() {
        let mut m = z.by_index(i).map_err(|e| format!("member {i}: {e}"))?;
        let Some(rel) = m.enclosed_name() else {
            return Err(format!("member {:?} escapes the archive", m.name()));
        };
        let mut parts = rel.components();
        if parts.next() != Some(Component::Normal(name.as_ref())) {
            return Err(format!("member {:?} is outside {name}/", m.name()));
        }
        if m.is_symlink() {
            return Err(format!("member {:?} is a link", m.name()));
        }
        let path = into.join(&rel);
        if m.is_dir() {
            fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            continue;
        }
        total = total.saturating_add(m.size());
        if total > MAX_UNPACKED_BYTES {
            return Err(format!("unpacks to more than {MAX_UNPACKED_BYTES} bytes"));
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let mut f = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        // The declared size bounds the read: a member that inflates past it
        // is refused rather than trusted.
        let size = m.size();
        let copied = io::copy(&mut (&mut m).take(size + 1), &mut f)
            .map_err(|e| format!("member {:?}: {e}", rel.display()))?;
        if copied != size {
            return Err(format!(
                "member {:?}: size does not match its header",
                rel.display()
            ));
        }
        f.sync_all()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        files += 1;
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    fn zip_with(members: &[(&str, &[u8])]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        {
            let mut w = zip::ZipWriter::new(&mut f);
            for (name, body) in members {
                w.start_file(*name, SimpleFileOptions::default()).unwrap();
                w.write_all(body).unwrap();
            }
            w.finish().unwrap();
        }
        f
    }

    #[test]
    fn unpacks_members_under_the_data_set_folder() {
        let mut z = zip_with(&[
            ("ml-100k/u.data", b"1\t2\t3\t4\n"),
            ("ml-100k/README", b"r"),
        ]);
        let d = tempfile::tempdir().unwrap();
        assert_eq!(unpack(&mut z, "ml-100k", d.path()).unwrap(), 2);
        assert_eq!(
            fs::read(d.path().join("ml-100k/u.data")).unwrap(),
            b"1\t2\t3\t4\n"
        );
    }

    #[test]
    fn refuses_members_outside_the_folder_or_escaping_it() {
        let d = tempfile::tempdir().unwrap();
        let mut z = zip_with(&[("other/u.data", b"x")]);
        assert!(unpack(&mut z, "ml-100k", d.path())
            .unwrap_err()
            .contains("outside ml-100k/"));
        let mut z = zip_with(&[("ml-100k/../../evil", b"x")]);
        assert!(unpack(&mut z, "ml-100k", d.path()).is_err());
        assert!(!d.path().join("evil").exists());
        let mut z = tempfile::tempfile().unwrap();
        z.write_all(b"not a zip").unwrap();
        assert!(unpack(&mut z, "ml-100k", d.path())
            .unwrap_err()
            .contains("not a zip"));
    }

    #[test]
    fn pinned_archives_are_well_formed() {
        for a in ARCHIVES {
            assert_eq!(a.sha256.len(), 64);
            assert!(a
                .sha256
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            assert_eq!(a.file, format!("{}.zip", a.name));
        }
        assert_eq!(archive("ml-100k").unwrap().bytes, 4_924_029);
        assert!(archive("ml-1m").is_none());
    }
}
