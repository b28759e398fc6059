// dropout: inverted dropout with a counter-based mask, so no mask is stored and the CPU twin
// reproduces it bit for bit.
//
// x, y, dy, dx: [n] f32 (any layout: the mask is per element).
// keep(i) = hash(hash(hash(i) ^ step) ^ seed) >> 8 >= threshold, with threshold = round(rate *
// 2^24); kept elements are scaled by 1 / (1 - rate). `step` is the optimizer's step count
// before this step (cursor.t minus `t_back`: the forward pass runs before the loss kernel
// advances the cursor, the backward pass after), so forward and backward of a step draw the
// same mask and every step draws a new one.
// At evaluation the host records `identity`, a copy.
// backward multiplies by the derivative of the activation that produced x (DACT, see the
// prelude), given its output in `aux` (= x).

struct Params {
    n: u32,
    threshold: u32,
    scale: f32,
    seed: u32,
    t_back: u32,
    grid_width: u32, // invocations per grid row: workgroups in x * 256
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>; // forward: x; backward: dy
@group(0) @binding(2) var<storage, read> aux: array<f32>; // backward: the activation output x
@group(0) @binding(3) var<storage, read> cursor: Cursor;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

fn kept(i: u32) -> bool {
    let step = cursor.t - p.t_back;
    return (pcg_hash(pcg_hash(pcg_hash(i) ^ step) ^ p.seed) >> 8u) >= p.threshold;
}

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = flat_id(gid, p.grid_width);
    if (i >= p.n) {
        return;
    }
    dst[i] = select(0.0, src[i] * p.scale, kept(i));
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = flat_id(gid, p.grid_width);
    if (i >= p.n) {
        return;
    }
    var v = select(0.0, src[i] * p.scale, kept(i));
    if (DACT != 0u) {
        v = dact(v, aux[i]);
    }
    dst[i] = v;
}

@compute @workgroup_size(256)
fn identity(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = flat_id(gid, p.grid_width);
    if (i >= p.n) {
        return;
    }
    dst[i] = src[i];
}
