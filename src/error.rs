//! The library's one error type and the one table that turns it into an exit
//! code. Each module reports its own typed error with the context a user
//! needs; they meet here through `#[from]`, and [`Error::exit_code`] is the
//! only place that decides which code a failure gets (cargo-nextest's
//! `ExpectedError` → `NextestExitCode` is the model).

use crate::bundle::BundleError;
#[cfg(feature = "train")]
use crate::compare::CompareError;
use crate::config::ConfigError;
#[cfg(feature = "train")]
use crate::data::DataError;
#[cfg(feature = "train")]
use crate::model::fit::FitError;
#[cfg(feature = "train")]
use crate::pipeline::RunError;
#[cfg(feature = "train")]
use crate::promote::PromoteError;
#[cfg(feature = "train")]
use crate::report::ReportError;
#[cfg(feature = "train")]
use crate::sweep::SweepError;
#[cfg(feature = "train")]
use crate::track::comet::client::CometError;
use crate::util::lock::LockError;
use std::io;

/// Exit codes, stable across releases (scripts, Jenkins and Kubernetes rely
/// on them; the README's table lists them). `anirec-serve` uses the same.
pub mod exit {
    /// Bad config, arguments or request (including a Comet API key Comet
    /// refuses, or a resource another process holds).
    pub const USAGE: u8 = 2;
    /// Bad or missing input data.
    pub const DATA: u8 = 3;
    /// A model failed to fit, or its bundle does not verify.
    pub const MODEL: u8 = 4;
    /// Files, the network, Comet unreachable.
    pub const IO: u8 = 5;
    /// Stopped by a signal or because the parent sweep went away.
    pub const INTERRUPTED: u8 = 130;
}

