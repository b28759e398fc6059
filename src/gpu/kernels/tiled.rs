//! The workgroup-memory matmul of GPUs: `shaders/matmul_tiled.wgsl` with its tile shape
//! prepended as constants (per-thread register arrays need constant sizes, which override
//! constants cannot give).

use serde::{Deserialize, Serialize};

use super::family::{assemble, SourceParts};
use super::matmul::MATMUL_COMMON_WGSL;
use super::MatmulVariant;
use crate::floor::Geom2d;

const MATMUL_TILED_WGSL: &str = include_str!("../../../shaders/matmul_tiled.wgsl");

/// A workgroup of `wg_x x wg_y` threads, each computing `tm x tn` outputs, over K steps of
/// `bk` held in workgroup memory: a `(wg_y·tm) x (wg_x·tn)` tile of C per workgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tiling {
    pub wg_x: u32,
    pub wg_y: u32,
    pub tm: u32,
    pub tn: u32,
    pub bk: u32,
    /// Load 4 floats at once from each operand whose contiguous side allows it (see
    /// [`Tiling::load_widths`]); the tile's sides must then be multiples of 4.
    pub vec4: bool,
    /// Copies of the tiles in workgroup memory: 1, or 2 to double-buffer them.
    pub buffers: u32,
}

impl Tiling {
    /// 64x64 tiles, 4x4 per thread, 256 threads: the usual first step up from no tiling.
    pub const T64: Tiling = Tiling {
        wg_x: 16,
        wg_y: 16,
        tm: 4,
        tn: 4,
        bk: 16,
        vec4: false,
        buffers: 1,
    };
    /// 128x128 tiles, 8x8 per thread: twice the multiply-adds per workgroup-memory read, for
    /// big products (fewer, larger workgroups).
    pub const T128: Tiling = Tiling {
        wg_x: 16,
        wg_y: 16,
        tm: 8,
        tn: 8,
        bk: 8,
        vec4: false,
        buffers: 1,
    };
    /// 128x64 tiles, 8x4 per thread: for outputs with few columns.
    pub const T128X64: Tiling = Tiling {
        wg_x: 16,
        wg_y: 16,
        tm: 8,
        tn: 4,
        bk: 16,
        vec4: false,
        buffers: 1,
    };

    /// The presets the tuner times, each as it is and [`Tiling::pipelined`].
    pub const PRESETS: [Tiling; 3] = [Tiling::T64, Tiling::T128, Tiling::T128X64];

    /// Every named tiling, plain (each also runs [`Tiling::pipelined`]): the one list that the
    /// shader variants, the tuner's candidates and the fill ladder are drawn from.
    pub const ALL: [Tiling; 6] = [
        Tiling::T64,
        Tiling::T128,
        Tiling::T128X64,
        Tiling::T32,
        Tiling::T16,
        Tiling::T16X8,
    ];

    /// 32x32 tiles, 4x4 per thread, 64 threads: four times 64x64's workgroups.
    pub const T32: Tiling = Tiling {
        wg_x: 8,
        wg_y: 8,
        tm: 4,
        tn: 4,
        bk: 16,
        vec4: false,
        buffers: 1,
    };
    /// 16x16 tiles, 2x2 per thread, 64 threads.
    pub const T16: Tiling = Tiling {
        tm: 2,
        tn: 2,
        ..Tiling::T32
    };
    /// 16x8 tiles, 2x1 per thread, 64 threads: 128 outputs per workgroup, which fills 264
    /// workgroups from 33,792 outputs (a 128x512 dense layer's forward has 65,536).
    pub const T16X8: Tiling = Tiling {
        tm: 2,
        tn: 1,
        ..Tiling::T32
    };

    /// GPUs' fill ladder, largest tiles first, all pipelined: a product or convolution takes
    /// the first whose grid fills the GPU ([`Tiling::first_filling`]). Smaller tiles reuse
    /// each loaded float fewer times, which costs nothing where the launch would otherwise
    /// leave most multiprocessors idle: at batch 128 every such product is a few MFLOP,
    /// bound by latency, not by arithmetic.
    pub const FILL_LADDER: [Tiling; 4] = [
        Tiling::T64.pipelined(),
        Tiling::T32.pipelined(),
        Tiling::T16.pipelined(),
        Tiling::T16X8.pipelined(),
    ];

    /// Workgroups of an `m x n` output.
    pub fn grid(self, m: usize, n: usize) -> usize {
        let (bm, bn) = self.tile();
        m.div_ceil(bm as usize) * n.div_ceil(bn as usize)
    }

