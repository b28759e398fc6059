//! Launchers of the matmul family (`matmul.wgsl`; `matmul_tiled.wgsl` for GPUs,
//! `matmul_blocked.wgsl` for CPU adapters) and of `bias.wgsl`: products with fused epilogues,
//! split-K, weight and bias gradients.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use super::family::{assemble, read, read_write, uniform, uniform_struct, FamilyDecl, SourceParts};
use super::{
    act_grad_parts, ActCode, ActGrad, Bind, Block, Kernel, Kernels, Launch, ModuleKey, Tiling, View,
};
use crate::floor::{Activation, Geom2d};
use crate::gpu::GpuContext;

/// What `matmul.wgsl` and `matmul_tiled.wgsl` share, prepended to each.
pub(crate) const MATMUL_COMMON_WGSL: &str = include_str!("../../../shaders/matmul_common.wgsl");
const MATMUL_WGSL: &str = include_str!("../../../shaders/matmul.wgsl");
const BIAS_WGSL: &str = include_str!("../../../shaders/bias.wgsl");

uniform_struct! {
    /// `Dims` of `matmul_common.wgsl` and `matmul_blocked.wgsl`.
    pub struct MatmulDims {
        pub m: u32,
        pub n: u32,
        pub k: u32,
        pub splits: u32,
    }
}

uniform_struct! {
    /// `Conv` of `matmul_common.wgsl`: the convolution whose input `a` is (implicit GEMM).
    pub struct ConvGeom {
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
    }
}

pub static MATMUL: FamilyDecl = FamilyDecl {
    name: "matmul",
    bindings: &[
        uniform("dims", &MatmulDims::LAYOUT),
        read("a"),
        read("b"),
        read("bias"),
        read("aux"),
        read_write("c"),
        read_write("sums"),
        uniform("conv", &ConvGeom::LAYOUT),
    ],
};

uniform_struct! {
    /// `Dims` of `bias.wgsl`.
    pub struct BiasDims {
        pub rows: u32,
        pub cols: u32,
        pub splits: u32,
        pub _pad: u32,
    }
}

pub static BIAS: FamilyDecl = FamilyDecl {
    name: "bias",
    bindings: &[
        uniform("dims", &BiasDims::LAYOUT),
        read("dy"),
        read_write("db"),
    ],
};

pub(crate) fn module() -> SourceParts {
    (
        "matmul".into(),
        vec!["matmul_common.wgsl", "matmul.wgsl"],
        assemble("", &[MATMUL_COMMON_WGSL, MATMUL_WGSL]),
    )
}

pub(crate) fn bias_module() -> SourceParts {
    ("bias".into(), vec!["bias.wgsl"], assemble("", &[BIAS_WGSL]))
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
    pub act: Activation,
    /// Multiply by the derivative of this activation, given its output in `aux`.
    pub dact: Activation,
    /// Also write `sums[n] = Σ_k op(B)[k, n]` (a bias gradient, beside dW = xᵀ·dy): a row
    /// of ones appended to op(A). With no epilogue; `tile4` and tiled kernels only.
    pub row_sums: bool,
    /// op(A) is the im2col matrix of a convolution's input bound as `a` (implicit GEMM; tiled
    /// kernels only).
    pub im2col: bool,
}

/// One product `[m, k]·[k, n]` with its variant, as a policy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Product {
    pub variant: MatmulVariant,
    pub m: usize,
    pub n: usize,
    pub k: usize,
}

impl Product {
    pub fn macs(&self) -> usize {
        self.m * self.n * self.k
    }
}

/// How wide a reduction's launch is before any split: invocations (what a CPU adapter's
/// lanes run) and workgroups (what a GPU's multiprocessors are handed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Width {
    pub invocations: usize,
    pub workgroups: usize,
}

/// Fewest 16x16 output tiles for which the big tile pays on a CPU adapter.
pub const MIN_TILE16_COUNT: usize = 32;

