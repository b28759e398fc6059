//! Launchers of `dropout.wgsl`.

use super::family::{assemble, read, read_write, uniform, uniform_struct, FamilyDecl, SourceParts};
use super::{act_grad_parts, ActCode, ActGrad, Bind, Kernel, Kernels, Launch, ModuleKey, View};
use crate::gpu::GpuContext;

uniform_struct! {
    /// `Params` of `dropout.wgsl`.
    pub struct DropoutParams {
        pub n: u32,
        pub threshold: u32,
        pub scale: f32,
        pub seed: u32,
        pub t_back: u32,
        /// Invocations per grid row.
        pub grid_width: u32,
        pub _pad0: u32,
        pub _pad1: u32,
    }
}

pub static DROPOUT: FamilyDecl = FamilyDecl {
    name: "dropout",
    bindings: &[
        uniform("p", &DropoutParams::LAYOUT),
        read("src"),
        read("aux"),
        read("cursor"),
        read_write("dst"),
    ],
};

pub(crate) fn module() -> SourceParts {
    let file = include_str!("../../../shaders/dropout.wgsl");
    (
        "dropout".into(),
        vec!["dropout.wgsl"],
        assemble("", &[file]),
    )
}

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

/// `dst[i] = src[i] * mask(i) / (1 - rate)` over `n` elements (see `dropout.wgsl`).
#[derive(Clone, Copy, Debug)]
pub struct DropoutArgs<'a> {
    pub mode: DropoutMode,
    pub n: usize,
    pub rate: f32,
    /// The layer's mask seed.
    pub seed: u32,
    pub src: View<'a>,
    /// Backward only: times an activation's derivative.
    pub act_grad: Option<ActGrad<'a>>,
    pub cursor: View<'a>,
    pub dst: View<'a>,
}

impl Kernels {
    pub fn dropout(&self, ctx: &GpuContext, a: &DropoutArgs) -> Launch {
        let entry = match a.mode {
            DropoutMode::Forward => "forward",
            DropoutMode::Backward => "backward",
            DropoutMode::Identity => "identity",
        };
        let (dact, aux) = act_grad_parts(a.act_grad);
        assert!(
            aux.is_none() || a.mode == DropoutMode::Backward,
            "only dropout's backward multiplies by a derivative"
        );
        let (workgroups, width) = self.grid_1d(a.n, 256);
        let params = ctx.uniform(
            "dropout params",
            &DropoutParams {
                n: a.n as u32,
                threshold: dropout_threshold(a.rate),
                scale: 1.0 / (1.0 - a.rate),
                seed: a.seed,
                t_back: (a.mode == DropoutMode::Backward) as u32,
                grid_width: width,
                ..Default::default()
            },
        );
        let constants = [("DACT", dact.code())];
        let kernel = Kernel {
            module: ModuleKey::Dropout,
            entry,
            constants: if aux.is_some() { &constants } else { &[] },
        };
        let binds = [
            Bind::Uniform(&params),
            a.src.into(),
            aux.into(),
            a.cursor.into(),
            a.dst.into(),
        ];
        self.launch(kernel, "dropout", workgroups, &binds)
    }
}
