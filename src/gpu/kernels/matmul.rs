//! Launchers of the matmul family (`matmul.wgsl`, `matmul_blocked.wgsl`, `matmul_tiled.wgsl`)
//! and of `bias.wgsl`: products with fused epilogues, split-K, and bias gradients.

use super::tuner::MIN_TUNED_MACS;
use super::{Block, Geom2d, Kernels, Launch, Tiling, U32x4, View};
use crate::gpu::GpuContext;

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
    /// Also write `sums[n] = Σ_k op(B)[k, n]` (a bias gradient, beside dW = xᵀ·dy): a row
    /// of ones appended to op(A). With no epilogue; `tile4` and tiled kernels only.
    pub row_sums: bool,
    /// op(A) is the im2col matrix of a convolution's input bound as `a` (implicit GEMM; tiled
    /// kernels only).
    pub im2col: bool,
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

/// Fewest 16x16 output tiles for which the big tile pays on a CPU adapter.
pub const MIN_TILE16_COUNT: usize = 32;

/// Which matmul kernel runs a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulTile {
    /// 4x4 outputs per invocation, no workgroup memory (`matmul.wgsl`): GPUs, small products.
    Tile4,
    /// 16x16 outputs per invocation: CPU adapters, any shape.
    Tile16,
    /// A generated register block per invocation, vec4 loads (`matmul_blocked.wgsl`): CPU
    /// adapters, dimensions that are multiples of 4.
    Blocked(Block),
    /// Workgroup-memory tiles (`matmul_tiled.wgsl`): GPUs, any shape; the tuner picks one.
    Tiled(Tiling),
}

impl MatmulTile {
    /// Its name in profiles and in the tuner's file, e.g. `blocked 32x16`.
    pub fn name(self) -> String {
        match self {
            MatmulTile::Tile4 => "tile4".into(),
            MatmulTile::Tile16 => "tile16".into(),
            MatmulTile::Blocked(b) => format!("blocked {}x{}", b.rows, b.cols),
            MatmulTile::Tiled(t) => t.name(),
        }
    }

    /// The fixed table. On CPU adapters: the blocked kernel where the dimensions allow, else
    /// 16x16 tiles when the output has enough of them to keep every lane of every thread busy;
    /// either only for products big enough (2^18 multiply-adds) to pay for the long shader's
    /// compile (0.1-3 s per variant). 4x4 tiles otherwise, and on GPUs when tuning is off.
    pub fn choose(cpu_adapter: bool, m: usize, n: usize, k: usize) -> MatmulTile {
        if !cpu_adapter || m * n * k < 1 << 18 {
            return MatmulTile::Tile4;
        }
        if Block::fits(m, n, k) {
            return MatmulTile::Blocked(Block::for_product(m, n, k));
        }
        let tiles16 = m.div_ceil(16) * n.div_ceil(16);
        if n >= 16 && k >= 16 && tiles16 >= MIN_TILE16_COUNT {
            MatmulTile::Tile16
        } else {
            MatmulTile::Tile4
        }
    }
}

/// How one product is dispatched.
struct Shape {
    /// Outputs per invocation (rows, columns).
    block: (usize, usize),
    /// Invocations per workgroup (along columns, along rows).
    lanes: (u32, u32),
}

impl Shape {
    fn of(tile: MatmulTile, n: usize) -> Shape {
        match tile {
            MatmulTile::Tile4 => Shape {
                block: (4, 4),
                lanes: (8, 8),
            },
            MatmulTile::Tile16 => Shape {
                block: (16, 16),
                lanes: (8, 8),
            },
            MatmulTile::Blocked(b) => Shape {
                block: (b.rows as usize, b.cols as usize),
                lanes: b.lanes(n),
            },
            MatmulTile::Tiled(t) => Shape {
                block: (t.tm as usize, t.tn as usize),
                lanes: (t.wg_x, t.wg_y),
            },
        }
    }

    fn invocations(&self, m: usize, n: usize) -> usize {
        m.div_ceil(self.block.0) * n.div_ceil(self.block.1)
    }

    fn workgroups(&self, m: usize, n: usize) -> [u32; 2] {
        let span_x = self.block.1 * self.lanes.0 as usize;
        let span_y = self.block.0 * self.lanes.1 as usize;
        [n.div_ceil(span_x) as u32, m.div_ceil(span_y) as u32]
    }
}

impl Kernels {
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

