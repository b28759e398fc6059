//! shaderfit: train MNIST-family classifiers on any GPU through wgpu.
//!
//! Modules, top to bottom (nothing points up; CONTRIBUTING.md draws them):
//! - [`cli`]: flags, printing, exit codes (the binary is a thin wrapper around it);
//! - [`report`]: the figures (plotters, PNG and SVG) and HTML pages, from run records and
//!   evaluations; writes files, prints nothing;
//! - [`train`]: a [`train::Trainer`] is an [`eval::Evaluator`] plus the training step, run
//!   epoch by epoch with callbacks; a run's setup from its settings, its typed record,
//!   comparisons;
//! - [`eval`]: the weights on the GPU and the forward passes (evaluation, test-time
//!   augmentation, layer outputs), with the metrics as GPU-side accumulators; no gradients;
//! - [`onnx`]: export of the inference graph; [`recipes`]: named bundles of a run's settings;
//! - [`model`]: the Sequential spec and presets, shape inference, parameter layout,
//!   initialisation, checkpoints, the summary, the whole step's CPU twin;
//! - [`layers`]: one file per layer kind, owning its spec, shapes, parameters, launches and
//!   CPU twin; [`optim`]: one file per optimizer, likewise;
//! - [`gpu`]: adapter and device, the WGSL kernels with their declared contracts and
//!   launchers, kernel-selection policies, the profiler;
//! - [`data`]: IDX files, dataset discovery and validation, image files as inputs;
//!   [`output`] and [`input`]: files written whole and read safely;
//! - [`settings`]: how settings are declared, and the run's ([`settings::RunSettings`]);
//! - [`reference`](mod@reference): plain-Rust twins of every kernel, over the floor's types, which tests hold
//!   the GPU path against; it never calls GPU, layer or data code;
//! - [`floor`]: small value types (shapes, windows, activations, augmentation's draws, the
//!   seeded generator) declared once, importing nothing of the crate.

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
