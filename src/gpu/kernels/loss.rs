//! Launcher of `softmax_xent.wgsl`.

use super::family::{assemble, read, read_write, uniform, uniform_struct, FamilyDecl, SourceParts};
use super::{Bind, Kernel, Kernels, Launch, ModuleKey, View};
use crate::gpu::GpuContext;

uniform_struct! {
    /// `Params` of `softmax_xent.wgsl`.
    pub struct LossParams {
        pub batch: u32,
        pub classes: u32,
        pub label_smoothing: f32,
        pub _pad1: u32,
    }
}

pub static SOFTMAX_XENT: FamilyDecl = FamilyDecl {
    name: "softmax_xent",
    bindings: &[
        uniform("params", &LossParams::LAYOUT),
        read("logits"),
        read("labels"),
        read_write("dlogits"),
        read_write("metric"),
        read_write("cursor"),
    ],
};

/// The loss-and-accuracy accumulator the loss kernel adds into (`Metric` in the WGSL): 4
/// words on the GPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LossMetric {
    pub loss_sum: f32,
    pub correct: u32,
    pub count: u32,
    /// 1 + the batch index of the pass's first non-finite batch loss; 0 while all were finite.
    pub first_bad_step: u32,
}

/// A batch's sums in a fixed tree: the loss kernel's and the fused step end's.
pub(crate) const BATCH_SUM_WGSL: &str = include_str!("../../../shaders/batch_sum.wgsl");

pub(crate) fn module() -> SourceParts {
    let file = include_str!("../../../shaders/softmax_xent.wgsl");
    (
        "softmax_xent".into(),
        vec!["batch_sum.wgsl", "softmax_xent.wgsl"],
        assemble("", &[BATCH_SUM_WGSL, file]),
    )
}

/// Softmax cross-entropy over `logits: [batch, classes]`: `dlogits`, the batch's loss and
/// accuracy added into `metric`, and `cursor` advanced.
#[derive(Clone, Copy, Debug)]
pub struct LossArgs<'a> {
    pub batch: usize,
    pub classes: usize,
    pub logits: View<'a>,
    pub labels: View<'a>,
    pub dlogits: View<'a>,
    /// A [`LossMetric`].
    pub metric: View<'a>,
    pub cursor: View<'a>,
    /// Keras's `label_smoothing`: targets `(1 - s) * onehot + s / classes`; 0 for none.
    pub label_smoothing: f32,
}

impl Kernels {
    pub fn softmax_xent(&self, ctx: &GpuContext, a: &LossArgs) -> Launch {
        let params = ctx.uniform(
            "softmax_xent params",
            &LossParams {
                batch: a.batch as u32,
                classes: a.classes as u32,
                label_smoothing: a.label_smoothing,
                ..Default::default()
            },
        );
        let kernel = Kernel {
            module: ModuleKey::SoftmaxXent,
            entry: "main",
            constants: &[],
        };
        let binds = [
            Bind::Uniform(&params),
            a.logits.into(),
            a.labels.into(),
            a.dlogits.into(),
            a.metric.into(),
            a.cursor.into(),
        ];
        self.launch(kernel, "softmax_xent", [1, 1, 1], &binds)
            .with_work(
                (6 * a.batch * a.classes) as u64,
                4 * (2 * a.batch * a.classes + a.batch) as u64,
            )
    }
}
