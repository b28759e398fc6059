//! Launchers of `activation.wgsl`: a standalone activation's forward and backward.

use super::family::{assemble, read, read_write, uniform, uniform_struct, FamilyDecl, SourceParts};
use super::{act_grad_parts, ActCode, ActGrad, Bind, Kernel, Kernels, Launch, ModuleKey, View};
use crate::floor::Activation;
use crate::gpu::GpuContext;

uniform_struct! {
    /// `Params` of `activation.wgsl`.
    pub struct ActivationParams {
        pub n: u32,
        /// Invocations per grid row.
        pub grid_width: u32,
        pub _pad0: u32,
        pub _pad1: u32,
    }
}

pub static ACTIVATION: FamilyDecl = FamilyDecl {
    name: "activation",
    bindings: &[
        uniform("p", &ActivationParams::LAYOUT),
        read("src"),
        read("aux"),
        read_write("dst"),
    ],
};

pub(crate) fn module() -> SourceParts {
    let file = include_str!("../../../shaders/activation.wgsl");
    (
        "activation".into(),
        vec!["activation.wgsl"],
        assemble("", &[file]),
    )
}

/// `y = act(x)` over `n` elements.
#[derive(Clone, Copy, Debug)]
pub struct ActivationForwardArgs<'a> {
    pub n: usize,
    pub act: Activation,
    pub x: View<'a>,
    pub y: View<'a>,
}

/// `dx = dy`, times the derivative of the activation below (`act_grad`) if any.
#[derive(Clone, Copy, Debug)]
pub struct ActivationBackwardArgs<'a> {
    pub n: usize,
    pub dy: View<'a>,
    pub act_grad: Option<ActGrad<'a>>,
    pub dx: View<'a>,
}

impl Kernels {
    pub fn activation_forward(&self, ctx: &GpuContext, a: &ActivationForwardArgs) -> Launch {
        let constants = [("ACT", a.act.code())];
        let storage = [a.x.into(), Bind::Unused, a.y.into()];
        self.activation_launch(ctx, ("forward", &constants), a.n, storage)
            .with_work(a.n as u64, 8 * a.n as u64)
    }

    pub fn activation_backward(&self, ctx: &GpuContext, a: &ActivationBackwardArgs) -> Launch {
        let (dact, aux) = act_grad_parts(a.act_grad);
        let constants = [("DACT", dact.code())];
        let storage = [a.dy.into(), aux.into(), a.dx.into()];
        let words = if aux.is_some() { 3 } else { 2 };
        self.activation_launch(ctx, ("backward", &constants), a.n, storage)
            .with_work(a.n as u64, 4 * words * a.n as u64)
    }

    fn activation_launch(
        &self,
        ctx: &GpuContext,
        (entry, constants): (&'static str, &[(&'static str, f64)]),
        n: usize,
        [src, aux, dst]: [Bind; 3],
    ) -> Launch {
        let (workgroups, width) = self.grid_1d(n, 256);
        let params = ctx.uniform(
            "activation params",
            &ActivationParams {
                n: n as u32,
                grid_width: width,
                ..Default::default()
            },
        );
        let kernel = Kernel {
            module: ModuleKey::Activation,
            entry,
            constants,
        };
        self.launch(
            kernel,
            "activation",
            workgroups,
            &[Bind::Uniform(&params), src, aux, dst],
        )
    }
}
