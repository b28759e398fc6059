//! The model: a Keras-like Sequential spec (presets and JSON) of [`crate::layers`], shape
//! inference into a [`Network`], the flat parameter layouts, seeded initialisation,
//! checkpoints, the summary table, and a whole training step's CPU twin ([`ReferenceModel`]).

pub mod checkpoint;
pub mod init;
pub mod layout;
mod network;
pub mod presets;
pub mod reference_step;
pub mod spec;
pub mod summary;

pub use init::{init_params, init_stats};
pub use layout::{ParamLayout, TensorSlot};
pub use network::{Network, ParamSpec};
pub use presets::PRESETS;
pub use reference_step::ReferenceModel;
pub use spec::ModelSpec;
