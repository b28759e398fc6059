//! shaderfit: train MNIST-family classifiers on any GPU through wgpu.
//!
//! Layers, top to bottom (nothing points up):
//! - [`cli`]: flags, printing, exit codes (the binary is a thin wrapper around it);
//! - [`train`]: compiles a model and a batch size into a GPU-resident plan and runs epochs;
//! - [`gpu`]: adapter and device, buffers, the WGSL kernels and their launchers;
//! - [`model`]: the Sequential spec, presets, parameter layout and initialisation;
//! - [`data`]: IDX files, dataset discovery and validation;
//! - [`reference`]: plain-Rust twins of every kernel and of a whole training step, which the
//!   tests hold the GPU path against; the trainer never calls it.

pub mod cli;
pub mod data;
pub mod error;
pub mod gpu;
pub mod model;
pub mod reference;
pub mod rng;
pub mod train;

pub use error::{Error, Result};
