// softmax_xent: fused softmax + categorical cross-entropy on logits, the loss gradient, and the
// loss and accuracy of one batch, which it adds into their accumulator on the GPU (the loss
// kernel fills this one accumulator itself: it has the per-row losses and argmaxes at hand).
//
// logits:  [batch, classes] row-major.
// labels:  [batch] u32; PAD (see the prelude) marks a padding row of a short last batch: it
//          adds nothing and gets a zero gradient.
// dlogits: [batch, classes] = (softmax(z) - target(y)) / valid_rows, the gradient of the mean
//          loss over the valid rows (Keras: batch loss = mean over the batch). The target is
//          Keras's label smoothing: (1 - s) * onehot(y) + s / classes (s = 0: onehot), and the
//          loss -sum_c target_c * log softmax(z)_c = logsumexp(z) - sum_c target_c * z_c.
// metric += { sum of per-sample losses, correct predictions (first argmax, as Keras's
//          accuracy), valid rows }: the pass's loss-and-accuracy accumulator. Its last word
//          records divergence: 1 + the batch index (cursor.step) of the pass's first batch
//          whose loss was not finite, 0 while every one was. It is read with the epoch's
//          metrics, so the divergence guard costs no readback.
// cursor:  step += 1 and t += 1 once the batch is done. The loss kernel runs exactly once per
//          step, after the gather (which read `step`) and before the optimizer (which reads
//          `t`, so Adam's first update sees t = 1): advancing here costs no extra launch and no
//          CPU write per step.
//
// One workgroup does the whole batch: rows are few (a batch) and classes fewer, and a single
// workgroup sums the batch deterministically without float atomics.

// The batch sums are batch_sum.wgsl's (its module comes first).
const WG: u32 = SUM_WG;

struct Params {
    batch: u32,
    classes: u32,
    label_smoothing: f32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> metric: Metric;
@group(0) @binding(5) var<storage, read_write> cursor: Cursor;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
    let classes = params.classes;
    var valid = 0u;
    for (var row = lid; row < params.batch; row += WG) {
        if (labels[row] != PAD) {
            valid += 1u;
        }
    }
    count_part[lid] = valid;
    loss_part[lid] = 0.0;
    correct_part[lid] = 0u;
    reduce(lid);
    let n_valid = count_part[0];
    let scale = select(0.0, 1.0 / f32(n_valid), n_valid > 0u);
    workgroupBarrier();

    let smoothing = params.label_smoothing;
    let spread = smoothing / f32(classes);
    var loss = 0.0;
    var correct = 0u;
    for (var row = lid; row < params.batch; row += WG) {
        let base = row * classes;
        let label = labels[row];
        if (label == PAD) {
            for (var c = 0u; c < classes; c++) {
                dlogits[base + c] = 0.0;
            }
            continue;
        }
        var zmax = logits[base];
        var arg = 0u;
        for (var c = 1u; c < classes; c++) {
            let z = logits[base + c];
            if (z > zmax) {
                zmax = z;
                arg = c;
            }
        }
        var sum = 0.0;
        var z_sum = 0.0;
        for (var c = 0u; c < classes; c++) {
            sum += exp(logits[base + c] - zmax);
            z_sum += logits[base + c];
        }
        // loss = logsumexp(z) - z[label] without smoothing; the smoothed part only where
        // asked for, so that s = 0 is exactly the plain loss.
        var row_loss = zmax + log(sum) - logits[base + label];
        if (smoothing != 0.0) {
            row_loss = zmax + log(sum) - (1.0 - smoothing) * logits[base + label] - spread * z_sum;
        }
        loss += row_loss;
        correct += select(0u, 1u, arg == label);
        let inv = 1.0 / sum;
        for (var c = 0u; c < classes; c++) {
            let p = exp(logits[base + c] - zmax) * inv;
            let wanted = select(0.0, 1.0 - smoothing, c == label) + spread;
            dlogits[base + c] = (p - wanted) * scale;
        }
    }
    loss_part[lid] = loss;
    correct_part[lid] = correct;
    count_part[lid] = 0u;
    reduce(lid);
    if (lid == 0u) {
        if (metric.first_bad_step == 0u && not_finite(loss_part[0])) {
            metric.first_bad_step = cursor.step + 1u;
        }
        metric.loss_sum += loss_part[0];
        metric.correct += correct_part[0];
        metric.count += n_valid;
        cursor.step += 1u;
        cursor.t += 1u;
    }
}
