//! Launchers of `dense_backward.wgsl`: a dense layer's weight and input gradients in one
//! dispatch, where the policy pairs them ([`KernelPolicy::dense_pair`]); else the
//! two products of [`Kernels::weight_grads`] and [`Kernels::matmul`].
//!
//! [`KernelPolicy::dense_pair`]: super::KernelPolicy::dense_pair

use super::family::{assemble, read, read_write, uniform, uniform_struct, FamilyDecl, SourceParts};
use super::policy::DensePair;
use super::{act_grad_parts, ActCode, ActGrad, Bind, Kernel, Kernels, Launch, ModuleKey, View};
use super::{MatmulArgs, WeightGradArgs};
use crate::gpu::GpuContext;

uniform_struct! {
    /// `Params` of `dense_backward.wgsl`.
    pub struct DenseBackwardParams {
        pub batch: u32,
        pub fan_in: u32,
        pub units: u32,
        /// Workgroups computing dW (and db); the rest compute dx.
        pub dw_groups: u32,
        /// dW's tiles (8·ROWS x 32) per tile row.
        pub dw_cols: u32,
        /// dx's tiles per tile row.
        pub dx_cols: u32,
        pub _pad0: u32,
        pub _pad1: u32,
    }
}

pub static DENSE_BACKWARD: FamilyDecl = FamilyDecl {
    name: "dense_backward",
    bindings: &[
        uniform("p", &DenseBackwardParams::LAYOUT),
        read("x"),
        read("dy"),
        read("w"),
        read("aux"),
        read_write("dw"),
        read_write("db"),
        read_write("dx"),
    ],
};

pub(crate) fn module() -> SourceParts {
    let file = include_str!("../../../shaders/dense_backward.wgsl");
    (
        "dense_backward".into(),
        vec!["dense_backward.wgsl"],
        assemble("", &[file]),
    )
}

/// A dense layer's backward: `dW = xᵀ·dy`, `db = Σ dy` and, with `dx`, `dx = (dy·Wᵀ) ⊙
/// act'(aux)`.
#[derive(Clone, Copy, Debug)]
pub struct DenseBackwardArgs<'a> {
    pub batch: usize,
    pub fan_in: usize,
    pub units: usize,
    /// `[batch, fan_in]`: the layer's input.
    pub x: View<'a>,
    /// `[batch, units]`.
    pub dy: View<'a>,
    /// `[fan_in, units]`.
    pub w: View<'a>,
    /// `[fan_in, units]`.
    pub dw: View<'a>,
    /// `[units]`.
    pub db: View<'a>,
    /// `[batch, fan_in]`, none for a first layer.
    pub dx: Option<View<'a>>,
    /// The derivative of the activation below, fused into dx.
    pub act_grad: Option<ActGrad<'a>>,
}

impl Kernels {
    /// The launches of a dense layer's backward: one where the policy pairs the products,
    /// else dW with db, then dx.
    pub fn dense_backward(&self, ctx: &GpuContext, a: &DenseBackwardArgs) -> Vec<Launch> {
        let paired = a.dx.zip(self.policy().dense_pair(ctx, self, a));
        match paired {
            Some((dx, rows))
                if DensePair::workgroups(a, rows)
                    <= self.limits.max_compute_workgroups_per_dimension =>
            {
                vec![self.paired(ctx, a, dx, rows)]
            }
            _ => self.unpaired(ctx, a),
        }
    }

    fn paired(&self, ctx: &GpuContext, a: &DenseBackwardArgs, dx: View, rows: u32) -> Launch {
        let [(dw_rows, dw_cols), (dx_rows, dx_cols)] = DensePair::tiles(a, rows);
        let dw_groups = dw_rows * dw_cols;
        let (dact, aux) = act_grad_parts(a.act_grad);
        let params = ctx.uniform(
            "dense backward params",
            &DenseBackwardParams {
                batch: a.batch as u32,
                fan_in: a.fan_in as u32,
                units: a.units as u32,
                dw_groups,
                dw_cols,
                dx_cols,
                ..Default::default()
            },
        );
        let constants = [("DACT", dact.code()), ("ROWS", rows as f64)];
        let kernel = Kernel {
            module: ModuleKey::DenseBackward,
            entry: "tile4",
            constants: &constants,
        };
        let binds = [
            Bind::Uniform(&params),
            a.x.into(),
            a.dy.into(),
            a.w.into(),
            aux.into(),
            a.dw.into(),
            a.db.into(),
            dx.into(),
        ];
        let groups = dw_groups + dx_rows * dx_cols;
        let launch = self.launch(kernel, "dense dW+dx", [groups, 1, 1], &binds);
        let launch = Launch {
            variant: format!("{rows}x4 per thread"),
            ..launch
        };
        let (m, n, k) = (a.fan_in, a.units, a.batch);
        launch.with_work(
            4 * (m * n * k) as u64,
            4 * (2 * k * m + k * n + 2 * m * n + n) as u64,
        )
    }

    fn unpaired(&self, ctx: &GpuContext, a: &DenseBackwardArgs) -> Vec<Launch> {
        let mut launches = self.weight_grads(
            ctx,
            &WeightGradArgs {
                label: "dense dW",
                m: a.fan_in,
                n: a.units,
                k: a.batch,
                x: a.x,
                dy: a.dy,
                dw: a.dw,
                db: a.db,
                defer: None,
            },
        );
        if let Some(dx) = a.dx {
            let shape = (a.batch, a.fan_in, a.units);
            launches.extend(self.matmul(
                ctx,
                &MatmulArgs {
                    trans_b: true,
                    act_grad: a.act_grad,
                    ..MatmulArgs::new("dense dx", shape, a.dy, a.w, dx)
                },
            ));
        }
        launches
    }
}
