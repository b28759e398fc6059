//! Keras's default initialisation from a seeded generator on the host, so the GPU trainer and
//! the CPU reference start from identical weights.

use super::layout::ParamLayout;
use crate::rng::SplitMix64;

/// Stream id of weight initialisation within a seed (shuffling uses another).
pub const INIT_STREAM: u64 = 1;

/// Glorot-uniform kernels, `U(-l, l)` with `l = sqrt(6 / (fan_in + fan_out))`, and zero biases,
/// one `Vec` per tensor of `layout`.
pub fn init_params(layout: &ParamLayout, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SplitMix64::for_stream(seed, INIT_STREAM);
    layout
        .tensors
        .iter()
        .map(|t| match t.shape[..] {
            [fan_in, fan_out] => {
                let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
                (0..t.len)
                    .map(|_| (rng.next_f32() * 2.0 - 1.0) * limit)
                    .collect()
            }
            _ => vec![0.0; t.len],
        })
        .collect()
}
