//! The WGSL kernels (one file per family under `shaders/`), their pipelines, created once and
//! cached, and launchers that turn buffers and shapes into a recorded [`Launch`].
//!
//! A [`Launch`] owns everything one dispatch needs (pipeline, bind group with its own small
//! uniform of shapes, workgroup counts), so a training plan is a list of launches that can be
//! replayed into any compute pass with no allocation and no CPU-side state change.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Mutex;

use bytemuck::{Pod, Zeroable};

use super::context::GpuContext;

pub const GATHER_WGSL: &str = include_str!("../../../shaders/gather.wgsl");
/// What `matmul.wgsl` and `matmul_tiled.wgsl` share, prepended to each.
pub const MATMUL_COMMON_WGSL: &str = include_str!("../../../shaders/matmul_common.wgsl");
pub const MATMUL_WGSL: &str = concat!(
    include_str!("../../../shaders/matmul_common.wgsl"),
    include_str!("../../../shaders/matmul.wgsl")
);
pub const MATMUL_BLOCKED_WGSL: &str = include_str!("../../../shaders/matmul_blocked.wgsl");
pub const MATMUL_TILED_WGSL: &str = include_str!("../../../shaders/matmul_tiled.wgsl");
pub const BIAS_WGSL: &str = include_str!("../../../shaders/bias.wgsl");
pub const SOFTMAX_XENT_WGSL: &str = include_str!("../../../shaders/softmax_xent.wgsl");
pub const OPTIMIZER_WGSL: &str = include_str!("../../../shaders/optimizer.wgsl");
/// `im2col.wgsl` over f32 elements (any channel count).
pub const IM2COL_WGSL: &str = concat!(
    "alias T = f32;\nconst W: u32 = 1u;\n",
    include_str!("../../../shaders/im2col.wgsl")
);
/// `im2col.wgsl` over vec4 elements: 4 channels per access (in_c divisible by 4).
pub const IM2COL_VEC4_WGSL: &str = concat!(
    "alias T = vec4<f32>;\nconst W: u32 = 4u;\n",
    include_str!("../../../shaders/im2col.wgsl")
);
/// `pool.wgsl` over f32 elements (any channel count).
pub const POOL_WGSL: &str = concat!(
    "alias T = f32;\nalias U = u32;\nconst W: u32 = 1u;\n",
    "fn lanes(i: u32) -> U { return i; }\n",
    include_str!("../../../shaders/pool.wgsl")
);
/// `pool.wgsl` over vec4 elements: 4 channels per access (channel counts divisible by 4).
pub const POOL_VEC4_WGSL: &str = concat!(
    "alias T = vec4<f32>;\nalias U = vec4<u32>;\nconst W: u32 = 4u;\n",
    "fn lanes(i: u32) -> U { return vec4<u32>(i, i + 1u, i + 2u, i + 3u); }\n",
    include_str!("../../../shaders/pool.wgsl")
);
pub const DROPOUT_WGSL: &str = include_str!("../../../shaders/dropout.wgsl");
pub const BATCHNORM_WGSL: &str = include_str!("../../../shaders/batchnorm.wgsl");

mod batchnorm;
mod blocked;
mod conv;
mod dropout;
mod gather;
mod loss;
mod matmul;
mod optimizer;
mod pool;
mod tiled;
mod tuner;

pub use batchnorm::{BnEntry, BnShape, BnViews};
pub use blocked::Block;
pub use conv::Geom2d;
pub use dropout::{dropout_threshold, DropoutMode};
pub use gather::PAD_LABEL;
pub use matmul::{EpilogueAct, MatmulTile, MatmulVariant, MIN_TILE16_COUNT};
pub use optimizer::{OptimizerHyper, OptimizerKind};
pub use pool::{pool_fuses_with_col2im, PoolKind};
pub use tiled::Tiling;
pub use tuner::Tuner;

/// Most rows a serial (one loop per channel) reduction may take: its kernels make two passes,
/// well under llvmpipe's limit of 65535 loop iterations per invocation.
pub const MAX_SERIAL_ROWS: usize = 16384;

/// Every kernel source with its file name, for validation and reports.
pub const SHADERS: [(&str, &str); 12] = [
    ("gather.wgsl", GATHER_WGSL),
    ("matmul.wgsl", MATMUL_WGSL),
    ("matmul_blocked.wgsl", MATMUL_BLOCKED_WGSL),
    ("bias.wgsl", BIAS_WGSL),
    ("softmax_xent.wgsl", SOFTMAX_XENT_WGSL),
    ("optimizer.wgsl", OPTIMIZER_WGSL),
    ("im2col.wgsl (f32)", IM2COL_WGSL),
    ("im2col.wgsl (vec4)", IM2COL_VEC4_WGSL),
    ("pool.wgsl (f32)", POOL_WGSL),
    ("pool.wgsl (vec4)", POOL_VEC4_WGSL),
    ("dropout.wgsl", DROPOUT_WGSL),
    ("batchnorm.wgsl", BATCHNORM_WGSL),
];

