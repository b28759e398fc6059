//! The model: a Keras-like Sequential spec (presets and JSON), shape inference into a
//! [`Network`], the flat parameter layouts, seeded initialisation, optimizer recipes and the
//! summary table. Knows nothing of GPUs.

pub mod checkpoint;
pub mod init;
pub mod layout;
pub mod optimizer;
pub mod shape;
pub mod spec;
pub mod summary;

pub use init::{dropout_seed, init_params, init_stats};
pub use layout::{ParamLayout, TensorSlot};
pub use optimizer::Optimizer;
pub use shape::{CompiledLayer, Init, Network, Op, ParamSpec, Shape, Window};
pub use spec::{Activation, Layer, ModelSpec, Padding, PRESETS};
