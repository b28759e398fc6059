//! Dataset formats, each a reader declared once in [`FORMATS`]: its name (`--format NAME`),
//! the layout it reads, how it recognises a path, and how it reads one into a [`Dataset`].
//! A path is read by the first format that recognises it, or by the format `--format` names.
//! A new format is one file here and its line in [`FORMATS`].

use std::path::Path;

use super::dataset::Dataset;
use crate::error::{Error, Result};

mod csv;
mod npz;

/// One dataset format.
pub struct DataFormat {
    /// Its `--format` name.
    pub name: &'static str,
    /// What it reads, for help and errors.
    pub layout: &'static str,
    /// Whether `path` is data of this format (by its name and kind, without reading it).
    pub recognise: fn(&Path) -> bool,
    /// Reads `path`, with the class count when it is given (`--classes`).
    pub read: fn(&Path, Option<usize>) -> Result<Dataset>,
}

/// A directory of the four IDX files of MNIST's layout.
pub const IDX: DataFormat = DataFormat {
    name: "idx",
    layout: "a directory of MNIST's four IDX files (train-images-idx3-ubyte, ..., each may be .gz)",
    recognise: |path| path.is_dir() && super::dataset::dataset_files(path).is_ok(),
    read: Dataset::load_expecting,
};

/// Every format, in the order a path is tried: the registry a new format adds one line to.
pub const FORMATS: [&DataFormat; 3] = [&IDX, &npz::FORMAT, &csv::FORMAT];

/// The names `--format` takes.
pub fn names() -> Vec<&'static str> {
    FORMATS.iter().map(|f| f.name).collect()
}

/// The format `--format` names; the error lists them.
pub fn named(name: &str) -> Result<&'static DataFormat> {
    FORMATS
        .iter()
        .copied()
        .find(|f| f.name == name)
        .ok_or_else(|| {
            let names = names();
            Error::flag(
                "--format",
                format!(
                    "unknown format '{name}'{}; expected one of {}",
                    crate::floor::did_you_mean(name, &names),
                    names.join(", ")
                ),
            )
        })
}

/// The format of `path`: `format` when given, else the first that recognises it.
pub fn of(path: &Path, format: Option<&str>) -> Result<Option<&'static DataFormat>> {
    match format {
        Some(name) => named(name).map(Some),
        None => Ok(FORMATS.iter().copied().find(|f| (f.recognise)(path))),
    }
}

/// The extension of `path`, lowercase.
fn extension(path: &Path) -> Option<String> {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
}

/// The side of a square image of `pixels` pixels, if there is one; the error says so.
fn square_side(pixels: usize, what: &str) -> std::result::Result<usize, String> {
    let side = (pixels as f64).sqrt().round() as usize;
    match side * side == pixels && pixels > 0 {
        true => Ok(side),
        false => Err(format!(
            "{what} {pixels} pixels, which is not a square image; expected rows of H*W grey pixels with H = W (784 for 28x28)"
        )),
    }
}
