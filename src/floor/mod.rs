//! The floor: small value types and pure functions that layers, kernels, the CPU twins, data
//! readers and ONNX export all use, each declared once here. It imports nothing of the crate,
//! so every module may import it and none of its types needs a home above the ones using it.
//!
//! - [`shape`]: a sample's shape and the geometry of 2-D windows (convolutions, poolings);
//! - [`activation`]: the activations a layer ends with and a kernel fuses;
//! - [`augment`]: random affine augmentation's ranges and draws, as the gather kernel draws
//!   them (its CPU twin included, which `data show --augment` draws with too);
//! - [`rng`]: the seeded generator and the integer hash shared by the GPU and the CPU;
//! - [`text`]: suggestions for names mistyped.

pub mod activation;
pub mod augment;
pub mod rng;
pub mod shape;
pub mod text;

pub use activation::Activation;
pub use augment::{Augment, DrawKey};
pub use shape::{Geom2d, Padding, Shape, Window};
pub use text::did_you_mean;
