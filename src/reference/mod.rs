//! The CPU twins: one plain-Rust function per GPU kernel ([`ops`]) and a whole training step
//! of a Sequential model ([`step`]), a loop over the layers' twins, which call only [`ops`].
//! Written to be obviously right, not fast: f32 storage, f64 accumulation. Tests hold the GPU
//! path against it; the trainer never calls it, and it never calls GPU code.

pub mod ops;
pub mod step;

pub use step::ReferenceModel;
