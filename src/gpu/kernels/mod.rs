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
pub const MATMUL_WGSL: &str = include_str!("../../../shaders/matmul.wgsl");
pub const BIAS_WGSL: &str = include_str!("../../../shaders/bias.wgsl");
pub const SOFTMAX_XENT_WGSL: &str = include_str!("../../../shaders/softmax_xent.wgsl");
pub const OPTIMIZER_WGSL: &str = include_str!("../../../shaders/optimizer.wgsl");
pub const IM2COL_WGSL: &str = include_str!("../../../shaders/im2col.wgsl");
pub const POOL_WGSL: &str = include_str!("../../../shaders/pool.wgsl");
pub const DROPOUT_WGSL: &str = include_str!("../../../shaders/dropout.wgsl");
pub const BATCHNORM_WGSL: &str = include_str!("../../../shaders/batchnorm.wgsl");

mod batchnorm;
mod conv;
mod dropout;
mod pool;

pub use batchnorm::{BnEntry, BnShape, BnViews};
pub use conv::Geom2d;
pub use dropout::{dropout_threshold, DropoutMode};
pub use pool::PoolKind;

/// Every kernel source with its file name, for validation and reports.
pub const SHADERS: [(&str, &str); 9] = [
    ("gather.wgsl", GATHER_WGSL),
    ("matmul.wgsl", MATMUL_WGSL),
    ("bias.wgsl", BIAS_WGSL),
    ("softmax_xent.wgsl", SOFTMAX_XENT_WGSL),
    ("optimizer.wgsl", OPTIMIZER_WGSL),
    ("im2col.wgsl", IM2COL_WGSL),
    ("pool.wgsl", POOL_WGSL),
    ("dropout.wgsl", DROPOUT_WGSL),
    ("batchnorm.wgsl", BATCHNORM_WGSL),
];

/// Label value the gather kernel writes for padding rows of a short last batch.
pub const PAD_LABEL: u32 = u32::MAX;

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

/// Kernel variant of the matmul family, selected with override constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct MatmulVariant {
    /// A is stored transposed, `[K, M]`.
    pub trans_a: bool,
    /// B is stored transposed, `[N, K]`.
    pub trans_b: bool,
    pub bias: bool,
    /// Activation applied in the epilogue.
    pub act: EpilogueAct,
    /// Multiply by the derivative of this activation, given its output in `aux`.
    pub dact: EpilogueAct,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum EpilogueAct {
    #[default]
    None,
    Relu,
    Sigmoid,
}

impl EpilogueAct {
    pub(crate) fn code(self) -> f64 {
        match self {
            EpilogueAct::None => 0.0,
            EpilogueAct::Relu => 1.0,
            EpilogueAct::Sigmoid => 2.0,
        }
    }
}

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

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct U32x4([u32; 4]);

#[derive(Clone, Copy)]
enum Slot {
    Uniform,
    Read,
    ReadWrite,
}

/// The pipelines of every kernel family, created once per device.
pub struct Kernels {
    device: wgpu::Device,
    gather: Family,
    matmul: Family,
    bias: Family,
    softmax_xent: Family,
    optimizer: Family,
    im2col: Family,
    pool: Family,
    dropout: Family,
    batchnorm: Family,
    pipelines: Mutex<HashMap<String, wgpu::ComputePipeline>>,
    /// Bound where a variant ignores a binding (the bind group layout still needs one).
    dummy: wgpu::Buffer,
    /// A second one: two read-write bindings of one buffer in one dispatch would alias.
    dummy2: wgpu::Buffer,
    max_workgroups: u32,
    cpu_adapter: bool,
    /// Set by tests to run one tile shape whatever the adapter and size.
    forced_tile: Option<MatmulTile>,
    /// Set by tests to split every reduction into this many slices.
    forced_splits: Option<usize>,
}

/// Fewest 16x16 output tiles for which the big tile pays on a CPU adapter.
pub const MIN_TILE16_COUNT: usize = 32;

