//! The model: a Keras-like Sequential spec (presets and JSON) of [`crate::layers`], shape
//! inference into a [`Network`], the flat parameter layouts, seeded initialisation,
//! checkpoints and the summary table.

pub mod checkpoint;
pub mod init;
pub mod layout;
mod network;
pub mod presets;
pub mod spec;
pub mod summary;

pub use init::{init_params, init_stats};
pub use layout::{ParamLayout, TensorSlot};
pub use network::{Network, ParamSpec};
pub use presets::PRESETS;
pub use spec::ModelSpec;
