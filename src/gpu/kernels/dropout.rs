//! Launchers of `dropout.wgsl`.

use super::{EpilogueAct, Kernels, Launch, View};
use crate::gpu::GpuContext;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropoutMode {
    /// Training forward: runs before the loss kernel advances the step count.
    Forward,
    /// Training backward: runs after it, so it reads step count - 1 to redraw the same mask.
    Backward,
    /// Evaluation: a copy.
    Identity,
}

/// The keep threshold on a 24-bit hash for `rate` (the CPU twin uses the same integer).
pub fn dropout_threshold(rate: f32) -> u32 {
    (rate as f64 * (1u32 << 24) as f64).round() as u32
}

impl Kernels {
    /// `dst[i] = src[i] * mask(i) / (1 - rate)` over `n` elements (see `dropout.wgsl`); the
    /// backward also multiplies by the derivative of `dact` given its output `aux`.
    #[allow(clippy::too_many_arguments)]
    pub fn dropout(
        &self,
        ctx: &GpuContext,
        mode: DropoutMode,
        n: usize,
        rate: f32,
        seed: u32,
        src: View,
        dact: EpilogueAct,
        aux: View,
        cursor: View,
        dst: View,
    ) -> Launch {
        let entry = match mode {
            DropoutMode::Forward => "forward",
            DropoutMode::Backward => "backward",
            DropoutMode::Identity => "identity",
        };
        let t_back = (mode == DropoutMode::Backward) as u32;
        let scale = 1.0 / (1.0 - rate);
        self.launch_1d(
            ctx,
            &self.dropout,
            "dropout",
            entry,
            dact,
            (n, 256),
            |w| {
                vec![
                    n as u32,
                    dropout_threshold(rate),
                    scale.to_bits(),
                    seed,
                    t_back,
                    w,
                ]
            },
            &[
                src.resource(),
                aux.resource(),
                cursor.resource(),
                dst.resource(),
            ],
        )
    }
}
