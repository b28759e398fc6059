//! Launchers of `im2col.wgsl` (im2col, and col2im for the backward) and of a convolution's
//! forward and weight gradients, explicit (im2col, then a product) or implicit (a tiled
//! product reading the image directly), as the policy decides.

use super::family::{assemble, read, read_write, uniform, uniform_struct, FamilyDecl, SourceParts};
use super::matmul::{DeferredSums, Gemm};
use super::{
    act_grad_parts, ActCode, ActGrad, Bind, ConvGeom, Kernel, Kernels, Launch, MatmulArgs,
    MatmulTile, MatmulVariant, ModuleKey, View, WeightGradArgs,
};
use crate::floor::{Activation, Geom2d};
use crate::gpu::GpuContext;

const IM2COL_WGSL: &str = include_str!("../../../shaders/im2col.wgsl");

uniform_struct! {
    /// `Geom` of `im2col.wgsl`.
    pub struct Im2colGeom {
        pub batch: u32,
        pub in_h: u32,
        pub in_w: u32,
        pub in_c: u32,
        pub out_h: u32,
        pub out_w: u32,
        pub k_h: u32,
        pub k_w: u32,
        pub stride_h: u32,
        pub stride_w: u32,
        pub pad_top: u32,
        pub pad_left: u32,
        /// Invocations per grid row.
        pub grid_width: u32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

pub static IM2COL: FamilyDecl = FamilyDecl {
    name: "im2col",
    bindings: &[
        uniform("g", &Im2colGeom::LAYOUT),
        read("src"),
        read("aux"),
        read_write("dst"),
    ],
};

/// `im2col.wgsl` over vec4 elements (4 channels per access, for channel counts divisible by
/// 4) or f32 ones.
pub(crate) fn module(vec4: bool) -> SourceParts {
    let (name, header) = if vec4 {
        (
            "im2col (vec4)",
            "alias T = vec4<f32>;\nconst W: u32 = 4u;\nfn dact_t(g: T, h: T) -> T { return dact4(g, h); }\n",
        )
    } else {
        (
            "im2col (f32)",
            "alias T = f32;\nconst W: u32 = 1u;\nfn dact_t(g: T, h: T) -> T { return dact(g, h); }\n",
        )
    };
    (
        name.into(),
        vec!["im2col.wgsl"],
        assemble(header, &[IM2COL_WGSL]),
    )
}

impl ConvGeom {
    /// The uniform `Conv` of `matmul_common.wgsl` for `g`.
    pub(crate) fn of(g: &Geom2d) -> ConvGeom {
        let u = |v: usize| v as u32;
        ConvGeom {
            batch: u(g.batch),
            in_h: u(g.in_h),
            in_w: u(g.in_w),
            in_c: u(g.in_c),
            out_h: u(g.out_h),
            out_w: u(g.out_w),
            k_h: u(g.k_h),
            k_w: u(g.k_w),
            stride_h: u(g.stride_h),
            stride_w: u(g.stride_w),
            pad_top: u(g.pad_top),
            pad_left: u(g.pad_left),
        }
    }
}

impl Im2colGeom {
    /// The uniform `Geom` of `im2col.wgsl` for `g`: `Conv`'s fields and the grid's width.
    fn of(g: &Geom2d, grid_width: u32) -> Im2colGeom {
        let c = ConvGeom::of(g);
        Im2colGeom {
            batch: c.batch,
            in_h: c.in_h,
            in_w: c.in_w,
            in_c: c.in_c,
            out_h: c.out_h,
            out_w: c.out_w,
            k_h: c.k_h,
            k_w: c.k_w,
            stride_h: c.stride_h,
            stride_w: c.stride_w,
            pad_top: c.pad_top,
            pad_left: c.pad_left,
            grid_width,
            ..Default::default()
        }
    }
}

/// `cols: [rows, patch]` from `x: [batch, in_h, in_w, in_c]`.
#[derive(Clone, Copy, Debug)]
pub struct Im2colArgs<'a> {
    pub geom: Geom2d,
    pub x: View<'a>,
    pub cols: View<'a>,
}

/// `dx: [batch, in_h, in_w, in_c]` from `dcols: [rows, patch]` (the adjoint of im2col), times
/// an activation's derivative.
#[derive(Clone, Copy, Debug)]
pub struct Col2imArgs<'a> {
    pub geom: Geom2d,
    pub dcols: View<'a>,
    pub act_grad: Option<ActGrad<'a>>,
    pub dx: View<'a>,
}

/// A convolution's forward: `y = act(im2col(x) · w + b)`, `y: [rows, filters]` (NHWC),
/// `w: [patch, filters]`.
#[derive(Clone, Copy, Debug)]
pub struct ConvForwardArgs<'a> {
    pub geom: Geom2d,
    pub filters: usize,
    pub act: Activation,
    pub x: View<'a>,
    /// Where an explicit im2col writes its columns (`[rows, patch]`), kept for dW.
    pub cols: View<'a>,
    pub w: View<'a>,
    pub b: View<'a>,
    pub y: View<'a>,
}

