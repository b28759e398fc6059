//! Which kernel runs each product, convolution and reduction: a policy injected into
//! [`Kernels`]. The library reads no environment variable to decide; whoever builds the
//! kernels (the CLI, a test, a benchmark) says which policy, and for the tuner which file
//! keeps its choices (the CLI resolves `$SHADERFIT_TUNING_FILE` and the cache directory):
//!
//! - [`FixedTable`]: measured rules per adapter kind, no timing (CPU adapters, where every
//!   candidate's compile costs seconds; GPUs with tuning off);
//! - [`Tuned`]: the tuner times candidates once per shape class on this device (GPUs);
//! - [`Forced`]: one choice whatever the adapter and size, so that tests run every variant on
//!   any adapter.

use std::fmt;
use std::sync::Arc;

use super::matmul::{Product, Width};
use super::tuner::{Tuner, MIN_TUNED_MACS};
use super::{Block, DenseBackwardArgs, Kernels, MatmulTile, MatmulVariant, Tiling};
use crate::floor::Geom2d;
use crate::gpu::GpuContext;

/// Most rows a serial (one loop per channel) reduction may take: its kernels make two passes,
/// well under llvmpipe's limit of 65535 loop iterations per invocation.
pub const MAX_SERIAL_ROWS: usize = 16384;

/// Workgroups a GPU launch aims for: two per multiprocessor of a 132-SM GPU (H100, H200),
/// the fill `bench --plan` counts against.
pub const GPU_WORKGROUPS: usize = 264;

/// The shortest reduction the fixed table splits into slices (split-K): shorter ones would
/// not pay for the launch that sums the slices.
pub const SPLIT_K_FROM: usize = 4096;

/// Every question has the fixed table's answer (`mod table`) by default, for the adapter kind
/// [`KernelPolicy::cpu_rules`] names; a policy overrides what it decides otherwise.
pub trait KernelPolicy: Send + Sync + fmt::Debug {
    /// Whether the fixed table answers for a CPU adapter (else for a GPU): this adapter's
    /// kind, unless the policy shows another's ([`GpuTable`]).
    fn cpu_rules(&self, kernels: &Kernels) -> bool {
        kernels.cpu_adapter()
    }
    /// The kernel that runs `p`.
    fn matmul(&self, _: &GpuContext, kernels: &Kernels, p: &Product) -> MatmulTile {
        table::matmul(self.cpu_rules(kernels), p)
    }
    /// Convolution `g` (with `filters` outputs) as an implicit GEMM with this tiling, or with
    /// explicit im2col (`None`). The same answer for its forward and its weight gradient.
    fn conv(
        &self,
        _: &GpuContext,
        kernels: &Kernels,
        g: &Geom2d,
        filters: usize,
    ) -> Option<Tiling> {
        table::conv(self.cpu_rules(kernels), g, filters)
    }
    /// Slices to split a reduction of length `k` into when a launch only `width` wide would
    /// run otherwise.
    fn splits(&self, kernels: &Kernels, width: Width, k: usize) -> usize {
        table::splits(self.cpu_rules(kernels), width, k)
    }
    /// Whether per-channel reductions over `rows` run as one loop per channel (else as
    /// workgroup trees).
    fn serial_reductions(&self, kernels: &Kernels, rows: usize) -> bool {
        table::serial_reductions(self.cpu_rules(kernels), rows)
    }
    /// Whether a dense layer's dW and dx run as one dispatch (`dense_backward.wgsl`), and
    /// with how many rows of 4 columns per invocation: where neither product would split K
    /// nor run a big kernel (tile16, blocked, or tiles of 64 and up). 4 rows on CPU adapters
    /// and where the 4-row grid fills a GPU, else 1 ([`DensePair::rows_for`]).
    fn dense_pair(
        &self,
        ctx: &GpuContext,
        kernels: &Kernels,
        a: &DenseBackwardArgs,
    ) -> Option<u32> {
        small_dense_pair(self, ctx, kernels, a, self.cpu_rules(kernels))
    }
    /// Whether poolings run one invocation per pixel and channel group (GPUs: more
    /// invocations, consecutive ones reading consecutive addresses) rather than one per pixel
    /// (CPU adapters, where index arithmetic per element is what costs).
    fn pools_per_channel(&self, kernels: &Kernels) -> bool {
        !self.cpu_rules(kernels)
    }
    /// Whether a training step's end is fused, where its output layer can be: the output
    /// layer with the loss (`dense_xent.wgsl`), the optimizer with the batch's loss sum and
    /// the next batch's gather (`step_end.wgsl`, [`STEP_END_STORAGE`] storage buffers, and the split-K sums of up to two weight gradients with it).
    ///
    /// Not on CPU adapters: lavapipe runs a module with workgroup barriers anywhere as
    /// coroutines across the workgroup, and the fused ends' one-row-per-workgroup loss and
    /// their row sum made an mlp step 2x slower there (51 ms against 26, `bench --model
    /// mlp`); on a GPU they save two launches a step.
    fn fuses_step_end(&self, kernels: &Kernels) -> bool {
        !self.cpu_rules(kernels) && fits_step_end(kernels)
    }
}

