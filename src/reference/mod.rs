//! The CPU twins: one plain-Rust function per GPU kernel ([`ops`]), over the floor's value
//! types only. Written to be obviously right, not fast: f32 storage, f64 accumulation. Tests
//! hold the GPU path against it; each layer's twin ([`crate::layers::Layer::twin_forward`])
//! calls it, and [`crate::model::ReferenceModel`] loops those twins into a whole training
//! step. The trainer never calls it, and it never calls GPU, layer or data code.

pub mod ops;
