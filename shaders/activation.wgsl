// activation: a standalone activation (Keras's Activation layer), elementwise.
//
// src, aux, dst: [n] f32 in any layout.
// forward:  dst = ACT(src), the prelude's `activate`.
// backward: dst = src · DACT'(aux). The gradient src, written by the layer above, already
//           includes this layer's own derivative (fused there, as for every layer), so the
//           backward only passes it on, times the derivative of the activation below (aux is
//           that activation's output: this layer's input). With no activation below it is a
//           copy.
//
// One invocation per element (`flat_id`: the grid spans two dimensions).

struct Params {
    n: u32,
    grid_width: u32, // invocations per grid row: workgroups in x * 256
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>; // forward: x; backward: dy
@group(0) @binding(2) var<storage, read> aux: array<f32>; // backward: the input, x
@group(0) @binding(3) var<storage, read_write> dst: array<f32>; // forward: y; backward: dx

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = flat_id(gid, p.grid_width);
    if (i >= p.n) {
        return;
    }
    dst[i] = activate(src[i]);
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = flat_id(gid, p.grid_width);
    if (i >= p.n) {
        return;
    }
    var g = src[i];
    if (DACT != 0u) {
        g = dact(g, aux[i]);
    }
    dst[i] = g;
}