/// Whether the adapter allows `step_end.wgsl`'s storage buffers in one stage.
fn fits_step_end(kernels: &Kernels) -> bool {
    kernels.limits().max_storage_buffers_per_shader_stage >= STEP_END_STORAGE
}

/// The storage buffers `step_end.wgsl` binds: an adapter allowing fewer per stage runs the
/// step's end unfused.
pub const STEP_END_STORAGE: u32 = 14;

/// [`KernelPolicy::dense_pair`] as the fixed table answers it for a CPU adapter (`cpu`) or a
/// GPU, given the policy's products and splits.
fn small_dense_pair<P: KernelPolicy + ?Sized>(
    policy: &P,
    ctx: &GpuContext,
    kernels: &Kernels,
    a: &DenseBackwardArgs,
    cpu: bool,
) -> Option<u32> {
    let small = dense_products(a).iter().all(|p| {
        let small = match policy.matmul(ctx, kernels, p) {
            MatmulTile::Tile4 => true,
            MatmulTile::Tiled(t) => Tiling::FILL_LADDER[2..].contains(&t),
            _ => false,
        };
        let invocations = p.m.div_ceil(4) * p.n.div_ceil(4);
        let width = Width {
            invocations,
            workgroups: invocations.div_ceil(64),
        };
        small && policy.splits(kernels, width, p.k) == 1
    });
    small.then(|| DensePair::rows_for(cpu, a))
}

/// The paired dense backward's grid (`dense_backward.wgsl`).
pub struct DensePair;

impl DensePair {
    /// Rows per invocation: 4 on CPU adapters (more multiply-adds per load) and where that
    /// grid fills a GPU ([`GPU_WORKGROUPS`]), else 1, which has 4 times the workgroups.
    pub fn rows_for(cpu: bool, a: &DenseBackwardArgs) -> u32 {
        if cpu || DensePair::workgroups(a, 4) >= GPU_WORKGROUPS as u32 {
            4
        } else {
            1
        }
    }

    /// Output tiles of (8 x `rows`) x 32 along rows and columns, of dW (with db's row) and
    /// of dx.
    pub fn tiles(a: &DenseBackwardArgs, rows: u32) -> [(u32, u32); 2] {
        let tiles =
            |r: usize, c: usize| (r.div_ceil(8 * rows as usize) as u32, c.div_ceil(32) as u32);
        [tiles(a.fan_in + 1, a.units), tiles(a.batch, a.fan_in)]
    }

    /// Workgroups of both products.
    pub fn workgroups(a: &DenseBackwardArgs, rows: u32) -> u32 {
        DensePair::tiles(a, rows).iter().map(|(r, c)| r * c).sum()
    }
}

/// A dense layer's backward products as a policy sees them: dW = xᵀ·dy (with db's row of
/// ones), dx = dy·Wᵀ.
fn dense_products(a: &DenseBackwardArgs) -> [Product; 2] {
    let dw = Product {
        variant: MatmulVariant {
            trans_a: true,
            row_sums: true,
            ..Default::default()
        },
        m: a.fan_in,
        n: a.units,
        k: a.batch,
    };
    let dx = Product {
        variant: MatmulVariant {
            trans_b: true,
            ..Default::default()
        },
        m: a.batch,
        n: a.fan_in,
        k: a.units,
    };
    [dw, dx]
}

/// The measured rules: see [`MatmulTile::choose`]; implicit GEMM for big convolutions on GPUs,
/// explicit im2col elsewhere; split-K by adapter kind;
/// serial reductions on CPU adapters up to [`MAX_SERIAL_ROWS`] rows.
#[derive(Clone, Copy, Debug, Default)]
pub struct FixedTable;

impl KernelPolicy for FixedTable {}

/// The fixed table as it answers for a GPU, whatever the adapter: what `bench --plan` shows a
/// GPU would run, on any machine (lavapipe included).
#[derive(Clone, Copy, Debug, Default)]
pub struct GpuTable;

impl KernelPolicy for GpuTable {
    fn cpu_rules(&self, _: &Kernels) -> bool {
        false
    }
}

/// The fixed table's rules, for a CPU adapter (`cpu`) or a GPU.
mod table {
    use super::{
        Geom2d, MatmulTile, Product, Tiling, Width, GPU_WORKGROUPS, MAX_SERIAL_ROWS,
        MIN_TUNED_MACS, SPLIT_K_FROM,
    };

