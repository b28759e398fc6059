//! The model: a Keras-like Sequential spec, the presets of the reference notebooks, shape
//! inference into a [`Network`], the flat parameter layout and seeded initialisation.
//! Knows nothing of GPUs.

pub mod init;
pub mod layout;
pub mod optimizer;
pub mod spec;

pub use init::init_params;
pub use layout::{ParamLayout, TensorSlot};
pub use optimizer::Optimizer;
pub use spec::{Activation, DenseLayer, Layer, ModelSpec, Network, PRESETS};
