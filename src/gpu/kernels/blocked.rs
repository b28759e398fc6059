//! The register-blocked matmul of CPU adapters: `shaders/matmul_blocked.wgsl` plus an entry
//! point generated here for one block shape and transposition (the file says why generated).

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::family::{assemble, read, read_write, uniform, FamilyDecl, SourceParts};
use super::MatmulDims;

const MATMUL_BLOCKED_WGSL: &str = include_str!("../../../shaders/matmul_blocked.wgsl");

/// The blocked kernel's own family: every operand is an array of vec4, and it has no row sums
/// or convolution (the matmul family's bindings 6 and 7).
pub static MATMUL_BLOCKED: FamilyDecl = FamilyDecl {
    name: "matmul_blocked",
    bindings: &[
        uniform("dims", &MatmulDims::LAYOUT),
        read("a"),
        read("b"),
        read("bias"),
        read("aux"),
        read_write("c"),
    ],
};

/// The `rows x cols` block of C that one invocation computes; both multiples of 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Block {
    pub rows: u32,
    pub cols: u32,
}

/// Lanes per workgroup: one 8-wide SIMD vector of a CPU adapter (AVX2's f32x8).
const LANES: u32 = 8;

impl Block {
    /// 32x32: the most multiply-adds per load that LLVM still compiles in seconds (3.3 s on
    /// lavapipe, without a shader cache).
    pub const LARGE: Block = Block { rows: 32, cols: 32 };
    /// 32x16: for big outputs too narrow for 8 lanes of 32 columns (1.2 s to compile).
    pub const MEDIUM: Block = Block { rows: 32, cols: 16 };
    /// 16x16: for products too small to pay for a longer compile (0.5 s).
    pub const SMALL: Block = Block { rows: 16, cols: 16 };

    /// Whether the blocked kernel can run `[m, k] · [k, n]`: every dimension a multiple of 4,
    /// since all its loads and stores are vec4.
    pub fn fits(m: usize, n: usize, k: usize) -> bool {
        m.is_multiple_of(4) && n.is_multiple_of(4) && k.is_multiple_of(4) && m * n * k > 0
    }

    /// The block for `[m, k] · [k, n]`. Measured on lavapipe (GFLOP/s, one process, blocks
    /// 16x16 / 32x16 / 32x32): 1024³ 26 / 31 / 42; 128x512x784 25 / 24 / 37; 128x128x9216
    /// 27 / 32 / 25 (32x32 leaves half the lanes idle there). Products under 2^26
    /// multiply-adds (a few ms) take the block that compiles fastest.
    pub fn for_product(m: usize, n: usize, k: usize) -> Block {
        if m * n * k < 1 << 26 {
            Block::SMALL
        } else if n >= 32 * LANES as usize {
            Block::LARGE
        } else {
            Block::MEDIUM
        }
    }

    /// The workgroup's 8 lanes as (along columns, along rows). Lanes go along the columns
    /// first: lanes sharing their rows of A read the same addresses and neighbouring ones of B
    /// (lanes stacked along rows ran 2-5x slower on lavapipe); along the rows only as far as
    /// the output is too narrow to give every lane its own columns.
    pub fn lanes(self, n: usize) -> (u32, u32) {
        let blocks_x = n.div_ceil(self.cols as usize) as u32;
        let mut x = LANES;
        while x > 1 && x / 2 >= blocks_x {
            x /= 2;
        }
        (x, LANES / x)
    }
}

/// Every split of the workgroup's lanes that [`Block::lanes`] can choose: (x, LANES / x) for x
/// a power of two from LANES down to 1.
pub(crate) fn lane_splits() -> Vec<(u32, u32)> {
    std::iter::successors(Some(LANES), |x| (*x > 1).then_some(x / 2))
        .map(|x| (x, LANES / x))
        .collect()
}

impl Block {
    /// Sides positive multiples of 4.
    pub fn is_valid(self) -> bool {
        self.rows.is_multiple_of(4) && self.cols.is_multiple_of(4) && self.rows > 0 && self.cols > 0
    }

    /// The module: the shared part followed by this block's entry point `main`.
    pub(crate) fn module(self, trans_a: bool, trans_b: bool) -> SourceParts {
        assert!(
            self.is_valid(),
            "block sides must be positive multiples of 4: {self:?}"
        );
        let mut main = String::new();
        self.write_main(&mut main, trans_a, trans_b)
            .expect("writing to a String cannot fail");
        (
            format!(
                "matmul_blocked ({}x{}, trans {}{})",
                self.rows, self.cols, trans_a as u8, trans_b as u8
            ),
            vec!["matmul_blocked.wgsl"],
            assemble("", &[MATMUL_BLOCKED_WGSL, &main]),
        )
    }

