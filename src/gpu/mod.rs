//! GPU side: adapter and device ([`context`]), the WGSL kernels and their launchers
//! ([`kernels`]). Knows kernels and buffers, not models.

pub mod context;
pub mod kernels;
pub mod profiler;

pub use context::{set_default_shader_checks, AdapterReport, GpuContext, ShaderChecks};
pub use kernels::{Kernels, Launch};
