//! Fingerprints that key caches and record data lineage.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// SplitMix64's output mix (Steele, Lea & Flood 2014): a fast bijective
/// scramble of a counter or key, used to derive independent seeds and
/// sampling keys from one seed.
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Incremental SHA-256 fingerprint, rendered as the first 16 hex digits.
#[derive(Default)]
pub(crate) struct Fingerprint(Sha256);

impl Fingerprint {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn str(&mut self, s: &str) -> &mut Self {
        self.0.update((s.len() as u64).to_le_bytes());
        self.0.update(s.as_bytes());
        self
    }

    /// Adds a file's identity. Hashing a 2 GB animelist.csv in full would cost
    /// more than reading it, so the file is identified by its size plus its
    /// first and last 1 MiB; any edit that changes the length or touches either
    /// end changes the fingerprint. Edits strictly in the middle that keep the
    /// length are not detected; `anirec data process --no-cache` covers that case.
    pub(crate) fn file(&mut self, path: &Path) -> io::Result<&mut Self> {
        const EDGE: u64 = 1 << 20;
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        self.0.update(len.to_le_bytes());
        let mut buf = Vec::with_capacity(EDGE as usize);
        (&mut f).take(EDGE).read_to_end(&mut buf)?;
        self.0.update(&buf);
        if len > EDGE {
            buf.clear();
            f.seek(SeekFrom::Start(len.saturating_sub(EDGE).max(EDGE)))?;
            f.take(EDGE).read_to_end(&mut buf)?;
            self.0.update(&buf);
        }
        Ok(self)
    }

    pub(crate) fn hex(&self) -> String {
        let d = self.0.clone().finalize();
        d.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_depends_on_content_and_order() {
        let a = Fingerprint::new().str("a").str("b").hex();
        let b = Fingerprint::new().str("ab").hex();
        let c = Fingerprint::new().str("a").str("b").hex();
        assert_ne!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn file_fingerprint_sees_tail_edits() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut data = vec![b'x'; 3 << 20];
        std::fs::write(&p, &data).unwrap();
        let h1 = Fingerprint::new().file(&p).unwrap().hex();
        *data.last_mut().unwrap() = b'y';
        std::fs::write(&p, &data).unwrap();
        let h2 = Fingerprint::new().file(&p).unwrap().hex();
        assert_ne!(h1, h2);
    }
}
