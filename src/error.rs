//! The crate's error type. Every error names the file, flag or field at fault, what was found
//! and what was expected, and renders as one line.

use std::fmt;
use std::path::PathBuf;

use crate::data::idx::IdxError;

#[derive(Debug)]
pub enum Error {
    /// A malformed or unreadable IDX file.
    Idx(IdxError),
    /// The dataset directory could not be found or its files disagree with each other.
    Dataset(String),
    /// A flag or model description that cannot be used.
    Config(String),
    /// No usable adapter, device creation failed, or the GPU reported an error.
    Gpu(String),
    /// Writing an output file failed.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Idx(e) => write!(f, "{e}"),
            Error::Dataset(msg) | Error::Config(msg) => f.write_str(msg),
            // wgpu's messages span several lines ("Validation Error", "Caused by:", ...):
            // keep the promise of one line per error.
            Error::Gpu(msg) => {
                let parts: Vec<&str> = msg
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect();
                write!(f, "GPU: {}", parts.join(" "))
            }
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

impl From<IdxError> for Error {
    fn from(e: IdxError) -> Self {
        Error::Idx(e)
    }
}