    /// [`MatmulTile::choose`]; on GPUs, where tile4's grid of 32x32 outputs per workgroup
    /// would leave the GPU under-filled and split-K will not fill it (K < [`SPLIT_K_FROM`]),
    /// the fill ladder's small tiles instead (16x16, else 16x8; the last also where none
    /// fills, as it has the most workgroups).
    pub fn matmul(cpu: bool, p: &Product) -> MatmulTile {
        let tile = MatmulTile::choose(cpu, p.m, p.n, p.k);
        let rows = p.m + usize::from(p.variant.row_sums);
        if cpu || tile != MatmulTile::Tile4 || p.k >= SPLIT_K_FROM {
            return tile;
        }
        let tile4_grid = rows.div_ceil(32) * p.n.div_ceil(32);
        if tile4_grid >= GPU_WORKGROUPS {
            return tile;
        }
        let small = &Tiling::FILL_LADDER[2..];
        MatmulTile::Tiled(Tiling::first_filling(small, |t| {
            t.grid(rows, p.n) >= GPU_WORKGROUPS
        }))
    }

    /// On GPUs, convolutions with work enough to be worth the tuner's timing
    /// ([`MIN_TUNED_MACS`]) run as implicit GEMMs: no im2col launch, and the columns (cnn's
    /// conv2d_1: 20 MB a step at batch 128) never written and read back. Their tiles are the
    /// fill ladder's first whose forward grid fills the GPU and whose weight gradient's does
    /// too, unless split-K fills that (K = rows >= [`SPLIT_K_FROM`]). CPU adapters keep
    /// explicit im2col: workgroup barriers are what llvmpipe runs slowest.
    pub fn conv(cpu: bool, g: &Geom2d, filters: usize) -> Option<Tiling> {
        let work = g.rows() * g.patch() * filters;
        if cpu || work < MIN_TUNED_MACS {
            return None;
        }
        let fills = |t: Tiling| {
            t.grid(g.rows(), filters) >= GPU_WORKGROUPS
                && (g.rows() >= SPLIT_K_FROM || t.grid(g.patch() + 1, filters) >= GPU_WORKGROUPS)
        };
        Some(Tiling::first_filling(&Tiling::FILL_LADDER, fills))
    }

    /// Enough slices to keep the adapter busy (256 lanes on a CPU adapter, at most 64
    /// slices; [`GPU_WORKGROUPS`] workgroups on a GPU, at most 512 slices), each at least 256
    /// long. Reductions shorter than [`SPLIT_K_FROM`] (every dense layer's) are never split: the extra
    /// launch that sums the slices would cost more than it saves.
    pub fn splits(cpu: bool, width: Width, k: usize) -> usize {
        if k < SPLIT_K_FROM {
            return 1;
        }
        let (wanted, most) = match cpu {
            true => (256_usize.div_ceil(width.invocations.max(1)), 64),
            false => (GPU_WORKGROUPS.div_ceil(width.workgroups.max(1)), 512),
        };
        wanted.min(k / 256).clamp(1, most)
    }

    /// Only on CPU adapters, and only up to [`MAX_SERIAL_ROWS`]: llvmpipe (lavapipe) silently
    /// stops an invocation's loops after 65535 iterations in all (its guard against endless
    /// shaders), so a serial reduction over a convolution's batch x height x width rows, two
    /// passes of 100k rows for a 28x28 batch of 128, would read only part of them. The
    /// workgroup trees loop rows / 256 times per invocation.
    pub fn serial_reductions(cpu: bool, rows: usize) -> bool {
        cpu && rows <= MAX_SERIAL_ROWS
    }
}

/// The tuner's measured choice for products and convolutions big enough to be worth timing
/// ([`MIN_TUNED_MACS`]); the fixed table for the rest.
#[derive(Clone, Debug)]
pub struct Tuned(pub Arc<Tuner>);

impl KernelPolicy for Tuned {
    fn matmul(&self, ctx: &GpuContext, kernels: &Kernels, p: &Product) -> MatmulTile {
        if p.macs() >= MIN_TUNED_MACS {
            self.0.choose(ctx, kernels, p)
        } else {
            FixedTable.matmul(ctx, kernels, p)
        }
    }

    fn conv(
        &self,
        ctx: &GpuContext,
        kernels: &Kernels,
        g: &Geom2d,
        filters: usize,
    ) -> Option<Tiling> {
        if g.rows() * g.patch() * filters >= MIN_TUNED_MACS {
            self.0.choose_conv(ctx, kernels, g, filters)
        } else {
            None
        }
    }
}