    fn write_main(self, s: &mut String, trans_a: bool, trans_b: bool) -> std::fmt::Result {
        let (r, c) = (self.rows as usize, self.cols as usize);
        let groups = c / 4;
        writeln!(
            s,
            "// Block {r}x{c}, TRANS_A = {trans_a}, TRANS_B = {trans_b}. acc_i_j holds C[row0 + i, col0 + 4j .. col0 + 4j + 4]."
        )?;
        writeln!(s, "override LANES_X: u32 = 8u;")?;
        writeln!(s, "override LANES_Y: u32 = 1u;")?;
        writeln!(s, "@compute @workgroup_size(LANES_X, LANES_Y)")?;
        writeln!(
            s,
            "fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{"
        )?;
        writeln!(s, "    let row0 = gid.y * {r}u;")?;
        writeln!(s, "    let col0 = gid.x * {c}u;")?;
        writeln!(s, "    if (row0 >= dims.m || col0 >= dims.n) {{ return; }}")?;
        writeln!(
            s,
            "    let m4 = dims.m / 4u; let n4 = dims.n / 4u; let k4 = dims.k / 4u;"
        )?;
        // Where each row of A and column of B starts, clamped: computed once, not per k.
        if trans_a {
            writeln!(
                s,
                "    // A is [K, M]: vec4 q of a row of A holds rows row0 + 4q .. + 4."
            )?;
            for q in 0..r / 4 {
                writeln!(s, "    let ra{q} = min(row0 / 4u + {q}u, m4 - 1u);")?;
            }
        } else {
            writeln!(
                s,
                "    // A is [M, K]: ra_i is where row row0 + i starts, in vec4."
            )?;
            for i in 0..r {
                writeln!(s, "    let ra{i} = min(row0 + {i}u, dims.m - 1u) * k4;")?;
            }
        }
        if trans_b {
            writeln!(
                s,
                "    // B is [N, K]: cb_j is where column col0 + j starts, in vec4."
            )?;
            for j in 0..c {
                writeln!(s, "    let cb{j} = min(col0 + {j}u, dims.n - 1u) * k4;")?;
            }
        } else {
            writeln!(
                s,
                "    // B is [K, N]: vec4 cb_j of a row of B holds columns col0 + 4j .. + 4."
            )?;
            for j in 0..groups {
                writeln!(s, "    let cb{j} = min(col0 / 4u + {j}u, n4 - 1u);")?;
            }
        }
        for i in 0..r {
            let decls: Vec<String> = (0..groups)
                .map(|j| format!("var acc{i}_{j} = vec4<f32>();"))
                .collect();
            writeln!(s, "    {}", decls.join(" "))?;
        }
        writeln!(s, "    let ks = k4_range(gid.z);")?;
        writeln!(s, "    for (var k = ks.x; k < ks.y; k++) {{")?;
        self.write_step(s, (trans_a, trans_b))?;
        writeln!(s, "    }}")?;
        for i in 0..r {
            for j in 0..groups {
                writeln!(
                    s,
                    "    store4(row0 + {i}u, col0 / 4u + {j}u, gid.z, acc{i}_{j});"
                )?;
            }
        }
        writeln!(s, "}}")
    }

    /// One 4-deep step of K at vec4 index `k`: the loads, then each accumulator's chain of 4
    /// multiply-adds. (Unrolling 2 or 4 steps, to use each 64-byte line of A at once, measured
    /// 10% slower on lavapipe: the longer chains need more spilled values of B.)
    fn write_step(self, s: &mut String, (trans_a, trans_b): (bool, bool)) -> std::fmt::Result {
        let (r, c) = (self.rows as usize, self.cols as usize);
        let groups = c / 4;
        let comp = ["x", "y", "z", "w"];
        writeln!(s, "        {{")?;
        // b{kk}_{j}: columns col0 + 4j .. + 4 of op(B) at K index 4k + kk.
        if trans_b {
            for j in 0..c {
                writeln!(s, "        let bt{j} = b[cb{j} + k];")?;
            }
            for (kk, ck) in comp.iter().enumerate() {
                for j in 0..groups {
                    let cols: Vec<String> = (4 * j..4 * j + 4)
                        .map(|col| format!("bt{col}.{ck}"))
                        .collect();
                    writeln!(s, "        let b{kk}_{j} = vec4<f32>({});", cols.join(", "))?;
                }
            }
        } else {
            for kk in 0..4 {
                writeln!(s, "        let kb{kk} = (k * 4u + {kk}u) * n4;")?;
                for j in 0..groups {
                    writeln!(s, "        let b{kk}_{j} = b[kb{kk} + cb{j}];")?;
                }
            }
        }
        // Element (i, kk) of op(A): row row0 + i, K index 4k + kk.
        let a_elem = |i: usize, kk: usize| -> String {
            if trans_a {
                format!("a{kk}_{}.{}", i / 4, comp[i % 4])
            } else {
                format!("a{i}.{}", comp[kk])
            }
        };
        for i in 0..r {
            if trans_a {
                if i % 4 == 0 {
                    let q = i / 4;
                    for kk in 0..4 {
                        writeln!(
                            s,
                            "        let a{kk}_{q} = a[(k * 4u + {kk}u) * m4 + ra{q}];"
                        )?;
                    }
                }
            } else {
                writeln!(s, "        let a{i} = a[ra{i} + k];")?;
            }
            for j in 0..groups {
                // The chain adds the products in K's order, as the CPU twin does.
                let mut e = format!("acc{i}_{j}");
                for kk in 0..4 {
                    e = format!("fma(vec4<f32>({}), b{kk}_{j}, {e})", a_elem(i, kk));
                }
                writeln!(s, "        acc{i}_{j} = {e};")?;
            }
        }
        writeln!(s, "        }}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_follow_the_columns_first() {
        assert_eq!(Block::LARGE.lanes(1024), (8, 1));
        assert_eq!(Block::LARGE.lanes(256), (8, 1));
        assert_eq!(Block::MEDIUM.lanes(64), (4, 2));
        assert_eq!(Block::MEDIUM.lanes(16), (1, 8));
        assert_eq!(Block::MEDIUM.lanes(100), (8, 1));
    }

    /// A block smaller than any the runtime uses, at every transposition: valid WGSL that binds
    /// as the family declares (the runtime's blocks are checked with every module).
    #[test]
    fn small_blocks_generate_modules_that_match_the_declaration() {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let key = super::super::ModuleKey::Blocked(Block { rows: 4, cols: 4 }, ta, tb);
            super::super::family::check_module(&key.source()).unwrap();
        }
    }
}
