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
// One invocation per element of x (`flat_id`: the grid spans two dimensions).

struct Params {
    batch: u32,
    sample_bytes: u32,
    n_order: u32,
    grid_width: u32, // invocations per grid row: workgroups in x * 256
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> images: array<u32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> order: array<u32>;
@group(0) @binding(4) var<storage, read> cursor: Cursor;
@group(0) @binding(5) var<storage, read_write> x: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let id = flat_id(gid, params.grid_width);
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
    let byte = sample * params.sample_bytes + col;
    let pixel = (images[byte >> 2u] >> ((byte & 3u) * 8u)) & 0xffu;
    x[id] = f32(pixel) / 255.0;
    if (col == 0u) {
        y[row] = (labels[sample >> 2u] >> ((sample & 3u) * 8u)) & 0xffu;
    }
}
