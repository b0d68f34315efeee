//! Data errors: each names the file, and the line or column where known.

use std::path::PathBuf;

/// Everything that can be wrong with input data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A required file is absent.
    #[error("{}: file not found; {hint}", path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
        /// What the user should check.
        hint: String,
    },
    /// Any other I/O failure.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        source: std::io::Error,
    },
    /// Zero bytes, or a header and nothing else where rows are required.
    #[error("{}: {what}", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
        /// What was expected.
        what: String,
    },
    /// A required column is not in the header.
    #[error("{}: missing column {column:?}; the header has {found:?} (expected the {layout} layout)", path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// Columns found.
        found: Vec<String>,
        /// Which file layout was expected.
        layout: &'static str,
    },
    /// A value that does not parse.
    #[error("{}:{line}: column {column:?}: {value:?} is not {expected}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Column name.
        column: String,
        /// The offending text.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A line with the wrong number of fields (often a truncated last line).
    #[error("{}:{line}: {found} fields, expected {expected}{}", path.display(), if *last { " (the file's last line looks truncated)" } else { "" })]
    Ragged {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Fields on the line.
        found: usize,
        /// Fields in the header.
        expected: usize,
        /// Whether it is the last line.
        last: bool,
    },
    /// Bytes that are not UTF-8.
    #[error("{}:{line}: invalid UTF-8 (the MAL files are UTF-8; re-export the file as UTF-8)", path.display())]
    InvalidUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
    },
    /// polars refused the file for a reason not located more precisely.
    #[error("{}: {msg}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// polars' message.
        msg: String,
    },
    /// The cleaned data cannot be used (e.g. no user has enough ratings).
    #[error("{0}")]
    Unusable(String),
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::NotFound {
                path,
                hint: "check data.source in the experiment (or --set data.source=DIR)".into(),
            }
        } else {
            DataError::Io { path, source }
        }
    }
}