/// One recorded dispatch.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The kernel, e.g. `dense forward`, `im2col`.
    pub label: &'static str,
    pub pipeline: wgpu::ComputePipeline,
    pub bind_group: wgpu::BindGroup,
    pub workgroups: [u32; 3],
    /// Useful floating-point operations, for GFLOP/s in profiles.
    pub flops: u64,
    /// Bytes a perfect cache would move (each input read once, each output written once),
    /// for GB/s in profiles.
    pub bytes: u64,
    /// What the launch belongs to in a plan (`conv2d_1 backward`, `loss`, ...); empty outside.
    pub scope: String,
    /// Which of the family's kernels runs, where it has several (`blocked 32x16`, `tiled
    /// wg 16x16 thread 8x8 bk 8`, ...); empty otherwise.
    pub variant: String,
}

impl Launch {
    /// Sets the work estimates of a profile.
    pub fn with_work(mut self, flops: u64, bytes: u64) -> Launch {
        self.flops = flops;
        self.bytes = bytes;
        self
    }

    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        let [x, y, z] = self.workgroups;
        pass.dispatch_workgroups(x, y, z);
    }
}

/// A range of a buffer to bind: `offset` and `len` in 4-byte elements.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub offset: u64,
    pub len: u64,
}

impl<'a> View<'a> {
    pub fn whole(buffer: &'a wgpu::Buffer) -> View<'a> {
        View {
            buffer,
            offset: 0,
            len: buffer.size() / 4,
        }
    }

    pub fn range(buffer: &'a wgpu::Buffer, offset: usize, len: usize) -> View<'a> {
        View {
            buffer,
            offset: offset as u64,
            len: len.max(1) as u64,
        }
    }

    pub(crate) fn resource(&self) -> wgpu::BindingResource<'a> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: self.buffer,
            offset: self.offset * 4,
            size: NonZeroU64::new(self.len * 4),
        })
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct U32x4(pub(crate) [u32; 4]);

#[derive(Clone, Copy)]
enum Slot {
    Uniform,
    Read,
    ReadWrite,
}

/// A tiled matmul module: its tiling and the widths of its loads of A and B.
type TiledKey = (Tiling, (u32, u32));

/// The pipelines of every kernel family, created once per device.
pub struct Kernels {
    device: wgpu::Device,
    gather: Family,
    matmul: Family,
    bias: Family,
    softmax_xent: Family,
    optimizer: Family,
    im2col: Family,
    im2col_vec4: Family,
    pool: Family,
    pool_vec4: Family,
    dropout: Family,
    batchnorm: Family,
    pipelines: Mutex<HashMap<String, wgpu::ComputePipeline>>,
    /// Generated blocked-matmul modules by (block, TRANS_A, TRANS_B).
    blocked: Mutex<HashMap<(Block, bool, bool), wgpu::ShaderModule>>,
    /// Workgroup-memory matmul modules by tiling.
    /// Keyed by tiling and load widths (see [`Tiling::load_widths`]).
    tiled: Mutex<HashMap<TiledKey, wgpu::ShaderModule>>,
    /// Picks GPU matmul kernels by timing them; `None` uses the fixed table.
    tuner: Option<Tuner>,
    limits: wgpu::Limits,
    /// Bound where a variant ignores a binding (the bind group layout still needs one).
    dummy: wgpu::Buffer,
    /// A second one: two read-write bindings of one buffer in one dispatch would alias.
    dummy2: wgpu::Buffer,
    /// A third, for matmul's `sums` when unused (its `c` may be `dummy2`).
    dummy3: wgpu::Buffer,
    /// For matmul's convolution uniform when unused.
    dummy_uniform: wgpu::Buffer,
    max_workgroups: u32,
    cpu_adapter: bool,
    /// Set by tests to run one tile shape whatever the adapter and size.
    forced_tile: Option<MatmulTile>,
    /// Set by tests to run convolutions as implicit GEMMs with this tiling (`Some(Some)`) or
    /// with explicit im2col (`Some(None)`) whatever the adapter.
    forced_implicit: Option<Option<Tiling>>,
    /// Set by tests to split every reduction into this many slices.
    forced_splits: Option<usize>,
    /// Set by tests to pick batch norm's reduction variant whatever the adapter.
    forced_serial: Option<bool>,
}

pub(crate) struct Family {
    /// Keys the family's pipelines apart from other families' with the same entry points.
    name: &'static str,
    module: wgpu::ShaderModule,
    bind_layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
}

impl Family {
    fn new(device: &wgpu::Device, name: &'static str, source: &str, slots: &[Slot]) -> Family {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let entries: Vec<wgpu::BindGroupLayoutEntry> = slots
            .iter()
            .enumerate()
            .map(|(i, slot)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: match slot {
                    Slot::Uniform => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    Slot::Read | Slot::ReadWrite => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage {
                            read_only: matches!(slot, Slot::Read),
                        },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                },
                count: None,
            })
            .collect();
        let bind_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(name),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(name),
            bind_group_layouts: &[Some(&bind_layout)],
            immediate_size: 0,
        });
        Family {
            name,
            module,
            bind_layout,
            pipeline_layout,
        }
    }
}

