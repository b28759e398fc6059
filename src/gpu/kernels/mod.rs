//! The WGSL kernels (one file per family under `shaders/`), their pipelines, created once and
//! cached, and launchers that turn a named argument struct into a recorded [`Launch`].
//!
//! Every family declares its contract once ([`family`]): bindings in order with their access,
//! and each uniform as a Pod struct. A launcher fills its uniform, lists its bindings (`None`
//! for one its variant does not use) and [`Kernels::launch`] binds them, giving unused ones a
//! placeholder of the right kind. A [`Launch`] owns everything one dispatch needs, so a
//! training plan is a list of launches replayed into any compute pass with no allocation.
//!
//! Which kernel runs a product, a convolution or a reduction is the injected
//! [`KernelPolicy`]'s choice.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};

use super::context::{GpuContext, ShaderChecks};
use crate::floor::Activation;
use family::{Access, FamilyDecl, ModuleSource};

pub mod family;

mod activation;
mod batchnorm;
mod blocked;
mod confusion;
mod conv;
mod dense_backward;
mod dense_xent;
mod dropout;
mod gather;
mod loss;
mod matmul;
mod optimizer;
mod policy;
mod pool;
mod predictions;
mod ring;
mod step_end;
mod tiled;
pub mod tuner;
pub mod variants;

pub use activation::{ActivationBackwardArgs, ActivationForwardArgs, ActivationParams, ACTIVATION};
pub use batchnorm::{BatchNormArgs, BnLaunch, BnParams, BnShape, BATCHNORM};
pub use blocked::{Block, MATMUL_BLOCKED};
pub use confusion::{ConfusionArgs, ConfusionParams, CONFUSION};
pub use conv::{Col2imArgs, ConvForwardArgs, ConvWeightGradArgs, Im2colArgs, Im2colGeom, IM2COL};
pub use dense_backward::{DenseBackwardArgs, DenseBackwardParams, DENSE_BACKWARD};
pub use dense_xent::{DenseXentArgs, DenseXentParams, RowStat, DENSE_XENT, MAX_FUSED_CLASSES};
pub use dropout::{dropout_threshold, DropoutArgs, DropoutMode, DropoutParams, DROPOUT};
pub use gather::{GatherArgs, GatherParams, GATHER, PAD_LABEL};
pub use loss::{LossArgs, LossMetric, LossParams, SOFTMAX_XENT};
pub use matmul::{
    BiasDims, BiasGradArgs, ConvGeom, DeferredSum, DeferredSums, MatmulArgs, MatmulDims,
    MatmulTile, MatmulVariant, Product, WeightGradArgs, Width, BIAS, MATMUL, MAX_DEFERRED_SUMS,
    MIN_TILE16_COUNT,
};
pub use optimizer::{OptimizerArgs, OptimizerParams, StepRate, OPTIMIZER, RULES};
pub use policy::{
    FixedTable, Forced, GpuTable, KernelPolicy, Tuned, GPU_WORKGROUPS, MAX_SERIAL_ROWS,
    STEP_END_STORAGE,
};
pub use pool::{PoolBackwardArgs, PoolForwardArgs, PoolGeom, PoolGrad, PoolKind, POOL};
pub use predictions::{PredictionsArgs, PredictionsParams, PREDICTIONS};
pub use ring::{RingArgs, RingParams, MAX_SHARDS, RING};
pub use step_end::{StepEndArgs, StepEndParams, STEP_END};
pub use tiled::Tiling;
pub use tuner::{ShapeClass, Tuner};

/// An activation's code in the WGSL prelude's `ACT` and `DACT`: what a kernel fuses
/// ([`Activation::fused`]: softmax is left to the loss kernel, as linear).
pub(crate) trait ActCode {
    fn code(self) -> f64;
}

impl ActCode for Activation {
    fn code(self) -> f64 {
        match self.fused() {
            Activation::Linear | Activation::Softmax => 0.0,
            Activation::Relu => 1.0,
            Activation::Sigmoid => 2.0,
        }
    }
}

