// bias_grad: db[n] = sum over rows m of dy[m, n].
//
// dy: [rows, cols] row-major; db: [cols], or [splits, cols] partial sums when splits > 1.
// One invocation per column and row slice (grid y = slice), summing down its rows:
// neighbouring invocations read neighbouring addresses and no atomics are needed, so the sum
// is deterministic. A convolution's bias gradient sums batch*h*w rows over few channels: the
// slices keep the device busy, and matmul's `sum_splits` adds them in a fixed order.

struct Dims {
    rows: u32,
    cols: u32,
    splits: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col = gid.x;
    let z = gid.y;
    if (col >= dims.cols) {
        return;
    }
    let chunk = (dims.rows + dims.splits - 1u) / dims.splits;
    let begin = min(z * chunk, dims.rows);
    let end = min(begin + chunk, dims.rows);
    var sum = 0.0;
    for (var row = begin; row < end; row++) {
        sum += dy[row * dims.cols + col];
    }
    db[z * dims.cols + col] = sum;
}
