//! Launcher of `gather.wgsl`.

use super::{grid, Kernels, Launch, U32x4, View};
use crate::gpu::GpuContext;

/// Label value the gather kernel writes for padding rows of a short last batch.
pub const PAD_LABEL: u32 = u32::MAX;

impl Kernels {
    /// gather: `x: [batch, sample_bytes]` f32 and `y: [batch]` u32 from batch `cursor.step`
    /// of `order` over the packed u8 `images` and `labels`.
    #[allow(clippy::too_many_arguments)]
    pub fn gather(
        &self,
        ctx: &GpuContext,
        batch: usize,
        sample_bytes: usize,
        images: View,
        labels: View,
        order: View,
        n_order: usize,
        cursor: View,
        x: View,
        y: View,
    ) -> Launch {
        let (workgroups, width) = grid((batch * sample_bytes) as u64, 256, self.max_workgroups);
        let params = ctx.uniform(
            "gather params",
            &U32x4([batch as u32, sample_bytes as u32, n_order as u32, width]),
        );
        let bind_group = self.bind(
            &self.gather,
            "gather",
            &[
                params.as_entire_binding(),
                images.resource(),
                labels.resource(),
                order.resource(),
                cursor.resource(),
                x.resource(),
                y.resource(),
            ],
        );
        Launch {
            label: "gather",
            pipeline: self.pipeline(&self.gather, "gather".into(), "main", &[]),
            bind_group,
            flops: 0,
            bytes: 0,
            scope: String::new(),
            variant: String::new(),
            workgroups,
        }
        .with_work(0, (batch * sample_bytes * 5 + batch * 8) as u64)
    }
}
