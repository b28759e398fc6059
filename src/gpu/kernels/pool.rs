//! Launchers of `pool.wgsl`: max and average pooling, forward and backward, and the backward
//! fused with the col2im of the convolution that reads the pooled output.

use super::family::{assemble, read, read_write, uniform, uniform_struct, FamilyDecl, SourceParts};
use super::{act_grad_parts, ActCode, ActGrad, Bind, Kernel, Kernels, Launch, ModuleKey, View};
use crate::floor::{Activation, Geom2d};
use crate::gpu::GpuContext;

const POOL_WGSL: &str = include_str!("../../../shaders/pool.wgsl");

uniform_struct! {
    /// `Geom` of `pool.wgsl`: the pooling (which keeps channels: `c`), and for the kernels
    /// fused with col2im the convolution that reads the pooled output.
    pub struct PoolGeom {
        pub batch: u32,
        pub in_h: u32,
        pub in_w: u32,
        pub c: u32,
        pub out_h: u32,
        pub out_w: u32,
        pub p_h: u32,
        pub p_w: u32,
        pub stride_h: u32,
        pub stride_w: u32,
        /// Invocations per grid row.
        pub grid_width: u32,
        pub conv_out_h: u32,
        pub conv_out_w: u32,
        pub k_h: u32,
        pub k_w: u32,
        pub conv_stride_h: u32,
        pub conv_stride_w: u32,
        pub pad_top: u32,
        pub pad_left: u32,
        pub _pad: u32,
    }
}

pub static POOL: FamilyDecl = FamilyDecl {
    name: "pool",
    bindings: &[
        uniform("g", &PoolGeom::LAYOUT),
        read("src"),
        read("aux"),
        read_write("argmax"),
        read_write("dst"),
    ],
};

/// `pool.wgsl` over vec4 elements (4 channels per access, for channel counts divisible by 4)
/// or f32 ones.
pub(crate) fn module(vec4: bool) -> SourceParts {
    let (name, header) = if vec4 {
        (
            "pool (vec4)",
            "alias T = vec4<f32>;\nalias U = vec4<u32>;\nconst W: u32 = 4u;\n\
             fn lanes(i: u32) -> U { return vec4<u32>(i, i + 1u, i + 2u, i + 3u); }\n\
             fn dact_t(g: T, h: T) -> T { return dact4(g, h); }\n",
        )
    } else {
        (
            "pool (f32)",
            "alias T = f32;\nalias U = u32;\nconst W: u32 = 1u;\n\
             fn lanes(i: u32) -> U { return i; }\n\
             fn dact_t(g: T, h: T) -> T { return dact(g, h); }\n",
        )
    };
    (
        name.into(),
        vec!["pool.wgsl"],
        assemble(header, &[POOL_WGSL]),
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Avg,
}

impl PoolKind {
    fn entry(self, suffix: &str) -> &'static str {
        match (self, suffix) {
            (PoolKind::Max, "forward") => "max_forward",
            (PoolKind::Avg, "forward") => "avg_forward",
            (PoolKind::Max, "backward") => "max_backward",
            (PoolKind::Avg, "backward") => "avg_backward",
            (PoolKind::Max, _) => "max_backward_cols",
            (PoolKind::Avg, _) => "avg_backward_cols",
        }
    }
}

/// Floats of the pooled output `[batch, out_h, out_w, c]` (and of max pooling's argmax).
fn pooled_len(g: &Geom2d) -> usize {
    g.batch * g.out_h * g.out_w * g.in_c
}

/// The gradient a pooling's backward starts from.
#[derive(Clone, Copy, Debug)]
pub enum PoolGrad<'a> {
    /// `dy: [batch, out_h, out_w, c]`.
    Pooled(View<'a>),
    /// The `dcols: [conv.rows(), conv.patch()]` of the convolution `conv` that reads the
    /// pooled output: the backward is fused with its col2im (one launch, the pooled gradient
    /// never stored). Only for windows that tile the input ([`Geom2d::tiles`]).
    Cols { conv: Geom2d, dcols: View<'a> },
}

/// `y: [batch, out_h, out_w, c]` from `x`; max pooling also writes `argmax` (same shape, u32
/// flat indices into x), which its backward reads.
#[derive(Clone, Copy, Debug)]
pub struct PoolForwardArgs<'a> {
    pub kind: PoolKind,
    pub geom: Geom2d,
    pub x: View<'a>,
    /// Max pooling only.
    pub argmax: Option<View<'a>>,
    pub y: View<'a>,
}

/// `dx` from the pooled gradient, times an activation's derivative.
#[derive(Clone, Copy, Debug)]
pub struct PoolBackwardArgs<'a> {
    pub kind: PoolKind,
    pub geom: Geom2d,
    pub dy: PoolGrad<'a>,
    /// Max pooling only.
    pub argmax: Option<View<'a>>,
    pub act_grad: Option<ActGrad<'a>>,
    pub dx: View<'a>,
}

impl Geom2d {
    /// Whether a pooling's windows tile its input (stride equal to the window, Keras's
    /// default), so that each input pixel has at most one window: the condition for fusing
    /// its backward with a col2im.
    pub fn tiles(&self) -> bool {
        self.stride_h == self.k_h
            && self.stride_w == self.k_w
            && self.pad_top == 0
            && self.pad_left == 0
    }

