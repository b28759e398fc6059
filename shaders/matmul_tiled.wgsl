// matmul_tiled: C = op(A) · op(B) with the fused epilogue of `matmul.wgsl`, for any M, N, K,
// on GPUs: workgroup-memory tiles.
//
// The host prepends the tile shape as constants (see `src/gpu/kernels/tiled.rs`), then
// matmul_common.wgsl (layouts, overrides, bindings, epilogue):
//   WG_X, WG_Y    threads per workgroup along columns and rows;
//   TM, TN        outputs per thread along rows and columns (registers);
//   BK            depth of one K step held in workgroup memory;
//   VEC_A, VEC_B  floats per global load of A and B (4 where the operand's contiguous side
//                 is a multiple of 4, with ElemA/ElemB = vec4<f32>; else 1 and f32);
//   BUFFERS       workgroup copies of the tiles: 2 double-buffers them.
// A workgroup computes a BM x BN tile of C (BM = WG_Y·TM, BN = WG_X·TN). Each K step, all
// threads copy a BM x BK slice of op(A) and a BK x BN slice of op(B) into workgroup memory,
// consecutive threads reading consecutive addresses of whichever layout the buffer has
// (coalesced, transposed or not); then each thread multiplies TM values of the A slice by TN
// values of the B slice per k into its TM x TN accumulators. Thread (tx, ty) owns rows
// ty·TM + i and columns tx + j·WG_X: the rows it reads from workgroup memory are the same
// for every thread of a row of the workgroup (a broadcast; read as TM/4 vec4s where TM is a
// multiple of 4), the columns consecutive across threads (read one float each), and its
// stores to C are coalesced.
// Bank conflicts: a tile is stored k-major (`[kk][r]`, stride BM), so where global memory
// runs along K (A [M, K], B [N, K] with TRANS_B) consecutive threads store consecutive kk of
// one row, BM floats apart: all in one of the 32 banks (16-way with BK 16, 4-way with vec4
// loads). Such a tile's rows are XOR-swizzled within their 32-row block by
// (kk · 32/BK) mod 32, which gives each of a warp's 32 stores its own bank (scalar or vec4,
// BK 8 or 16: the swizzle's bits sit just above the rows a warp spans), while the reads of
// one kk stay a permutation of its row (broadcast for A, consecutive banks for B).
// Software pipelining: the next K step's slices are fetched into registers before the
// current step's multiply-adds, so global-memory latency hides behind them, and stored into
// workgroup memory after. With two buffers the stores go to the copy nobody reads this step,
// which saves one of the two barriers per step.
// Elements past an edge load as zero and are not stored. A vec4 lies wholly inside or outside
// an edge: the host uses vec4 only where that side and the tile's sides are multiples of 4,
// and K_ALIGN keeps split-K slices on multiples of 4.

// IM2COL (implicit-GEMM convolution): `a` is a convolution's input x [batch, in_h, in_w, in_c]
// and op(A) is its im2col matrix [batch·out_h·out_w, k_h·k_w·in_c] (see im2col.wgsl), read
// straight from x in the tile loader instead of from a materialised copy; TRANS_A reads that
// matrix transposed (dW = colsᵀ·dy).
override IM2COL: bool = false;

const BM: u32 = WG_Y * TM;
const BN: u32 = WG_X * TN;
const THREADS: u32 = WG_X * WG_Y;

// VEC_A elements (pixel row p, patch indices q..) of x's im2col matrix: 0 in the padding.
// With VEC_A = 4, q and in_c are multiples of 4, so the 4 are channels of one pixel.
fn cols_at(p: u32, q: u32) -> ElemA {
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
        return ElemA(0.0);
    }
    return a[(((b * conv.in_h + u32(ih)) * conv.in_w + u32(iw)) * conv.in_c + c) / VEC_A];
}

// Vectors of op(A) and op(B) per K step, and how many each thread fetches.
const A_VECS: u32 = BM * BK / VEC_A;
const B_VECS: u32 = BK * BN / VEC_B;
const A_PER_THREAD: u32 = (A_VECS + THREADS - 1u) / THREADS;
const B_PER_THREAD: u32 = (B_VECS + THREADS - 1u) / THREADS;