/// Multiplies a gradient by the derivative of `act`, given that activation's `output` (the
/// derivatives of relu and sigmoid are functions of their outputs).
#[derive(Clone, Copy, Debug)]
pub struct ActGrad<'a> {
    pub act: Activation,
    pub output: View<'a>,
}

impl<'a> ActGrad<'a> {
    /// `None` for a linear activation, whose derivative is 1.
    pub fn of(act: Activation, output: View<'a>) -> Option<ActGrad<'a>> {
        (!act.is_identity()).then_some(ActGrad { act, output })
    }
}

/// The code of an optional derivative and the view it reads.
fn act_grad_parts(grad: Option<ActGrad>) -> (Activation, Option<View>) {
    grad.map_or((Activation::Linear, None), |g| (g.act, Some(g.output)))
}

/// Every shader module the runtime can create, as a key: the module cache's key, and what
/// the reflection test enumerates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModuleKey {
    Gather,
    /// `ring.wgsl`: a split training set's next samples into the gather's ring.
    Ring,
    /// `matmul.wgsl`: tile4, tile16 and sum_splits.
    Matmul,
    /// `matmul_tiled.wgsl` with this tiling and these load widths of A and B.
    Tiled(Tiling, (u32, u32)),
    /// `matmul_blocked.wgsl` with this block and these transpositions of A and B.
    Blocked(Block, bool, bool),
    Bias,
    SoftmaxXent,
    /// `dense_xent.wgsl`: the output dense layer and the loss in one launch.
    DenseXent,
    Optimizer,
    /// `step_end.wgsl`: the optimizer, the batch's loss sum and the next batch's gather.
    StepEnd,
    /// `im2col.wgsl` over vec4 (4 channels per access) or f32 elements.
    Im2col {
        vec4: bool,
    },
    /// `pool.wgsl` over vec4 or f32 elements.
    Pool {
        vec4: bool,
    },
    Dropout,
    /// `dense_backward.wgsl`: a dense layer's dW and dx in one dispatch.
    DenseBackward,
    BatchNorm,
    Activation,
    Confusion,
    Predictions,
}

impl ModuleKey {
    /// The family whose bind group layout the module's entry points use.
    pub fn family(self) -> &'static FamilyDecl {
        match self {
            ModuleKey::Gather => &GATHER,
            ModuleKey::Ring => &RING,
            ModuleKey::Matmul | ModuleKey::Tiled(..) => &MATMUL,
            ModuleKey::Blocked(..) => &MATMUL_BLOCKED,
            ModuleKey::Bias => &BIAS,
            ModuleKey::SoftmaxXent => &SOFTMAX_XENT,
            ModuleKey::Optimizer => &OPTIMIZER,
            ModuleKey::DenseXent => &DENSE_XENT,
            ModuleKey::StepEnd => &STEP_END,
            ModuleKey::Im2col { .. } => &IM2COL,
            ModuleKey::Pool { .. } => &POOL,
            ModuleKey::Dropout => &DROPOUT,
            ModuleKey::DenseBackward => &DENSE_BACKWARD,
            ModuleKey::BatchNorm => &BATCHNORM,
            ModuleKey::Activation => &ACTIVATION,
            ModuleKey::Confusion => &CONFUSION,
            ModuleKey::Predictions => &PREDICTIONS,
        }
    }

    /// The module's WGSL as the device compiles it.
    pub fn source(self) -> ModuleSource {
        let (name, files, source) = match self {
            ModuleKey::Gather => gather::module(),
            ModuleKey::Ring => ring::module(),
            ModuleKey::Matmul => matmul::module(),
            ModuleKey::Tiled(t, widths) => t.module(widths),
            ModuleKey::Blocked(b, ta, tb) => b.module(ta, tb),
            ModuleKey::Bias => matmul::bias_module(),
            ModuleKey::SoftmaxXent => loss::module(),
            ModuleKey::Optimizer => optimizer::module(),
            ModuleKey::DenseXent => dense_xent::module(),
            ModuleKey::StepEnd => step_end::module(),
            ModuleKey::Im2col { vec4 } => conv::module(vec4),
            ModuleKey::Pool { vec4 } => pool::module(vec4),
            ModuleKey::Dropout => dropout::module(),
            ModuleKey::DenseBackward => dense_backward::module(),
            ModuleKey::BatchNorm => batchnorm::module(),
            ModuleKey::Activation => activation::module(),
            ModuleKey::Confusion => confusion::module(),
            ModuleKey::Predictions => predictions::module(),
        };
        ModuleSource {
            family: self.family(),
            name,
            files,
            source,
        }
    }
}

