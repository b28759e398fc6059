// matmul_tiled: C = op(A) · op(B) with the fused epilogue of `matmul.wgsl`, for any M, N, K,
// on GPUs: workgroup-memory tiles.
//
// The host prepends the tile shape as constants (see `src/gpu/kernels/tiled.rs`), then
// matmul_common.wgsl (layouts, overrides, bindings, epilogue):
//   WG_X, WG_Y  threads per workgroup along columns and rows;
//   TM, TN      outputs per thread along rows and columns (registers);
//   BK          depth of one K step held in workgroup memory.
// A workgroup computes a BM x BN tile of C (BM = WG_Y·TM, BN = WG_X·TN). Each K step, all
// threads copy a BM x BK slice of op(A) and a BK x BN slice of op(B) into workgroup memory,
// consecutive threads reading consecutive addresses of whichever layout the buffer has
// (coalesced, transposed or not); then each thread multiplies TM values of the A slice by TN
// values of the B slice per k into its TM x TN accumulators. Thread (tx, ty) owns rows
// ty·TM + i and columns tx + j·WG_X: the rows it reads from workgroup memory are the same
// for every thread of a row of the workgroup (a broadcast), the columns consecutive across
// threads (no bank conflicts), and its stores to C are coalesced.
// Elements past an edge load as zero and are not stored.

// IM2COL (implicit-GEMM convolution): `a` is a convolution's input x [batch, in_h, in_w, in_c]
// and op(A) is its im2col matrix [batch·out_h·out_w, k_h·k_w·in_c] (see im2col.wgsl), read
// straight from x in the tile loader instead of from a materialised copy; TRANS_A reads that
// matrix transposed (dW = colsᵀ·dy).
override IM2COL: bool = false;

const BM: u32 = WG_Y * TM;
const BN: u32 = WG_X * TN;
const THREADS: u32 = WG_X * WG_Y;

// The convolution of IM2COL, as `Geom` in im2col.wgsl.
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

// Element (pixel row p, patch index q) of x's im2col matrix: 0 in the padding.
fn cols_at(p: u32, q: u32) -> f32 {
    let c = q % conv.in_c;
    let t = q / conv.in_c;
    let kw = t % conv.k_w;
    let kh = t / conv.k_w;
    let ow = p % conv.out_w;
    let t2 = p / conv.out_w;
    let oh = t2 % conv.out_h;
    let b = t2 / conv.out_h;
    // Signed: with padding the pixel can lie above or left of the input.
    let ih = i32(oh * conv.stride_h + kh) - i32(conv.pad_top);
    let iw = i32(ow * conv.stride_w + kw) - i32(conv.pad_left);
    if (ih < 0 || iw < 0 || ih >= i32(conv.in_h) || iw >= i32(conv.in_w)) {
        return 0.0;
    }
    return a[((b * conv.in_h + u32(ih)) * conv.in_w + u32(iw)) * conv.in_c + c];
}

// a_tile[kk * BM + r] = op(A)[row0 + r, k0 + kk]; b_tile[kk * BN + j] = op(B)[k0 + kk, col0 + j].
var<workgroup> a_tile: array<f32, BK * BM>;
var<workgroup> b_tile: array<f32, BK * BN>;


@compute @workgroup_size(WG_X, WG_Y)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) tid: u32,
) {
    let row0 = wg.y * BM;
    let col0 = wg.x * BN;
    let rows = rows_out();
    let ks = k_range(wg.z);
    let k_begin = ks.x;
    let k_end = ks.y;

    var acc: array<array<f32, TN>, TM>;
    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        for (var e = tid; e < BM * BK; e += THREADS) {
            // Consecutive threads take consecutive addresses of A's buffer.
            var r: u32;
            var kk: u32;
            if (TRANS_A) {
                r = e % BM;
                kk = e / BM;
            } else {
                r = e / BK;
                kk = e % BK;
            }
            let row = row0 + r;
            let k = k0 + kk;
            var v = 0.0;
            if (row < dims.m && k < k_end) {
                if (IM2COL && TRANS_A) {
                    v = cols_at(k, row);
                } else if (IM2COL) {
                    v = cols_at(row, k);
                } else if (TRANS_A) {
                    v = a[k * dims.m + row];
                } else {
                    v = a[row * dims.k + k];
                }
            } else if (ROW_SUMS && row == dims.m && k < k_end) {
                v = 1.0;
            }
            a_tile[kk * BM + r] = v;
        }
        for (var e = tid; e < BK * BN; e += THREADS) {
            var j: u32;
            var kk: u32;
            if (TRANS_B) {
                j = e / BK;
                kk = e % BK;
            } else {
                j = e % BN;
                kk = e / BN;
            }
            let col = col0 + j;
            let k = k0 + kk;
            var v = 0.0;
            if (col < dims.n && k < k_end) {
                if (TRANS_B) {
                    v = b[col * dims.k + k];
                } else {
                    v = b[k * dims.n + col];
                }
            }
            b_tile[kk * BN + j] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var a_frag: array<f32, TM>;
            var b_frag: array<f32, TN>;
            for (var i = 0u; i < TM; i++) {
                a_frag[i] = a_tile[kk * BM + lid.y * TM + i];
            }
            for (var j = 0u; j < TN; j++) {
                b_frag[j] = b_tile[kk * BN + lid.x + j * WG_X];
            }
            for (var i = 0u; i < TM; i++) {
                for (var j = 0u; j < TN; j++) {
                    acc[i][j] = fma(a_frag[i], b_frag[j], acc[i][j]);
                }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < TM; i++) {
        let row = row0 + lid.y * TM + i;
        for (var j = 0u; j < TN; j++) {
            let col = col0 + lid.x + j * WG_X;
            if (row < rows && col < dims.n) {
                if (SPLIT) {
                    c[(wg.z * rows + row) * dims.n + col] = acc[i][j];
                } else if (ROW_SUMS && row == dims.m) {
                    sums[col] = acc[i][j];
                } else {
                    c[row * dims.n + col] = epilogue(acc[i][j], row, col);
                }
            }
        }
    }
}