// Buffer `buf` of the tiles: float a_index(buf, kk, r) of a_tile is op(A)[row0 + r, k0 + kk];
// b_tile[b_index(buf, kk, j)] = op(B)[k0 + kk, col0 + j]. a_tile is held as vec4s (BM is a
// multiple of 4: Tiling::is_valid) so that a thread reads its fragment of TM rows as TM/4
// vec4s where TM is a multiple of 4 (a_fragment).
var<workgroup> a_tile: array<vec4<f32>, BUFFERS * BK * BM / 4u>;
var<workgroup> b_tile: array<f32, BUFFERS * BK * BN>;

// The XOR applied to row (or column) r of k step kk where the stores run along K: within
// r's 32-block, since the side is a multiple of 32 (and 32 of BK) where it applies.
fn swizzle(kk: u32, side: u32) -> u32 {
    if (side % 32u != 0u || 32u % BK != 0u) {
        return 0u;
    }
    return (kk * (32u / BK)) & 31u;
}

// The XOR on A's rows at k step kk (none for TRANS_A, whose stores run along M).
fn a_swizzle(kk: u32) -> u32 {
    return select(swizzle(kk, BM), 0u, TRANS_A);
}

fn a_index(buf: u32, kk: u32, r: u32) -> u32 {
    return (buf * BK + kk) * BM + (r ^ a_swizzle(kk));
}

// Rows r0 .. r0 + TM of A's tile at k step kk. With TM a multiple of 4 (r0 then is too), as
// TM/4 vec4 reads: the swizzle x moves each aligned group of 4 rows as a whole (its bits
// above 1) and permutes the rows within it (bits 0 and 1: row j of a group sits at j ^ (x & 3),
// the same for every thread at one kk), which a swizzle of the vec4 undoes.
fn a_fragment(buf: u32, kk: u32, r0: u32) -> array<f32, TM> {
    var f: array<f32, TM>;
    if (TM % 4u == 0u) {
        let x = a_swizzle(kk);
        for (var q = 0u; q < TM; q += 4u) {
            var v = a_tile[((buf * BK + kk) * BM + ((r0 + q) ^ (x & ~3u))) / 4u];
            if ((x & 2u) != 0u) {
                v = v.zwxy;
            }
            if ((x & 1u) != 0u) {
                v = v.yxwz;
            }
            f[q] = v.x;
            f[q + 1u] = v.y;
            f[q + 2u] = v.z;
            f[q + 3u] = v.w;
        }
    } else {
        for (var i = 0u; i < TM; i++) {
            let p = a_index(buf, kk, r0 + i);
            f[i] = a_tile[p / 4u][p % 4u];
        }
    }
    return f;
}

fn b_index(buf: u32, kk: u32, j: u32) -> u32 {
    let x = select(0u, swizzle(kk, BN), TRANS_B);
    return (buf * BK + kk) * BN + (j ^ x);
}

// Tile position (r, kk) of the first float of a K step's e-th vector of op(A). Consecutive e
// follow the buffer's contiguous side: K for A [M, K] (and im2col's channels), M for TRANS_A.
fn a_pos(e: u32) -> vec2<u32> {
    if (TRANS_A) {
        return vec2<u32>(e % (BM / VEC_A) * VEC_A, e / (BM / VEC_A));
    }
    return vec2<u32>(e / (BK / VEC_A), e % (BK / VEC_A) * VEC_A);
}

// Tile position (j, kk) of the first float of the e-th vector of op(B): along N for B [K, N],
// along K for TRANS_B.
fn b_pos(e: u32) -> vec2<u32> {
    if (TRANS_B) {
        return vec2<u32>(e / (BK / VEC_B), e % (BK / VEC_B) * VEC_B);
    }
    return vec2<u32>(e % (BN / VEC_B) * VEC_B, e / (BN / VEC_B));
}

// The e-th vector of op(A) in the K step at k0 (zero past an edge).
fn load_a(e: u32, row0: u32, k0: u32, k_end: u32) -> ElemA {
    let p = a_pos(e);
    let row = row0 + p.x;
    let k = k0 + p.y;
    if (row >= dims.m || k >= k_end) {
        return ElemA(0.0);
    }
    if (IM2COL && TRANS_A) {
        return cols_at(k, row);
    } else if (IM2COL) {
        return cols_at(row, k);
    } else if (TRANS_A) {
        return a[(k * dims.m + row) / VEC_A];
    }
    return a[(row * dims.k + k) / VEC_A];
}

