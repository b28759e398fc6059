// predictions: each sample's class probabilities (the softmax of its logits), written at the
// sample's place in the pass's order, so that reports (galleries, a sample's probability
// chart) and `predict` read per-sample results of the evaluation pass itself.
//
// logits: [batch, classes] row-major.
// labels: [batch] u32; PAD rows (see the prelude) are left out.
// cursor: the pass's step counter. This runs after the loss kernel, which has already
//         advanced it, so the batch index is cursor.step - 1.
// probs:  [capacity, classes] f32, row-major; probs[(batch index * batch + row) * classes + c].
//         Rows at or past `capacity` are left out (a pass longer than the buffer asked for).
//
// One invocation per row: a row is `classes` (10) values, and the max and sum are the loss
// kernel's (max-subtracted exp), so a row's probabilities agree with its loss.

struct Params {
    batch: u32,
    classes: u32,
    capacity: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> cursor: Cursor;
@group(0) @binding(4) var<storage, read_write> probs: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if (row >= p.batch || labels[row] == PAD) {
        return;
    }
    let sample = (cursor.step - 1u) * p.batch + row;
    if (sample >= p.capacity) {
        return;
    }
    let base = row * p.classes;
    var zmax = logits[base];
    for (var c = 1u; c < p.classes; c++) {
        zmax = max(zmax, logits[base + c]);
    }
    var sum = 0.0;
    for (var c = 0u; c < p.classes; c++) {
        sum += exp(logits[base + c] - zmax);
    }
    let inv = 1.0 / sum;
    for (var c = 0u; c < p.classes; c++) {
        probs[sample * p.classes + c] = exp(logits[base + c] - zmax) * inv;
    }
}
