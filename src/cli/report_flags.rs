//! The `--report` flags `train` and `evaluate` share, and what a report needs of a run.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use crate::data::Dataset;
use crate::error::Result;
use crate::eval::metrics::{ConfusionMatrix, Predictions};
use crate::eval::Accumulator;
use crate::report::{self, Choices, ReportInput};

#[derive(Args, Clone, Debug)]
pub struct ReportFlags {
    /// Write a report into this directory: the loss and accuracy curves (train), the confusion
    /// matrix, galleries of correct and wrong test images, a sample's probabilities and
    /// per-class metrics (PNG and SVG), and an index.html showing them.
    #[arg(long = "report", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The report's galleries are N x N images.
    #[arg(long, default_value_t = 3, value_name = "N", requires = "dir")]
    pub gallery: usize,
    /// The test sample whose class probabilities the report charts.
    #[arg(long, default_value_t = 0, value_name = "INDEX", requires = "dir")]
    pub report_sample: usize,
}

impl ReportFlags {
    /// What a report needs of the test pass: the confusion matrix and every sample's
    /// probabilities.
    pub fn metrics(dataset: &Dataset) -> Vec<Arc<dyn Accumulator>> {
        vec![
            Arc::new(ConfusionMatrix),
            Arc::new(Predictions {
                capacity: dataset.test.len(),
            }),
        ]
    }

    /// Checks, before any training, what the report will draw of `dataset`: galleries that fit
    /// a figure, a sample the test split has.
    pub fn check(&self, dataset: &Dataset) -> Result<()> {
        if self.dir.is_none() {
            return Ok(());
        }
        report::gallery::check_grid("--gallery", self.gallery, (dataset.rows, dataset.cols))?;
        if self.report_sample >= dataset.test.len() {
            return Err(crate::Error::flag(
                "--report-sample",
                format!(
                    "{} is past the test split's {} samples; expected 0 to {}",
                    self.report_sample,
                    dataset.test.len(),
                    dataset.test.len().saturating_sub(1)
                ),
            ));
        }
        Ok(())
    }

    /// Writes the report of `input`, if one was asked for, and says where.
    pub fn write(&self, input: ReportInput) -> Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let choices = Choices {
            gallery: self.gallery,
            sample: self.report_sample,
        };
        let page = report::write(dir, &input, choices)?;
        eprintln!("report: {}", page.display());
        Ok(())
    }
}
