// batch_sum: a batch's loss, correct predictions and valid rows summed across a workgroup of
// SUM_WG invocations in a fixed tree (no float atomics: the same sum every run). Shared by the
// loss kernel (softmax_xent.wgsl) and the fused step end (step_end.wgsl), so that both sum a
// batch in one order.

const SUM_WG: u32 = 256u;

var<workgroup> loss_part: array<f32, SUM_WG>;
var<workgroup> correct_part: array<u32, SUM_WG>;
var<workgroup> count_part: array<u32, SUM_WG>;

// Every invocation's parts into part[0]; every invocation of the workgroup must call it.
fn reduce(lid: u32) {
    for (var stride = SUM_WG / 2u; stride > 0u; stride /= 2u) {
        workgroupBarrier();
        if (lid < stride) {
            loss_part[lid] += loss_part[lid + stride];
            correct_part[lid] += correct_part[lid + stride];
            count_part[lid] += count_part[lid + stride];
        }
    }
    workgroupBarrier();
}
