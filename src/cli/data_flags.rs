//! Where a command's data comes from, declared once for every command that reads a dataset:
//! `--data` and `--format`, whose names come from the formats' registry
//! ([`crate::data::formats::FORMATS`]).

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::Args;

use crate::data::{dataset, Dataset, DatasetKind};
use crate::error::Result;

#[derive(Args, Clone, Debug, Default)]
pub struct DataFlags {
    /// The data: a directory of MNIST's IDX files (or one holding <dataset>/), a .npz file
    /// (Keras's mnist.npz, MedMNIST's), or CSV files of rows label,pixel,... (a directory
    /// holding *train*.csv and *test*.csv, or the training .csv). Default $SHADERFIT_DATA,
    /// then ./data/<dataset>, the user's cache directory, and for fashion-mnist
    /// /usr/share/datasets/fashion-mnist.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Read --data in this format instead of the one its path is recognised as.
    #[arg(long, value_name = "FORMAT", value_parser = PossibleValuesParser::new(crate::data::formats::names()))]
    pub format: Option<String>,
}

impl DataFlags {
    /// The dataset these flags name (see [`dataset::open_as`]), with `classes` when given.
    pub fn open(&self, kind: DatasetKind, classes: Option<usize>) -> Result<Dataset> {
        dataset::open_as(
            kind,
            (self.data.as_deref(), self.format.as_deref()),
            classes,
        )
    }
}