/// Which matmul entry point this adapter runs (see `matmul.wgsl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulTile {
    /// 4x4 outputs per invocation: GPUs.
    Tile4,
    /// 16x16 outputs per invocation: CPU adapters (lavapipe, WARP, SwiftShader).
    Tile16,
}

impl MatmulTile {
    /// 16x16 tiles on CPU adapters when the output has enough of them to keep every lane of
    /// every thread busy and the product is big enough (2^18 multiply-adds) to pay for the
    /// long shader's compile (~0.1 s per variant); 4x4 tiles otherwise.
    pub fn choose(cpu_adapter: bool, m: usize, n: usize, k: usize) -> MatmulTile {
        let tiles16 = m.div_ceil(16) * n.div_ceil(16);
        if cpu_adapter && n >= 16 && k >= 16 && tiles16 >= MIN_TILE16_COUNT && m * n * k >= 1 << 18
        {
            MatmulTile::Tile16
        } else {
            MatmulTile::Tile4
        }
    }

    fn entry_point(self) -> &'static str {
        match self {
            MatmulTile::Tile4 => "tile4",
            MatmulTile::Tile16 => "tile16",
        }
    }

    /// Output rows (and columns) covered by one 8x8 workgroup.
    fn span(self) -> u32 {
        match self {
            MatmulTile::Tile4 => 32,
            MatmulTile::Tile16 => 128,
        }
    }
}

pub(crate) struct Family {
    module: wgpu::ShaderModule,
    bind_layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
}

impl Family {
    fn new(device: &wgpu::Device, name: &str, source: &str, slots: &[Slot]) -> Family {
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
                &[Uniform, Read, Read, Read, Read, ReadWrite],
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
            pool: Family::new(
                device,
                "pool",
                POOL_WGSL,
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
            dummy: ctx.storage("unused binding", 16),
            dummy2: ctx.storage("unused binding 2", 16),
            max_workgroups: ctx.limits.max_compute_workgroups_per_dimension,
            cpu_adapter: ctx.info.device_type == wgpu::DeviceType::Cpu,
            forced_tile: None,
            forced_splits: None,
        }
    }