/// Which matmul kernel runs a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
    /// Its name in profiles, e.g. `blocked 32x16`.
    pub fn name(self) -> String {
        match self {
            MatmulTile::Tile4 => "tile4".into(),
            MatmulTile::Tile16 => "tile16".into(),
            MatmulTile::Blocked(b) => format!("blocked {}x{}", b.rows, b.cols),
            MatmulTile::Tiled(t) => t.name(),
        }
    }

    /// Whether the kernel can run, as a tuning file may name one that this version cannot.
    pub fn is_valid(self) -> bool {
        match self {
            MatmulTile::Tile4 | MatmulTile::Tile16 => true,
            MatmulTile::Blocked(b) => b.is_valid(),
            MatmulTile::Tiled(t) => t.is_valid(),
        }
    }

    /// The fixed table. On CPU adapters: the blocked kernel where the dimensions allow, else
    /// 16x16 tiles when the output has enough of them to keep every lane of every thread busy;
    /// either only for products big enough (2^18 multiply-adds) to pay for the long shader's
    /// compile (0.1-3 s per variant). 4x4 tiles otherwise, and on GPUs.
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
struct DispatchShape {
    /// Outputs per invocation (rows, columns).
    block: (usize, usize),
    /// Invocations per workgroup (along columns, along rows).
    lanes: (u32, u32),
}

impl DispatchShape {
    fn of(tile: MatmulTile, n: usize) -> DispatchShape {
        let (block, lanes) = match tile {
            MatmulTile::Tile4 => ((4, 4), (8, 8)),
            MatmulTile::Tile16 => ((16, 16), (8, 8)),
            MatmulTile::Blocked(b) => ((b.rows as usize, b.cols as usize), b.lanes(n)),
            MatmulTile::Tiled(t) => ((t.tm as usize, t.tn as usize), (t.wg_x, t.wg_y)),
        };
        DispatchShape { block, lanes }
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

/// `c[m, n] = epilogue(op(a) · op(b))`: see `matmul_common.wgsl` for the layouts. Build one
/// with [`MatmulArgs::new`] and struct update for transpositions and epilogues.
#[derive(Clone, Copy, Debug)]
pub struct MatmulArgs<'a> {
    pub label: &'static str,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// `[m, k]`, or `[k, m]` with `trans_a`.
    pub a: View<'a>,
    pub trans_a: bool,
    /// `[k, n]`, or `[n, k]` with `trans_b`.
    pub b: View<'a>,
    pub trans_b: bool,
    /// `[n]`, added in the epilogue.
    pub bias: Option<View<'a>>,
    /// Applied in the epilogue, after the bias.
    pub act: Activation,
    /// Then the result is multiplied by this derivative (`output`: `[m, n]`).
    pub act_grad: Option<ActGrad<'a>>,
    /// `[m, n]`.
    pub c: View<'a>,
}

impl<'a> MatmulArgs<'a> {
    /// The plain product `c = a · b`, `(m, n, k)` its shape.
    pub fn new(
        label: &'static str,
        (m, n, k): (usize, usize, usize),
        a: View<'a>,
        b: View<'a>,
        c: View<'a>,
    ) -> MatmulArgs<'a> {
        MatmulArgs {
            label,
            m,
            n,
            k,
            a,
            trans_a: false,
            b,
            trans_b: false,
            bias: None,
            act: Activation::Linear,
            act_grad: None,
            c,
        }
    }
}

/// A weight's and its bias's gradients: `dw[m, n] = xᵀ·dy` and `db[n] = Σ_k dy[k, n]`.
#[derive(Clone, Copy, Debug)]
pub struct WeightGradArgs<'a> {
    pub label: &'static str,
    /// Inputs per output (fan-in, or a convolution's patch).
    pub m: usize,
    /// Outputs (units, filters).
    pub n: usize,
    /// Rows reduced over (batch, or batch x output pixels).
    pub k: usize,
    /// `[k, m]`: the layer's input, or a convolution's im2col columns.
    pub x: View<'a>,
    /// `[k, n]`.
    pub dy: View<'a>,
    /// `[m, n]`.
    pub dw: View<'a>,
    /// `[n]`.
    pub db: View<'a>,
    /// Where the split-K sum may be left to the optimizer ([`DeferredSums`]).
    pub defer: Option<&'a DeferredSums>,
}

