//! Launchers of `pool.wgsl`: max and average pooling, forward and backward.

use super::{EpilogueAct, Geom2d, Kernels, Launch, View};
use crate::gpu::GpuContext;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Avg,
}

/// The uniform `Geom` of `pool.wgsl` (pooling keeps channels: `in_c` is `c`).
fn words(g: &Geom2d, grid_width: u32) -> Vec<u32> {
    [
        g.batch, g.in_h, g.in_w, g.in_c, g.out_h, g.out_w, g.k_h, g.k_w, g.stride_h, g.stride_w,
    ]
    .iter()
    .map(|&v| v as u32)
    .chain([grid_width])
    .collect()
}

impl Kernels {
    /// The vec4 kernels (4 channels per access) where the channel count allows.
    fn pool_family(&self, g: &Geom2d) -> &super::Family {
        if g.in_c.is_multiple_of(4) {
            &self.pool_vec4
        } else {
            &self.pool
        }
    }

    /// `y: [batch, out_h, out_w, c]` from `x`; max pooling also writes `argmax` (same shape,
    /// u32 indices into x), which its backward reads.
    pub fn pool_forward(
        &self,
        ctx: &GpuContext,
        kind: PoolKind,
        g: Geom2d,
        x: View,
        argmax: View,
        y: View,
    ) -> Launch {
        let entry = match kind {
            PoolKind::Max => "max_forward",
            PoolKind::Avg => "avg_forward",
        };
        self.launch_1d(
            ctx,
            self.pool_family(&g),
            "pool_forward",
            entry,
            EpilogueAct::None,
            (g.batch * g.out_h * g.out_w, 64),
            |w| words(&g, w),
            &[
                x.resource(),
                self.unused().resource(),
                argmax.resource(),
                y.resource(),
            ],
        )
    }

    /// `dx` from `dy`, times the derivative of `dact` given its output `aux` (= x).
    #[allow(clippy::too_many_arguments)]
    pub fn pool_backward(
        &self,
        ctx: &GpuContext,
        kind: PoolKind,
        g: Geom2d,
        dy: View,
        argmax: View,
        dact: EpilogueAct,
        aux: View,
        dx: View,
    ) -> Launch {
        let entry = match kind {
            PoolKind::Max => "max_backward",
            PoolKind::Avg => "avg_backward",
        };
        self.launch_1d(
            ctx,
            self.pool_family(&g),
            "pool_backward",
            entry,
            dact,
            (g.batch * g.in_h * g.in_w, 64),
            |w| words(&g, w),
            &[
                dy.resource(),
                aux.resource(),
                argmax.resource(),
                dx.resource(),
            ],
        )
    }
}
