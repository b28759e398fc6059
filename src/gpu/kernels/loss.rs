//! Launcher of `softmax_xent.wgsl`.

use super::{Kernels, Launch, U32x4, View};
use crate::gpu::GpuContext;

impl Kernels {
    /// Softmax cross-entropy over `logits: [batch, classes]`, adding into `metrics[slot]` and
    /// advancing `cursor`.
    #[allow(clippy::too_many_arguments)]
    pub fn softmax_xent(
        &self,
        ctx: &GpuContext,
        batch: usize,
        classes: usize,
        slot: usize,
        logits: View,
        labels: View,
        dlogits: View,
        metrics: View,
        cursor: View,
    ) -> Launch {
        let params = ctx.uniform(
            "softmax_xent params",
            &U32x4([batch as u32, classes as u32, slot as u32, 0]),
        );
        let bind_group = self.bind(
            &self.softmax_xent,
            "softmax_xent",
            &[
                params.as_entire_binding(),
                logits.resource(),
                labels.resource(),
                dlogits.resource(),
                metrics.resource(),
                cursor.resource(),
            ],
        );
        Launch {
            label: "softmax_xent",
            pipeline: self.pipeline(&self.softmax_xent, "softmax_xent".into(), "main", &[]),
            bind_group,
            flops: 0,
            bytes: 0,
            scope: String::new(),
            variant: String::new(),
            workgroups: [1, 1, 1],
        }
        .with_work(
            (6 * batch * classes) as u64,
            4 * (2 * batch * classes + batch) as u64,
        )
    }
}
