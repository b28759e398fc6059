//! Launchers of `im2col.wgsl`: convolution as im2col + matmul, and col2im for its backward.

use super::{EpilogueAct, Kernels, Launch, View};
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
