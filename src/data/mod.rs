//! Data, knowing nothing of GPUs. From the bottom up: the catalogue of datasets known by name
//! ([`catalogue`]); the dataset and MNIST's IDX layout ([`dataset`], [`idx`]); the other
//! formats (NPZ, CSV, image folders: [`formats`]); finding and opening a dataset ([`open`]);
//! fetching and preparing a catalogue dataset ([`download`], [`prepare`]); image files as
//! model inputs ([`picture`]).

mod bundled;
pub mod catalogue;
pub mod dataset;
pub mod download;
pub mod formats;
pub mod idx;
pub mod open;
pub mod picture;
pub mod pixels;
pub mod prepare;
pub mod ring;

pub use catalogue::DatasetKind;
pub use dataset::{Dataset, Split};