/// `db[n] = Σ_m dy[m, n]` for `dy: [rows, cols]`.
#[derive(Clone, Copy, Debug)]
pub struct BiasGradArgs<'a> {
    pub rows: usize,
    pub cols: usize,
    pub dy: View<'a>,
    pub db: View<'a>,
}

/// Everything one product binds, whatever kernel runs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gemm<'a> {
    pub label: &'static str,
    pub variant: MatmulVariant,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: View<'a>,
    pub b: View<'a>,
    pub bias: Option<View<'a>>,
    /// The activation output whose derivative `variant.dact` multiplies by.
    pub aux: Option<View<'a>>,
    pub c: View<'a>,
    /// Row sums (`variant.row_sums`).
    pub sums: Option<View<'a>>,
    /// The convolution whose input `a` is (`variant.im2col`).
    pub conv: Option<Geom2d>,
    /// Where a split-K sum may be left to the optimizer (weight gradients of a fused step).
    pub defer: Option<&'a DeferredSums>,
}

impl<'a> Gemm<'a> {
    /// `c = op(a) · op(b)` with `variant`'s transpositions and flags; bias, aux, sums and the
    /// convolution, which the flags need, by struct update.
    pub fn new(
        label: &'static str,
        variant: MatmulVariant,
        (m, n, k): (usize, usize, usize),
        (a, b, c): (View<'a>, View<'a>, View<'a>),
    ) -> Gemm<'a> {
        Gemm {
            label,
            variant,
            m,
            n,
            k,
            a,
            b,
            bias: None,
            aux: None,
            c,
            sums: None,
            conv: None,
            defer: None,
        }
    }

    pub fn product(&self) -> Product {
        Product {
            variant: self.variant,
            m: self.m,
            n: self.n,
            k: self.k,
        }
    }

    /// The variant's flags agree with what is bound and with the kernel.
    fn check(&self, tile: MatmulTile) {
        let v = self.variant;
        let tiled = matches!(tile, MatmulTile::Tiled(_));
        assert_eq!(
            v.im2col,
            self.conv.is_some(),
            "{}: convolution geometry must match the variant",
            self.label
        );
        assert!(
            !v.im2col || tiled,
            "{}: implicit GEMM needs a tiled kernel",
            self.label
        );
        assert_eq!(
            v.row_sums,
            self.sums.is_some(),
            "{}: sums binding must match the variant",
            self.label
        );
        assert!(
            !v.row_sums
                || ((tiled || tile == MatmulTile::Tile4)
                    && !v.bias
                    && v.act == Activation::Linear
                    && v.dact == Activation::Linear),
            "{}: row sums need tile4 or a tiled kernel and no epilogue",
            self.label
        );
        assert_eq!(
            v.bias,
            self.bias.is_some(),
            "{}: bias binding must match the variant",
            self.label
        );
        assert_eq!(
            v.dact != Activation::Linear,
            self.aux.is_some(),
            "{}: aux binding must match the variant",
            self.label
        );
    }
}

impl Kernels {
    /// `c = epilogue(op(a) · op(b))` with the kernel the policy picks. One launch, or two
    /// (partial products over slices of K, then their sum) when the output alone is too small
    /// to keep the adapter busy.
    pub fn matmul(&self, ctx: &GpuContext, a: &MatmulArgs) -> Vec<Launch> {
        let (dact, aux) = act_grad_parts(a.act_grad);
        let variant = MatmulVariant {
            trans_a: a.trans_a,
            trans_b: a.trans_b,
            bias: a.bias.is_some(),
            act: a.act,
            dact,
            ..Default::default()
        };
        let gemm = Gemm {
            bias: a.bias,
            aux,
            ..Gemm::new(a.label, variant, (a.m, a.n, a.k), (a.a, a.b, a.c))
        };
        let tile = self.policy.matmul(ctx, self, &gemm.product());
        self.gemm(ctx, &gemm, tile)
    }