/// One choice whatever the adapter and size, for tests; what is not forced follows the fixed
/// table.
#[derive(Clone, Copy, Debug, Default)]
pub struct Forced {
    pub matmul: Option<MatmulTile>,
    /// `Some(Some(t))`: implicit GEMM with `t`; `Some(None)`: explicit im2col.
    pub conv: Option<Option<Tiling>>,
    pub splits: Option<usize>,
    pub serial_reductions: Option<bool>,
    /// Whether dense layers' dW and dx run as one dispatch.
    pub dense_pair: Option<bool>,
    /// Rows per invocation of the paired dense backward (4 or 1), where it runs.
    pub pair_rows: Option<u32>,
    /// Whether poolings run one invocation per pixel and channel group.
    pub pool_per_channel: Option<bool>,
    /// Whether training steps' ends are fused ([`KernelPolicy::fuses_step_end`]).
    pub step_end: Option<bool>,
}

impl Forced {
    /// Every product runs `tile` (a blocked tile only where its vec4 loads can: tile16
    /// elsewhere).
    pub fn matmul(tile: MatmulTile) -> Forced {
        Forced {
            matmul: Some(tile),
            ..Forced::default()
        }
    }

    /// Every convolution runs as an implicit GEMM with `tiling`, or explicitly (`None`).
    pub fn conv(tiling: Option<Tiling>) -> Forced {
        Forced {
            conv: Some(tiling),
            ..Forced::default()
        }
    }

    /// Every reduction (matmul K, bias rows) splits into `splits` slices.
    pub fn with_splits(self, splits: usize) -> Forced {
        Forced {
            splits: Some(splits),
            ..self
        }
    }

    /// Dense layers' dW and dx run as one dispatch (`true`) or two (`false`).
    pub fn dense_pair(paired: bool) -> Forced {
        Forced {
            dense_pair: Some(paired),
            ..Forced::default()
        }
    }

    /// The paired dense backward, where it runs, has `rows` rows per invocation (4 or 1).
    pub fn with_pair_rows(self, rows: u32) -> Forced {
        Forced {
            pair_rows: Some(rows),
            ..self
        }
    }

    /// Training steps' ends are fused (`true`) or run as their own launches (`false`).
    pub fn step_end(fused: bool) -> Forced {
        Forced {
            step_end: Some(fused),
            ..Forced::default()
        }
    }

    /// Poolings run one invocation per pixel and channel group (`true`) or per pixel.
    pub fn pool_per_channel(per_channel: bool) -> Forced {
        Forced {
            pool_per_channel: Some(per_channel),
            ..Forced::default()
        }
    }

    /// Per-channel reductions run serially (`true`) or as workgroup trees (`false`).
    pub fn serial_reductions(serial: bool) -> Forced {
        Forced {
            serial_reductions: Some(serial),
            ..Forced::default()
        }
    }
}

impl KernelPolicy for Forced {
    fn matmul(&self, ctx: &GpuContext, kernels: &Kernels, p: &Product) -> MatmulTile {
        match self.matmul {
            Some(MatmulTile::Blocked(_)) if !Block::fits(p.m, p.n, p.k) => MatmulTile::Tile16,
            Some(tile) => tile,
            None => FixedTable.matmul(ctx, kernels, p),
        }
    }

    fn conv(
        &self,
        ctx: &GpuContext,
        kernels: &Kernels,
        g: &Geom2d,
        filters: usize,
    ) -> Option<Tiling> {
        match self.conv {
            Some(forced) => forced,
            None => FixedTable.conv(ctx, kernels, g, filters),
        }
    }

    fn splits(&self, kernels: &Kernels, width: Width, k: usize) -> usize {
        match self.splits {
            Some(s) => s.clamp(1, k.max(1)),
            None => FixedTable.splits(kernels, width, k),
        }
    }

    fn serial_reductions(&self, kernels: &Kernels, rows: usize) -> bool {
        self.serial_reductions
            .unwrap_or_else(|| FixedTable.serial_reductions(kernels, rows))
    }

    fn dense_pair(
        &self,
        ctx: &GpuContext,
        kernels: &Kernels,
        a: &DenseBackwardArgs,
    ) -> Option<u32> {
        let rows = |table: Option<u32>| {
            let rows = table.unwrap_or_else(|| DensePair::rows_for(kernels.cpu_adapter(), a));
            self.pair_rows.unwrap_or(rows)
        };
        match self.dense_pair {
            Some(false) => None,
            Some(true) => Some(rows(None)),
            None => FixedTable
                .dense_pair(ctx, kernels, a)
                .map(|r| rows(Some(r))),
        }
    }

    fn fuses_step_end(&self, kernels: &Kernels) -> bool {
        self.step_end
            .unwrap_or_else(|| FixedTable.fuses_step_end(kernels))
    }

    fn pools_per_channel(&self, kernels: &Kernels) -> bool {
        self.pool_per_channel
            .unwrap_or_else(|| FixedTable.pools_per_channel(kernels))
    }
}