/// Bytes of a uniform made of u32 and f32 fields, padded to 16-byte multiples.
pub(crate) fn uniform_words(words: &[u32]) -> Vec<u32> {
    let mut w = words.to_vec();
    w.resize(words.len().next_multiple_of(4), 0);
    w
}

/// Splits `invocations` over a grid of 1-D workgroups of `wg` invocations whose x dimension
/// stays within `max` workgroups; returns the grid and the invocations per grid row.
pub(crate) fn grid(invocations: u64, wg: u32, max: u32) -> ([u32; 3], u32) {
    let groups = invocations.div_ceil(wg as u64).max(1);
    let x = groups.min(max as u64) as u32;
    let y = groups.div_ceil(x as u64) as u32;
    ([x, y, 1], x * wg)
}

impl Kernels {
    pub fn new(ctx: &GpuContext) -> Kernels {
        use Slot::*;
        let device = &ctx.device;
        Kernels {
            device: device.clone(),
            gather: Family::new(
                device,
                "gather",
                GATHER_WGSL,
                &[Uniform, Read, Read, Read, Read, ReadWrite, ReadWrite],
            ),
            matmul: Family::new(
                device,
                "matmul",
                MATMUL_WGSL,
                &[
                    Uniform, Read, Read, Read, Read, ReadWrite, ReadWrite, Uniform,
                ],
            ),
            bias: Family::new(device, "bias", BIAS_WGSL, &[Uniform, Read, ReadWrite]),
            softmax_xent: Family::new(
                device,
                "softmax_xent",
                SOFTMAX_XENT_WGSL,
                &[Uniform, Read, Read, ReadWrite, ReadWrite, ReadWrite],
            ),
            optimizer: Family::new(
                device,
                "optimizer",
                OPTIMIZER_WGSL,
                &[Uniform, ReadWrite, Read, ReadWrite, ReadWrite, Read],
            ),
            im2col: Family::new(
                device,
                "im2col",
                IM2COL_WGSL,
                &[Uniform, Read, Read, ReadWrite],
            ),
            im2col_vec4: Family::new(
                device,
                "im2col_vec4",
                IM2COL_VEC4_WGSL,
                &[Uniform, Read, Read, ReadWrite],
            ),
            pool: Family::new(
                device,
                "pool",
                POOL_WGSL,
                &[Uniform, Read, Read, ReadWrite, ReadWrite],
            ),
            pool_vec4: Family::new(
                device,
                "pool_vec4",
                POOL_VEC4_WGSL,
                &[Uniform, Read, Read, ReadWrite, ReadWrite],
            ),
            dropout: Family::new(
                device,
                "dropout",
                DROPOUT_WGSL,
                &[Uniform, Read, Read, Read, ReadWrite],
            ),
            batchnorm: Family::new(
                device,
                "batchnorm",
                BATCHNORM_WGSL,
                &[
                    Uniform, Read, Read, ReadWrite, ReadWrite, ReadWrite, Read, Read, Read,
                    ReadWrite, ReadWrite, ReadWrite,
                ],
            ),
            pipelines: Mutex::new(HashMap::new()),
            blocked: Mutex::new(HashMap::new()),
            tiled: Mutex::new(HashMap::new()),
            tuner: (ctx.info.device_type != wgpu::DeviceType::Cpu)
                .then(|| Tuner::for_adapter(&ctx.info))
                .flatten(),
            limits: ctx.limits.clone(),
            dummy: ctx.storage("unused binding", 16),
            dummy2: ctx.storage("unused binding 2", 16),
            dummy3: ctx.storage("unused binding 3", 16),
            dummy_uniform: ctx.uniform_bytes("unused conv uniform", &[0; 48]),
            max_workgroups: ctx.limits.max_compute_workgroups_per_dimension,
            cpu_adapter: ctx.info.device_type == wgpu::DeviceType::Cpu,
            forced_tile: None,
            forced_implicit: None,
            forced_splits: None,
            forced_serial: None,
        }
    }

    /// Splits every matmul's K and every bias gradient's rows into `splits` slices from now on
    /// (tests check split-K at small shapes).
    pub fn with_splits(mut self, splits: usize) -> Kernels {
        self.forced_splits = Some(splits);
        self
    }