    fn pool_geom(&self, conv: Option<&Geom2d>, grid_width: u32) -> PoolGeom {
        let u = |v: usize| v as u32;
        let c = conv.copied().unwrap_or(Geom2d {
            batch: 0,
            in_h: 0,
            in_w: 0,
            in_c: 0,
            out_h: 0,
            out_w: 0,
            k_h: 0,
            k_w: 0,
            stride_h: 0,
            stride_w: 0,
            pad_top: 0,
            pad_left: 0,
        });
        PoolGeom {
            batch: u(self.batch),
            in_h: u(self.in_h),
            in_w: u(self.in_w),
            c: u(self.in_c),
            out_h: u(self.out_h),
            out_w: u(self.out_w),
            p_h: u(self.k_h),
            p_w: u(self.k_w),
            stride_h: u(self.stride_h),
            stride_w: u(self.stride_w),
            grid_width,
            conv_out_h: u(c.out_h),
            conv_out_w: u(c.out_w),
            k_h: u(c.k_h),
            k_w: u(c.k_w),
            conv_stride_h: u(c.stride_h),
            conv_stride_w: u(c.stride_w),
            pad_top: u(c.pad_top),
            pad_left: u(c.pad_left),
            _pad: 0,
        }
    }
}

impl Kernels {
    pub fn pool_forward(&self, ctx: &GpuContext, a: &PoolForwardArgs) -> Launch {
        let g = a.geom;
        let argmax_len = if a.argmax.is_some() {
            pooled_len(&g)
        } else {
            0
        };
        let binds = [a.x.into(), Bind::Unused, a.argmax.into(), a.y.into()];
        self.pool_launch(
            ctx,
            ("pool_forward", a.kind.entry("forward")),
            (&g, None),
            (g.batch * g.out_h * g.out_w, Activation::Linear),
            binds,
        )
        .with_work(0, 4 * (g.input_len() + pooled_len(&g) + argmax_len) as u64)
    }

    /// From `dy` (one invocation per input pixel), or from the dcols of the convolution above
    /// (one per pooled pixel).
    pub fn pool_backward(&self, ctx: &GpuContext, a: &PoolBackwardArgs) -> Launch {
        let g = a.geom;
        let (dact, aux) = act_grad_parts(a.act_grad);
        let (label, entry, invocations, conv, src, src_len) = match a.dy {
            PoolGrad::Pooled(dy) => (
                "pool_backward",
                "backward",
                g.batch * g.in_h * g.in_w,
                None,
                dy,
                pooled_len(&g),
            ),
            PoolGrad::Cols { conv, dcols } => {
                assert!(
                    g.tiles(),
                    "fused pooling needs windows that tile the input: {g:?}"
                );
                assert_eq!(
                    (conv.batch, conv.in_h, conv.in_w, conv.in_c),
                    (g.batch, g.out_h, g.out_w, g.in_c),
                    "the convolution reads the pooled output"
                );
                let invocations = g.batch * g.out_h * g.out_w;
                (
                    "pool_backward_cols",
                    "backward_cols",
                    invocations,
                    Some(conv),
                    dcols,
                    conv.rows() * conv.patch(),
                )
            }
        };
        let flops = if conv.is_some() { src_len } else { 0 };
        let argmax_len = if a.argmax.is_some() {
            pooled_len(&g)
        } else {
            0
        };
        let aux_len = if aux.is_some() { g.input_len() } else { 0 };
        let binds = [src.into(), aux.into(), a.argmax.into(), a.dx.into()];
        self.pool_launch(
            ctx,
            (label, a.kind.entry(entry)),
            (&g, conv.as_ref()),
            (invocations, dact),
            binds,
        )
        .with_work(
            flops as u64,
            4 * (src_len + argmax_len + aux_len + g.input_len()) as u64,
        )
    }

    /// `entry` over `pixels` (times the channel groups where the policy runs a group per
    /// invocation) in workgroups of 64, in the vec4 module where the channel count allows.
    fn pool_launch(
        &self,
        ctx: &GpuContext,
        (label, entry): (&'static str, &'static str),
        (g, conv): (&Geom2d, Option<&Geom2d>),
        (pixels, dact): (usize, Activation),
        storage: [Bind; 4],
    ) -> Launch {
        let vec4 = g.in_c.is_multiple_of(4);
        let per_channel = self.policy().pools_per_channel(self);
        let groups = if vec4 { g.in_c / 4 } else { g.in_c };
        let invocations = if per_channel { pixels * groups } else { pixels };
        let (workgroups, width) = self.grid_1d(invocations, 64);
        let uniform = ctx.uniform("pool geometry", &g.pool_geom(conv, width));
        let constants = [
            ("DACT", dact.code()),
            ("PER_CHANNEL", f64::from(u8::from(per_channel))),
        ];
        let kernel = Kernel {
            module: ModuleKey::Pool { vec4 },
            entry,
            constants: &constants,
        };
        let [src, aux, argmax, dst] = storage;
        self.launch(
            kernel,
            label,
            workgroups,
            &[Bind::Uniform(&uniform), src, aux, argmax, dst],
        )
    }
}