    /// Splits every matmul's K and every bias gradient's rows into `splits` slices from now on
    /// (tests check split-K at small shapes).
    pub fn with_splits(mut self, splits: usize) -> Kernels {
        self.forced_splits = Some(splits);
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
        let mut cache = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(key)
            .or_insert_with(|| {
                self.device
                    .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                        label: Some(entry),
                        layout: Some(&family.pipeline_layout),
                        module: &family.module,
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
                format!("{label} {entry} {dact:?}"),
                entry,
                &[("DACT", dact.code())],
            ),
            bind_group: self.bind(family, label, &all),
            flops: 0,
            bytes: 0,
            scope: String::new(),
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

    /// gather: `x: [batch, sample_bytes]` f32 and `y: [batch]` u32 from batch `cursor.step`
    /// of `order` over the packed u8 `images` and `labels`.
    #[allow(clippy::too_many_arguments)]
    pub fn gather(
        &self,
        ctx: &GpuContext,
        batch: usize,
        sample_bytes: usize,
        images: View,
        labels: View,
        order: View,
        n_order: usize,
        cursor: View,
        x: View,
        y: View,
    ) -> Launch {
        let (workgroups, width) = grid((batch * sample_bytes) as u64, 256, self.max_workgroups);
        let params = ctx.uniform(
            "gather params",
            &U32x4([batch as u32, sample_bytes as u32, n_order as u32, width]),
        );
        let bind_group = self.bind(
            &self.gather,
            "gather",
            &[
                params.as_entire_binding(),
                images.resource(),
                labels.resource(),
                order.resource(),
                cursor.resource(),
                x.resource(),
                y.resource(),
            ],
        );
        Launch {
            label: "gather",
            pipeline: self.pipeline(&self.gather, "gather".into(), "main", &[]),
            bind_group,
            flops: 0,
            bytes: 0,
            scope: String::new(),
            workgroups,
        }
        .with_work(0, (batch * sample_bytes * 5 + batch * 8) as u64)
    }

    /// How many slices to split a reduction of length `k` into when only `parallel`
    /// invocations would run otherwise: enough slices to keep the adapter busy (~256 lanes on
    /// a CPU adapter, ~16k threads on a GPU), each at least 256 long, at most 64. Reductions
    /// shorter than 4096 (every dense layer's) are never split: the extra launch that sums the
    /// slices would cost more than it saves.
    fn splits(&self, parallel: usize, k: usize) -> usize {
        if let Some(s) = self.forced_splits {
            return s.clamp(1, k.max(1));
        }
        if k < 4096 {
            return 1;
        }
        let target: usize = if self.cpu_adapter { 256 } else { 16384 };
        target.div_ceil(parallel.max(1)).min(k / 256).clamp(1, 64)
    }

    /// `c[m, n] = epilogue(op(a) · op(b))`, see `matmul.wgsl` for layouts. One launch, or two
    /// (partial products over slices of K, then their sum) when the output alone is too small
    /// to keep the adapter busy.
    #[allow(clippy::too_many_arguments)]
    pub fn matmul(
        &self,
        ctx: &GpuContext,
        label: &'static str,
        variant: MatmulVariant,
        (m, n, k): (usize, usize, usize),
        a: View,
        b: View,
        bias: Option<View>,
        aux: Option<View>,
        c: View,
    ) -> Vec<Launch> {
        assert_eq!(
            variant.bias,
            bias.is_some(),
            "bias binding must match the variant"
        );
        assert_eq!(
            variant.dact != EpilogueAct::None,
            aux.is_some(),
            "aux binding must match the variant"
        );
        let constants = [
            ("TRANS_A", variant.trans_a as u32 as f64),
            ("TRANS_B", variant.trans_b as u32 as f64),
            ("BIAS", variant.bias as u32 as f64),
            ("ACT", variant.act.code()),
            ("DACT", variant.dact.code()),
        ];
        let tile = self
            .forced_tile
            .unwrap_or_else(|| MatmulTile::choose(self.cpu_adapter, m, n, k));
        let span = tile.span() as usize;
        let per_tile = span / 8;
        let splits = self.splits(m.div_ceil(per_tile) * n.div_ceil(per_tile), k);
        let pipeline = |entry: &str| {
            self.pipeline(
                &self.matmul,
                format!("matmul {entry} {variant:?}"),
                entry,
                &constants,
            )
        };
        let dims = ctx.uniform(
            "matmul dims",
            &U32x4([m as u32, n as u32, k as u32, splits as u32]),
        );
        let dummy = View::whole(&self.dummy);
        let partials =
            (splits > 1).then(|| ctx.storage("split-K partials", (splits * m * n * 4) as u64));
        let product_out = partials.as_ref().map(View::whole).unwrap_or(c);
        let bind = |a: View, out: View| {
            self.bind(
                &self.matmul,
                label,
                &[
                    dims.as_entire_binding(),
                    a.resource(),
                    b.resource(),
                    bias.unwrap_or(dummy).resource(),
                    aux.unwrap_or(dummy).resource(),
                    out.resource(),
                ],
            )
        };
        let mut launches = vec![Launch {
            label,
            pipeline: pipeline(tile.entry_point()),
            bind_group: bind(a, product_out),
            flops: 0,
            bytes: 0,
            scope: String::new(),
            workgroups: [
                (n as u32).div_ceil(span as u32),
                (m as u32).div_ceil(span as u32),
                splits as u32,
            ],
        }
        .with_work(
            2 * (m * n * k) as u64,
            4 * (m * k + k * n + splits * m * n) as u64,
        )];
        if let Some(partials) = &partials {
            launches.push(
                Launch {
                    label,
                    pipeline: pipeline("sum_splits"),
                    bind_group: bind(View::whole(partials), c),
                    flops: 0,
                    bytes: 0,
                    scope: String::new(),
                    workgroups: [(n as u32).div_ceil(8), (m as u32).div_ceil(8), 1],
                }
                .with_work((splits * m * n) as u64, 4 * ((splits + 1) * m * n) as u64),
            );
        }
        launches
    }

    /// `db[n] = Σ_m dy[m, n]` for `dy: [rows, cols]`: one launch, or two (sums over slices of
    /// rows, then their sum) when the columns alone are too few to keep the adapter busy.
    pub fn bias_grad(
        &self,
        ctx: &GpuContext,
        rows: usize,
        cols: usize,
        dy: View,
        db: View,
    ) -> Vec<Launch> {
        let splits = self.splits(cols, rows);
        let params = ctx.uniform(
            "bias dims",
            &U32x4([rows as u32, cols as u32, splits as u32, 0]),
        );
        let partials =
            (splits > 1).then(|| ctx.storage("bias partials", (splits * cols * 4) as u64));
        let out = partials.as_ref().map(View::whole).unwrap_or(db);
        let mut launches = vec![Launch {
            label: "bias_grad",
            pipeline: self.pipeline(&self.bias, "bias".into(), "main", &[]),
            bind_group: self.bind(
                &self.bias,
                "bias_grad",
                &[params.as_entire_binding(), dy.resource(), out.resource()],
            ),
            flops: 0,
            bytes: 0,
            scope: String::new(),
            workgroups: [(cols as u32).div_ceil(64), splits as u32, 1],
        }
        .with_work(
            (rows * cols) as u64,
            4 * (rows * cols + splits * cols) as u64,
        )];
        if let Some(partials) = &partials {
            // The sum of a 1 x cols split-K "product" with no epilogue.
            let dims = ctx.uniform(
                "bias sum dims",
                &U32x4([1, cols as u32, rows as u32, splits as u32]),
            );
            let dummy = View::whole(&self.dummy);
            launches.push(
                Launch {
                    label: "bias_grad",
                    pipeline: self.pipeline(
                        &self.matmul,
                        format!("matmul sum_splits {:?}", MatmulVariant::default()),
                        "sum_splits",
                        &[],
                    ),
                    bind_group: self.bind(
                        &self.matmul,
                        "bias_grad",
                        &[
                            dims.as_entire_binding(),
                            View::whole(partials).resource(),
                            dummy.resource(),
                            dummy.resource(),
                            dummy.resource(),
                            db.resource(),
                        ],
                    ),
                    flops: 0,
                    bytes: 0,
                    scope: String::new(),
                    workgroups: [(cols as u32).div_ceil(8), 1, 1],
                }
                .with_work((splits * cols) as u64, 4 * ((splits + 1) * cols) as u64),
            );
        }
        launches
    }

    /// Softmax cross-entropy over `logits: [batch, classes]`, adding into `metrics[slot]` and
    /// advancing `cursor`.
    #[allow(clippy::too_many_arguments)]
    pub fn softmax_xent(
        &self,
        ctx: &GpuContext,
        batch: usize,
        classes: usize,
        slot: usize,
        logits: View,
        labels: View,
        dlogits: View,
        metrics: View,
        cursor: View,
    ) -> Launch {
        let params = ctx.uniform(
            "softmax_xent params",
            &U32x4([batch as u32, classes as u32, slot as u32, 0]),
        );
        let bind_group = self.bind(
            &self.softmax_xent,
            "softmax_xent",
            &[
                params.as_entire_binding(),
                logits.resource(),
                labels.resource(),
                dlogits.resource(),
                metrics.resource(),
                cursor.resource(),
            ],
        );
        Launch {
            label: "softmax_xent",
            pipeline: self.pipeline(&self.softmax_xent, "softmax_xent".into(), "main", &[]),
            bind_group,
            flops: 0,
            bytes: 0,
            scope: String::new(),
            workgroups: [1, 1, 1],
        }
        .with_work(
            (6 * batch * classes) as u64,
            4 * (2 * batch * classes + batch) as u64,
        )
    }

    /// One optimizer step over `n` flat parameters. `s1`/`s2` are the optimizer's state
    /// buffers (velocity; m and v; v), `None` where the rule has none.
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
        let (workgroups, width) = grid(n, 256, self.max_workgroups);
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