/// [`ModuleKey::all`] from one list of each variant's pattern and the modules it covers, and a
/// `match` over the same patterns that compiles only while they cover every variant: a new
/// variant cannot be left out of `all()`, and so out of the contract, naga back-end and Tint
/// checks that enumerate it.
macro_rules! every_module {
    ($($variant:pat => $modules:expr),* $(,)?) => {
        impl ModuleKey {
            /// Every module the runtime can create: the static ones, and the generated ones at
            /// every tiling, block, load width and transposition the runtime chooses from.
            pub fn all() -> Vec<ModuleKey> {
                let mut keys = Vec::new();
                $( keys.extend($modules); )*
                keys
            }

            /// Never called; see [`every_module!`].
            #[allow(dead_code)]
            fn listed_in_all(self) {
                match self {
                    $( $variant => {} )*
                }
            }
        }
    };
}

every_module! {
    ModuleKey::Gather => [ModuleKey::Gather],
    ModuleKey::Ring => [ModuleKey::Ring],
    ModuleKey::Matmul => [ModuleKey::Matmul],
    ModuleKey::Bias => [ModuleKey::Bias],
    ModuleKey::SoftmaxXent => [ModuleKey::SoftmaxXent],
    ModuleKey::Optimizer => [ModuleKey::Optimizer],
    ModuleKey::DenseXent => [ModuleKey::DenseXent],
    ModuleKey::StepEnd => [ModuleKey::StepEnd],
    ModuleKey::Im2col { .. } => [false, true].map(|vec4| ModuleKey::Im2col { vec4 }),
    ModuleKey::Pool { .. } => [false, true].map(|vec4| ModuleKey::Pool { vec4 }),
    ModuleKey::Dropout => [ModuleKey::Dropout],
    ModuleKey::DenseBackward => [ModuleKey::DenseBackward],
    ModuleKey::BatchNorm => [ModuleKey::BatchNorm],
    ModuleKey::Activation => [ModuleKey::Activation],
    ModuleKey::Confusion => [ModuleKey::Confusion],
    ModuleKey::Predictions => [ModuleKey::Predictions],
    ModuleKey::Tiled(..) => Tiling::ALL.into_iter().flat_map(|t| {
        let widths = [(1, 1), (4, 1), (1, 4), (4, 4)];
        std::iter::once(ModuleKey::Tiled(t, (1, 1)))
            .chain(widths.map(|w| ModuleKey::Tiled(t.pipelined(), w)))
    }),
    ModuleKey::Blocked(..) => [Block::SMALL, Block::MEDIUM, Block::LARGE].into_iter().flat_map(|b| {
        [(false, false), (true, false), (false, true), (true, true)]
            .map(|(ta, tb)| ModuleKey::Blocked(b, ta, tb))
    }),
}

/// One recorded dispatch.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The kernel, e.g. `dense forward`, `im2col`.
    pub label: &'static str,
    pub pipeline: wgpu::ComputePipeline,
    pub bind_group: wgpu::BindGroup,
    pub workgroups: [u32; 3],
    /// Invocations per workgroup.
    pub threads: u32,
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

    /// Records `launches` `times` times over in one compute pass: a step replayed.
    pub fn replay(encoder: &mut wgpu::CommandEncoder, launches: &[Launch], times: usize) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("replay"),
            timestamp_writes: None,
        });
        for _ in 0..times {
            for launch in launches {
                launch.record(&mut pass);
            }
        }
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

