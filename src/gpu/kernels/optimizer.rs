//! Launcher of `optimizer.wgsl`.

use bytemuck::{Pod, Zeroable};

use super::{grid, Kernels, Launch, View};
use crate::gpu::GpuContext;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OptimizerKind {
    Sgd,
    SgdMomentum,
    Adam,
    RmsProp,
}

impl OptimizerKind {
    fn entry_point(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::SgdMomentum => "sgd_momentum",
            OptimizerKind::Adam => "adam",
            OptimizerKind::RmsProp => "rmsprop",
        }
    }
}

/// The optimizer's uniform, as `Hyper` in `optimizer.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct OptimizerHyper {
    pub lr: f32,
    /// SGD: momentum; Adam: beta1; RMSprop: rho.
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub n: u32,
    pub grid_width: u32,
    pub _pad: [u32; 2],
}

impl Kernels {
    /// One optimizer step over `n` flat parameters, `n` a multiple of 4 (the kernel works in
    /// vec4). `s1`/`s2` are the optimizer's state buffers (velocity; m and v; v), `None`
    /// where the rule has none.
    #[allow(clippy::too_many_arguments)]
    pub fn optimizer(
        &self,
        ctx: &GpuContext,
        kind: OptimizerKind,
        mut hyper: OptimizerHyper,
        weights: View,
        grads: View,
        s1: Option<View>,
        s2: Option<View>,
        cursor: View,
    ) -> Launch {
        let n = hyper.n as u64;
        assert!(
            n.is_multiple_of(4),
            "the flat parameter buffer holds a multiple of 4 floats, not {n}"
        );
        let (workgroups, width) = grid(n / 4, 256, self.max_workgroups);
        hyper.grid_width = width;
        let params = ctx.uniform("optimizer hyper", &hyper);
        let dummy = View::whole(&self.dummy);
        let bind_group = self.bind(
            &self.optimizer,
            kind.entry_point(),
            &[
                params.as_entire_binding(),
                weights.resource(),
                grads.resource(),
                s1.unwrap_or(dummy).resource(),
                s2.unwrap_or(View::whole(&self.dummy2)).resource(),
                cursor.resource(),
            ],
        );
        Launch {
            label: "optimizer",
            pipeline: self.pipeline(
                &self.optimizer,
                format!("optimizer {kind:?}"),
                kind.entry_point(),
                &[],
            ),
            bind_group,
            flops: 0,
            bytes: 0,
            scope: String::new(),
            variant: String::new(),
            workgroups,
        }
        .with_work(
            n * match kind {
                OptimizerKind::Sgd => 2,
                OptimizerKind::SgdMomentum => 3,
                OptimizerKind::Adam => 10,
                OptimizerKind::RmsProp => 6,
            },
            4 * n
                * match kind {
                    OptimizerKind::Sgd => 3,
                    OptimizerKind::SgdMomentum | OptimizerKind::RmsProp => 5,
                    OptimizerKind::Adam => 7,
                },
        )
    }
}
