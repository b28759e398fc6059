// gather: builds one batch from the resident u8 dataset.
//
// images: [n_samples, sample_bytes] u8, packed 4 per u32 (little-endian byte order), so the
//         whole training set fits one storage binding (MNIST: 47 MB as u8, 188 MB as f32).
// labels: [n_samples] u8, packed the same way.
// order:  [n_order] u32 sample indices; batch `cursor.step` takes order[step*batch ..].
// x:      [batch, sample_bytes] f32 in [0, 1] (pixel / 255), row-major.
// y:      [batch] u32; rows past the end of `order` (the short last batch) get zero pixels and
//         the label PAD (see the prelude), which the loss kernel skips, so every later
//         kernel can keep its full-batch shape and still produce exact gradients.
//
// Augmentation (training only, `augment` = 1): each row's image is drawn through its own random
// affine transform (rotation, zoom, shear, shift about the image centre), sampled bilinearly
// with zeros outside, as it is gathered, so augmenting costs no pass over memory. The draws
// are a counter-based hash of (seed, cursor.t, row, k), 5 per row, the same as the CPU twin's
// (src/data/augment.rs); cursor.t is the step count before this step, so every step of every
// epoch draws anew. Test-time augmentation's passes (`by_position` = 1) key the draws by the
// sample's position in the pass instead, with t = 0, so a sample's views do not depend on the
// evaluation batch. Images are [rows, cols, channels] channels-last.
//
// Elastic distortion (`elastic` > 0): the destination pixel is first displaced by a smooth
// random field, bilinear between a 4x4 grid of random offsets per row (32 more draws of their
// own stream, salted seed), a coarse-grid form of Simard et al.'s elastic distortion that
// needs no smoothing pass.
//
// One invocation per element of x (`flat_id`: the grid spans two dimensions). The bindings
// below are this family's; step_end.wgsl declares the same names at its own numbers and
// takes the rest of this file as it is.

