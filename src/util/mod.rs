//! Small shared helpers: atomic file output and content fingerprints.

pub(crate) mod fsx;
pub(crate) mod hash;
pub(crate) mod time;