/// Any failure of an anirec command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad experiment file or override.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Bad or missing input data.
    #[cfg(feature = "train")]
    #[error(transparent)]
    Data(#[from] DataError),
    /// A model could not be fitted.
    #[cfg(feature = "train")]
    #[error("model: {0}")]
    Fit(#[from] FitError),
    /// A run could not start, resume or answer (`anirec run`, `recommend`).
    #[cfg(feature = "train")]
    #[error(transparent)]
    Run(#[from] RunError),
    /// A sweep could not plan, claim or run a trial.
    #[cfg(feature = "train")]
    #[error(transparent)]
    Sweep(#[from] SweepError),
    #[cfg(feature = "train")]
    /// Promotion refused or failed.
    #[error(transparent)]
    Promote(#[from] PromoteError),
    /// A bundle is missing or does not verify.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A run, sweep, outbox or promotion target is held by another process.
    #[error(transparent)]
    Lock(#[from] LockError),
    #[cfg(feature = "train")]
    /// A comparison cannot be made.
    #[error(transparent)]
    Compare(#[from] CompareError),
    #[cfg(feature = "train")]
    /// A report cannot be made.
    #[error(transparent)]
    Report(#[from] ReportError),
    #[cfg(feature = "train")]
    /// Comet refused a request or could not be reached.
    #[error(transparent)]
    Comet(#[from] CometError),
    #[cfg(feature = "train")]
    /// `anirec comet sync` left runs unsynced (`unreachable`: because Comet
    /// could not be reached, rather than refused them).
    #[error("{failed} run(s) not synced")]
    NotSynced {
        /// Runs that failed.
        failed: usize,
        /// At least one failed because Comet was unreachable.
        unreachable: bool,
    },
    /// A command-line request that cannot be served, found by the CLI's own
    /// argument checks.
    #[error("{0}")]
    Usage(String),
    /// `anirec-serve` cannot start or keep serving.
    #[cfg(feature = "serve")]
    #[error(transparent)]
    Serve(#[from] crate::serve::error::StartError),
    /// A run directory, bundle or output problem.
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl Error {
    /// The exit code of this failure: the one table (see [`exit`]).
    pub fn exit_code(&self) -> u8 {
        use exit::{IO, USAGE};
        // Only the train-side arms name MODEL (a bundle's goes by `bundle_code`).
        #[cfg(feature = "train")]
        use exit::MODEL;
        match self {
            Error::Config(_) | Error::Usage(_) => USAGE,
            #[cfg(feature = "train")]
            Error::Data(_) => exit::DATA,
            // A checkpoint that cannot be written is the disk's failure.
            #[cfg(feature = "train")]
            Error::Fit(FitError::Train(crate::train::TrainError::Io(_))) => IO,
            #[cfg(feature = "train")]
            Error::Fit(_) => MODEL,
            // Every run error is a request that cannot be served as asked.
            #[cfg(feature = "train")]
            Error::Run(_) => USAGE,
            #[cfg(feature = "train")]
            Error::Sweep(e) => match e {
                SweepError::NoTrialFinished { .. } | SweepError::NoSuggestion => MODEL,
                SweepError::Orphaned => exit::INTERRUPTED,
                SweepError::NoFileLocks(_) | SweepError::Lock { .. } | SweepError::Spawn { .. } => {
                    IO
                }
                _ => USAGE,
            },
            #[cfg(feature = "train")]
            Error::Promote(e) => match e {
                // The same rule as a bundle met anywhere else.
                PromoteError::BadBundle { source, .. } => bundle_code(source),
                PromoteError::CopyCorrupt { .. } => IO,
                PromoteError::Comet(c) => comet_code(c),
                _ => USAGE,
            },
            Error::Bundle(e) => bundle_code(e),
            Error::Lock(e) => match e {
                LockError::Held { .. } => USAGE,
                LockError::Io { .. } => IO,
            },
            #[cfg(feature = "train")]
            Error::Compare(e) => match e {
                CompareError::Io(_) => IO,
                _ => USAGE,
            },
            #[cfg(feature = "train")]
            Error::Report(e) => match e {
                ReportError::NotReportable { .. } => USAGE,
                _ => IO,
            },
            #[cfg(feature = "train")]
            Error::Comet(c) => comet_code(c),
            #[cfg(feature = "train")]
            Error::NotSynced { unreachable, .. } => {
                if *unreachable {
                    IO
                } else {
                    USAGE
                }
            }
            #[cfg(feature = "serve")]
            Error::Serve(e) => {
                use crate::serve::error::StartError;
                match e {
                    StartError::Usage(_) => USAGE,
                    // The one bundle the server was started for: 3, as
                    // the README's serving section documents.
                    StartError::Bundle { .. } => exit::DATA,
                    StartError::Listen { .. } | StartError::Signals(_) | StartError::Serve(_) => IO,
                }
            }
            Error::Io(_) => IO,
        }
    }
}

/// A bundle that is not where it was asked for is the caller's mistake (2),
/// whichever command looked (`recommend`, `promote`); one that is there but
/// does not verify is a broken model (4).
fn bundle_code(e: &BundleError) -> u8 {
    match e {
        BundleError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => exit::USAGE,
        BundleError::Io { .. } => exit::IO,
        BundleError::Checksum { .. } | BundleError::Invalid { .. } => exit::MODEL,
    }
}

#[cfg(feature = "train")]
/// Comet unreachable or failing (5), or refusing the request or the
/// settings (2).
fn comet_code(e: &CometError) -> u8 {
    match e {
        CometError::Connect { .. } | CometError::NoAnswer { .. } | CometError::BadReply { .. } => {
            exit::IO
        }
        CometError::Status { status, .. } if *status == 429 || *status >= 500 => exit::IO,
        _ => exit::USAGE,
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(all(test, feature = "train"))]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn io(kind: io::ErrorKind) -> io::Error {
        io::Error::new(kind, "x")
    }

    #[test]
    fn the_table_gives_each_kind_of_failure_its_documented_code() {
        let p = PathBuf::from("b");
        let cases: Vec<(Error, u8)> = vec![
            (Error::Usage("--k".into()), exit::USAGE),
            (Error::Io(io(io::ErrorKind::Other)), exit::IO),
            (
                BundleError::Io {
                    path: p.clone(),
                    source: io(io::ErrorKind::NotFound),
                }
                .into(),
                exit::USAGE,
            ),
            (
                BundleError::Checksum {
                    path: p.clone(),
                    want: "a".into(),
                    got: "b".into(),
                }
                .into(),
                exit::MODEL,
            ),
            (
                LockError::Held {
                    what: "run".into(),
                    path: p.clone(),
                    holder: "pid 1".into(),
                }
                .into(),
                exit::USAGE,
            ),
            (
                CometError::Connect {
                    endpoint: "e".into(),
                    msg: "refused".into(),
                }
                .into(),
                exit::IO,
            ),
            (
                CometError::Status {
                    endpoint: "e".into(),
                    status: 401,
                    retry_after: None,
                    msg: "bad key".into(),
                }
                .into(),
                exit::USAGE,
            ),
            (
                CometError::Status {
                    endpoint: "e".into(),
                    status: 503,
                    retry_after: None,
                    msg: "down".into(),
                }
                .into(),
                exit::IO,
            ),
            (
                PromoteError::Comet(CometError::NoAnswer {
                    endpoint: "e".into(),
                    msg: "timeout".into(),
                })
                .into(),
                exit::IO,
            ),
            (
                PromoteError::BadBundle {
                    dir: p.clone(),
                    source: BundleError::Invalid {
                        path: p.clone(),
                        msg: "m".into(),
                    },
                }
                .into(),
                exit::MODEL,
            ),
            (
                SweepError::NoTrialFinished {
                    metric: "ndcg@10".into(),
                }
                .into(),
                exit::MODEL,
            ),
            (
                PromoteError::BadBundle {
                    dir: p.clone(),
                    source: BundleError::Io {
                        path: p.clone(),
                        source: io(io::ErrorKind::NotFound),
                    },
                }
                .into(),
                exit::USAGE,
            ),
            (SweepError::NoFileLocks(p.clone()).into(), exit::IO),
            (SweepError::Orphaned.into(), exit::INTERRUPTED),
            (RunError::UnknownUser(7).into(), exit::USAGE),
            (
                Error::NotSynced {
                    failed: 1,
                    unreachable: true,
                },
                exit::IO,
            ),
            (
                Error::NotSynced {
                    failed: 1,
                    unreachable: false,
                },
                exit::USAGE,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.exit_code(), want, "{e:?}");
        }
    }

    #[test]
    fn anirec_serve_failures_use_the_same_table() {
        use crate::serve::error::StartError;
        let cases = [
            (StartError::Usage("token too short".into()), exit::USAGE),
            (
                StartError::Bundle {
                    path: "b".into(),
                    msg: "checksum mismatch".into(),
                },
                exit::DATA,
            ),
            (
                StartError::Listen {
                    addr: "0.0.0.0:1".into(),
                    source: io(io::ErrorKind::AddrInUse),
                },
                exit::IO,
            ),
            (StartError::Signals(io(io::ErrorKind::Other)), exit::IO),
            (StartError::Serve(io(io::ErrorKind::Other)), exit::IO),
        ];
        for (f, want) in cases {
            let e = Error::from(f);
            assert_eq!(e.exit_code(), want, "{e:?}");
        }
    }
}
