//! Data: IDX files (gzip or raw), validated, the discovery of dataset directories, and image
//! files as model inputs.
//! Knows nothing of GPUs.

mod bundled;
pub mod dataset;
pub mod download;
pub mod idx;
pub mod picture;

pub use dataset::{Dataset, DatasetKind, Split};
