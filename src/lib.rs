//! shaderfit: train MNIST-family classifiers on any GPU through wgpu.
//!
//! Modules, top to bottom (nothing points up):
//! - [`cli`]: flags, printing, exit codes (the binary is a thin wrapper around it);
//! - [`report`]: the figures (plotters, PNG and SVG) and the HTML page of a run, from the
//!   train module's results; writes files, prints nothing;
//! - [`train`]: compiles a model and a batch size into a GPU-resident plan and runs epochs,
//!   with metric accumulators and callbacks;
//! - [`model`]: the Sequential spec and presets, shape inference, parameter layout,
//!   initialisation, checkpoints, the summary;
//! - [`layers`]: one file per layer kind, owning its spec, shapes, parameters, launches and
//!   CPU twin; [`optim`]: one file per optimizer, likewise;
//! - [`gpu`]: adapter and device, the WGSL kernels with their declared contracts and
//!   launchers, kernel-selection policies, the profiler;
//! - [`recipes`]: named bundles of a run's settings (JSON in `assets/recipes/`, compiled in);
//! - [`output`]: files runs write, checked early, replaced atomically and durably, locked;
//! - [`data`]: IDX files, dataset discovery and validation, image files as inputs;
//! - [`reference`]: plain-Rust twins of every kernel ([`reference::ops`]) and a whole training
//!   step looped over the layers' twins, which tests hold the GPU path against; the trainer
//!   never calls it, and it never calls GPU code.

pub mod cli;
pub mod data;
pub mod error;
pub mod eval;
pub mod floor;
pub mod gpu;
pub mod input;
pub mod layers;
pub mod model;
pub mod onnx;
pub mod optim;
pub mod output;
pub mod recipes;
pub mod reference;
pub mod report;
pub mod settings;
pub mod train;

pub use error::{Error, Result};
