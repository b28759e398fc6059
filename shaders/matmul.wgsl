// matmul: C = op(A) · op(B) with a fused epilogue, for any M, N, K, without workgroup
// memory. The host prepends matmul_common.wgsl (layouts, overrides, bindings, epilogue).
//
// Two entry points, picked per adapter by the host; neither uses workgroup memory:
// - `tile4`: each invocation computes a 4x4 tile of C (GPUs: few registers per thread, many
//   threads in flight, neighbouring threads reading neighbouring addresses);
// - `tile16`: each invocation computes a 16x16 tile (CPU adapters such as lavapipe). There an
//   invocation is one SIMD lane and every storage load costs about the same whatever its
//   address, so speed follows multiply-adds per load: 16x16 does 8 per load against 2 for
//   4x4, and measured 16 GFLOP/s at 1024³ on lavapipe against 5 (workgroup-memory tiles,
//   which need barriers, run at 0.6 there).
// Rows and columns past the edge are clamped to the last valid one for loading (always in
// bounds, no branches in the inner loop) and not stored.

alias ElemA = f32;
alias ElemB = f32;

// Stores an output element: through the epilogue, or raw into split z's slice
// ([splits, rows_out, N]), or row M's into `sums`.
fn store(row: u32, col: u32, z: u32, v: f32) {
    if (SPLIT) {
        c[(z * rows_out() + row) * dims.n + col] = v;
    } else if (ROW_SUMS && row == dims.m) {
        sums[col] = v;
    } else {
        c[row * dims.n + col] = epilogue(v, row, col);
    }
}

// Element (row, k) of op(A) (1 in the row of ones).
fn load_a(row: u32, k: u32) -> f32 {
    if (ROW_SUMS && row == dims.m) {
        return 1.0;
    }
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


@compute @workgroup_size(8, 8)
fn tile4(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * 4u;
    let col0 = gid.x * 4u;
    if (row0 >= rows_out() || col0 >= dims.n) {
        return;
    }
    let last_row = rows_out() - 1u;
    let last_col = dims.n - 1u;
    let r = vec4<u32>(row0, min(row0 + 1u, last_row), min(row0 + 2u, last_row), min(row0 + 3u, last_row));
    let cl = vec4<u32>(col0, min(col0 + 1u, last_col), min(col0 + 2u, last_col), min(col0 + 3u, last_col));

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    let ks = k_range(gid.z);
    let k4 = ks.x + ((ks.y - ks.x) & ~3u);
    var k = ks.x;
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
    for (; k < ks.y; k++) {
        let bk = vec4<f32>(load_b(k, cl.x), load_b(k, cl.y), load_b(k, cl.z), load_b(k, cl.w));
        acc0 += load_a(r.x, k) * bk;
        acc1 += load_a(r.y, k) * bk;
        acc2 += load_a(r.z, k) * bk;
        acc3 += load_a(r.w, k) * bk;
    }

    // One call per row: a dynamically indexed local array would live in memory on some
    // compilers (lavapipe's among them).
    store4(row0, col0, gid.z, acc0);
    store4(row0 + 1u, col0, gid.z, acc1);
    store4(row0 + 2u, col0, gid.z, acc2);
    store4(row0 + 3u, col0, gid.z, acc3);
}

// The 4 column indices from `start`, clamped to `last`.
fn clamp4(start: u32, last: u32) -> vec4<u32> {
    return min(vec4<u32>(start) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last));
}

// Writes row `row`, columns col0..col0+3 of C through the epilogue.
fn store4(row: u32, col0: u32, z: u32, v: vec4<f32>) {
    if (row >= rows_out()) {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        let col = col0 + j;
        if (col < dims.n) {
            store(row, col, z, v[j]);
        }
    }
}

