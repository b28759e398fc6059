// prelude: what every kernel family shares. The host prepends it to each module, before the
// module's element-type header (if any) and its own file (src/gpu/kernels/family.rs).

// Label of a padding row: the rows of a short last batch past the end of the pass's order.
// The gather writes it; the loss, the metrics and batch normalisation leave such rows out,
// so every kernel keeps its full-batch shape and still computes exact results.
const PAD: u32 = 0xffffffffu;

// The pass's step counter, on the GPU: `step` is the batch index within the pass (the gather
// reads it), `t` the optimizer's step count (Adam's t; dropout draws its mask from it). The
// loss kernel (softmax_xent.wgsl, or dense_xent.wgsl where the step's end is fused) advances
// both once per step, so no step needs a CPU write.
struct Cursor {
    step: u32,
    t: u32,
}

// A pass's loss-and-accuracy accumulator (`LossMetric` on the Rust side): the sum of the
// per-sample losses, the correct predictions, the valid rows, and 1 + the batch index of the
// pass's first batch whose loss was not finite (0 while every one was). softmax_xent.wgsl adds
// a batch into it, or step_end.wgsl from the rows dense_xent.wgsl wrote.
struct Metric {
    loss_sum: f32,
    correct: u32,
    count: u32,
    first_bad_step: u32,
}

// One row's share of the loss, from dense_xent.wgsl to step_end.wgsl: its loss (0 for a
// padding row) and flags (ROW_VALID, ROW_CORRECT: its first argmax is its label).
struct RowStat {
    loss: f32,
    flags: u32,
}
const ROW_VALID: u32 = 1u;
const ROW_CORRECT: u32 = 2u;

// NaN or ±inf, from the bits: WGSL lets compilers assume floats are finite, so `x != x` may
// be folded away; an all-ones exponent cannot be.
fn not_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}

// Activations fused into kernels, by code: 0 none (linear), 1 relu, 2 sigmoid. ACT is applied
// to a forward result; DACT multiplies a gradient by the derivative of an activation given
// that activation's output h (relu: h > 0; sigmoid: h(1 - h)), which fuses a layer's
// activation backward into whichever kernel produces the gradient.
override ACT: u32 = 0u;
override DACT: u32 = 0u;

fn activate(v: f32) -> f32 {
    if (ACT == 1u) {
        return max(v, 0.0);
    } else if (ACT == 2u) {
        return 1.0 / (1.0 + exp(-v));
    }
    return v;
}

fn activate4(v: vec4<f32>) -> vec4<f32> {
    if (ACT == 1u) {
        return max(v, vec4<f32>(0.0));
    } else if (ACT == 2u) {
        return 1.0 / (1.0 + exp(-v));
    }
    return v;
}

fn dact(g: f32, h: f32) -> f32 {
    if (DACT == 1u) {
        return select(0.0, g, h > 0.0);
    } else if (DACT == 2u) {
        return g * h * (1.0 - h);
    }
    return g;
}

fn dact4(g: vec4<f32>, h: vec4<f32>) -> vec4<f32> {
    if (DACT == 1u) {
        return select(vec4<f32>(0.0), g, h > vec4<f32>(0.0));
    } else if (DACT == 2u) {
        return g * h * (1.0 - h);
    }
    return g;
}

// The flat id of a 1-D launch spread over a 2-D grid of workgroups (one grid dimension holds
// at most 65535 of them); `grid_width` is the invocations per grid row.
fn flat_id(gid: vec3<u32>, grid_width: u32) -> u32 {
    return gid.x + gid.y * grid_width;
}

// (batch, y, x) of pixel i of a batch of h x w images.
fn pixel_of(i: u32, h: u32, w: u32) -> vec3<u32> {
    let t = i / w;
    return vec3<u32>(t / h, t % h, i % w);
}

// PCG-style integer hash (Jarzynski and Olano, "Hash Functions for GPU Rendering", 2020):
// dropout's masks and augmentation's draws. Its twin is `rng::pcg_hash`.
fn pcg_hash(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}