/// A convolution's weight and bias gradients, `dw = im2col(x)ᵀ · dy` and `db = Σ dy`.
#[derive(Clone, Copy, Debug)]
pub struct ConvWeightGradArgs<'a> {
    pub geom: Geom2d,
    pub filters: usize,
    pub x: View<'a>,
    /// The columns the forward wrote (when it ran explicitly).
    pub cols: View<'a>,
    pub dy: View<'a>,
    pub dw: View<'a>,
    pub db: View<'a>,
    /// Where the split-K sum may be left to the optimizer ([`DeferredSums`]).
    pub defer: Option<&'a DeferredSums>,
}

impl Kernels {
    /// Explicit (im2col into `cols`, then the product) or implicit (one product reading x).
    pub fn conv_forward(&self, ctx: &GpuContext, a: &ConvForwardArgs) -> Vec<Launch> {
        let g = a.geom;
        let shape = (g.rows(), a.filters, g.patch());
        if let Some(t) = self.policy.conv(ctx, self, &g, a.filters) {
            let variant = MatmulVariant {
                bias: true,
                act: a.act,
                im2col: true,
                ..Default::default()
            };
            let gemm = Gemm {
                bias: Some(a.b),
                conv: Some(g),
                ..Gemm::new("conv2d forward", variant, shape, (a.x, a.w, a.y))
            };
            return self.gemm(ctx, &gemm, MatmulTile::Tiled(t));
        }
        let mut launches = vec![self.im2col(
            ctx,
            &Im2colArgs {
                geom: g,
                x: a.x,
                cols: a.cols,
            },
        )];
        launches.extend(self.matmul(
            ctx,
            &MatmulArgs {
                bias: Some(a.b),
                act: a.act,
                ..MatmulArgs::new("conv2d forward", shape, a.cols, a.w, a.y)
            },
        ));
        launches
    }

    /// From the columns the forward wrote, or, when the forward was implicit, from x.
    pub fn conv_weight_grads(&self, ctx: &GpuContext, a: &ConvWeightGradArgs) -> Vec<Launch> {
        let g = a.geom;
        let (m, n, k) = (g.patch(), a.filters, g.rows());
        if let Some(t) = self.policy.conv(ctx, self, &g, a.filters) {
            let variant = MatmulVariant {
                trans_a: true,
                row_sums: true,
                im2col: true,
                ..Default::default()
            };
            let gemm = Gemm {
                sums: Some(a.db),
                conv: Some(g),
                defer: a.defer,
                ..Gemm::new("conv2d dW", variant, (m, n, k), (a.x, a.dy, a.dw))
            };
            return self.gemm(ctx, &gemm, MatmulTile::Tiled(t));
        }
        self.weight_grads(
            ctx,
            &WeightGradArgs {
                label: "conv2d dW",
                m,
                n,
                k,
                x: a.cols,
                dy: a.dy,
                dw: a.dw,
                db: a.db,
                defer: a.defer,
            },
        )
    }

    pub fn im2col(&self, ctx: &GpuContext, a: &Im2colArgs) -> Launch {
        let g = a.geom;
        self.im2col_launch(
            ctx,
            "im2col",
            &g,
            (g.rows() * g.k_h, Activation::Linear),
            [a.x.into(), Bind::Unused, a.cols.into()],
        )
        .with_work(0, 4 * (g.input_len() + g.rows() * g.patch()) as u64)
    }

    pub fn col2im(&self, ctx: &GpuContext, a: &Col2imArgs) -> Launch {
        let g = a.geom;
        let (dact, aux) = act_grad_parts(a.act_grad);
        self.im2col_launch(
            ctx,
            "col2im",
            &g,
            (g.batch * g.in_h * g.in_w, dact),
            [a.dcols.into(), aux.into(), a.dx.into()],
        )
        .with_work(
            (g.rows() * g.patch()) as u64,
            4 * (g.rows() * g.patch() + 2 * g.input_len()) as u64,
        )
    }

    /// Entry `entry` over `invocations` in workgroups of 64; the vec4 module (4 channels per
    /// access) where the input's channel count allows.
    fn im2col_launch(
        &self,
        ctx: &GpuContext,
        entry: &'static str,
        g: &Geom2d,
        (invocations, dact): (usize, Activation),
        storage: [Bind; 3],
    ) -> Launch {
        let (workgroups, width) = self.grid_1d(invocations, 64);
        let uniform = ctx.uniform("im2col geometry", &Im2colGeom::of(g, width));
        let constants = [("DACT", dact.code())];
        let kernel = Kernel {
            module: ModuleKey::Im2col {
                vec4: g.in_c.is_multiple_of(4),
            },
            entry,
            constants: if dact == Activation::Linear {
                &[]
            } else {
                &constants
            },
        };
        let [src, aux, dst] = storage;
        self.launch(
            kernel,
            entry,
            workgroups,
            &[Bind::Uniform(&uniform), src, aux, dst],
        )
    }
}
