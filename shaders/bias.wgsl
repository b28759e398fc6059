// bias_grad: db[n] = sum over rows m of dy[m, n].
//
// dy: [rows, cols] row-major; db: [cols]. One invocation per column, summing down the rows:
// neighbouring invocations read neighbouring addresses, and the sum needs no atomics, so it is
// deterministic. Rows are few (the batch), so a column-parallel loop is enough here.

struct Dims {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col = gid.x;
    if (col >= dims.cols) {
        return;
    }
    var sum = 0.0;
    for (var row = 0u; row < dims.rows; row++) {
        sum += dy[row * dims.cols + col];
    }
    db[col] = sum;
}