/// What a launcher binds at one binding of its family.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Bind<'a> {
    View(View<'a>),
    Uniform(&'a wgpu::Buffer),
    /// Not used by this variant: [`Kernels::launch`] binds a placeholder of the declared kind.
    Unused,
}

impl<'a> From<View<'a>> for Bind<'a> {
    fn from(v: View<'a>) -> Bind<'a> {
        Bind::View(v)
    }
}

impl<'a> From<Option<View<'a>>> for Bind<'a> {
    fn from(v: Option<View<'a>>) -> Bind<'a> {
        v.map_or(Bind::Unused, Bind::View)
    }
}

/// Which pipeline a launch runs: a module's entry point with override constants.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Kernel<'k> {
    pub module: ModuleKey,
    pub entry: &'k str,
    pub constants: &'k [(&'static str, f64)],
}

/// The bind group layout and pipeline layout of one entry point of a family: only the
/// bindings that entry point uses (batch norm's family declares 11 storage buffers, but no
/// entry point uses more than 8, WebGPU's default limit per stage).
struct Family {
    bind_layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
}

type PipelineKey = (ModuleKey, String, Vec<(&'static str, u64)>);

/// A family's name and the binding numbers an entry point of it uses.
type FamilyKey = (&'static str, Vec<u32>);

/// Entry point name -> the binding numbers it uses.
type EntryBindings = HashMap<String, Vec<u32>>;

/// Entry point name -> its workgroup's sides.
type EntrySides = HashMap<String, [family::WorkgroupSide; 3]>;

/// Buffers bound where a variant ignores a binding (the layout still needs one). Read-only
/// bindings share one; each read-write binding index has its own, since one buffer bound
/// twice for writing in a dispatch would alias.
struct Placeholders {
    read: wgpu::Buffer,
    read_write: Vec<wgpu::Buffer>,
    uniform: wgpu::Buffer,
}

/// Splits `invocations` over a grid of 1-D workgroups of `wg` invocations whose x dimension
/// stays within `max` workgroups; returns the grid and the invocations per grid row.
pub(crate) fn grid(invocations: u64, wg: u32, max: u32) -> ([u32; 3], u32) {
    let groups = invocations.div_ceil(wg as u64).max(1);
    let x = groups.min(max as u64) as u32;
    let y = groups.div_ceil(x as u64) as u32;
    ([x, y, 1], x * wg)
}

/// The pipelines of every kernel family, created on first use and cached per device.
pub struct Kernels {
    device: wgpu::Device,
    policy: Arc<dyn KernelPolicy>,
    /// Per family and set of used bindings.
    families: Mutex<HashMap<FamilyKey, Arc<Family>>>,
    /// The bindings each entry point of a module uses, read with naga once per module.
    used: Mutex<HashMap<ModuleKey, Arc<EntryBindings>>>,
    /// Each entry point's workgroup sides, likewise.
    sides: Mutex<HashMap<ModuleKey, Arc<EntrySides>>>,
    modules: Mutex<HashMap<ModuleKey, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<PipelineKey, wgpu::ComputePipeline>>,
    placeholders: Placeholders,
    limits: wgpu::Limits,
    cpu_adapter: bool,
    /// Trusted modules, or naga's runtime checks in every one (`--checked-shaders`).
    checks: ShaderChecks,
}

impl Kernels {
    pub fn new(ctx: &GpuContext, policy: Arc<dyn KernelPolicy>) -> Kernels {
        // More bindings than any family declares (step_end's 17; `launch` checks). Each
        // entry point's layout holds only the bindings it uses, so no stage sees that many.
        let most_bindings = 20;
        Kernels {
            device: ctx.device.clone(),
            policy,
            families: Mutex::new(HashMap::new()),
            used: Mutex::new(HashMap::new()),
            sides: Mutex::new(HashMap::new()),
            modules: Mutex::new(HashMap::new()),
            pipelines: Mutex::new(HashMap::new()),
            placeholders: Placeholders {
                read: ctx.storage("unused binding", 16),
                read_write: (0..most_bindings)
                    .map(|i| ctx.storage(&format!("unused read-write binding {i}"), 16))
                    .collect(),
                uniform: ctx.uniform_bytes("unused uniform", &[0; 256]),
            },
            limits: ctx.limits.clone(),
            cpu_adapter: ctx.info.device_type == wgpu::DeviceType::Cpu,
            checks: ctx.shader_checks,
        }
    }

    /// Whether the adapter is a CPU (lavapipe, WARP, SwiftShader): policies choose for it.
    pub fn cpu_adapter(&self) -> bool {
        self.cpu_adapter
    }

    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    pub fn policy(&self) -> &dyn KernelPolicy {
        self.policy.as_ref()
    }

    /// A 1-D launch of `invocations` in workgroups of `wg`: the grid, and the invocations per
    /// grid row that the kernel's `flat_id` needs.
    pub(crate) fn grid_1d(&self, invocations: usize, wg: u32) -> ([u32; 3], u32) {
        grid(
            invocations as u64,
            wg,
            self.limits.max_compute_workgroups_per_dimension,
        )
    }

    /// The layouts for an entry point of `decl` that uses the bindings `used`.
    fn family(&self, decl: &'static FamilyDecl, used: &[u32]) -> Arc<Family> {
        let mut cache = self.families.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry((decl.name, used.to_vec()))
            .or_insert_with(|| Arc::new(self.make_family(decl, used)))
            .clone()
    }

    /// The bindings (by number) that `entry` of `key` uses.
    fn used_bindings(&self, key: ModuleKey, entry: &str) -> Vec<u32> {
        let per_entry = {
            let mut cache = self.used.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .entry(key)
                .or_insert_with(|| Arc::new(family::bindings_per_entry(&key.source())))
                .clone()
        };
        per_entry
            .get(entry)
            .cloned()
            .unwrap_or_else(|| (0..key.family().bindings.len() as u32).collect())
    }

    /// Invocations per workgroup of `kernel` (override-sized sides take the launch's constant
    /// or else the default).
    fn threads(&self, kernel: &Kernel) -> u32 {
        let per_entry = {
            let mut cache = self.sides.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .entry(kernel.module)
                .or_insert_with(|| Arc::new(family::workgroup_sides(&kernel.module.source())))
                .clone()
        };
        let Some(sides) = per_entry.get(kernel.entry) else {
            return 0;
        };
        sides
            .iter()
            .map(|s| match s {
                family::WorkgroupSide::Literal(n) => *n,
                family::WorkgroupSide::Override(name, default) => {
                    let given = kernel
                        .constants
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|c| c.1);
                    given.or(*default).unwrap_or(1.0) as u32
                }
            })
            .product()
    }

    fn make_family(&self, decl: &FamilyDecl, used: &[u32]) -> Family {
        let entries: Vec<wgpu::BindGroupLayoutEntry> = used
            .iter()
            .map(|&i| (i, &decl.bindings[i as usize]))
            .map(|(i, b)| wgpu::BindGroupLayoutEntry {
                binding: i,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match b.access {
                        Access::Uniform(_) => wgpu::BufferBindingType::Uniform,
                        Access::Read => wgpu::BufferBindingType::Storage { read_only: true },
                        Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let bind_layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(decl.name),
                entries: &entries,
            });
        let pipeline_layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(decl.name),
                bind_group_layouts: &[Some(&bind_layout)],
                immediate_size: 0,
            });
        Family {
            bind_layout,
            pipeline_layout,
        }
    }

    /// The module of `key`, its source assembled (or generated) and compiled once.
    fn module(&self, key: ModuleKey) -> wgpu::ShaderModule {
        let mut cache = self.modules.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(key)
            .or_insert_with(|| {
                let source = key.source();
                let desc = wgpu::ShaderModuleDescriptor {
                    label: Some(&source.name),
                    source: wgpu::ShaderSource::Wgsl(source.source.into()),
                };
                match self.checks {
                    ShaderChecks::Checked => self.device.create_shader_module(desc),
                    // SAFETY: every kernel bounds each index it uses by its own guards, and
                    // every loop by uniforms or constants: the canary test
                    // (tests/canaries.rs) runs each kernel with guard words past every
                    // buffer, inside its binding, and fails on any write there.
                    ShaderChecks::Trusted => unsafe {
                        self.device.create_shader_module_trusted(
                            desc,
                            wgpu::ShaderRuntimeChecks::unchecked(),
                        )
                    },
                }
            })
            .clone()
    }

    /// Every pipeline created so far, as [`variants::PipelineVariant`]s (constants
    /// normalised), for tests that check them against [`variants::all`].
    pub fn created_pipelines(&self) -> Vec<variants::PipelineVariant> {
        let cache = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .keys()
            .map(|(module, entry, constants)| {
                let given: Vec<(&str, f64)> = constants
                    .iter()
                    .map(|&(n, bits)| (n, f64::from_bits(bits)))
                    .collect();
                variants::PipelineVariant {
                    module: *module,
                    entry: entry.clone(),
                    constants: variants::normalize(*module, &given),
                }
            })
            .collect()
    }

    /// The pipeline of `kernel`, created once per device.
    fn pipeline(&self, kernel: &Kernel, family: &Family) -> wgpu::ComputePipeline {
        let key: PipelineKey = (
            kernel.module,
            kernel.entry.to_string(),
            kernel
                .constants
                .iter()
                .map(|&(n, v)| (n, v.to_bits()))
                .collect(),
        );
        if let Some(p) = self
            .pipelines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return p.clone();
        }
        let module = self.module(kernel.module);
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(kernel.entry),
                layout: Some(&family.pipeline_layout),
                module: &module,
                entry_point: Some(kernel.entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: kernel.constants,
                    ..Default::default()
                },
                cache: None,
            });
        let mut cache = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        cache.entry(key).or_insert(pipeline).clone()
    }

    /// A launch of `kernel` over `workgroups`, binding `binds` in its family's order.
    pub(crate) fn launch(
        &self,
        kernel: Kernel,
        label: &'static str,
        workgroups: [u32; 3],
        binds: &[Bind],
    ) -> Launch {
        let decl = kernel.module.family();
        assert!(decl.bindings.len() <= self.placeholders.read_write.len());
        assert_eq!(
            binds.len(),
            decl.bindings.len(),
            "{label}: family '{}' has {} bindings",
            decl.name,
            decl.bindings.len()
        );
        let used = self.used_bindings(kernel.module, kernel.entry);
        let family = self.family(decl, &used);
        let entries: Vec<wgpu::BindGroupEntry> = used
            .iter()
            .map(|&i| wgpu::BindGroupEntry {
                binding: i,
                resource: self.resource(
                    i as usize,
                    binds[i as usize],
                    decl.bindings[i as usize].access,
                ),
            })
            .collect();
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &family.bind_layout,
            entries: &entries,
        });
        Launch {
            label,
            pipeline: self.pipeline(&kernel, &family),
            bind_group,
            workgroups,
            threads: self.threads(&kernel),
            flops: 0,
            bytes: 0,
            scope: String::new(),
            variant: String::new(),
        }
    }

    fn resource<'a>(
        &'a self,
        i: usize,
        bind: Bind<'a>,
        access: Access,
    ) -> wgpu::BindingResource<'a> {
        match (bind, access) {
            (Bind::View(v), _) => v.resource(),
            (Bind::Uniform(b), _) => b.as_entire_binding(),
            (Bind::Unused, Access::Uniform(_)) => self.placeholders.uniform.as_entire_binding(),
            (Bind::Unused, Access::Read) => self.placeholders.read.as_entire_binding(),
            (Bind::Unused, Access::ReadWrite) => {
                self.placeholders.read_write[i].as_entire_binding()
            }
        }
    }
}
