//! Experiment tracking. The local run store is always on and is the source of
//! truth; remote trackers mirror it.

pub mod local;
pub mod store;
