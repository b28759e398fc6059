//! The workgroup-memory matmul of GPUs: `shaders/matmul_tiled.wgsl` with its tile shape
//! prepended as constants (per-thread register arrays need constant sizes, which override
//! constants cannot give).

use super::{MATMUL_COMMON_WGSL, MATMUL_TILED_WGSL};

/// A workgroup of `wg_x x wg_y` threads, each computing `tm x tn` outputs, over K steps of
/// `bk` held in workgroup memory: a `(wg_y·tm) x (wg_x·tn)` tile of C per workgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tiling {
    pub wg_x: u32,
    pub wg_y: u32,
    pub tm: u32,
    pub tn: u32,
    pub bk: u32,
}

impl Tiling {
    /// 64x64 tiles, 4x4 per thread, 256 threads: the usual first step up from no tiling.
    pub const T64: Tiling = Tiling {
        wg_x: 16,
        wg_y: 16,
        tm: 4,
        tn: 4,
        bk: 16,
    };
    /// 128x128 tiles, 8x8 per thread: twice the multiply-adds per workgroup-memory read, for
    /// big products (fewer, larger workgroups).
    pub const T128: Tiling = Tiling {
        wg_x: 16,
        wg_y: 16,
        tm: 8,
        tn: 8,
        bk: 8,
    };
    /// 128x64 tiles, 8x4 per thread: for outputs with few columns.
    pub const T128X64: Tiling = Tiling {
        wg_x: 16,
        wg_y: 16,
        tm: 8,
        tn: 4,
        bk: 16,
    };

    /// Output rows and columns per workgroup.
    pub fn tile(self) -> (u32, u32) {
        (self.wg_y * self.tm, self.wg_x * self.tn)
    }

    /// Bytes of workgroup memory the kernel declares.
    pub fn workgroup_bytes(self) -> u32 {
        let (bm, bn) = self.tile();
        4 * self.bk * (bm + bn)
    }

    /// Whether a device with these limits can run this tiling.
    pub fn fits(self, limits: &wgpu::Limits) -> bool {
        self.wg_x * self.wg_y <= limits.max_compute_invocations_per_workgroup
            && self.wg_x <= limits.max_compute_workgroup_size_x
            && self.wg_y <= limits.max_compute_workgroup_size_y
            && self.workgroup_bytes() <= limits.max_compute_workgroup_storage_size
    }

    /// The WGSL source: the tile shape as constants, `matmul_common.wgsl`, then
    /// `matmul_tiled.wgsl`.
    pub fn source(self) -> String {
        let Tiling {
            wg_x,
            wg_y,
            tm,
            tn,
            bk,
        } = self;
        assert!(
            [wg_x, wg_y, tm, tn, bk].iter().all(|&v| v > 0),
            "every side of a tiling is positive: {self:?}"
        );
        format!(
            "const WG_X: u32 = {wg_x}u;\nconst WG_Y: u32 = {wg_y}u;\nconst TM: u32 = {tm}u;\n\
             const TN: u32 = {tn}u;\nconst BK: u32 = {bk}u;\n\n{MATMUL_COMMON_WGSL}{MATMUL_TILED_WGSL}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tiling_is_valid_wgsl() {
        let small = Tiling {
            wg_x: 4,
            wg_y: 2,
            tm: 2,
            tn: 3,
            bk: 5,
        };
        for t in [small, Tiling::T64, Tiling::T128, Tiling::T128X64] {
            let src = t.source();
            let module = naga::front::wgsl::parse_str(&src)
                .unwrap_or_else(|e| panic!("{t:?}: {}", e.emit_to_string(&src)));
            naga::valid::Validator::new(Default::default(), naga::valid::Capabilities::all())
                .validate(&module)
                .unwrap_or_else(|e| panic!("{t:?}: {e:?}"));
        }
    }
}
