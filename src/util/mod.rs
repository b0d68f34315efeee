//! Small shared helpers: atomic file output, OS file locks, content
//! fingerprints and URL redaction.

// The serving build uses only part of these helpers.
#![cfg_attr(not(feature = "train"), allow(dead_code))]

#[cfg(feature = "train")]
pub(crate) mod canonical;
pub(crate) mod fsx;
pub(crate) mod hash;
pub(crate) mod lock;
pub(crate) mod time;
pub(crate) mod url;
