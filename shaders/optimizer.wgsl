// optimizer: one update of every parameter, over the flat parameter buffer (all tensors of
// the model in one launch), with Keras 3's exact rules.
//
// rates: [steps of the epoch] Rate. What a step's update needs that the CPU can compute (a
//        schedule's learning rate, Adam's bias-corrected step size) is computed once per epoch
//        in f64 and uploaded with the shuffle order; the step reads its row through the cursor,
//        which the loss kernel advanced earlier in the same step (so row cursor.step - 1).
//
// w, g: [n] f32, n a multiple of 4, read and written as vec4: one invocation updates 4
// parameters (on CPU adapters each storage access costs a loop over the SIMD lanes whatever
// its width, so vec4 makes this launch ~4x faster there; on GPUs 16-byte accesses are the
// widest).
// state: [tensors, n] f32, the rule's state tensors one after the other, each laid out as w
// (any number of them: tensor k of element i is state[at(k, i)]). SGD's velocity, Adam's m
// then v, RMSprop's v.
// Padding between tensors has g = 0 and stays 0 under every rule below.

// Every rule's hyperparameters under Keras's names; each entry point reads its own.
struct Hyper {
    momentum: f32,
    beta_1: f32,
    beta_2: f32,
    rho: f32,
    epsilon: f32,
    weight_decay: f32,
    n: u32,          // parameters; the invocations cover n / 4 vec4
    grid_width: u32, // invocations per grid row: workgroups in x * 256
}

// One step's factors: the learning rate (the schedule's, for SGD, RMSprop and AdamW's decay)
// and the step size (Adam's lr·sqrt(1 - beta_2^t) / (1 - beta_1^t); the learning rate for the
// others).
struct Rate {
    learning_rate: f32,
    step_size: f32,
}

@group(0) @binding(0) var<uniform> hp: Hyper;
@group(0) @binding(1) var<storage, read_write> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> state: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> cursor: Cursor;
@group(0) @binding(5) var<storage, read> rates: array<Rate>;

// Where state tensor k keeps vec4 i.
fn at(k: u32, i: u32) -> u32 {
    return k * (hp.n / 4u) + i;
}

// This step's row of the table (clamped: a table shorter than the epoch repeats its last).
fn rate() -> Rate {
    let row = max(cursor.step, 1u) - 1u;
    return rates[min(row, arrayLength(&rates) - 1u)];
}

// Each rule is an entry point of its own, and a function of the vec4 index (`<rule>_update`)
// for launches that run it beside other work: step_end.wgsl, whose module adds `update`, a
// switch over the override RULE generated from `RULES` in src/gpu/kernels/optimizer.rs.

// The vec4 this invocation updates, or none past the end.
fn own_index(gid: vec3<u32>) -> i32 {
    let i = flat_id(gid, hp.grid_width);
    return select(-1, i32(i), i < hp.n / 4u);
}

@compute @workgroup_size(256)
fn sgd(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = own_index(gid);
    if (i >= 0) {
        sgd_update(u32(i));
    }
}

@compute @workgroup_size(256)
fn sgd_momentum(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = own_index(gid);
    if (i >= 0) {
        sgd_momentum_update(u32(i));
    }
}

@compute @workgroup_size(256)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = own_index(gid);
    if (i >= 0) {
        adam_update(u32(i));
    }
}

@compute @workgroup_size(256)
fn adamw(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = own_index(gid);
    if (i >= 0) {
        adamw_update(u32(i));
    }
}

@compute @workgroup_size(256)
fn rmsprop(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = own_index(gid);
    if (i >= 0) {
        rmsprop_update(u32(i));
    }
}

// w -= lr * g
fn sgd_update(i: u32) {
    w[i] -= rate().learning_rate * g[i];
}

// v = momentum * v - lr * g; w += v
fn sgd_momentum_update(i: u32) {
    let v = hp.momentum * state[i] - rate().learning_rate * g[i];
    state[i] = v;
    w[i] += v;
}

// m += (g - m)(1 - b1); v += (g² - v)(1 - b2); w -= a * m / (sqrt(v) + eps), with the step
// size a = lr * sqrt(1 - b2^t) / (1 - b1^t) from the rate table (f64 on the CPU: in f32,
// pow(b2, t) loses the bias correction's digits as t grows).
fn adam_update(i: u32) {
    let alpha = rate().step_size;
    let gi = g[i];
    let m0 = state[at(0u, i)];
    let v0 = state[at(1u, i)];
    let m = m0 + (gi - m0) * (1.0 - hp.beta_1);
    let v = v0 + (gi * gi - v0) * (1.0 - hp.beta_2);
    state[at(0u, i)] = m;
    state[at(1u, i)] = v;
    w[i] -= alpha * m / (sqrt(v) + vec4<f32>(hp.epsilon));
}

// Keras's AdamW: w -= w * wd * lr (in that order, as Keras computes it), then Adam's step.
fn adamw_update(i: u32) {
    w[i] -= w[i] * hp.weight_decay * rate().learning_rate;
    adam_update(i);
}

// v = rho * v + (1 - rho) g²; w -= lr * g / sqrt(v + eps)
fn rmsprop_update(i: u32) {
    let gi = g[i];
    let v = hp.rho * state[i] + (1.0 - hp.rho) * gi * gi;
    state[i] = v;
    w[i] -= rate().learning_rate * gi / sqrt(v + vec4<f32>(hp.epsilon));
}
