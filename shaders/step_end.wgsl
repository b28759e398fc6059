// step_end: the end of a training step in one launch, where plan.rs fuses it (with
// dense_xent.wgsl as the output layer and loss): the optimizer's update of every parameter,
// the batch's loss and accuracy added into the pass's accumulator from the rows dense_xent
// wrote, and the next batch gathered into x and y, which this step's last readers of them
// (the first layer's backward, the metrics) have finished with. The module is
// optimizer.wgsl and gather.wgsl without their binding declarations (their code as it is:
// the rule RULE selects, `gather_element`), then this file, which declares their names at
// its own numbers.
//
// dense_xent advanced the cursor earlier in this step, so cursor.step is the next batch's
// index: the gather's batch, and (minus one) the optimizer's row of the rate table. The
// epoch's first batch is gathered by a launch of its own when the epoch begins; the last
// step's gather finds no samples past the end of the order (zeros and PAD), which nothing
// reads before the next epoch gathers its first.
//
// Workgroups of 256 in one flat run over a 2-D grid: the optimizer's (`opt_groups`, one vec4
// of parameters per invocation), then one that sums the batch's rows, then the gather's (one
// element of x per invocation).
//
// Split-K sums left to the optimizer (`DeferredSums` in matmul.rs): up to two weight
// gradients whose products split K write only their slices, partials_k: [splits, m (+ 1), n],
// the row of ones' sums last. The optimizer's invocation of a vec4 of such a gradient (or of
// its bias's) first sums the slices into g, in sum_splits's order (slice 0 first, from 0),
// so g holds the gradient after the step as it does unfused.

struct StepEnd {
    opt_groups: u32,
    batch: u32,
    folds: u32, // deferred sums: 0, 1 or 2
    _pad0: u32,
    // Per deferred sum, in vec4s: where c starts in g and its length, where its row sums
    // start in g (NO_SUMS: none; their slice rows follow c's), n / 4, the slices' stride, and
    // the slices.
    fold0_c: u32,
    fold0_len: u32,
    fold0_sums: u32,
    fold0_n: u32,
    fold0_stride: u32,
    fold0_splits: u32,
    _pad1: u32,
    _pad2: u32,
    fold1_c: u32,
    fold1_len: u32,
    fold1_sums: u32,
    fold1_n: u32,
    fold1_stride: u32,
    fold1_splits: u32,
    _pad3: u32,
    _pad4: u32,
}

const NO_SUMS: u32 = 0xffffffffu;

struct Fold {
    c: u32,
    len: u32,
    sums: u32,
    n: u32,
    stride: u32,
    splits: u32,
}

@group(0) @binding(0) var<uniform> hp: Hyper;
@group(0) @binding(1) var<storage, read_write> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> g: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> state: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> cursor: Cursor;
@group(0) @binding(5) var<storage, read> rates: array<Rate>;
@group(0) @binding(6) var<uniform> params: Params;
@group(0) @binding(7) var<storage, read> images: array<u32>;
@group(0) @binding(8) var<storage, read> labels: array<u32>;
@group(0) @binding(9) var<storage, read> order: array<u32>;
@group(0) @binding(10) var<storage, read_write> x: array<f32>;
@group(0) @binding(11) var<storage, read_write> y: array<u32>;
@group(0) @binding(12) var<uniform> step_end: StepEnd;
@group(0) @binding(13) var<storage, read> rows: array<RowStat>;
@group(0) @binding(14) var<storage, read_write> metric: Metric;
@group(0) @binding(15) var<storage, read> partials_0: array<vec4<f32>>;
@group(0) @binding(16) var<storage, read> partials_1: array<vec4<f32>>;


@compute @workgroup_size(256)
fn finish_step(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // Uniform across the workgroup, so the row sum's barriers are in uniform control flow.
    let group = wid.x + wid.y * groups.x;
    let opt_groups = step_end.opt_groups;
    if (group < opt_groups) {
        let i = group * 256u + lid;
        if (i < hp.n / 4u) {
            fold_splits(i);
            update(i);
        }
    } else if (group == opt_groups) {
        sum_rows(lid);
    } else {
        gather_element((group - opt_groups - 1u) * 256u + lid);
    }
}

// The batch's rows into the accumulator, in softmax_xent.wgsl's order of sums (rows strided
// over the invocations, then batch_sum.wgsl's tree), and its divergence record.
fn sum_rows(lid: u32) {
    var loss = 0.0;
    var correct = 0u;
    var count = 0u;
    for (var r = lid; r < step_end.batch; r += SUM_WG) {
        let s = rows[r];
        loss += s.loss;
        correct += select(0u, 1u, (s.flags & ROW_CORRECT) != 0u);
        count += select(0u, 1u, (s.flags & ROW_VALID) != 0u);
    }
    loss_part[lid] = loss;
    correct_part[lid] = correct;
    count_part[lid] = count;
    reduce(lid);
    if (lid == 0u) {
        // cursor.step is already this batch's index + 1.
        if (metric.first_bad_step == 0u && not_finite(loss_part[0])) {
            metric.first_bad_step = cursor.step;
        }
        metric.loss_sum += loss_part[0];
        metric.correct += correct_part[0];
        metric.count += count_part[0];
    }
}

fn fold(k: u32) -> Fold {
    let e = step_end;
    if (k == 0u) {
        return Fold(e.fold0_c, e.fold0_len, e.fold0_sums, e.fold0_n, e.fold0_stride, e.fold0_splits);
    }
    return Fold(e.fold1_c, e.fold1_len, e.fold1_sums, e.fold1_n, e.fold1_stride, e.fold1_splits);
}

// The sum over deferred sum k's slices of their vec4 j.
fn slices(k: u32, j: u32, f: Fold) -> vec4<f32> {
    var sum = vec4<f32>(0.0);
    for (var s = 0u; s < f.splits; s++) {
        if (k == 0u) {
            sum += partials_0[s * f.stride + j];
        } else {
            sum += partials_1[s * f.stride + j];
        }
    }
    return sum;
}

// g's vec4 i from its slices, where it lies in a deferred sum's c or row sums.
fn fold_splits(i: u32) {
    for (var k = 0u; k < step_end.folds; k++) {
        let f = fold(k);
        if (i >= f.c && i - f.c < f.len) {
            g[i] = slices(k, i - f.c, f);
        } else if (f.sums != NO_SUMS && i >= f.sums && i - f.sums < f.n) {
            g[i] = slices(k, f.len + i - f.sums, f);
        }
    }
}
