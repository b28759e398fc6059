//! Where a command's data comes from, declared once for every command that reads a dataset:
//! `--data`, `--format` and `--shape`, whose names come from the formats' registry
//! ([`crate::data::formats::FORMATS`]).

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::Args;

use crate::data::formats::ReadOptions;
use crate::data::{open, Dataset, DatasetKind};
use crate::error::Result;
use crate::floor::Shape;

#[derive(Args, Clone, Debug, Default)]
pub struct DataFlags {
    /// The data: a directory of MNIST's IDX files (or one holding <dataset>/), a .npz file
    /// (Keras's mnist.npz, MedMNIST's, KMNIST's kmnist-train-imgs.npz), CSV files of rows
    /// label,pixel,... (a directory holding *train*.csv and *test*.csv, or the training .csv),
    /// or image folders (a directory of train/<class>/ and test/<class>/ folders of PNG or
    /// JPEG images). Default $SHADERFIT_DATA,
    /// then ./data/<dataset>, the user's cache directory (where `data download` puts it), and
    /// for fashion-mnist /usr/share/datasets/fashion-mnist.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Read --data in this format instead of the one its path is recognised as.
    #[arg(long, value_name = "FORMAT", value_parser = PossibleValuesParser::new(crate::data::formats::names()))]
    pub format: Option<String>,
    /// One image's shape as HEIGHTxWIDTHxCHANNELS (32x32x3: colour, channels last), for CSV
    /// rows, which do not record it; default square grey (784 values: 28x28x1).
    #[arg(long, value_name = "HxWxC", value_parser = parse_shape)]
    pub shape: Option<Shape>,
    /// Resize every image of an image-folder set to HEIGHTxWIDTH (bilinear), for folders of
    /// images of different sizes.
    #[arg(long, value_name = "HxW", value_parser = parse_size)]
    pub resize: Option<(usize, usize)>,
    /// The classes' names, one a line, class 0 first (reports, galleries, predict and the
    /// ONNX export show them); for image folders, the order that numbers the folders.
    #[arg(long, value_name = "FILE")]
    pub class_names: Option<PathBuf>,
}

fn parse_size(text: &str) -> std::result::Result<(usize, usize), String> {
    match Shape::parse(text) {
        Ok(Shape { h, w, c: 1 }) if text.matches(['x', 'X']).count() == 1 => Ok((h, w)),
        _ => Err(format!(
            "'{text}' is not a size; expected HEIGHTxWIDTH such as 28x28"
        )),
    }
}

fn parse_shape(text: &str) -> std::result::Result<Shape, String> {
    Shape::parse(text)
}

impl DataFlags {
    /// The dataset these flags name (see [`open::open_as`]), with `classes` when given.
    pub fn open(&self, kind: DatasetKind, classes: Option<usize>) -> Result<Dataset> {
        let options = ReadOptions {
            classes,
            shape: self.shape,
            resize: self.resize,
            class_names: self
                .class_names
                .as_deref()
                .map(crate::data::formats::class_names_file)
                .transpose()?,
        };
        open::open_as(
            kind,
            (self.data.as_deref(), self.format.as_deref()),
            &options,
        )
    }
}
