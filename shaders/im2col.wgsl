// im2col and col2im: convolution as a matmul.
//
// x:    [batch, in_h, in_w, in_c] (NHWC, row-major).
// cols: [batch * out_h * out_w, k_h * k_w * in_c]: row (b, oh, ow) holds the patch that
//       output pixel reads, in Keras's kernel order (kh, kw, c), so that
//       cols · kernel[k_h * k_w * in_c, filters] + bias is the NHWC output directly.
// Input pixel of patch element (kh, kw) of output (oh, ow): ih = oh*stride_h - pad_top + kh,
// iw = ow*stride_w - pad_left + kw; outside the input it reads 0 (`same` padding).
//
// col2im is the adjoint, written as a gather so it needs no float atomics and is
// deterministic: each input pixel sums the column entries that read it. Its epilogue
// multiplies by the derivative of the activation that produced x (DACT: 0 none, 1 relu,
// 2 sigmoid), given that activation's output in `aux` (= x).

override DACT: u32 = 0u;

struct Geom {
    batch: u32,
    in_h: u32,
    in_w: u32,
    in_c: u32,
    out_h: u32,
    out_w: u32,
    k_h: u32,
    k_w: u32,
    stride_h: u32,
    stride_w: u32,
    pad_top: u32,
    pad_left: u32,
    grid_width: u32, // invocations per grid row: workgroups in x * 256
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> g: Geom;
@group(0) @binding(1) var<storage, read> src: array<f32>; // im2col: x; col2im: dcols
@group(0) @binding(2) var<storage, read> aux: array<f32>; // col2im: the activation output x
@group(0) @binding(3) var<storage, read_write> dst: array<f32>; // im2col: cols; col2im: dx

fn flat_id(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * g.grid_width;
}

@compute @workgroup_size(256)
fn im2col(@builtin(global_invocation_id) gid: vec3<u32>) {
    let id = flat_id(gid);
    let patch_len = g.k_h * g.k_w * g.in_c;
    let rows = g.batch * g.out_h * g.out_w;
    if (id >= rows * patch_len) {
        return;
    }
    let row = id / patch_len;
    let q = id - row * patch_len;
    let c = q % g.in_c;
    let kw = (q / g.in_c) % g.k_w;
    let kh = q / (g.in_c * g.k_w);
    let ow = row % g.out_w;
    let oh = (row / g.out_w) % g.out_h;
    let b = row / (g.out_w * g.out_h);
    // Signed arithmetic: with padding the pixel can lie above or left of the input.
    let ih = i32(oh * g.stride_h + kh) - i32(g.pad_top);
    let iw = i32(ow * g.stride_w + kw) - i32(g.pad_left);
    var v = 0.0;
    if (ih >= 0 && iw >= 0 && ih < i32(g.in_h) && iw < i32(g.in_w)) {
        v = src[((b * g.in_h + u32(ih)) * g.in_w + u32(iw)) * g.in_c + c];
    }
    dst[id] = v;
}

@compute @workgroup_size(256)
fn col2im(@builtin(global_invocation_id) gid: vec3<u32>) {
    let id = flat_id(gid);
    if (id >= g.batch * g.in_h * g.in_w * g.in_c) {
        return;
    }
    let c = id % g.in_c;
    let iw = (id / g.in_c) % g.in_w;
    let ih = (id / (g.in_c * g.in_w)) % g.in_h;
    let b = id / (g.in_c * g.in_w * g.in_h);
    let patch_len = g.k_h * g.k_w * g.in_c;
    var sum = 0.0;
    // kh ranges over the kernel rows for which oh = (ih + pad_top - kh) / stride_h is a whole
    // number inside the output; likewise kw.
    let ph = ih + g.pad_top;
    let pw = iw + g.pad_left;
    for (var kh = 0u; kh < g.k_h; kh++) {
        if (kh > ph || (ph - kh) % g.stride_h != 0u) {
            continue;
        }
        let oh = (ph - kh) / g.stride_h;
        if (oh >= g.out_h) {
            continue;
        }
        for (var kw = 0u; kw < g.k_w; kw++) {
            if (kw > pw || (pw - kw) % g.stride_w != 0u) {
                continue;
            }
            let ow = (pw - kw) / g.stride_w;
            if (ow >= g.out_w) {
                continue;
            }
            let row = (b * g.out_h + oh) * g.out_w + ow;
            sum += src[row * patch_len + (kh * g.k_w + kw) * g.in_c + c];
        }
    }
    if (DACT == 1u) {
        sum = select(0.0, sum, aux[id] > 0.0);
    } else if (DACT == 2u) {
        let h = aux[id];
        sum = sum * h * (1.0 - h);
    }
    dst[id] = sum;
}
