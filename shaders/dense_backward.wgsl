// dense_backward: a dense layer's two backward products in one dispatch (GPUs):
//   dW = xᵀ·dy  [fan_in, units], with db = Σ_rows dy [units] from a row of ones appended to
//                xᵀ (as matmul's ROW_SUMS);
//   dx = (dy·Wᵀ) ⊙ act'(aux)  [batch, fan_in] (DACT: the activation below, aux its output,
//                which is this layer's input x).
// x, aux, dx: [batch, fan_in]; dy: [batch, units]; w, dw: [fan_in, units]; all row-major.
//
// The products share dy and neither needs the other, so one launch does both: workgroups
// [0, dw_groups) compute dW's (8·ROWS)x32 output tiles (dw_cols of them per tile row), the
// rest dx's (dx_cols per tile row), each invocation ROWS rows of 4 columns (ROWS = 4: a 4x4
// tile as matmul.wgsl's tile4 does; 1 where a GPU would otherwise get too few workgroups),
// its loads clamped to the last valid row and column (in bounds, no branch in the K loop),
// its stores guarded. Every output element sums its K products in order, as tile4's do.

struct Params {
    batch: u32,
    fan_in: u32,
    units: u32,
    dw_groups: u32,
    dw_cols: u32,
    dx_cols: u32,
    _pad0: u32,
    _pad1: u32,
}

// Rows per invocation: 4 or 1 (the host's policy::DensePair::rows_for).
override ROWS: u32 = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> aux: array<f32>;
@group(0) @binding(5) var<storage, read_write> dw: array<f32>;
@group(0) @binding(6) var<storage, read_write> db: array<f32>;
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;

// Rows and columns i = 0..3 from `first`, clamped to `last` for loading.
fn clamped(first: u32, last: u32) -> vec4<u32> {
    return vec4<u32>(first, min(first + 1u, last), min(first + 2u, last), min(first + 3u, last));
}

// xᵀ's element (row, k), and 1 in the row of ones (row = fan_in).
fn xt(row: u32, k: u32) -> f32 {
    if (row == p.fan_in) {
        return 1.0;
    }
    return x[k * p.fan_in + row];
}

// The ROWSx4 tile of dW (and db) at tile `t` of dW's grid, lane `l`.
fn weight_grads(t: u32, l: vec2<u32>) {
    let row0 = ((t / p.dw_cols) * 8u + l.y) * ROWS;
    let col0 = ((t % p.dw_cols) * 8u + l.x) * 4u;
    let rows = p.fan_in + 1u;
    if (row0 >= rows || col0 >= p.units) {
        return;
    }
    let r = clamped(row0, rows - 1u);
    let c = clamped(col0, p.units - 1u);
    var acc: array<vec4<f32>, 4>;
    for (var k = 0u; k < p.batch; k++) {
        let b = vec4<f32>(dy[k * p.units + c.x], dy[k * p.units + c.y], dy[k * p.units + c.z], dy[k * p.units + c.w]);
        for (var i = 0u; i < ROWS; i++) {
            acc[i] += xt(r[i], k) * b;
        }
    }
    for (var i = 0u; i < ROWS; i++) {
        let row = row0 + i;
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + j;
            if (row < p.fan_in && col < p.units) {
                dw[row * p.units + col] = acc[i][j];
            } else if (row == p.fan_in && col < p.units) {
                db[col] = acc[i][j];
            }
        }
    }
}

// The ROWSx4 tile of dx at tile `t` of dx's grid, lane `l`.
fn input_grad(t: u32, l: vec2<u32>) {
    let row0 = ((t / p.dx_cols) * 8u + l.y) * ROWS;
    let col0 = ((t % p.dx_cols) * 8u + l.x) * 4u;
    if (row0 >= p.batch || col0 >= p.fan_in) {
        return;
    }
    let r = clamped(row0, p.batch - 1u);
    let c = clamped(col0, p.fan_in - 1u);
    var acc: array<vec4<f32>, 4>;
    for (var k = 0u; k < p.units; k++) {
        // Wᵀ's row k: W's column k.
        let b = vec4<f32>(w[c.x * p.units + k], w[c.y * p.units + k], w[c.z * p.units + k], w[c.w * p.units + k]);
        for (var i = 0u; i < ROWS; i++) {
            acc[i] += dy[r[i] * p.units + k] * b;
        }
    }
    for (var i = 0u; i < ROWS; i++) {
        let row = row0 + i;
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + j;
            if (row < p.batch && col < p.fan_in) {
                var v = acc[i][j];
                if (DACT != 0u) {
                    v = dact(v, aux[row * p.fan_in + col]);
                }
                dx[row * p.fan_in + col] = v;
            }
        }
    }
}

// One workgroup per output tile of dW, then of dx (grid x only: the host keeps the total
// within one dimension's limit).
@compute @workgroup_size(8, 8)
fn tile4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    if (wg.x < p.dw_groups) {
        weight_grads(wg.x, lid.xy);
    } else {
        input_grad(wg.x - p.dw_groups, lid.xy);
    }
}
