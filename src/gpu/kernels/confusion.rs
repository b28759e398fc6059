//! Launcher of `confusion.wgsl`.

use super::family::{assemble, read, read_write, uniform, uniform_struct, FamilyDecl, SourceParts};
use super::{Bind, Kernel, Kernels, Launch, ModuleKey, View};
use crate::gpu::GpuContext;

uniform_struct! {
    /// `Params` of `confusion.wgsl`.
    pub struct ConfusionParams {
        pub batch: u32,
        pub classes: u32,
        pub _pad0: u32,
        pub _pad1: u32,
    }
}

pub static CONFUSION: FamilyDecl = FamilyDecl {
    name: "confusion",
    bindings: &[
        uniform("p", &ConfusionParams::LAYOUT),
        read("logits"),
        read("labels"),
        read_write("counts"),
    ],
};

pub(crate) fn module() -> SourceParts {
    let file = include_str!("../../../shaders/confusion.wgsl");
    (
        "confusion".into(),
        vec!["confusion.wgsl"],
        assemble("", &[file]),
    )
}

/// Adds a batch into a confusion matrix.
#[derive(Clone, Copy, Debug)]
pub struct ConfusionArgs<'a> {
    pub batch: usize,
    pub classes: usize,
    /// `[batch, classes]`.
    pub logits: View<'a>,
    /// `[batch]`, padding rows `PAD_LABEL`.
    pub labels: View<'a>,
    /// `[classes, classes]` u32: `counts[true * classes + predicted]`.
    pub counts: View<'a>,
}

impl Kernels {
    pub fn confusion(&self, ctx: &GpuContext, a: &ConfusionArgs) -> Launch {
        let params = ctx.uniform(
            "confusion params",
            &ConfusionParams {
                batch: a.batch as u32,
                classes: a.classes as u32,
                ..Default::default()
            },
        );
        let kernel = Kernel {
            module: ModuleKey::Confusion,
            entry: "main",
            constants: &[],
        };
        let binds = [
            Bind::Uniform(&params),
            a.logits.into(),
            a.labels.into(),
            a.counts.into(),
        ];
        let workgroups = [(a.batch as u32).div_ceil(64), 1, 1];
        self.launch(kernel, "confusion", workgroups, &binds)
            .with_work(0, 4 * (a.batch * a.classes + 2 * a.batch) as u64)
    }
}