    /// The generated blocked-matmul module of `block` with these transpositions, created
    /// once per device.
    fn blocked_module(&self, block: Block, trans_a: bool, trans_b: bool) -> wgpu::ShaderModule {
        let mut cache = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry((block, trans_a, trans_b))
            .or_insert_with(|| {
                self.device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some("matmul_blocked"),
                        source: wgpu::ShaderSource::Wgsl(block.source(trans_a, trans_b).into()),
                    })
            })
            .clone()
    }

    /// The workgroup-memory matmul module of `tiling` with loads `widths` floats wide,
    /// created once per device.
    fn tiled_module(&self, tiling: Tiling, widths: (u32, u32)) -> wgpu::ShaderModule {
        let mut cache = self.tiled.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry((tiling, widths))
            .or_insert_with(|| {
                self.device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some("matmul_tiled"),
                        source: wgpu::ShaderSource::Wgsl(tiling.source(widths).into()),
                    })
            })
            .clone()
    }

    /// The kernel that runs `[m, k]·[k, n]`: the one forced by tests, else the tuner's
    /// choice (GPUs), else the fixed table.
    fn tile_for(
        &self,
        ctx: &GpuContext,
        variant: MatmulVariant,
        (m, n, k): (usize, usize, usize),
    ) -> MatmulTile {
        match self.forced_tile {
            // A forced block runs only where its vec4 loads can.
            Some(MatmulTile::Blocked(_)) if !Block::fits(m, n, k) => MatmulTile::Tile16,
            Some(forced) => forced,
            None => match &self.tuner {
                Some(tuner) if m * n * k >= MIN_TUNED_MACS => {
                    tuner.choose(ctx, self, variant, (m, n, k))
                }
                _ => MatmulTile::choose(self.cpu_adapter, m, n, k),
            },
        }
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
        let tile = self.tile_for(ctx, variant, (m, n, k));
        self.matmul_with(
            ctx,
            label,
            variant,
            (m, n, k),
            tile,
            (a, b, bias, aux),
            (c, None),
            None,
        )
    }

    /// The gradients of a weight and its bias: `dw[m, n] = aᵀ·dy` (`a: [k, m]`, the layer's
    /// input or im2col columns; `dy: [k, n]`) and `db[n] = Σ_k dy[k, n]`. One launch where
    /// the chosen kernel folds the bias gradient in (a row of ones appended to aᵀ), else the
    /// product and a bias-gradient launch.
    #[allow(clippy::too_many_arguments)]
    pub fn weight_grads(
        &self,
        ctx: &GpuContext,
        label: &'static str,
        (m, n, k): (usize, usize, usize),
        a: View,
        dy: View,
        dw: View,
        db: View,
    ) -> Vec<Launch> {
        let v = MatmulVariant {
            trans_a: true,
            ..Default::default()
        };
        let tile = self.tile_for(ctx, v, (m, n, k));
        if matches!(tile, MatmulTile::Tile4 | MatmulTile::Tiled(_)) {
            let v = MatmulVariant {
                row_sums: true,
                ..v
            };
            return self.matmul_with(
                ctx,
                label,
                v,
                (m, n, k),
                tile,
                (a, dy, None, None),
                (dw, Some(db)),
                None,
            );
        }
        let mut launches = self.matmul_with(
            ctx,
            label,
            v,
            (m, n, k),
            tile,
            (a, dy, None, None),
            (dw, None),
            None,
        );
        launches.extend(self.bias_grad(ctx, k, n, dy, db));
        launches
    }

    /// [`Kernels::matmul`] with the kernel `tile`; inputs are (a, b, bias, aux), outputs
    /// (c, sums); `conv` is the convolution whose input `a` is when `variant.im2col`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn matmul_with(
        &self,
        ctx: &GpuContext,
        label: &'static str,
        variant: MatmulVariant,
        (m, n, k): (usize, usize, usize),
        tile: MatmulTile,
        (a, b, bias, aux): (View, View, Option<View>, Option<View>),
        (c, sums): (View, Option<View>),
        conv: Option<Geom2d>,
    ) -> Vec<Launch> {
        assert_eq!(
            variant.im2col,
            conv.is_some(),
            "convolution geometry must match the variant"
        );
        assert!(
            !variant.im2col || matches!(tile, MatmulTile::Tiled(_)),
            "implicit GEMM needs a tiled kernel"
        );
        assert_eq!(
            variant.row_sums,
            sums.is_some(),
            "sums binding must match the variant"
        );
        assert!(
            !variant.row_sums
                || (matches!(tile, MatmulTile::Tile4 | MatmulTile::Tiled(_))
                    && !variant.bias
                    && variant.act == EpilogueAct::None
                    && variant.dact == EpilogueAct::None),
            "row sums need tile4 or a tiled kernel and no epilogue"
        );
        // Output rows, the row of ones' included.
        let m_out = m + variant.row_sums as usize;
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
            ("ROW_SUMS", variant.row_sums as u32 as f64),
        ];
        let shape = Shape::of(tile, n);
        let splits = self.splits(shape.invocations(m_out, n), k);
        let pipeline = |entry: &str| match tile {
            MatmulTile::Blocked(block) if entry != "sum_splits" => {
                let module = self.blocked_module(block, variant.trans_a, variant.trans_b);
                let (x, y) = shape.lanes;
                let mut all = constants[2..5].to_vec();
                all.extend([
                    ("SPLIT", (splits > 1) as u32 as f64),
                    ("LANES_X", x as f64),
                    ("LANES_Y", y as f64),
                ]);
                self.pipeline_of(
                    &module,
                    &self.matmul,
                    format!("matmul {block:?} {x}x{y} split {} {variant:?}", splits > 1),
                    "main",
                    &all,
                )
            }
            MatmulTile::Tiled(tiling) if entry != "sum_splits" => {
                let widths = tiling.load_widths(variant, (m, n, k), conv.as_ref());
                let mut all = constants.to_vec();
                all.push(("SPLIT", (splits > 1) as u32 as f64));
                all.push(("IM2COL", variant.im2col as u32 as f64));
                // vec4 loads along K need split-K slices that start on multiples of 4.
                all.push(("K_ALIGN", widths.0.max(widths.1) as f64));
                self.pipeline_of(
                    &self.tiled_module(tiling, widths),
                    &self.matmul,
                    format!(
                        "matmul {tiling:?} loads {widths:?} split {} {variant:?}",
                        splits > 1
                    ),
                    "main",
                    &all,
                )
            }
            _ => {
                let mut all = constants.to_vec();
                all.push(("SPLIT", (splits > 1 && entry != "sum_splits") as u32 as f64));
                self.pipeline(
                    &self.matmul,
                    format!("matmul {entry} split {} {variant:?}", all[6].1),
                    entry,
                    &all,
                )
            }
        };
        let dims = ctx.uniform(
            "matmul dims",
            &U32x4([m as u32, n as u32, k as u32, splits as u32]),
        );
        let dummy = View::whole(&self.dummy);
        let conv_uniform = conv.map(|g| ctx.uniform("matmul conv", &g.uniform()));
        let partials =
            (splits > 1).then(|| ctx.storage("split-K partials", (splits * m_out * n * 4) as u64));
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
                    sums.unwrap_or(View::whole(&self.dummy3)).resource(),
                    conv_uniform
                        .as_ref()
                        .unwrap_or(&self.dummy_uniform)
                        .as_entire_binding(),
                ],
            )
        };
        let mut launches = vec![Launch {
            label,
            pipeline: pipeline(match tile {
                MatmulTile::Tile4 => "tile4",
                MatmulTile::Tile16 => "tile16",
                MatmulTile::Blocked(_) | MatmulTile::Tiled(_) => "main",
            }),
            bind_group: bind(a, product_out),
            flops: 0,
            bytes: 0,
            scope: String::new(),
            variant: tile.name(),
            workgroups: {
                let [x, y] = shape.workgroups(m_out, n);
                [x, y, splits as u32]
            },
        }
        .with_work(
            2 * (m_out * n * k) as u64,
            4 * (m * k + k * n + splits * m_out * n) as u64,
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
                    variant: String::new(),
                    workgroups: [(n as u32).div_ceil(8), (m_out as u32).div_ceil(8), 1],
                }
                .with_work(
                    (splits * m_out * n) as u64,
                    4 * ((splits + 1) * m_out * n) as u64,
                ),
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
            variant: String::new(),
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
                            View::whole(&self.dummy3).resource(),
                            self.dummy_uniform.as_entire_binding(),
                        ],
                    ),
                    flops: 0,
                    bytes: 0,
                    scope: String::new(),
                    variant: String::new(),
                    workgroups: [(cols as u32).div_ceil(8), 1, 1],
                }
                .with_work((splits * cols) as u64, 4 * ((splits + 1) * cols) as u64),
            );
        }
        launches
    }
}