@compute @workgroup_size(8, 8)
fn tile16(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * 16u;
    let col0 = gid.x * 16u;
    if (row0 >= dims.m || col0 >= dims.n) {
        return;
    }
    // Element (r, k) of op(A) is at ra + ka(k), element (k, c) of op(B) at cb + kb(k): the
    // row and column parts are computed once, the k parts once per k.
    let last_row = dims.m - 1u;
    let a_row = select(dims.k, 1u, TRANS_A);
    let ra0 = clamp4(row0, last_row) * a_row;
    let ra1 = clamp4(row0 + 4u, last_row) * a_row;
    let ra2 = clamp4(row0 + 8u, last_row) * a_row;
    let ra3 = clamp4(row0 + 12u, last_row) * a_row;
    let last_col = dims.n - 1u;
    let b_col = select(1u, dims.k, TRANS_B);
    let cb0 = clamp4(col0, last_col) * b_col;
    let cb1 = clamp4(col0 + 4u, last_col) * b_col;
    let cb2 = clamp4(col0 + 8u, last_col) * b_col;
    let cb3 = clamp4(col0 + 12u, last_col) * b_col;

    // acc_i_j holds C[row0 + i, col0 + 4j .. col0 + 4j + 4].
    var acc0_0 = vec4<f32>(); var acc0_1 = vec4<f32>(); var acc0_2 = vec4<f32>(); var acc0_3 = vec4<f32>();
    var acc1_0 = vec4<f32>(); var acc1_1 = vec4<f32>(); var acc1_2 = vec4<f32>(); var acc1_3 = vec4<f32>();
    var acc2_0 = vec4<f32>(); var acc2_1 = vec4<f32>(); var acc2_2 = vec4<f32>(); var acc2_3 = vec4<f32>();
    var acc3_0 = vec4<f32>(); var acc3_1 = vec4<f32>(); var acc3_2 = vec4<f32>(); var acc3_3 = vec4<f32>();
    var acc4_0 = vec4<f32>(); var acc4_1 = vec4<f32>(); var acc4_2 = vec4<f32>(); var acc4_3 = vec4<f32>();
    var acc5_0 = vec4<f32>(); var acc5_1 = vec4<f32>(); var acc5_2 = vec4<f32>(); var acc5_3 = vec4<f32>();
    var acc6_0 = vec4<f32>(); var acc6_1 = vec4<f32>(); var acc6_2 = vec4<f32>(); var acc6_3 = vec4<f32>();
    var acc7_0 = vec4<f32>(); var acc7_1 = vec4<f32>(); var acc7_2 = vec4<f32>(); var acc7_3 = vec4<f32>();
    var acc8_0 = vec4<f32>(); var acc8_1 = vec4<f32>(); var acc8_2 = vec4<f32>(); var acc8_3 = vec4<f32>();
    var acc9_0 = vec4<f32>(); var acc9_1 = vec4<f32>(); var acc9_2 = vec4<f32>(); var acc9_3 = vec4<f32>();
    var acc10_0 = vec4<f32>(); var acc10_1 = vec4<f32>(); var acc10_2 = vec4<f32>(); var acc10_3 = vec4<f32>();
    var acc11_0 = vec4<f32>(); var acc11_1 = vec4<f32>(); var acc11_2 = vec4<f32>(); var acc11_3 = vec4<f32>();
    var acc12_0 = vec4<f32>(); var acc12_1 = vec4<f32>(); var acc12_2 = vec4<f32>(); var acc12_3 = vec4<f32>();
    var acc13_0 = vec4<f32>(); var acc13_1 = vec4<f32>(); var acc13_2 = vec4<f32>(); var acc13_3 = vec4<f32>();
    var acc14_0 = vec4<f32>(); var acc14_1 = vec4<f32>(); var acc14_2 = vec4<f32>(); var acc14_3 = vec4<f32>();
    var acc15_0 = vec4<f32>(); var acc15_1 = vec4<f32>(); var acc15_2 = vec4<f32>(); var acc15_3 = vec4<f32>();
    let ks = k_range(gid.z);
    for (var k = ks.x; k < ks.y; k++) {
        let ka = select(k, k * dims.m, TRANS_A);
        let kb = select(k * dims.n, k, TRANS_B);
        let b0 = vec4<f32>(b[cb0.x + kb], b[cb0.y + kb], b[cb0.z + kb], b[cb0.w + kb]);
        let b1 = vec4<f32>(b[cb1.x + kb], b[cb1.y + kb], b[cb1.z + kb], b[cb1.w + kb]);
        let b2 = vec4<f32>(b[cb2.x + kb], b[cb2.y + kb], b[cb2.z + kb], b[cb2.w + kb]);
        let b3 = vec4<f32>(b[cb3.x + kb], b[cb3.y + kb], b[cb3.z + kb], b[cb3.w + kb]);
        let a0 = vec4<f32>(a[ra0.x + ka], a[ra0.y + ka], a[ra0.z + ka], a[ra0.w + ka]);
        let a1 = vec4<f32>(a[ra1.x + ka], a[ra1.y + ka], a[ra1.z + ka], a[ra1.w + ka]);
        let a2 = vec4<f32>(a[ra2.x + ka], a[ra2.y + ka], a[ra2.z + ka], a[ra2.w + ka]);
        let a3 = vec4<f32>(a[ra3.x + ka], a[ra3.y + ka], a[ra3.z + ka], a[ra3.w + ka]);
        acc0_0 += a0.x * b0; acc0_1 += a0.x * b1; acc0_2 += a0.x * b2; acc0_3 += a0.x * b3;
        acc1_0 += a0.y * b0; acc1_1 += a0.y * b1; acc1_2 += a0.y * b2; acc1_3 += a0.y * b3;
        acc2_0 += a0.z * b0; acc2_1 += a0.z * b1; acc2_2 += a0.z * b2; acc2_3 += a0.z * b3;
        acc3_0 += a0.w * b0; acc3_1 += a0.w * b1; acc3_2 += a0.w * b2; acc3_3 += a0.w * b3;
        acc4_0 += a1.x * b0; acc4_1 += a1.x * b1; acc4_2 += a1.x * b2; acc4_3 += a1.x * b3;
        acc5_0 += a1.y * b0; acc5_1 += a1.y * b1; acc5_2 += a1.y * b2; acc5_3 += a1.y * b3;
        acc6_0 += a1.z * b0; acc6_1 += a1.z * b1; acc6_2 += a1.z * b2; acc6_3 += a1.z * b3;
        acc7_0 += a1.w * b0; acc7_1 += a1.w * b1; acc7_2 += a1.w * b2; acc7_3 += a1.w * b3;
        acc8_0 += a2.x * b0; acc8_1 += a2.x * b1; acc8_2 += a2.x * b2; acc8_3 += a2.x * b3;
        acc9_0 += a2.y * b0; acc9_1 += a2.y * b1; acc9_2 += a2.y * b2; acc9_3 += a2.y * b3;
        acc10_0 += a2.z * b0; acc10_1 += a2.z * b1; acc10_2 += a2.z * b2; acc10_3 += a2.z * b3;
        acc11_0 += a2.w * b0; acc11_1 += a2.w * b1; acc11_2 += a2.w * b2; acc11_3 += a2.w * b3;
        acc12_0 += a3.x * b0; acc12_1 += a3.x * b1; acc12_2 += a3.x * b2; acc12_3 += a3.x * b3;
        acc13_0 += a3.y * b0; acc13_1 += a3.y * b1; acc13_2 += a3.y * b2; acc13_3 += a3.y * b3;
        acc14_0 += a3.z * b0; acc14_1 += a3.z * b1; acc14_2 += a3.z * b2; acc14_3 += a3.z * b3;
        acc15_0 += a3.w * b0; acc15_1 += a3.w * b1; acc15_2 += a3.w * b2; acc15_3 += a3.w * b3;
    }
    store4(row0, col0, gid.z, acc0_0); store4(row0, col0 + 4u, gid.z, acc0_1); store4(row0, col0 + 8u, gid.z, acc0_2); store4(row0, col0 + 12u, gid.z, acc0_3);
    store4(row0 + 1u, col0, gid.z, acc1_0); store4(row0 + 1u, col0 + 4u, gid.z, acc1_1); store4(row0 + 1u, col0 + 8u, gid.z, acc1_2); store4(row0 + 1u, col0 + 12u, gid.z, acc1_3);
    store4(row0 + 2u, col0, gid.z, acc2_0); store4(row0 + 2u, col0 + 4u, gid.z, acc2_1); store4(row0 + 2u, col0 + 8u, gid.z, acc2_2); store4(row0 + 2u, col0 + 12u, gid.z, acc2_3);
    store4(row0 + 3u, col0, gid.z, acc3_0); store4(row0 + 3u, col0 + 4u, gid.z, acc3_1); store4(row0 + 3u, col0 + 8u, gid.z, acc3_2); store4(row0 + 3u, col0 + 12u, gid.z, acc3_3);
    store4(row0 + 4u, col0, gid.z, acc4_0); store4(row0 + 4u, col0 + 4u, gid.z, acc4_1); store4(row0 + 4u, col0 + 8u, gid.z, acc4_2); store4(row0 + 4u, col0 + 12u, gid.z, acc4_3);
    store4(row0 + 5u, col0, gid.z, acc5_0); store4(row0 + 5u, col0 + 4u, gid.z, acc5_1); store4(row0 + 5u, col0 + 8u, gid.z, acc5_2); store4(row0 + 5u, col0 + 12u, gid.z, acc5_3);
    store4(row0 + 6u, col0, gid.z, acc6_0); store4(row0 + 6u, col0 + 4u, gid.z, acc6_1); store4(row0 + 6u, col0 + 8u, gid.z, acc6_2); store4(row0 + 6u, col0 + 12u, gid.z, acc6_3);
    store4(row0 + 7u, col0, gid.z, acc7_0); store4(row0 + 7u, col0 + 4u, gid.z, acc7_1); store4(row0 + 7u, col0 + 8u, gid.z, acc7_2); store4(row0 + 7u, col0 + 12u, gid.z, acc7_3);
    store4(row0 + 8u, col0, gid.z, acc8_0); store4(row0 + 8u, col0 + 4u, gid.z, acc8_1); store4(row0 + 8u, col0 + 8u, gid.z, acc8_2); store4(row0 + 8u, col0 + 12u, gid.z, acc8_3);
    store4(row0 + 9u, col0, gid.z, acc9_0); store4(row0 + 9u, col0 + 4u, gid.z, acc9_1); store4(row0 + 9u, col0 + 8u, gid.z, acc9_2); store4(row0 + 9u, col0 + 12u, gid.z, acc9_3);
    store4(row0 + 10u, col0, gid.z, acc10_0); store4(row0 + 10u, col0 + 4u, gid.z, acc10_1); store4(row0 + 10u, col0 + 8u, gid.z, acc10_2); store4(row0 + 10u, col0 + 12u, gid.z, acc10_3);
    store4(row0 + 11u, col0, gid.z, acc11_0); store4(row0 + 11u, col0 + 4u, gid.z, acc11_1); store4(row0 + 11u, col0 + 8u, gid.z, acc11_2); store4(row0 + 11u, col0 + 12u, gid.z, acc11_3);
    store4(row0 + 12u, col0, gid.z, acc12_0); store4(row0 + 12u, col0 + 4u, gid.z, acc12_1); store4(row0 + 12u, col0 + 8u, gid.z, acc12_2); store4(row0 + 12u, col0 + 12u, gid.z, acc12_3);
    store4(row0 + 13u, col0, gid.z, acc13_0); store4(row0 + 13u, col0 + 4u, gid.z, acc13_1); store4(row0 + 13u, col0 + 8u, gid.z, acc13_2); store4(row0 + 13u, col0 + 12u, gid.z, acc13_3);
    store4(row0 + 14u, col0, gid.z, acc14_0); store4(row0 + 14u, col0 + 4u, gid.z, acc14_1); store4(row0 + 14u, col0 + 8u, gid.z, acc14_2); store4(row0 + 14u, col0 + 12u, gid.z, acc14_3);
    store4(row0 + 15u, col0, gid.z, acc15_0); store4(row0 + 15u, col0 + 4u, gid.z, acc15_1); store4(row0 + 15u, col0 + 8u, gid.z, acc15_2); store4(row0 + 15u, col0 + 12u, gid.z, acc15_3);
}

// c[i] = epilogue(Σ_z a[z, i]) over the m*n outputs of a split-K product (a: the partials
// [splits, m, n]); one invocation per output, 2-D grid of 8x8 workgroups over (n, m).
@compute @workgroup_size(8, 8)
fn sum_splits(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.y;
    let col = gid.x;
    if (row >= rows_out() || col >= dims.n) {
        return;
    }
    let i = row * dims.n + col;
    var sum = 0.0;
    for (var z = 0u; z < dims.splits; z++) {
        sum += a[z * rows_out() * dims.n + i];
    }
    if (ROW_SUMS && row == dims.m) {
        sums[col] = sum;
    } else {
        c[i] = epilogue(sum, row, col);
    }
}
