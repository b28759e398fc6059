//! Launcher of `dense_xent.wgsl`: the output dense layer and the softmax cross-entropy in one
//! launch, for training steps whose end is fused (see [`super::step_end`], which sums the
//! rows it writes).

use super::family::{assemble, read, read_write, uniform, uniform_struct, FamilyDecl, SourceParts};
use super::{Bind, Kernel, Kernels, Launch, ModuleKey, View};
use crate::gpu::GpuContext;

/// The most units an output layer fused with the loss may have (`MAX_CLASSES` in the WGSL:
/// each invocation keeps one partial sum per class).
pub const MAX_FUSED_CLASSES: usize = 16;

uniform_struct! {
    /// `Params` of `dense_xent.wgsl`.
    pub struct DenseXentParams {
        pub batch: u32,
        pub k: u32,
        pub classes: u32,
        pub label_smoothing: f32,
    }
}

pub static DENSE_XENT: FamilyDecl = FamilyDecl {
    name: "dense_xent",
    bindings: &[
        uniform("params", &DenseXentParams::LAYOUT),
        read("x"),
        read("w"),
        read("b"),
        read("labels"),
        read_write("logits"),
        read_write("dlogits"),
        read_write("rows"),
        read_write("cursor"),
    ],
};

/// `RowStat` of the prelude: one row's loss and flags.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RowStat {
    /// The row's loss; 0 for a padding row.
    pub loss: f32,
    /// [`RowStat::VALID`] | [`RowStat::CORRECT`].
    pub flags: u32,
}

impl RowStat {
    /// `ROW_VALID`: not a padding row.
    pub const VALID: u32 = 1;
    /// `ROW_CORRECT`: the first argmax is the label.
    pub const CORRECT: u32 = 2;
}

pub(crate) fn module() -> SourceParts {
    let file = include_str!("../../../shaders/dense_xent.wgsl");
    (
        "dense_xent".into(),
        vec!["dense_xent.wgsl"],
        assemble("", &[file]),
    )
}

/// `logits = x·w + b` for an output layer of `classes` units, then softmax cross-entropy's
/// `dlogits` and each row's [`RowStat`], and `cursor` advanced.
#[derive(Clone, Copy, Debug)]
pub struct DenseXentArgs<'a> {
    pub batch: usize,
    /// The layer's fan-in.
    pub k: usize,
    /// Its units: at most [`MAX_FUSED_CLASSES`].
    pub classes: usize,
    /// Keras's `label_smoothing`; 0 for none.
    pub label_smoothing: f32,
    /// `[batch, k]`.
    pub x: View<'a>,
    /// `[k, classes]`.
    pub w: View<'a>,
    /// `[classes]`.
    pub b: View<'a>,
    /// `[batch]` u32, PAD for padding rows.
    pub labels: View<'a>,
    /// `[batch, classes]`.
    pub logits: View<'a>,
    /// `[batch, classes]`.
    pub dlogits: View<'a>,
    /// `[batch]` [`RowStat`].
    pub rows: View<'a>,
    pub cursor: View<'a>,
}

impl Kernels {
    pub fn dense_xent(&self, ctx: &GpuContext, a: &DenseXentArgs) -> Launch {
        assert!(
            a.classes <= MAX_FUSED_CLASSES && a.batch as u32 <= self.limits.max_compute_workgroups_per_dimension,
            "dense_xent takes at most {MAX_FUSED_CLASSES} classes and one workgroup per row: {} classes, batch {}",
            a.classes,
            a.batch
        );
        let params = ctx.uniform(
            "dense_xent params",
            &DenseXentParams {
                batch: a.batch as u32,
                k: a.k as u32,
                classes: a.classes as u32,
                label_smoothing: a.label_smoothing,
            },
        );
        let kernel = Kernel {
            module: ModuleKey::DenseXent,
            entry: "main",
            constants: &[],
        };
        let binds = [
            Bind::Uniform(&params),
            a.x.into(),
            a.w.into(),
            a.b.into(),
            a.labels.into(),
            a.logits.into(),
            a.dlogits.into(),
            a.rows.into(),
            a.cursor.into(),
        ];
        let (b, k, n) = (a.batch, a.k, a.classes);
        self.launch(kernel, "dense + softmax_xent", [b as u32, 1, 1], &binds)
            .with_work(
                (2 * b * k * n + 6 * b * n) as u64,
                4 * (b * k + k * n + n + 3 * b * n + 3 * b) as u64,
            )
    }
}
