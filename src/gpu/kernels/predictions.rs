//! Launcher of `predictions.wgsl`.

use super::family::{assemble, read, read_write, uniform, uniform_struct, FamilyDecl, SourceParts};
use super::{Bind, Kernel, Kernels, Launch, ModuleKey, View};
use crate::gpu::GpuContext;

uniform_struct! {
    /// `Params` of `predictions.wgsl`.
    pub struct PredictionsParams {
        pub batch: u32,
        pub classes: u32,
        pub capacity: u32,
        pub _pad0: u32,
    }
}

pub static PREDICTIONS: FamilyDecl = FamilyDecl {
    name: "predictions",
    bindings: &[
        uniform("p", &PredictionsParams::LAYOUT),
        read("logits"),
        read("labels"),
        read("cursor"),
        read_write("probs"),
    ],
};

pub(crate) fn module() -> SourceParts {
    let file = include_str!("../../../shaders/predictions.wgsl");
    (
        "predictions".into(),
        vec!["predictions.wgsl"],
        assemble("", &[file]),
    )
}

/// Writes a batch's class probabilities at its samples' places in the pass.
#[derive(Clone, Copy, Debug)]
pub struct PredictionsArgs<'a> {
    pub batch: usize,
    pub classes: usize,
    /// `[batch, classes]`.
    pub logits: View<'a>,
    /// `[batch]`, padding rows `PAD_LABEL`.
    pub labels: View<'a>,
    /// The pass's cursor, already advanced by the loss kernel.
    pub cursor: View<'a>,
    /// `[capacity, classes]` f32.
    pub probs: View<'a>,
    /// Rows of `probs`.
    pub capacity: usize,
}

impl Kernels {
    pub fn predictions(&self, ctx: &GpuContext, a: &PredictionsArgs) -> Launch {
        let params = ctx.uniform(
            "predictions params",
            &PredictionsParams {
                batch: a.batch as u32,
                classes: a.classes as u32,
                capacity: a.capacity as u32,
                ..Default::default()
            },
        );
        let kernel = Kernel {
            module: ModuleKey::Predictions,
            entry: "main",
            constants: &[],
        };
        let binds = [
            Bind::Uniform(&params),
            a.logits.into(),
            a.labels.into(),
            a.cursor.into(),
            a.probs.into(),
        ];
        let workgroups = [(a.batch as u32).div_ceil(64), 1, 1];
        self.launch(kernel, "predictions", workgroups, &binds)
            .with_work(0, 4 * (2 * a.batch * a.classes + a.batch) as u64)
    }
}
