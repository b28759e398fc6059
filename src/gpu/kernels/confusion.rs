//! Launchers of `confusion.wgsl`: the confusion matrix and top-k accuracy's count.

use super::family::{assemble, read, read_write, uniform, uniform_struct, FamilyDecl, SourceParts};
use super::{Bind, Kernel, Kernels, Launch, ModuleKey, View};
use crate::gpu::GpuContext;

uniform_struct! {
    /// `Params` of `confusion.wgsl`.
    pub struct ConfusionParams {
        pub batch: u32,
        pub classes: u32,
        /// `top_k`'s K.
        pub k: u32,
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

/// Adds a batch into a confusion matrix (or, for `top_k`, into a count).
#[derive(Clone, Copy, Debug)]
pub struct ConfusionArgs<'a> {
    pub batch: usize,
    pub classes: usize,
    /// `[batch, classes]`.
    pub logits: View<'a>,
    /// `[batch]`, padding rows `PAD_LABEL`.
    pub labels: View<'a>,
    /// `[classes, classes]` u32: `counts[true * classes + predicted]`; for `top_k`, `[1]`.
    pub counts: View<'a>,
}

impl Kernels {
    pub fn confusion(&self, ctx: &GpuContext, a: &ConfusionArgs) -> Launch {
        self.count(ctx, "main", 0, a)
            .with_work(0, 4 * (a.batch * a.classes + 2 * a.batch) as u64)
    }

    /// Adds the batch's rows whose label is among the `k` highest logits into `a.counts[0]`.
    pub fn top_k(&self, ctx: &GpuContext, k: u32, a: &ConfusionArgs) -> Launch {
        self.count(ctx, "top_k", k, a)
            .with_work(0, 4 * (a.batch * a.classes + a.batch) as u64)
    }

    fn count(&self, ctx: &GpuContext, entry: &'static str, k: u32, a: &ConfusionArgs) -> Launch {
        let params = ctx.uniform(
            "confusion params",
            &ConfusionParams {
                batch: a.batch as u32,
                classes: a.classes as u32,
                k,
                ..Default::default()
            },
        );
        let kernel = Kernel {
            module: ModuleKey::Confusion,
            entry,
            constants: &[],
        };
        let binds = [
            Bind::Uniform(&params),
            a.logits.into(),
            a.labels.into(),
            a.counts.into(),
        ];
        let workgroups = [(a.batch as u32).div_ceil(64), 1, 1];
        let label = if entry == "main" {
            "confusion"
        } else {
            "top_k"
        };
        self.launch(kernel, label, workgroups, &binds)
    }
}