    /// A weight's and its bias's gradients. One launch where the chosen kernel folds the bias
    /// gradient in (a row of ones appended to xᵀ), else the product and a bias-gradient launch.
    pub fn weight_grads(&self, ctx: &GpuContext, a: &WeightGradArgs) -> Vec<Launch> {
        let variant = MatmulVariant {
            trans_a: true,
            ..Default::default()
        };
        let gemm = Gemm {
            defer: a.defer,
            ..Gemm::new(a.label, variant, (a.m, a.n, a.k), (a.x, a.dy, a.dw))
        };
        let tile = self.policy.matmul(ctx, self, &gemm.product());
        if matches!(tile, MatmulTile::Tile4 | MatmulTile::Tiled(_)) {
            let folded = Gemm {
                variant: MatmulVariant {
                    row_sums: true,
                    ..gemm.variant
                },
                sums: Some(a.db),
                ..gemm
            };
            return self.gemm(ctx, &folded, tile);
        }
        let mut launches = self.gemm(ctx, &gemm, tile);
        launches.extend(self.bias_grad(
            ctx,
            &BiasGradArgs {
                rows: a.k,
                cols: a.n,
                dy: a.dy,
                db: a.db,
            },
        ));
        launches
    }

    /// The launches of `g` with kernel `tile`: the product, and the sum of its split-K slices
    /// when the policy splits K.
    pub(crate) fn gemm(&self, ctx: &GpuContext, g: &Gemm, tile: MatmulTile) -> Vec<Launch> {
        g.check(tile);
        // Output rows, the row of ones' included.
        let m_out = g.m + g.variant.row_sums as usize;
        let shape = DispatchShape::of(tile, g.n);
        let [gx, gy] = shape.workgroups(m_out, g.n);
        let width = Width {
            invocations: shape.invocations(m_out, g.n),
            workgroups: gx as usize * gy as usize,
        };
        let splits = self.policy.splits(self, width, g.k);
        let dims = ctx.uniform(
            "matmul dims",
            &MatmulDims {
                m: g.m as u32,
                n: g.n as u32,
                k: g.k as u32,
                splits: splits as u32,
            },
        );
        let conv = g
            .conv
            .map(|c| ctx.uniform("matmul conv", &ConvGeom::of(&c)));
        let partials = (splits > 1)
            .then(|| ctx.storage("split-K partials", (splits * m_out * g.n * 4) as u64));
        let out = partials.as_ref().map(View::whole).unwrap_or(g.c);
        let [x, y] = shape.workgroups(m_out, g.n);
        let mut product = self.product_launch(
            g,
            tile,
            splits > 1,
            (&dims, conv.as_ref()),
            out,
            [x, y, splits as u32],
        );
        product.variant = tile.name();
        // An implicit-GEMM convolution reads its columns from x: each pixel once, to a
        // perfect cache.
        let a_floats = g.conv.map_or(g.m * g.k, |c| c.input_len());
        let mut launches = vec![product.with_work(
            2 * (m_out * g.n * g.k) as u64,
            4 * (a_floats + g.k * g.n + splits * m_out * g.n) as u64,
        )];
        let deferred = partials
            .as_ref()
            .is_some_and(|p| g.defer_sum(p, splits, m_out));
        if let Some(partials) = partials.as_ref().filter(|_| !deferred) {
            let constants = self.matmul_constants(g.variant, false);
            let kernel = Kernel {
                module: ModuleKey::Matmul,
                entry: "sum_splits",
                constants: &constants,
            };
            let sum = self.launch(
                kernel,
                g.label,
                [(g.n as u32).div_ceil(8), (m_out as u32).div_ceil(8), 1],
                &matmul_binds(g, (&dims, conv.as_ref()), View::whole(partials), g.c),
            );
            launches.push(sum.with_work(
                (splits * m_out * g.n) as u64,
                4 * ((splits + 1) * m_out * g.n) as u64,
            ));
        }
        launches
    }

