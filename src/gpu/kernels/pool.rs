//! Launchers of `pool.wgsl`: max and average pooling, forward and backward.

use super::{EpilogueAct, Geom2d, Kernels, Launch, View};
use crate::gpu::GpuContext;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Avg,
}

/// The uniform `Geom` of `pool.wgsl` (pooling keeps channels: `in_c` is `c`), with the
/// convolution `conv` that reads the pooled output for the kernels fused with its col2im.
fn words(g: &Geom2d, conv: Option<&Geom2d>, grid_width: u32) -> Vec<u32> {
    let pool = [
        g.batch, g.in_h, g.in_w, g.in_c, g.out_h, g.out_w, g.k_h, g.k_w, g.stride_h, g.stride_w,
    ];
    let conv = conv.map_or([0; 8], |c| {
        [
            c.out_h, c.out_w, c.k_h, c.k_w, c.stride_h, c.stride_w, c.pad_top, c.pad_left,
        ]
    });
    let word = |v: usize| v as u32;
    pool.into_iter()
        .map(word)
        .chain([grid_width])
        .chain(conv.into_iter().map(word))
        .collect()
}

/// Floats of the pooled output `[batch, out_h, out_w, c]` (and of max pooling's argmax).
fn pooled_len(g: &Geom2d) -> usize {
    g.batch * g.out_h * g.out_w * g.in_c
}

impl PoolKind {
    /// Words of argmax the kernels move: max pooling's, none for average pooling.
    fn argmax_len(self, g: &Geom2d) -> usize {
        match self {
            PoolKind::Max => pooled_len(g),
            PoolKind::Avg => 0,
        }
    }

    fn entry(self, suffix: &str) -> String {
        match self {
            PoolKind::Max => format!("max_{suffix}"),
            PoolKind::Avg => format!("avg_{suffix}"),
        }
    }
}

/// Whether [`Kernels::pool_backward_from_cols`] can run pooling `g`: windows that tile the
/// input (stride equal to the window, Keras's default), so that each input pixel has at most
/// one window.
pub fn pool_fuses_with_col2im(g: &Geom2d) -> bool {
    g.stride_h == g.k_h && g.stride_w == g.k_w && g.pad_top == 0 && g.pad_left == 0
}

impl Kernels {
    /// The vec4 kernels (4 channels per access) where the channel count allows.
    fn pool_family(&self, g: &Geom2d) -> &super::Family {
        if g.in_c.is_multiple_of(4) {
            &self.pool_vec4
        } else {
            &self.pool
        }
    }

    /// `y: [batch, out_h, out_w, c]` from `x`; max pooling also writes `argmax` (same shape,
    /// u32 indices into x), which its backward reads.
    pub fn pool_forward(
        &self,
        ctx: &GpuContext,
        kind: PoolKind,
        g: Geom2d,
        x: View,
        argmax: View,
        y: View,
    ) -> Launch {
        self.launch_1d(
            ctx,
            self.pool_family(&g),
            "pool_forward",
            &kind.entry("forward"),
            EpilogueAct::None,
            (g.batch * g.out_h * g.out_w, 64),
            |w| words(&g, None, w),
            &[
                x.resource(),
                self.unused().resource(),
                argmax.resource(),
                y.resource(),
            ],
        )
        .with_work(
            0,
            4 * (g.input_len() + pooled_len(&g) + kind.argmax_len(&g)) as u64,
        )
    }

    /// `dx` from `dy`, times the derivative of `dact` given its output `aux` (= x).
    #[allow(clippy::too_many_arguments)]
    pub fn pool_backward(
        &self,
        ctx: &GpuContext,
        kind: PoolKind,
        g: Geom2d,
        dy: View,
        argmax: View,
        dact: EpilogueAct,
        aux: View,
        dx: View,
    ) -> Launch {
        self.backward(ctx, kind, g, None, dy, argmax, dact, aux, dx)
    }

    /// [`Kernels::pool_backward`] fused with the col2im of `conv`, the convolution that reads
    /// the pooled output: its `dcols: [conv.rows(), conv.patch()]` in place of `dy`, which is
    /// never stored. One launch instead of two; only where [`pool_fuses_with_col2im`].
    #[allow(clippy::too_many_arguments)]
    pub fn pool_backward_from_cols(
        &self,
        ctx: &GpuContext,
        kind: PoolKind,
        g: Geom2d,
        conv: Geom2d,
        dcols: View,
        argmax: View,
        dact: EpilogueAct,
        aux: View,
        dx: View,
    ) -> Launch {
        assert!(
            pool_fuses_with_col2im(&g),
            "fused pooling needs windows that tile the input: {g:?}"
        );
        assert_eq!(
            (conv.batch, conv.in_h, conv.in_w, conv.in_c),
            (g.batch, g.out_h, g.out_w, g.in_c),
            "the convolution reads the pooled output"
        );
        self.backward(ctx, kind, g, Some(conv), dcols, argmax, dact, aux, dx)
    }

    /// The backward launch: from `dy` (one invocation per input pixel), or from the dcols of
    /// `conv` (one per pooled pixel).
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        ctx: &GpuContext,
        kind: PoolKind,
        g: Geom2d,
        conv: Option<Geom2d>,
        src: View,
        argmax: View,
        dact: EpilogueAct,
        aux: View,
        dx: View,
    ) -> Launch {
        let aux_len = if dact == EpilogueAct::None {
            0
        } else {
            g.input_len()
        };
        let (label, entry, invocations, src_len) = match &conv {
            None => (
                "pool_backward",
                "backward",
                g.batch * g.in_h * g.in_w,
                pooled_len(&g),
            ),
            Some(c) => (
                "pool_backward_cols",
                "backward_cols",
                g.batch * g.out_h * g.out_w,
                c.rows() * c.patch(),
            ),
        };
        let flops = if conv.is_some() { src_len } else { 0 };
        self.launch_1d(
            ctx,
            self.pool_family(&g),
            label,
            &kind.entry(entry),
            dact,
            (invocations, 64),
            |w| words(&g, conv.as_ref(), w),
            &[
                src.resource(),
                aux.resource(),
                argmax.resource(),
                dx.resource(),
            ],
        )
        .with_work(
            flops as u64,
            4 * (src_len + kind.argmax_len(&g) + aux_len + g.input_len()) as u64,
        )
    }
}
