//! Launchers of `im2col.wgsl`: convolution as im2col + matmul, and col2im for its backward.

use super::tuner::MIN_TUNED_MACS;
use super::{EpilogueAct, Kernels, Launch, MatmulTile, MatmulVariant, Tiling, View};
use crate::gpu::GpuContext;

/// Geometry of a window (convolution kernel or pooling window) over an NHWC batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geom2d {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub k_h: usize,
    pub k_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
}

impl Geom2d {
    /// Rows of the im2col matrix: one per output pixel of the batch.
    pub fn rows(&self) -> usize {
        self.batch * self.out_h * self.out_w
    }

    /// Columns of the im2col matrix: (kh, kw, c) of one patch.
    pub fn patch(&self) -> usize {
        self.k_h * self.k_w * self.in_c
    }

    pub fn input_len(&self) -> usize {
        self.batch * self.in_h * self.in_w * self.in_c
    }

    /// The uniform `Conv` of `matmul_tiled.wgsl` (16-byte multiple: 12 words).
    pub(crate) fn uniform(&self) -> [u32; 12] {
        let w = self.words(0);
        std::array::from_fn(|i| w[i])
    }

    /// The uniform `Geom` of `im2col.wgsl`.
    fn words(&self, grid_width: u32) -> Vec<u32> {
        [
            self.batch,
            self.in_h,
            self.in_w,
            self.in_c,
            self.out_h,
            self.out_w,
            self.k_h,
            self.k_w,
            self.stride_h,
            self.stride_w,
            self.pad_top,
            self.pad_left,
        ]
        .iter()
        .map(|&v| v as u32)
        .chain([grid_width])
        .collect()
    }
}

impl Kernels {
    /// Whether convolution `g` runs as an implicit GEMM (its product reads x directly, no
    /// im2col pass), and with which tiling: as tests force it; else on GPUs the tuner's
    /// measured choice; never on CPU adapters, whose blocked kernel reads im2col's columns as
    /// vec4. The same answer for a layer's forward and weight gradient.
    fn implicit_conv(&self, ctx: &GpuContext, g: &Geom2d, filters: usize) -> Option<Tiling> {
        if let Some(forced) = self.forced_implicit {
            return forced;
        }
        match &self.tuner {
            Some(tuner) if g.rows() * g.patch() * filters >= MIN_TUNED_MACS => {
                tuner.choose_conv(ctx, self, g, filters)
            }
            _ => None,
        }
    }

    /// A convolution's forward: `y = act(im2col(x) · w + b)`, `y: [rows, filters]` (NHWC),
    /// `w: [patch, filters]`. Explicit (im2col into `cols`, then the product) or implicit
    /// (one product reading x), see [`Kernels::implicit_conv`].
    #[allow(clippy::too_many_arguments)]
    pub fn conv_forward(
        &self,
        ctx: &GpuContext,
        g: Geom2d,
        (filters, act): (usize, EpilogueAct),
        x: View,
        cols: View,
        (w, b): (View, View),
        y: View,
    ) -> Vec<Launch> {
        let v = MatmulVariant {
            bias: true,
            act,
            ..Default::default()
        };
        let shape = (g.rows(), filters, g.patch());
        if let Some(t) = self.implicit_conv(ctx, &g, filters) {
            return self.matmul_with(
                ctx,
                "conv2d forward",
                MatmulVariant { im2col: true, ..v },
                shape,
                MatmulTile::Tiled(t),
                (x, w, Some(b), None),
                (y, None),
                Some(g),
            );
        }
        let mut launches = vec![self.im2col(ctx, g, x, cols)];
        launches.extend(self.matmul(ctx, "conv2d forward", v, shape, cols, w, Some(b), None, y));
        launches
    }

    /// A convolution's weight and bias gradients, `dw = im2col(x)ᵀ · dy` and `db = Σ dy`:
    /// from the columns its forward wrote, or, when the forward was implicit, from x.
    #[allow(clippy::too_many_arguments)]
    pub fn conv_weight_grads(
        &self,
        ctx: &GpuContext,
        g: Geom2d,
        filters: usize,
        (x, cols): (View, View),
        dy: View,
        dw: View,
        db: View,
    ) -> Vec<Launch> {
        let shape = (g.patch(), filters, g.rows());
        if let Some(t) = self.implicit_conv(ctx, &g, filters) {
            let v = MatmulVariant {
                trans_a: true,
                row_sums: true,
                im2col: true,
                ..Default::default()
            };
            return self.matmul_with(
                ctx,
                "conv2d dW",
                v,
                shape,
                MatmulTile::Tiled(t),
                (x, dy, None, None),
                (dw, Some(db)),
                Some(g),
            );
        }
        self.weight_grads(ctx, "conv2d dW", shape, cols, dy, dw, db)
    }

    /// The vec4 kernels (4 channels per access) where the input's channel count allows.
    fn im2col_family(&self, g: &Geom2d) -> &super::Family {
        if g.in_c.is_multiple_of(4) {
            &self.im2col_vec4
        } else {
            &self.im2col
        }
    }

    /// `cols: [rows, patch]` from `x: [batch, in_h, in_w, in_c]`.
    pub fn im2col(&self, ctx: &GpuContext, g: Geom2d, x: View, cols: View) -> Launch {
        self.launch_1d(
            ctx,
            self.im2col_family(&g),
            "im2col",
            "im2col",
            EpilogueAct::None,
            (g.rows() * g.k_h, 64),
            |w| g.words(w),
            &[x.resource(), self.unused().resource(), cols.resource()],
        )
        .with_work(0, 4 * (g.input_len() + g.rows() * g.patch()) as u64)
    }

    /// `dx: [batch, in_h, in_w, in_c]` from `dcols: [rows, patch]`, times the derivative of
    /// `dact` given its output `aux` (= x).
    pub fn col2im(
        &self,
        ctx: &GpuContext,
        g: Geom2d,
        dcols: View,
        dact: EpilogueAct,
        aux: View,
        dx: View,
    ) -> Launch {
        self.launch_1d(
            ctx,
            self.im2col_family(&g),
            "col2im",
            "col2im",
            dact,
            (g.batch * g.in_h * g.in_w, 64),
            |w| g.words(w),
            &[dcols.resource(), aux.resource(), dx.resource()],
        )
        .with_work(
            (g.rows() * g.patch()) as u64,
            4 * (g.rows() * g.patch() + 2 * g.input_len()) as u64,
        )
    }
}