    /// TRANS_A .. SPLIT of `matmul_common.wgsl`.
    fn matmul_constants(&self, v: MatmulVariant, split: bool) -> [(&'static str, f64); 7] {
        [
            ("TRANS_A", v.trans_a as u32 as f64),
            ("TRANS_B", v.trans_b as u32 as f64),
            ("BIAS", v.bias as u32 as f64),
            ("ACT", v.act.code()),
            ("DACT", v.dact.code()),
            ("ROW_SUMS", v.row_sums as u32 as f64),
            ("SPLIT", split as u32 as f64),
        ]
    }

    /// The product's own launch, writing `out` (c, or the split-K partials).
    fn product_launch(
        &self,
        g: &Gemm,
        tile: MatmulTile,
        split: bool,
        uniforms: (&wgpu::Buffer, Option<&wgpu::Buffer>),
        out: View,
        workgroups: [u32; 3],
    ) -> Launch {
        let v = g.variant;
        let common = self.matmul_constants(v, split);
        match tile {
            MatmulTile::Blocked(block) => {
                let (x, y) = DispatchShape::of(tile, g.n).lanes;
                let constants = [
                    ("BIAS", v.bias as u32 as f64),
                    ("ACT", v.act.code()),
                    ("DACT", v.dact.code()),
                    ("SPLIT", split as u32 as f64),
                    ("LANES_X", x as f64),
                    ("LANES_Y", y as f64),
                ];
                let kernel = Kernel {
                    module: ModuleKey::Blocked(block, v.trans_a, v.trans_b),
                    entry: "main",
                    constants: &constants,
                };
                let binds = [
                    Bind::Uniform(uniforms.0),
                    g.a.into(),
                    g.b.into(),
                    g.bias.into(),
                    g.aux.into(),
                    out.into(),
                ];
                self.launch(kernel, g.label, workgroups, &binds)
            }
            MatmulTile::Tiled(tiling) => {
                let widths = tiling.load_widths(v, (g.m, g.n, g.k), g.conv.as_ref());
                let mut constants = common.to_vec();
                constants.push(("IM2COL", v.im2col as u32 as f64));
                // vec4 loads along K need split-K slices that start on multiples of 4.
                constants.push(("K_ALIGN", widths.0.max(widths.1) as f64));
                let kernel = Kernel {
                    module: ModuleKey::Tiled(tiling, widths),
                    entry: "main",
                    constants: &constants,
                };
                self.launch(
                    kernel,
                    g.label,
                    workgroups,
                    &matmul_binds(g, uniforms, g.a, out),
                )
            }
            MatmulTile::Tile4 | MatmulTile::Tile16 => {
                let entry = if tile == MatmulTile::Tile4 {
                    "tile4"
                } else {
                    "tile16"
                };
                let kernel = Kernel {
                    module: ModuleKey::Matmul,
                    entry,
                    constants: &common,
                };
                self.launch(
                    kernel,
                    g.label,
                    workgroups,
                    &matmul_binds(g, uniforms, g.a, out),
                )
            }
        }
    }

    /// `db = Σ dy` over rows: one launch, or two (sums over slices of rows, then their sum)
    /// when the columns alone are too few to keep the adapter busy.
    pub fn bias_grad(&self, ctx: &GpuContext, a: &BiasGradArgs) -> Vec<Launch> {
        let width = Width {
            invocations: a.cols,
            workgroups: a.cols.div_ceil(64),
        };
        let splits = self.policy.splits(self, width, a.rows);
        let dims = ctx.uniform(
            "bias dims",
            &BiasDims {
                rows: a.rows as u32,
                cols: a.cols as u32,
                splits: splits as u32,
                _pad: 0,
            },
        );
        let partials =
            (splits > 1).then(|| ctx.storage("bias partials", (splits * a.cols * 4) as u64));
        let out = partials.as_ref().map(View::whole).unwrap_or(a.db);
        let kernel = Kernel {
            module: ModuleKey::Bias,
            entry: "main",
            constants: &[],
        };
        let sums = self.launch(
            kernel,
            "bias_grad",
            [(a.cols as u32).div_ceil(64), splits as u32, 1],
            &[Bind::Uniform(&dims), a.dy.into(), out.into()],
        );
        let mut launches = vec![sums.with_work(
            (a.rows * a.cols) as u64,
            4 * (a.rows * a.cols + splits * a.cols) as u64,
        )];
        if let Some(partials) = &partials {
            // The sum of a 1 x cols split-K "product" with no epilogue.
            let dims = ctx.uniform(
                "bias sum dims",
                &MatmulDims {
                    m: 1,
                    n: a.cols as u32,
                    k: a.rows as u32,
                    splits: splits as u32,
                },
            );
            let kernel = Kernel {
                module: ModuleKey::Matmul,
                entry: "sum_splits",
                constants: &[],
            };
            let binds = [
                Bind::Uniform(&dims),
                View::whole(partials).into(),
                Bind::Unused,
                Bind::Unused,
                Bind::Unused,
                a.db.into(),
                Bind::Unused,
                Bind::Unused,
            ];
            let sum = self.launch(
                kernel,
                "bias_grad",
                [(a.cols as u32).div_ceil(8), 1, 1],
                &binds,
            );
            launches
                .push(sum.with_work((splits * a.cols) as u64, 4 * ((splits + 1) * a.cols) as u64));
        }
        launches
    }
}

/// The MATMUL family's bindings for `g`, reading `a` and writing `out`.
fn matmul_binds<'a>(
    g: &Gemm<'a>,
    (dims, conv): (&'a wgpu::Buffer, Option<&'a wgpu::Buffer>),
    a: View<'a>,
    out: View<'a>,
) -> [Bind<'a>; 8] {
    [
        Bind::Uniform(dims),
        a.into(),
        g.b.into(),
        g.bias.into(),
        g.aux.into(),
        out.into(),
        g.sums.into(),
        conv.map_or(Bind::Unused, Bind::Uniform),
    ]
}