// The e-th vector of op(B) in the K step at k0 (zero past an edge).
fn load_b(e: u32, col0: u32, k0: u32, k_end: u32) -> ElemB {
    let p = b_pos(e);
    let col = col0 + p.x;
    let k = k0 + p.y;
    if (col >= dims.n || k >= k_end) {
        return ElemB(0.0);
    }
    if (TRANS_B) {
        return b[(col * dims.k + k) / VEC_B];
    }
    return b[(k * dims.n + col) / VEC_B];
}

// Writes the e-th vector of op(A) into buffer `buf`, a float per row (TRANS_A) or per k;
// the row of ones of ROW_SUMS goes in here.
fn store_a(buf: u32, e: u32, v: ElemA, row0: u32, k0: u32, k_end: u32) {
    let p = a_pos(e);
    let w = vec4<f32>(v);
    for (var i = 0u; i < VEC_A; i++) {
        let r = p.x + select(0u, i, TRANS_A);
        let kk = p.y + select(i, 0u, TRANS_A);
        var s = w[i];
        if (ROW_SUMS && row0 + r == dims.m && k0 + kk < k_end) {
            s = 1.0;
        }
        let at = a_index(buf, kk, r);
        a_tile[at / 4u][at % 4u] = s;
    }
}

// Writes the e-th vector of op(B) into buffer `buf`, a float per k (TRANS_B) or per column.
fn store_b(buf: u32, e: u32, v: ElemB) {
    let p = b_pos(e);
    let w = vec4<f32>(v);
    for (var i = 0u; i < VEC_B; i++) {
        let j = p.x + select(i, 0u, TRANS_B);
        let kk = p.y + select(0u, i, TRANS_B);
        b_tile[b_index(buf, kk, j)] = w[i];
    }
}

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
    let k_end = ks.y;

    // The first K step goes straight into buffer 0.
    var a_regs: array<ElemA, A_PER_THREAD>;
    var b_regs: array<ElemB, B_PER_THREAD>;
    for (var l = 0u; l < A_PER_THREAD; l++) {
        let e = tid + l * THREADS;
        if (e < A_VECS) {
            store_a(0u, e, load_a(e, row0, ks.x, k_end), row0, ks.x, k_end);
        }
    }
    for (var l = 0u; l < B_PER_THREAD; l++) {
        let e = tid + l * THREADS;
        if (e < B_VECS) {
            store_b(0u, e, load_b(e, col0, ks.x, k_end));
        }
    }
    workgroupBarrier();

    var acc: array<array<f32, TN>, TM>;
    var buf = 0u;
    for (var k0 = ks.x; k0 < k_end; k0 += BK) {
        let next = k0 + BK;
        // Uniform across the workgroup, so the barriers below are too.
        let more = next < k_end;
        if (more) {
            for (var l = 0u; l < A_PER_THREAD; l++) {
                let e = tid + l * THREADS;
                if (e < A_VECS) {
                    a_regs[l] = load_a(e, row0, next, k_end);
                }
            }
            for (var l = 0u; l < B_PER_THREAD; l++) {
                let e = tid + l * THREADS;
                if (e < B_VECS) {
                    b_regs[l] = load_b(e, col0, next, k_end);
                }
            }
        }
        for (var kk = 0u; kk < BK; kk++) {
            // B's fragment stays scalar: a thread's TN columns are WG_X apart, so that its
            // stores to C are coalesced across the workgroup's row.
            let a_frag = a_fragment(buf, kk, lid.y * TM);
            var b_frag: array<f32, TN>;
            for (var j = 0u; j < TN; j++) {
                b_frag[j] = b_tile[b_index(buf, kk, lid.x + j * WG_X)];
            }
            for (var i = 0u; i < TM; i++) {
                for (var j = 0u; j < TN; j++) {
                    acc[i][j] = fma(a_frag[i], b_frag[j], acc[i][j]);
                }
            }
        }
        if (more) {
            if (BUFFERS == 1u) {
                // Everyone is done reading the only buffer before it is overwritten.
                workgroupBarrier();
            }
            buf = (buf + 1u) % BUFFERS;
            for (var l = 0u; l < A_PER_THREAD; l++) {
                let e = tid + l * THREADS;
                if (e < A_VECS) {
                    store_a(buf, e, a_regs[l], row0, next, k_end);
                }
            }
            for (var l = 0u; l < B_PER_THREAD; l++) {
                let e = tid + l * THREADS;
                if (e < B_VECS) {
                    store_b(buf, e, b_regs[l]);
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
