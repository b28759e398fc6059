// confusion: adds a batch's predictions into a confusion matrix, exactly (integer atomics).
//
// logits: [batch, classes] row-major.
// labels: [batch] u32; PAD rows (see the prelude) are left out.
// counts: [classes, classes] u32, counts[label * classes + predicted] += 1, where predicted is
//         the first argmax of the row's logits, the loss kernel's rule for accuracy, so that
//         the diagonal sums to its correct count exactly.
//
// One invocation per row. Atomics on integers are exact and order-independent, so the counts
// are deterministic whatever order the rows land in.

struct Params {
    batch: u32,
    classes: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if (row >= p.batch) {
        return;
    }
    let label = labels[row];
    if (label == PAD) {
        return;
    }
    let base = row * p.classes;
    var best = logits[base];
    var predicted = 0u;
    for (var c = 1u; c < p.classes; c++) {
        let z = logits[base + c];
        if (z > best) {
            best = z;
            predicted = c;
        }
    }
    atomicAdd(&counts[label * p.classes + predicted], 1u);
}
