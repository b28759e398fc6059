//! Dataset formats, each a reader declared once in [`FORMATS`]: its name (`--format NAME`),
//! the layout it reads, how it recognises a path, and how it reads one into a [`Dataset`].
//! A path is read by the first format that recognises it, or by the format `--format` names.
//! A new format is one file here and its line in [`FORMATS`].

use std::path::Path;

use super::dataset::Dataset;
use crate::error::{Error, Result};
use crate::floor::Shape;

pub mod csv;
mod folders;
pub mod npz;

/// One dataset format.
pub struct DataFormat {
    /// Its `--format` name.
    pub name: &'static str,
    /// What it reads, for help and errors.
    pub layout: &'static str,
    /// Whether `path` is data of this format (by its name and kind, without reading it).
    pub recognise: fn(&Path) -> bool,
    /// Reads `path` as the options say.
    pub read: fn(&Path, &ReadOptions) -> Result<Dataset>,
}

/// What the user says about the data beyond its path.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// The class count (`--classes N`); else one more than the largest training label.
    pub classes: Option<usize>,
    /// One image's shape (`--shape 32x32x3`), for formats that do not record it (CSV);
    /// else square grey images.
    pub shape: Option<Shape>,
    /// The (rows, cols) every image of a folder is resized to (`--resize HxW`); else they
    /// must all have one size.
    pub resize: Option<(usize, usize)>,
    /// The classes' names, by label (`--class-names FILE`): the class count, and for image
    /// folders the order that numbers them.
    pub class_names: Option<Vec<String>>,
}

/// The names of a `--class-names` file: one a line, class 0 first; blank lines, duplicates
/// and fewer than 2 or more than 256 names are errors naming the line.
pub fn class_names_file(path: &Path) -> Result<Vec<String>> {
    let text = String::from_utf8(crate::input::read(path)?)
        .map_err(|_| Error::file(path, "is not UTF-8 text; expected one class name a line"))?;
    let names: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    for (i, name) in names.iter().enumerate() {
        let line = i + 1;
        if name.is_empty() {
            return Err(Error::file(
                path,
                format!("line {line} is blank; expected one class name a line"),
            ));
        }
        if let Some(first) = names[..i].iter().position(|n| n == name) {
            return Err(Error::file(
                path,
                format!(
                    "line {line}: '{name}' is also line {}; expected distinct names",
                    first + 1
                ),
            ));
        }
    }
    match names.len() {
        2..=256 => Ok(names),
        n => Err(Error::file(
            path,
            format!("holds {n} names; expected 2 to 256 classes, one a line"),
        )),
    }
}

/// A directory of the four IDX files of MNIST's layout.
pub const IDX: DataFormat = DataFormat {
    name: "idx",
    layout: "a directory of MNIST's four IDX files (train-images-idx3-ubyte, ..., each may be .gz)",
    recognise: |path| path.is_dir() && super::dataset::dataset_files(path).is_ok(),
    read: |path, options| Dataset::load_expecting(path, options.classes),
};

/// Every format, in the order a path is tried: the registry a new format adds one line to.
pub const FORMATS: [&DataFormat; 4] = [&IDX, &npz::FORMAT, &csv::FORMAT, &folders::FORMAT];

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

/// The shape of an image of `values` values: `given` (`--shape`) when it holds that many,
/// else a square grey image; the error says which shapes would fit.
fn image_of(values: usize, given: Option<Shape>, what: &str) -> std::result::Result<Shape, String> {
    if let Some(shape) = given {
        return match shape.features() == values {
            true => Ok(shape),
            false => Err(format!(
                "{what} {values} pixel values, but --shape {}x{}x{} holds {}",
                shape.h,
                shape.w,
                shape.c,
                shape.features()
            )),
        };
    }
    let side = (values as f64).sqrt().round() as usize;
    match side * side == values && values > 0 {
        true => Ok(Shape::new(side, side, 1)),
        false => Err(format!(
            "{what} {values} pixel values, which is not a square grey image; expected H*W values with H = W (784 for 28x28), or say the shape with --shape HxWxC (32x32x3 holds 3072 values, channels last)"
        )),
    }
}
