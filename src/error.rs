//! The crate's error type. Every error names the file, flag, model or layer at fault, what was
//! found and what was expected, and renders as one line.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug)]
pub enum Error {
    /// A data file its reader cannot read (a malformed IDX file, ...): the reader's own error,
    /// which names the file and the problem (`downcast_ref` to the reader's type for its
    /// details).
    Data(Box<dyn std::error::Error + Send + Sync>),
    /// The dataset directory could not be found or its files disagree with each other.
    Dataset(String),
    /// A command-line flag whose value cannot be used: `--lr: -1 is not a learning rate; ...`.
    Flag {
        flag: std::borrow::Cow<'static, str>,
        message: String,
    },
    /// A model that cannot be built, and where: `model 'cnn', layer 2 (conv2d): ...`.
    Model {
        model: String,
        /// Index and type of the layer at fault, when one is.
        layer: Option<(usize, &'static str)>,
        message: String,
    },
    /// A file that cannot be used for what it was given for (a model, a checkpoint, a tuning
    /// file): `bad.json: layer 1: (dense): field 'units' is -4; ...`.
    File { path: PathBuf, message: String },
    /// Things that must agree and do not: the model and the data, a checkpoint and the model.
    Mismatch(String),
    /// No usable adapter, device creation failed, or the GPU reported an error.
    Gpu(String),
    /// Training produced a non-finite loss or weights, and stopped before saving anything.
    Diverged(String),
    /// Reading or writing a file failed.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn flag(
        flag: impl Into<std::borrow::Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Error {
        Error::Flag {
            flag: flag.into(),
            message: message.into(),
        }
    }

    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Error {
        Error::File {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Data(e) => write!(f, "{e}"),
            Error::Dataset(msg) | Error::Mismatch(msg) | Error::Diverged(msg) => f.write_str(msg),
            Error::Flag { flag, message } => write!(f, "{flag}: {message}"),
            Error::Model {
                model,
                layer: Some((i, kind)),
                message,
            } => write!(f, "model '{model}', layer {i} ({kind}): {message}"),
            Error::Model {
                model,
                layer: None,
                message,
            } => write!(f, "model '{model}': {message}"),
            Error::File { path, message } => write!(f, "{}: {message}", path.display()),
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
