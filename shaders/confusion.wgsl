// confusion: counts of a batch's predictions, exactly (integer atomics).
//
// logits: [batch, classes] row-major.
// labels: [batch] u32; PAD rows (see the prelude) are left out.
// counts: main: [classes, classes] u32, counts[label * classes + predicted] += 1, where
//         predicted is the first argmax of the row's logits, the loss kernel's rule for
//         accuracy, so that the diagonal sums to its correct count exactly.
//         top_k: [1] u32, += 1 for each row whose label is among the k highest logits
//         (TensorFlow's in_top_k: fewer than k classes score strictly higher, so ties at the
//         boundary count as in).
//
// One invocation per row. Atomics on integers are exact and order-independent, so the counts
// are deterministic whatever order the rows land in.

struct Params {
    batch: u32,
    classes: u32,
    k: u32, // top_k's K
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;

// Row `row`'s label, PAD past the batch: rows either leaves out.
fn label_of(row: u32) -> u32 {
    if (row >= p.batch) {
        return PAD;
    }
    return labels[row];
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let label = label_of(gid.x);
    if (label == PAD) {
        return;
    }
    let base = gid.x * p.classes;
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

@compute @workgroup_size(64)
fn top_k(@builtin(global_invocation_id) gid: vec3<u32>) {
    let label = label_of(gid.x);
    if (label == PAD) {
        return;
    }
    let base = gid.x * p.classes;
    let own = logits[base + label];
    var higher = 0u;
    for (var c = 0u; c < p.classes; c++) {
        higher += select(0u, 1u, logits[base + c] > own);
    }
    if (higher < p.k) {
        atomicAdd(&counts[0], 1u);
    }
}