    /// The first of `ladder` for which `fills` holds, else its last (smallest) one.
    pub fn first_filling(ladder: &[Tiling], fills: impl Fn(Tiling) -> bool) -> Tiling {
        let last = *ladder.last().expect("a ladder has a tiling");
        ladder.iter().copied().find(|&t| fills(t)).unwrap_or(last)
    }

    /// This tiling with vec4 loads and double-buffered tiles: fewer, wider memory
    /// transactions and one barrier per K step instead of two, for twice the workgroup memory.
    pub const fn pipelined(self) -> Tiling {
        Tiling {
            vec4: true,
            buffers: 2,
            ..self
        }
    }

    /// Output rows and columns per workgroup.
    pub fn tile(self) -> (u32, u32) {
        (self.wg_y * self.tm, self.wg_x * self.tn)
    }

    /// Bytes of workgroup memory the kernel declares.
    pub fn workgroup_bytes(self) -> u32 {
        let (bm, bn) = self.tile();
        4 * self.bk * (bm + bn) * self.buffers
    }

    /// Floats per global load of A and B for this product: 4 where vec4 loads are on, the
    /// tile's sides allow them, and [`Tiling::vec4_operands`] allows them.
    pub fn load_widths(
        self,
        variant: MatmulVariant,
        shape: (usize, usize, usize),
        conv: Option<&Geom2d>,
    ) -> (u32, u32) {
        let (bm, bn) = self.tile();
        let on =
            self.vec4 && bm.is_multiple_of(4) && bn.is_multiple_of(4) && self.bk.is_multiple_of(4);
        let (a, b) = Tiling::vec4_operands(variant, shape, conv);
        let width = |vec4: bool| if on && vec4 { 4 } else { 1 };
        (width(a), width(b))
    }

    /// Whether A and B of this product can be read as vec4: their contiguous side is a
    /// multiple of 4, so that a vec4 never straddles an edge. That side is K for A `[M, K]`
    /// and for B `[N, K]` (`trans_b`), M for A `[K, M]` (`trans_a`), N for B `[K, N]`, and the
    /// input's channels for im2col's columns (`conv`).
    pub fn vec4_operands(
        variant: MatmulVariant,
        (m, n, k): (usize, usize, usize),
        conv: Option<&Geom2d>,
    ) -> (bool, bool) {
        let a_side = match conv {
            Some(g) => g.in_c,
            None if variant.trans_a => m,
            None => k,
        };
        let b_side = if variant.trans_b { k } else { n };
        (a_side.is_multiple_of(4), b_side.is_multiple_of(4))
    }

    /// Every side positive, 1 or 2 buffers, and the tile's rows a multiple of 4 (A's tile is
    /// held as vec4s).
    pub fn is_valid(self) -> bool {
        [self.wg_x, self.wg_y, self.tm, self.tn, self.bk]
            .iter()
            .all(|&v| v > 0)
            && (1..=2).contains(&self.buffers)
            && (self.wg_y * self.tm).is_multiple_of(4)
    }

    /// Whether a device with these limits can run this tiling.
    pub fn fits(self, limits: &wgpu::Limits) -> bool {
        self.wg_x * self.wg_y <= limits.max_compute_invocations_per_workgroup
            && self.wg_x <= limits.max_compute_workgroup_size_x
            && self.wg_y <= limits.max_compute_workgroup_size_y
            && self.workgroup_bytes() <= limits.max_compute_workgroup_storage_size
    }

    /// Its name in profiles, e.g. `tiled wg 16x16 thread 8x8 bk 8
    /// vec4 buffers 2` (the last two only when set).
    pub fn name(self) -> String {
        let mut name = format!(
            "tiled wg {}x{} thread {}x{} bk {}",
            self.wg_x, self.wg_y, self.tm, self.tn, self.bk
        );
        if self.vec4 {
            name.push_str(" vec4");
        }
        if self.buffers != 1 {
            name.push_str(&format!(" buffers {}", self.buffers));
        }
        name
    }