struct Params {
    batch: u32,
    sample_bytes: u32,
    n_order: u32,
    grid_width: u32, // invocations per grid row: workgroups in x * 256
    rows: u32,
    cols: u32,
    channels: u32,
    augment: u32,
    rotate: f32, // radians
    zoom: f32,
    shear: f32, // radians
    shift: f32, // pixels
    seed: u32,
    elastic: f32, // pixels; 0: none
    by_position: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> images: array<u32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> order: array<u32>;
@group(0) @binding(4) var<storage, read> cursor: Cursor;
@group(0) @binding(5) var<storage, read_write> x: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<u32>;

// The step count the draws are keyed by: none for draws by position.
fn draw_t() -> u32 {
    return select(cursor.t, 0u, params.by_position != 0u);
}

// Draw k of `row` (the draw key: the row, or the position in the pass) in [-1, 1): 24
// random bits, exact in f32.
fn signed_draw(row: u32, k: u32) -> f32 {
    let h = pcg_hash(pcg_hash(pcg_hash(row * 5u + k) ^ draw_t()) ^ params.seed);
    return 2.0 * (f32(h >> 8u) / 16777216.0) - 1.0;
}

// Draw k (< 32) of `row`'s elastic grid in [-1, 1): node n's x offset is draw 2n, its y 2n + 1.
fn elastic_draw(row: u32, k: u32) -> f32 {
    let h = pcg_hash(pcg_hash(pcg_hash(row * 32u + k) ^ draw_t()) ^ (params.seed ^ 0x85EBCA6Bu));
    return 2.0 * (f32(h >> 8u) / 16777216.0) - 1.0;
}

// Offset `axis` (0: x, 1: y) of node (i, j) of `row`'s 4x4 elastic grid, in pixels.
fn elastic_node(row: u32, i: u32, j: u32, axis: u32) -> f32 {
    return elastic_draw(row, 2u * (j * 4u + i) + axis) * params.elastic;
}

fn lerp(a: f32, b: f32, f: f32) -> f32 {
    return a * (1.0 - f) + b * f;
}

// The elastic displacement of destination pixel (r, c): the grid's offsets interpolated
// bilinearly (the nodes span the image corner to corner).
fn elastic_offset(row: u32, r: u32, c: u32) -> vec2<f32> {
    let u = f32(c) * 3.0 / f32(max(params.cols, 2u) - 1u);
    let v = f32(r) * 3.0 / f32(max(params.rows, 2u) - 1u);
    let fi = min(floor(u), 2.0);
    let fj = min(floor(v), 2.0);
    let fu = u - fi;
    let fv = v - fj;
    let i = u32(fi);
    let j = u32(fj);
    var out: vec2<f32>;
    for (var axis = 0u; axis < 2u; axis++) {
        let top = lerp(elastic_node(row, i, j, axis), elastic_node(row, i + 1u, j, axis), fu);
        let bottom = lerp(elastic_node(row, i, j + 1u, axis), elastic_node(row, i + 1u, j + 1u, axis), fu);
        out[axis] = lerp(top, bottom, fv);
    }
    return out;
}

// Pixel (r, c) channel ch of `sample` in [0, 1]; 0 outside the image.
fn pixel(sample: u32, r: i32, c: i32, ch: u32) -> f32 {
    if (r < 0 || c < 0 || r >= i32(params.rows) || c >= i32(params.cols)) {
        return 0.0;
    }
    let byte = sample * params.sample_bytes + (u32(r) * params.cols + u32(c)) * params.channels + ch;
    return f32((images[byte >> 2u] >> ((byte & 3u) * 8u)) & 0xffu) / 255.0;
}

// Element `col` of `row`'s augmented image: the destination pixel mapped back through the
// inverse of rotate * shear * zoom about the centre (after the shift), then sampled.
fn augmented(sample: u32, row: u32, col: u32) -> f32 {
    let ch = col % params.channels;
    let pix = col / params.channels;
    let r = pix / params.cols;
    let c = pix - r * params.cols;
    let angle = signed_draw(row, 0u) * params.rotate;
    let scale = 1.0 + signed_draw(row, 1u) * params.zoom;
    let shear = signed_draw(row, 2u) * params.shear;
    let tx = signed_draw(row, 3u) * params.shift;
    let ty = signed_draw(row, 4u) * params.shift;
    var e = vec2<f32>(0.0, 0.0);
    if (params.elastic > 0.0) {
        e = elastic_offset(row, r, c);
    }
    let cx = f32(params.cols - 1u) * 0.5;
    let cy = f32(params.rows - 1u) * 0.5;
    let dx = f32(c) - cx - tx + e.x;
    let dy = f32(r) - cy - ty + e.y;
    let cs = cos(angle);
    let sn = sin(angle);
    let x1 = cs * dx + sn * dy;
    let y1 = cs * dy - sn * dx;
    let y2 = y1 / cos(shear);
    let x2 = x1 + y2 * sin(shear);
    let sx = cx + x2 / scale;
    let sy = cy + y2 / scale;
    let x0 = floor(sx);
    let y0 = floor(sy);
    let fx = sx - x0;
    let fy = sy - y0;
    let xi = i32(x0);
    let yi = i32(y0);
    let top = pixel(sample, yi, xi, ch) * (1.0 - fx) + pixel(sample, yi, xi + 1, ch) * fx;
    let bottom = pixel(sample, yi + 1, xi, ch) * (1.0 - fx) + pixel(sample, yi + 1, xi + 1, ch) * fx;
    return top * (1.0 - fy) + bottom * fy;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    gather_element(flat_id(gid, params.grid_width));
}

// Element `id` of x (and, for a row's first element, its label): batch `cursor.step`'s.
// step_end.wgsl runs it for the next batch in the optimizer's launch.
fn gather_element(id: u32) {
    if (id >= params.batch * params.sample_bytes) {
        return;
    }
    let row = id / params.sample_bytes;
    let col = id - row * params.sample_bytes;
    let pos = cursor.step * params.batch + row;
    if (pos >= params.n_order) {
        x[id] = 0.0;
        if (col == 0u) {
            y[row] = PAD;
        }
        return;
    }
    let sample = order[pos];
    if (params.augment != 0u) {
        x[id] = augmented(sample, select(row, pos, params.by_position != 0u), col);
    } else {
        let byte = sample * params.sample_bytes + col;
        x[id] = f32((images[byte >> 2u] >> ((byte & 3u) * 8u)) & 0xffu) / 255.0;
    }
    if (col == 0u) {
        y[row] = (labels[sample >> 2u] >> ((sample & 3u) * 8u)) & 0xffu;
    }
}
