// matmul_common: what matmul.wgsl and matmul_tiled.wgsl share, prepended to each by the host
// (src/gpu/kernels/matmul.rs, tiled.rs): the variant's override constants, the uniforms, the
// bindings, split-K's K range, and the epilogue.
//
// Layouts (all row-major): A is [M, K] (TRANS_A: read from a [K, M] buffer, as for
// dW = xᵀ·dy); B is [K, N] (TRANS_B: from an [N, K] buffer, as for dx = dy·Wᵀ); bias: [N];
// aux, c: [M, N] (or the split-K partials [splits, rows_out, N]); sums: [N].
// Epilogue, in order: + bias[n] (BIAS); the activation ACT (see the prelude); times the
// derivative of the activation DACT given its output aux[m, n], which fuses the hidden
// layers' activation backward into dx = dy·Wᵀ.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override BIAS: bool = false;
// ROW_SUMS (weight gradients, with no epilogue): op(A) gets an extra row M of ones, whose
// output row, Σ_k op(B)[k, n], goes to `sums[n]` (the bias gradient db = Σ dy, folded into
// dW = xᵀ·dy: one launch fewer per layer).
override ROW_SUMS: bool = false;
// Set with splits > 1: the store writes raw partials. An override rather than a test of
// dims.splits so that each pipeline compiles one store path, not two (half the compile time
// of tile16 on lavapipe).
override SPLIT: bool = false;

// With splits > 1 (split-K, for products whose output is too small to keep the device busy
// but whose K is long, such as a convolution's dW), grid z picks a slice of K and each slice
// writes raw partial sums to c[split, m, n]; `sum_splits` then adds the slices in a fixed
// order (deterministic, no atomics) and applies the epilogue.
struct Dims {
    m: u32,
    n: u32,
    k: u32,
    splits: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
// ElemA, ElemB: f32, or vec4<f32> where matmul_tiled.wgsl loads 4 consecutive floats at once
// (each file declares its aliases).
@group(0) @binding(1) var<storage, read> a: array<ElemA>;
@group(0) @binding(2) var<storage, read> b: array<ElemB>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> aux: array<f32>;
@group(0) @binding(5) var<storage, read_write> c: array<f32>;
@group(0) @binding(6) var<storage, read_write> sums: array<f32>;

// The convolution whose input `a` is, for matmul_tiled.wgsl's IM2COL (implicit GEMM); as
// `Geom` in im2col.wgsl.
struct Conv {
    batch: u32,
    in_h: u32,
    in_w: u32,
    in_c: u32,
    out_h: u32,
    out_w: u32,
    k_h: u32,
    k_w: u32,
    stride_h: u32,
    stride_w: u32,
    pad_top: u32,
    pad_left: u32,
}
@group(0) @binding(7) var<uniform> conv: Conv;

// Output rows: M, plus the row of ones' sums.
fn rows_out() -> u32 {
    return dims.m + select(0u, 1u, ROW_SUMS);
}

// Split-K slices start at multiples of K_ALIGN, so that vec4 loads along K never straddle two.
override K_ALIGN: u32 = 1u;

// The K range [x, y) of split `z`.
fn k_range(z: u32) -> vec2<u32> {
    let chunk = ((dims.k + dims.splits - 1u) / dims.splits + K_ALIGN - 1u) / K_ALIGN * K_ALIGN;
    let begin = min(z * chunk, dims.k);
    return vec2<u32>(begin, min(begin + chunk, dims.k));
}

fn epilogue(value: f32, row: u32, col: u32) -> f32 {
    var v = value;
    if (BIAS) {
        v += bias[col];
    }
    v = activate(v);
    if (DACT != 0u) {
        v = dact(v, aux[row * dims.n + col]);
    }
    return v;
}
