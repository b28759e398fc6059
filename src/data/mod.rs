//! Data: IDX files (gzip or raw), validated, and the discovery of dataset directories.
//! Knows nothing of GPUs.

pub mod dataset;
pub mod idx;

pub use dataset::{Dataset, DatasetKind, Split};
