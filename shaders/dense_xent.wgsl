// dense_xent: the output dense layer and the softmax cross-entropy in one launch, for the
// training step where plan.rs fuses them (a linear Dense of at most MAX_CLASSES units last):
// the logits, their gradient and each row's loss and hit, one workgroup per row.
//
// x:       [batch, k] row-major: the output layer's input.
// w:       [k, classes] row-major (Keras's kernel); b: [classes].
// labels:  [batch] u32; PAD marks a padding row of a short last batch: no loss, zero gradient.
// logits:  [batch, classes] = x·w + b.
// dlogits: [batch, classes]: softmax_xent.wgsl's gradient under its rules (Keras's label
//          smoothing, the mean over the valid rows).
// rows:    [batch] RowStat: each row's loss and flags. The batch's sum into the pass's
//          accumulator is step_end.wgsl's, in the optimizer's launch: summing across
//          workgroups here would need float atomics (no fixed order) or another launch.
// cursor:  step += 1 and t += 1, by workgroup 0 alone, as the loss kernel does; nothing else
//          in this launch reads the cursor, so the write races with nothing.
//
// Each of the 64 invocations sums its own slice of k (lid, lid + 64, ...) for every class,
// and a tree over the workgroup adds the 64 partial rows: another order of sums than the
// dense forward's tile4, so the logits differ from the unfused step's by rounding.

const WG: u32 = 64u;
const MAX_CLASSES: u32 = 16u;

struct Params {
    batch: u32,
    k: u32,
    classes: u32,
    label_smoothing: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> labels: array<u32>;
@group(0) @binding(5) var<storage, read_write> logits: array<f32>;
@group(0) @binding(6) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(7) var<storage, read_write> rows: array<RowStat>;
@group(0) @binding(8) var<storage, read_write> cursor: Cursor;

// [class][invocation]: the partial sums, then (column 0) the row's logits.
var<workgroup> part: array<f32, 1024>; // MAX_CLASSES * WG
var<workgroup> valid_part: array<u32, WG>;

// This invocation's partial logits over its slice of k.
fn partial_logits(row: u32, lid: u32) -> array<f32, MAX_CLASSES> {
    var acc: array<f32, MAX_CLASSES>;
    let classes = params.classes;
    for (var k = lid; k < params.k; k += WG) {
        let xv = x[row * params.k + k];
        for (var c = 0u; c < MAX_CLASSES; c++) {
            if (c < classes) {
                acc[c] += xv * w[k * classes + c];
            }
        }
    }
    return acc;
}

// The batch's valid rows: every workgroup counts them (a batch of label reads).
fn count_valid(lid: u32) -> u32 {
    var valid = 0u;
    for (var r = lid; r < params.batch; r += WG) {
        valid += select(0u, 1u, labels[r] != PAD);
    }
    return valid;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = wid.x;
    let classes = params.classes;
    let acc = partial_logits(row, lid);
    for (var c = 0u; c < MAX_CLASSES; c++) {
        part[c * WG + lid] = acc[c];
    }
    valid_part[lid] = count_valid(lid);
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        workgroupBarrier();
        if (lid < stride) {
            for (var c = 0u; c < MAX_CLASSES; c++) {
                part[c * WG + lid] += part[c * WG + lid + stride];
            }
            valid_part[lid] += valid_part[lid + stride];
        }
    }
    workgroupBarrier();
    if (lid < classes) {
        part[lid * WG] += b[lid];
    }
    workgroupBarrier();
    if (lid < classes) {
        row_epilogue(row, lid, valid_part[0]);
    }
    if (wid.x == 0u && lid == 0u) {
        cursor.step += 1u;
        cursor.t += 1u;
    }
}

// Invocation `c` of the row: its logit and gradient, and (c = 0) the row's loss and flags.
fn row_epilogue(row: u32, c: u32, n_valid: u32) {
    let classes = params.classes;
    let base = row * classes;
    let z = part[c * WG];
    logits[base + c] = z;
    let label = labels[row];
    if (label == PAD) {
        dlogits[base + c] = 0.0;
        if (c == 0u) {
            rows[row] = RowStat(0.0, 0u);
        }
        return;
    }
    var zmax = part[0];
    var arg = 0u;
    for (var j = 1u; j < classes; j++) {
        if (part[j * WG] > zmax) {
            zmax = part[j * WG];
            arg = j;
        }
    }
    var sum = 0.0;
    var z_sum = 0.0;
    for (var j = 0u; j < classes; j++) {
        sum += exp(part[j * WG] - zmax);
        z_sum += part[j * WG];
    }
    let smoothing = params.label_smoothing;
    let spread = smoothing / f32(classes);
    let p = exp(z - zmax) * (1.0 / sum);
    let wanted = select(0.0, 1.0 - smoothing, c == label) + spread;
    dlogits[base + c] = (p - wanted) * (1.0 / f32(n_valid));
    if (c == 0u) {
        // As softmax_xent.wgsl: the smoothed loss only where asked for.
        let z_label = part[label * WG];
        var loss = zmax + log(sum) - z_label;
        if (smoothing != 0.0) {
            loss = zmax + log(sum) - (1.0 - smoothing) * z_label - spread * z_sum;
        }
        let hit = select(0u, ROW_CORRECT, arg == label);
        rows[row] = RowStat(loss, ROW_VALID | hit);
    }
}
