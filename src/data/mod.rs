//! Data: IDX files (gzip or raw), NPZ and CSV files (each a format of [`formats`]), validated,
//! the discovery of dataset directories, and image files as model inputs.
//! Knows nothing of GPUs.

mod bundled;
pub mod catalogue;
pub mod dataset;
pub mod download;
pub mod formats;
pub mod idx;
pub mod picture;
pub mod prepare;

pub use dataset::{Dataset, DatasetKind, Split};
