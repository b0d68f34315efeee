//! The promotion destination: locked per destination, repaired after a
//! crashed promote, and replaced only by a verified staged copy.

use super::PromoteError;
use crate::bundle;
use crate::util::fsx;
use crate::Result;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The promotion destination, locked for this process.
pub(super) struct Destination {
    to: PathBuf,
    parent: PathBuf,
    name: String,
    _lock: crate::util::lock::FileLock,
}

impl Destination {
    /// Locks `to`, repairs what an interrupted promote left, and checks that
    /// whatever is there may be replaced.
    pub(super) fn claim(to: &Path) -> Result<Self> {
        let name = to
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| PromoteError::BadDestination(to.to_path_buf()))?;
        let parent = to
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        fsx::create_dir_all(&parent)?;
        let lock = crate::util::lock::FileLock::try_acquire(
            &parent.join(format!(".{name}.promote.lock")),
            &format!("promotion to {}", to.display()),
        )?;
        let d = Self {
            to: to.to_path_buf(),
            parent,
            name,
            _lock: lock,
        };
        d.recover()?;
        d.check_replaceable()?;
        Ok(d)
    }

    fn stage_prefix(&self) -> String {
        format!(".{}.promote-tmp-", self.name)
    }

    /// Under the lock, anything named like our temporaries is a crashed
    /// promote's: a staged copy is removed; a bundle put aside is restored
    /// when the destination is missing, removed when it is there.
    fn recover(&self) -> Result<()> {
        let aside = format!("{}.old-", self.name);
        let stage = self.stage_prefix();
        let Ok(entries) = std::fs::read_dir(&self.parent) else {
            return Ok(());
        };
        let mut left: Vec<PathBuf> = Vec::new();
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&stage) {
                std::fs::remove_dir_all(e.path())?;
            } else if n
                .strip_prefix(&aside)
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
            {
                left.push(e.path());
            }
        }
        left.sort();
        for old in left {
            if self.to.exists() {
                std::fs::remove_dir_all(&old)?;
            } else {
                fsx::rename_synced(&old, &self.to)?;
                eprintln!(
                    "restored {} from {} (an earlier promote was interrupted)",
                    self.to.display(),
                    old.display()
                );
            }
        }
        Ok(())
    }

    /// Absent, an empty folder or an anirec bundle; anything else (a run
    /// store, a home folder, a file) is refused, never deleted.
    fn check_replaceable(&self) -> Result<()> {
        let md = match std::fs::symlink_metadata(&self.to) {
            Ok(md) => md,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let empty =
            md.is_dir() && std::fs::read_dir(&self.to).is_ok_and(|mut d| d.next().is_none());
        if empty || (md.is_dir() && self.to.join("manifest.json").is_file()) {
            return Ok(());
        }
        Err(PromoteError::DestinationTaken(self.to.clone()).into())
    }

    /// Stages a verified copy of `bundle_dir` plus PROMOTED.json beside the
    /// destination, then swaps it in.
    pub(super) fn install(&self, bundle_dir: &Path, record: &impl Serialize) -> Result<()> {
        let stage = tempfile::Builder::new()
            .prefix(&self.stage_prefix())
            .tempdir_in(&self.parent)?;
        for entry in std::fs::read_dir(bundle_dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), stage.path().join(entry.file_name()))?;
            }
        }
        bundle::promoted::write(stage.path(), record)?;
        // The copy must verify before it replaces what serving reads.
        bundle::verify(stage.path()).map_err(|source| PromoteError::CopyCorrupt {
            to: self.to.clone(),
            source,
        })?;
        for entry in std::fs::read_dir(stage.path())? {
            let p = entry?.path();
            fsx::sync_file(&std::fs::File::open(&p)?, &p)?;
        }
        fsx::sync_dir(stage.path())?;
        let staged = stage.keep();
        bundle::replace_dir(&staged, &self.to).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&staged);
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_bundle(dir: &Path, tag: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("manifest.json"), tag).unwrap();
    }

    #[test]
    fn a_dotted_destination_is_restored_after_a_crash_between_the_renames() {
        let d = tempfile::tempdir().unwrap();
        let to = d.path().join("models/v1.2");
        fake_bundle(&to, "old");
        // What replace_dir's first rename leaves when the process dies next.
        std::fs::rename(&to, bundle::aside_path(&to)).unwrap();
        std::fs::create_dir_all(d.path().join("models/.v1.2.promote-tmp-abc")).unwrap();
        let dest = Destination::claim(&to).unwrap();
        assert_eq!(
            std::fs::read_to_string(to.join("manifest.json")).unwrap(),
            "old"
        );
        let left: Vec<String> = std::fs::read_dir(d.path().join("models"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".v1.2.promote.lock")
            .collect();
        assert_eq!(left, vec!["v1.2".to_string()], "stray entries");
        drop(dest);
    }

    #[test]
    fn only_absent_empty_or_bundle_destinations_are_replaced() {
        let d = tempfile::tempdir().unwrap();
        let runs = d.path().join("runs");
        std::fs::create_dir_all(runs.join("exp/1")).unwrap();
        let e = Destination::claim(&runs).err().unwrap().to_string();
        assert!(
            e.contains("neither an empty folder nor an anirec bundle"),
            "{e}"
        );
        assert!(runs.join("exp/1").is_dir());
        let file = d.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(Destination::claim(&file).is_err());
        std::fs::create_dir_all(d.path().join("empty")).unwrap();
        Destination::claim(&d.path().join("empty")).unwrap();
        Destination::claim(&d.path().join("absent")).unwrap();
        fake_bundle(&d.path().join("b"), "x");
        Destination::claim(&d.path().join("b")).unwrap();
        assert!(Destination::claim(Path::new("..")).is_err());
    }

    #[test]
    fn one_promote_per_destination() {
        let d = tempfile::tempdir().unwrap();
        let to = d.path().join("promoted");
        let first = Destination::claim(&to).unwrap();
        let e = Destination::claim(&to).err().unwrap().to_string();
        assert!(e.contains("promotion to") && e.contains("in use"), "{e}");
        drop(first);
        Destination::claim(&to).unwrap();
    }
}
