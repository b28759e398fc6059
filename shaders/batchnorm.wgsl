// batchnorm: batch normalisation over the last axis (Keras's BatchNormalization after Dense
// or Conv2D).
//
// x, y, dy, dx: [rows, channels] row-major, rows = batch * spatial (spatial = h*w after a
//               convolution, 1 after a dense layer).
// labels:       [batch]; rows of padding samples (label PAD, see the prelude) are left
//               out of the statistics and get zero gradient, since normalisation mixes rows.
// saved:        [2*channels + 1]: the batch's mean, 1/sqrt(var + eps), and the valid row
//               count, written by `stats` for `apply_train` and the backward kernels.
// moving_mean, moving_var: [channels], Keras's moving statistics:
//               moving = moving*momentum + batch_stat*(1 - momentum), biased variance.
// gamma, beta, dgamma, dbeta: [channels].
//
// Reductions run one workgroup per channel with a tree in workgroup memory (GPUs), or, on
// CPU adapters where workgroup barriers are very slow, one invocation per channel looping over
// the rows (`*_serial`), for up to MAX_SERIAL_ROWS rows only: llvmpipe ends an invocation's
// loops after 65535 iterations in all. Both are deterministic and need no atomics. The elementwise kernels
// run one invocation per element. backward multiplies by the derivative of the
// activation that produced x (DACT, see the prelude), x being that activation's output.

const WG: u32 = 256u;

struct Params {
    rows: u32,
    channels: u32,
    spatial: u32,
    grid_width: u32, // invocations per grid row: workgroups in x * 256
    momentum: f32,
    epsilon: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> saved: array<f32>;
@group(0) @binding(4) var<storage, read_write> moving_mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> moving_var: array<f32>;
@group(0) @binding(6) var<storage, read> gamma: array<f32>;
@group(0) @binding(7) var<storage, read> beta: array<f32>;
@group(0) @binding(8) var<storage, read> dy: array<f32>;
@group(0) @binding(9) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(10) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(11) var<storage, read_write> dst: array<f32>; // y or dx

var<workgroup> part_a: array<f32, WG>;
var<workgroup> part_b: array<f32, WG>;

fn valid(row: u32) -> bool {
    return labels[row / p.spatial] != PAD;
}

// Sums part_a and part_b over the workgroup into element 0 of each.
fn reduce(lid: u32) {
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        workgroupBarrier();
        if (lid < stride) {
            part_a[lid] += part_a[lid + stride];
            part_b[lid] += part_b[lid + stride];
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(256)
fn stats(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let c = wg.x;
    let C = p.channels;
    var sum = 0.0;
    var count = 0.0;
    for (var r = lid; r < p.rows; r += WG) {
        if (valid(r)) {
            sum += x[r * C + c];
            count += 1.0;
        }
    }
    part_a[lid] = sum;
    part_b[lid] = count;
    reduce(lid);
    let n = part_b[0];
    let mean = part_a[0] / max(n, 1.0);
    workgroupBarrier();
    var sq = 0.0;
    for (var r = lid; r < p.rows; r += WG) {
        if (valid(r)) {
            let d = x[r * C + c] - mean;
            sq += d * d;
        }
    }
    part_a[lid] = sq;
    part_b[lid] = 0.0;
    reduce(lid);
    if (lid == 0u) {
        finish_stats(c, mean, part_a[0] / max(n, 1.0), n);
    }
}

// The per-channel results of `stats` and `grad_sums`, written by both variants.
fn finish_stats(c: u32, mean: f32, variance: f32, n: f32) {
    let C = p.channels;
    saved[c] = mean;
    saved[C + c] = 1.0 / sqrt(variance + p.epsilon);
    if (c == 0u) {
        saved[2u * C] = n;
    }
    moving_mean[c] = moving_mean[c] * p.momentum + mean * (1.0 - p.momentum);
    moving_var[c] = moving_var[c] * p.momentum + variance * (1.0 - p.momentum);
}

@compute @workgroup_size(64)
fn stats_serial(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    let C = p.channels;
    if (c >= C) {
        return;
    }
    var sum = 0.0;
    var n = 0.0;
    for (var r = 0u; r < p.rows; r++) {
        if (valid(r)) {
            sum += x[r * C + c];
            n += 1.0;
        }
    }
    let mean = sum / max(n, 1.0);
    var sq = 0.0;
    for (var r = 0u; r < p.rows; r++) {
        if (valid(r)) {
            let d = x[r * C + c] - mean;
            sq += d * d;
        }
    }
    finish_stats(c, mean, sq / max(n, 1.0), n);
}

@compute @workgroup_size(64)
fn grad_sums_serial(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    let C = p.channels;
    if (c >= C) {
        return;
    }
    let mean = saved[c];
    let inv_std = saved[C + c];
    var s_dy = 0.0;
    var s_dy_xhat = 0.0;
    for (var r = 0u; r < p.rows; r++) {
        if (valid(r)) {
            let g = dy[r * C + c];
            s_dy += g;
            s_dy_xhat += g * (x[r * C + c] - mean) * inv_std;
        }
    }
    dbeta[c] = s_dy;
    dgamma[c] = s_dy_xhat;
}

@compute @workgroup_size(256)
fn apply_train(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = flat_id(gid, p.grid_width);
    if (i >= p.rows * p.channels) {
        return;
    }
    let c = i % p.channels;
    dst[i] = gamma[c] * (x[i] - saved[c]) * saved[p.channels + c] + beta[c];
}

@compute @workgroup_size(256)
fn apply_eval(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = flat_id(gid, p.grid_width);
    if (i >= p.rows * p.channels) {
        return;
    }
    let c = i % p.channels;
    dst[i] = gamma[c] * (x[i] - moving_mean[c]) / sqrt(moving_var[c] + p.epsilon) + beta[c];
}

// dgamma = Σ dy·x̂, dbeta = Σ dy over valid rows, with x̂ = (x - mean)·inv_std.
@compute @workgroup_size(256)
fn grad_sums(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let c = wg.x;
    let C = p.channels;
    let mean = saved[c];
    let inv_std = saved[C + c];
    var s_dy = 0.0;
    var s_dy_xhat = 0.0;
    for (var r = lid; r < p.rows; r += WG) {
        if (valid(r)) {
            let g = dy[r * C + c];
            s_dy += g;
            s_dy_xhat += g * (x[r * C + c] - mean) * inv_std;
        }
    }
    part_a[lid] = s_dy;
    part_b[lid] = s_dy_xhat;
    reduce(lid);
    if (lid == 0u) {
        dbeta[c] = part_a[0];
        dgamma[c] = part_b[0];
    }
}

// dx = gamma·inv_std/n · (n·dy - dbeta - x̂·dgamma) on valid rows, 0 on padding rows.
@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = flat_id(gid, p.grid_width);
    if (i >= p.rows * p.channels) {
        return;
    }
    let C = p.channels;
    let c = i % C;
    let r = i / C;
    var v = 0.0;
    if (valid(r)) {
        let n = saved[2u * C];
        let inv_std = saved[C + c];
        let xhat = (x[i] - saved[c]) * inv_std;
        v = gamma[c] * inv_std / n * (n * dy[i] - dbeta[c] - xhat * dgamma[c]);
    }
    if (DACT != 0u) {
        v = dact(v, x[i]);
    }
    dst[i] = v;
}
