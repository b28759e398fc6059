// matmul_blocked: C = op(A) · op(B) with the fused epilogue of `matmul.wgsl`, for M, N and K
// that are multiples of 4, on CPU adapters (lavapipe, WARP, SwiftShader).
//
// Layouts (all row-major, read and written as vec4 of 4 consecutive floats):
//   A is [M, K]; TRANS_A reads it from a [K, M] buffer instead.
//   B is [K, N]; TRANS_B reads it from an [N, K] buffer instead.
//   bias: [N], aux: [M, N], c: [M, N] (or the split-K partials [splits, M, N]).
//
// This file holds what every block shape shares; the entry point `main`, one R x C block of C
// per invocation, is generated per (R, C, TRANS_A, TRANS_B) by `src/gpu/kernels/blocked.rs`
// and appended below. Why generated, and why this shape, on a CPU adapter (measured on
// lavapipe, 1024³: 16 GFLOP/s for matmul.wgsl's tile16, 42 for a 32x32 block):
// - an invocation is one SIMD lane and the compiler neither unrolls loops nor keeps a local
//   array in registers, so the block's accumulators must be separate named variables and
//   every multiply-add written out: a generator does that, a hand-written loop cannot;
// - every storage load becomes a short loop over the lanes whatever its width, so a vec4 load
//   costs little more than a scalar one: all loads are vec4 (hence the multiples of 4);
// - the block's accumulators do not fit in registers, so each one takes its four
//   multiply-adds of a 4-deep step of K in one chain (loaded and stored once, not four times).
// Rows and columns past the edge are clamped to the last valid vec4 for loading (always in
// bounds, no branch in the inner loop) and not stored.

// SPLIT: write raw partial sums of a slice of K (split-K), not the epilogue's result.
override SPLIT: bool = false;
override BIAS: bool = false;

struct Dims {
    m: u32,
    n: u32,
    k: u32,
    splits: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> aux: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> c: array<vec4<f32>>;

// The range [x, y) of K in vec4 steps taken by split `z`.
fn k4_range(z: u32) -> vec2<u32> {
    let k4 = dims.k / 4u;
    let chunk = (k4 + dims.splits - 1u) / dims.splits;
    let begin = min(z * chunk, k4);
    return vec2<u32>(begin, min(begin + chunk, k4));
}

// Columns 4g..4g+3 of row `row` through the epilogue (see matmul_common.wgsl's `epilogue`).
fn epilogue4(value: vec4<f32>, row: u32, g: u32) -> vec4<f32> {
    var v = value;
    if (BIAS) {
        v += bias[g];
    }
    v = activate4(v);
    if (DACT != 0u) {
        v = dact4(v, aux[row * (dims.n / 4u) + g]);
    }
    return v;
}

// Stores columns 4g..4g+3 of row `row`: through the epilogue, or raw into split z's slice.
fn store4(row: u32, g: u32, z: u32, v: vec4<f32>) {
    let n4 = dims.n / 4u;
    if (row >= dims.m || g >= n4) {
        return;
    }
    if (SPLIT) {
        c[(z * dims.m + row) * n4 + g] = v;
    } else {
        c[row * n4 + g] = epilogue4(v, row, g);
    }
}

// ---- generated entry point follows ----