    /// The module for loads `vec_a` and `vec_b` floats wide (from [`Tiling::load_widths`]):
    /// the tile shape and load types as constants and aliases, `matmul_common.wgsl`, then
    /// `matmul_tiled.wgsl`.
    pub(crate) fn module(self, (vec_a, vec_b): (u32, u32)) -> SourceParts {
        let Tiling {
            wg_x,
            wg_y,
            tm,
            tn,
            bk,
            buffers,
            ..
        } = self;
        assert!(
            self.is_valid(),
            "every side of a tiling is positive, it has 1 or 2 buffers and rows a multiple of 4: {self:?}"
        );
        let elem = |width: u32| match width {
            1 => "f32",
            4 => "vec4<f32>",
            _ => panic!("loads are 1 or 4 floats wide, not {width}"),
        };
        let header = format!(
            "const WG_X: u32 = {wg_x}u;\nconst WG_Y: u32 = {wg_y}u;\nconst TM: u32 = {tm}u;\n\
             const TN: u32 = {tn}u;\nconst BK: u32 = {bk}u;\nconst BUFFERS: u32 = {buffers}u;\n\
             const VEC_A: u32 = {vec_a}u;\nconst VEC_B: u32 = {vec_b}u;\n\
             alias ElemA = {};\nalias ElemB = {};\n\n",
            elem(vec_a),
            elem(vec_b)
        );
        (
            format!("matmul_tiled ({} loads {vec_a}x{vec_b})", self.name()),
            vec!["matmul_common.wgsl", "matmul_tiled.wgsl"],
            assemble(&header, &[MATMUL_COMMON_WGSL, MATMUL_TILED_WGSL]),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Odd tile shapes (as the tests' tilings) generate valid WGSL that binds as the matmul
    /// family declares, at every load width; the presets are checked with every module.
    #[test]
    fn odd_tilings_generate_modules_that_match_the_declaration() {
        let small = Tiling {
            wg_x: 4,
            wg_y: 2,
            tm: 2,
            tn: 3,
            bk: 5,
            vec4: false,
            buffers: 1,
        };
        let vec4 = Tiling {
            wg_x: 3,
            wg_y: 2,
            tm: 4,
            tn: 4,
            bk: 8,
            vec4: true,
            buffers: 2,
        };
        let mut keys = vec![super::super::ModuleKey::Tiled(small, (1, 1))];
        for w in [(1, 1), (4, 1), (1, 4), (4, 4)] {
            keys.push(super::super::ModuleKey::Tiled(vec4, w));
        }
        for key in keys {
            super::super::family::check_module(&key.source()).unwrap();
        }
    }

    /// The tuner's presets and the fill ladder are drawn from [`Tiling::ALL`], whose
    /// variants every shader test compiles.
    #[test]
    fn every_tiling_used_is_one_of_all() {
        let pipelined = Tiling::ALL.map(Tiling::pipelined);
        assert!(Tiling::PRESETS.iter().all(|t| Tiling::ALL.contains(t)));
        assert!(Tiling::FILL_LADDER.iter().all(|t| pipelined.contains(t)));
    }

    #[test]
    fn tilings_round_trip_through_json() {
        for t in Tiling::ALL
            .into_iter()
            .chain(Tiling::ALL.map(Tiling::pipelined))
        {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(serde_json::from_str::<Tiling>(&json).unwrap(), t, "{json}");
        }
        let zero = r#"{"wg_x":0,"wg_y":16,"tm":4,"tn":4,"bk":8,"vec4":false,"buffers":1}"#;
        assert!(!serde_json::from_str::<Tiling>(zero).unwrap().is_valid());
        let rows6 = r#"{"wg_x":4,"wg_y":3,"tm":2,"tn":4,"bk":8,"vec4":false,"buffers":1}"#;
        assert!(
            !serde_json::from_str::<Tiling>(rows6).unwrap().is_valid(),
            "6 rows"
        );
    }

    #[test]
    fn vec4_loads_only_where_the_contiguous_side_allows() {
        let t = Tiling::T64.pipelined();
        let plain = MatmulVariant::default();
        let dw = MatmulVariant {
            trans_a: true,
            ..plain
        };
        let dx = MatmulVariant {
            trans_b: true,
            ..plain
        };
        // x [128, 784] · W [784, 10]: A along K = 784, B along N = 10.
        assert_eq!(t.load_widths(plain, (128, 10, 784), None), (4, 1));
        // xᵀ [784, 128] · dy: A along M = 784, B along N.
        assert_eq!(t.load_widths(dw, (784, 10, 128), None), (4, 1));
        // dy [128, 10] · Wᵀ: A along K = 10, B [784, 10] along K.
        assert_eq!(t.load_widths(dx, (128, 784, 10), None), (1, 1));
        assert_eq!(Tiling::T64.load_widths(plain, (128, 12, 784), None), (1, 1));
    }
}
