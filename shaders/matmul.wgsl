// matmul: C = op(A) · op(B) with a fused epilogue, for any M, N, K.
//
// Layouts (all row-major):
//   A is [M, K]; TRANS_A reads it from a [K, M] buffer instead (dW = xᵀ·dy).
//   B is [K, N]; TRANS_B reads it from an [N, K] buffer instead (dx = dy·Wᵀ).
//   bias: [N], aux: [M, N], c: [M, N].
// Epilogue, in order: + bias[n] (BIAS); activation (ACT: 0 none, 1 relu, 2 sigmoid);
// times the derivative of an activation given its output aux[m, n] (DACT: 0 none, 1 relu,
// 2 sigmoid), which fuses the hidden layers' activation backward into dx = dy·Wᵀ.
//
// Each invocation computes a 4x4 tile of C in registers with no workgroup memory: on lavapipe
// workgroup barriers are very slow, and this shape measured ~7 GFLOP/s there versus 0.6 for
// 16x16 shared-memory tiles. Rows and columns past the edge are clamped to the last valid one
// for loading (always in bounds, no branches in the inner loop) and not stored.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override BIAS: bool = false;
override ACT: u32 = 0u;
override DACT: u32 = 0u;

struct Dims {
    m: u32,
    n: u32,
    k: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> aux: array<f32>;
@group(0) @binding(5) var<storage, read_write> c: array<f32>;

// Element (row, k) of op(A).
fn load_a(row: u32, k: u32) -> f32 {
    if (TRANS_A) {
        return a[k * dims.m + row];
    }
    return a[row * dims.k + k];
}

// Element (k, col) of op(B).
fn load_b(k: u32, col: u32) -> f32 {
    if (TRANS_B) {
        return b[col * dims.k + k];
    }
    return b[k * dims.n + col];
}

fn epilogue(value: f32, row: u32, col: u32) -> f32 {
    var v = value;
    if (BIAS) {
        v += bias[col];
    }
    if (ACT == 1u) {
        v = max(v, 0.0);
    } else if (ACT == 2u) {
        v = 1.0 / (1.0 + exp(-v));
    }
    if (DACT == 1u) {
        v = select(0.0, v, aux[row * dims.n + col] > 0.0);
    } else if (DACT == 2u) {
        let h = aux[row * dims.n + col];
        v = v * h * (1.0 - h);
    }
    return v;
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * 4u;
    let col0 = gid.x * 4u;
    if (row0 >= dims.m || col0 >= dims.n) {
        return;
    }
    let last_row = dims.m - 1u;
    let last_col = dims.n - 1u;
    let r = vec4<u32>(row0, min(row0 + 1u, last_row), min(row0 + 2u, last_row), min(row0 + 3u, last_row));
    let cl = vec4<u32>(col0, min(col0 + 1u, last_col), min(col0 + 2u, last_col), min(col0 + 3u, last_col));

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    let k4 = dims.k & ~3u;
    var k = 0u;
    for (; k < k4; k += 4u) {
        // a_i holds op(A)[r_i, k..k+4]; b_j holds op(B)[k+j, cl].
        let a0 = vec4<f32>(load_a(r.x, k), load_a(r.x, k + 1u), load_a(r.x, k + 2u), load_a(r.x, k + 3u));
        let a1 = vec4<f32>(load_a(r.y, k), load_a(r.y, k + 1u), load_a(r.y, k + 2u), load_a(r.y, k + 3u));
        let a2 = vec4<f32>(load_a(r.z, k), load_a(r.z, k + 1u), load_a(r.z, k + 2u), load_a(r.z, k + 3u));
        let a3 = vec4<f32>(load_a(r.w, k), load_a(r.w, k + 1u), load_a(r.w, k + 2u), load_a(r.w, k + 3u));
        for (var j = 0u; j < 4u; j++) {
            let kj = k + j;
            let bj = vec4<f32>(load_b(kj, cl.x), load_b(kj, cl.y), load_b(kj, cl.z), load_b(kj, cl.w));
            acc0 += a0[j] * bj;
            acc1 += a1[j] * bj;
            acc2 += a2[j] * bj;
            acc3 += a3[j] * bj;
        }
    }
    for (; k < dims.k; k++) {
        let bk = vec4<f32>(load_b(k, cl.x), load_b(k, cl.y), load_b(k, cl.z), load_b(k, cl.w));
        acc0 += load_a(r.x, k) * bk;
        acc1 += load_a(r.y, k) * bk;
        acc2 += load_a(r.z, k) * bk;
        acc3 += load_a(r.w, k) * bk;
    }

    var acc = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
        let row = row0 + i;
        if (row >= dims.m) {
            break;
        }
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + j;
            if (col < dims.n) {
                c[row * dims.n + col] = epilogue(acc[i][j], row, col);
            }
        }
    }
}