/// Split-K weight gradients whose slices the optimizer sums where it reads them
/// (`step_end.wgsl`'s `fold_splits`), each saving its sum launch: at most
/// [`MAX_DEFERRED_SUMS`] per step, one binding each. The plan offers it to the backward of
/// a training step whose end is fused.
#[derive(Debug, Default)]
pub struct DeferredSums(RefCell<Vec<DeferredSum>>);

/// The most split-K sums one step leaves to the optimizer.
pub const MAX_DEFERRED_SUMS: usize = 2;

/// One product's slices, to be summed into the gradient buffer.
#[derive(Clone, Debug)]
pub struct DeferredSum {
    /// `[splits, rows, n]`.
    pub partials: wgpu::Buffer,
    pub splits: usize,
    /// The product's rows (`c`'s), then the row of ones' sums where `sums_offset` is given.
    pub m: usize,
    pub n: usize,
    /// Where `c` and the row sums start in the gradient buffer, in floats.
    pub c_offset: u64,
    pub sums_offset: Option<u64>,
}

impl DeferredSums {
    /// The sums left to the optimizer so far.
    pub fn taken(&self) -> Vec<DeferredSum> {
        self.0.borrow().clone()
    }
}

impl Gemm<'_> {
    /// Leaves the sum of `partials` to the optimizer where a sink was given and has room,
    /// and the sum has no epilogue and vec4-aligned rows (the optimizer reads vec4).
    fn defer_sum(&self, partials: &wgpu::Buffer, splits: usize, m_out: usize) -> bool {
        let Some(sink) = self.defer else {
            return false;
        };
        let v = self.variant;
        let plain = !v.bias && v.act == Activation::Linear && v.dact == Activation::Linear;
        let offsets = [Some(self.c.offset), self.sums.map(|s| s.offset)];
        let aligned =
            self.n.is_multiple_of(4) && offsets.iter().flatten().all(|o| o.is_multiple_of(4));
        let mut sums = sink.0.borrow_mut();
        if !plain || !aligned || sums.len() >= MAX_DEFERRED_SUMS {
            return false;
        }
        sums.push(DeferredSum {
            partials: partials.clone(),
            splits,
            m: m_out - v.row_sums as usize,
            n: self.n,
            c_offset: self.c.offset,
            sums_offset: self.sums.map(|s| s.offset).filter(|_| v.row_sums),
        });
        true
    }
}
