//! Small shared helpers, each the one copy in the crate: atomic file output
//! (fsx), OS file locks, content fingerprints and seed mixing (hash), dates
//! (time), number formatting (fmt), raw ↔ dense id maps (ids), canonical
//! JSON and URL redaction.

// The serving build uses only part of these helpers.
#![cfg_attr(not(feature = "train"), allow(dead_code))]

#[cfg(feature = "train")]
pub(crate) mod canonical;
pub(crate) mod fmt;
pub(crate) mod fsx;
pub(crate) mod hash;
pub(crate) mod ids;
pub(crate) mod lock;
pub(crate) mod time;
pub(crate) mod url;
