// optimizer: one update of every parameter, over the flat parameter buffer (all tensors of
// the model in one launch), with Keras 3's exact rules. Step t counts from 1 and is read from
// the GPU-side cursor, which the loss kernel advanced earlier in the same step.
//
// w, g, s1, s2: [n] f32, n a multiple of 4, read and written as vec4: one invocation updates
// 4 parameters (on CPU adapters each storage access costs a loop over the SIMD lanes whatever
// its width, so vec4 makes this launch ~4x faster there; on GPUs 16-byte accesses are the
// widest). s1 is SGD's velocity, Adam's m or RMSprop's v; s2 is Adam's v.
// Padding between tensors has g = 0 and stays 0 under every rule below.

struct Hyper {
    lr: f32,
    beta1: f32, // SGD: momentum; Adam: beta1; RMSprop: rho
    beta2: f32, // Adam: beta2
    eps: f32,
    n: u32,          // parameters; the invocations cover n / 4 vec4
    grid_width: u32, // invocations per grid row: workgroups in x * 256
    _pad0: u32,
    _pad1: u32,
}

struct Cursor {
    step: u32,
    t: u32,
}

@group(0) @binding(0) var<uniform> hp: Hyper;
@group(0) @binding(1) var<storage, read_write> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> s1: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> s2: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> cursor: Cursor;

fn index(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * hp.grid_width;
}

// w -= lr * g
@compute @workgroup_size(256)
fn sgd(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= hp.n / 4u) {
        return;
    }
    w[i] -= hp.lr * g[i];
}

// v = momentum * v - lr * g; w += v
@compute @workgroup_size(256)
fn sgd_momentum(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= hp.n / 4u) {
        return;
    }
    let v = hp.beta1 * s1[i] - hp.lr * g[i];
    s1[i] = v;
    w[i] += v;
}

// a = lr * sqrt(1 - b2^t) / (1 - b1^t); m += (g - m)(1 - b1); v += (g² - v)(1 - b2);
// w -= a * m / (sqrt(v) + eps)
@compute @workgroup_size(256)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= hp.n / 4u) {
        return;
    }
    let t = f32(cursor.t);
    let alpha = hp.lr * sqrt(1.0 - pow(hp.beta2, t)) / (1.0 - pow(hp.beta1, t));
    let gi = g[i];
    let m = s1[i] + (gi - s1[i]) * (1.0 - hp.beta1);
    let v = s2[i] + (gi * gi - s2[i]) * (1.0 - hp.beta2);
    s1[i] = m;
    s2[i] = v;
    w[i] -= alpha * m / (sqrt(v) + vec4<f32>(hp.eps));
}

// v = rho * v + (1 - rho) g²; w -= lr * g / sqrt(v + eps)
@compute @workgroup_size(256)
fn rmsprop(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = index(gid);
    if (i >= hp.n / 4u) {
        return;
    }
    let gi = g[i];
    let v = hp.beta1 * s1[i] + (1.0 - hp.beta1) * gi * gi;
    s1[i] = v;
    w[i] -= hp.lr * gi / sqrt(v + vec4<f32>(hp.eps));
}
