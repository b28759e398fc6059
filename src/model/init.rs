//! Keras's default initialisation from a seeded generator on the host, so the GPU trainer and
//! the CPU reference start from identical weights.

use super::layout::ParamLayout;
use crate::floor::rng::SplitMix64;

/// Stream id of weight initialisation within a seed (shuffling and dropout use others).
pub const INIT_STREAM: u64 = 1;

/// Glorot-uniform kernels, `U(-l, l)` with `l = sqrt(6 / (fan_in + fan_out))` (for conv2d
/// `fan_in = kh*kw*in_c`, `fan_out = kh*kw*filters`), zero biases and betas, unit gammas:
/// one `Vec` per tensor of `trainable`.
pub fn init_params(trainable: &ParamLayout, seed: u64) -> Vec<Vec<f32>> {
    trainable.initial_values(&mut SplitMix64::for_stream(seed, INIT_STREAM))
}

/// Moving means at 0 and moving variances at 1, one `Vec` per tensor of `non_trainable`.
pub fn init_stats(non_trainable: &ParamLayout) -> Vec<Vec<f32>> {
    // No tensor here is drawn at random; the generator is never used.
    non_trainable.initial_values(&mut SplitMix64::new(0))
}