    /// Runs per-channel reductions as one loop per channel (`true`, CPU adapters' default) or
    /// as workgroup trees (`false`, GPUs' default) from now on (tests run both anywhere).
    pub fn with_serial_reductions(mut self, serial: bool) -> Kernels {
        self.forced_serial = Some(serial);
        self
    }

    /// Whether per-channel reductions over `rows` run as one loop per channel. Only on CPU
    /// adapters, and only up to [`MAX_SERIAL_ROWS`]: llvmpipe (lavapipe) silently stops an
    /// invocation's loops after 65535 iterations in all (its guard against endless shaders),
    /// so a serial reduction over a convolution's batch x height x width rows, two passes of
    /// 100k rows for a 28x28 batch of 128, would read only part of them. The workgroup
    /// trees loop rows / 256 times per invocation.
    pub(crate) fn serial_reductions(&self, rows: usize) -> bool {
        self.forced_serial
            .unwrap_or(self.cpu_adapter && rows <= MAX_SERIAL_ROWS)
    }

    /// Tunes matmul kernels with `tuner` whatever the adapter (tests), or never (`None`).
    pub fn with_tuner(mut self, tuner: Option<Tuner>) -> Kernels {
        self.tuner = tuner;
        self
    }

    pub fn tuner(&self) -> Option<&Tuner> {
        self.tuner.as_ref()
    }

    /// Runs every convolution recorded from now on as an implicit GEMM with `tiling`, or with
    /// explicit im2col (`None`), whatever the adapter and the tuner (tests).
    pub fn with_implicit_conv(mut self, tiling: Option<Tiling>) -> Kernels {
        self.forced_implicit = Some(tiling);
        self
    }

    /// Uses `tile` for every matmul recorded from now on (tests run both on any adapter).
    pub fn with_matmul_tile(mut self, tile: MatmulTile) -> Kernels {
        self.forced_tile = Some(tile);
        self
    }

    fn pipeline(
        &self,
        family: &Family,
        key: String,
        entry: &str,
        constants: &[(&str, f64)],
    ) -> wgpu::ComputePipeline {
        self.pipeline_of(&family.module, family, key, entry, constants)
    }

    /// A pipeline of `module`, which binds like `family`.
    fn pipeline_of(
        &self,
        module: &wgpu::ShaderModule,
        family: &Family,
        key: String,
        entry: &str,
        constants: &[(&str, f64)],
    ) -> wgpu::ComputePipeline {
        let mut cache = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(key)
            .or_insert_with(|| {
                self.device
                    .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                        label: Some(entry),
                        layout: Some(&family.pipeline_layout),
                        module,
                        entry_point: Some(entry),
                        compilation_options: wgpu::PipelineCompilationOptions {
                            constants,
                            ..Default::default()
                        },
                        cache: None,
                    })
            })
            .clone()
    }

    fn bind(
        &self,
        family: &Family,
        label: &str,
        resources: &[wgpu::BindingResource<'_>],
    ) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = resources
            .iter()
            .enumerate()
            .map(|(i, r)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: r.clone(),
            })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &family.bind_layout,
            entries: &entries,
        })
    }

    /// A launch of `entry` of `family` over `invocations` threads in `wg`-wide workgroups
    /// (the entry point's `@workgroup_size`).
    /// `params(grid_width)` returns the uniform's words (u32, or f32 bits) given the
    /// invocations per grid row.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn launch_1d(
        &self,
        ctx: &GpuContext,
        family: &Family,
        label: &'static str,
        entry: &str,
        dact: EpilogueAct,
        (invocations, wg): (usize, u32),
        params: impl FnOnce(u32) -> Vec<u32>,
        resources: &[wgpu::BindingResource<'_>],
    ) -> Launch {
        let (workgroups, width) = grid(invocations as u64, wg, self.max_workgroups);
        let words = uniform_words(&params(width));
        let uniform = ctx.uniform_bytes(label, bytemuck::cast_slice(&words));
        let mut all = vec![uniform.as_entire_binding()];
        all.extend_from_slice(resources);
        Launch {
            label,
            pipeline: self.pipeline(
                family,
                format!("{} {label} {entry} {dact:?}", family.name),
                entry,
                &[("DACT", dact.code())],
            ),
            bind_group: self.bind(family, label, &all),
            flops: 0,
            bytes: 0,
            scope: String::new(),
            variant: String::new(),
            workgroups,
        }
    }

    /// A placeholder for read-only bindings a variant does not use.
    pub fn unused(&self) -> View<'_> {
        View::whole(&self.dummy)
    }

    /// A placeholder for read-write bindings a variant does not use: never the read-only
    /// one, since one buffer bound both ways in a dispatch is a usage conflict.
    pub fn unused_rw(&self) -> View<'_> {
        View::whole(&self.dummy2)
    }
}
