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
// multiplies by the derivative of the activation that produced x (DACT, see the prelude),
// given that activation's output in `aux` (= x).
//
// The host prepends the element type (see `src/gpu/kernels/conv.rs`): `T` is f32 or, when
// in_c is a multiple of 4, vec4<f32> with `W` = 4: every access then moves 4 channels (on CPU
// adapters each storage access is a loop over the SIMD lanes, so this makes the kernels ~3x
// faster there), and `dact_t` is the prelude's dact for T. Sizes in `g` count floats; array
// indices count T.

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
    grid_width: u32, // invocations per grid row: workgroups in x * 64
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> g: Geom;
@group(0) @binding(1) var<storage, read> src: array<T>; // im2col: x; col2im: dcols
@group(0) @binding(2) var<storage, read> aux: array<T>; // col2im: the activation output x
@group(0) @binding(3) var<storage, read_write> dst: array<T>; // im2col: cols; col2im: dx

// One invocation per (output pixel, kernel row): for a fixed kernel row the patch segment
// (kw, c) is k_w * in_c contiguous floats in both x and cols, so index arithmetic (integer
// division, slow where there is no vector divide, as on CPU adapters) is paid once per
// segment rather than once per element.
@compute @workgroup_size(64)
fn im2col(@builtin(global_invocation_id) gid: vec3<u32>) {
    let id = flat_id(gid, g.grid_width);
    let rows = g.batch * g.out_h * g.out_w;
    if (id >= rows * g.k_h) {
        return;
    }
    let kh = id % g.k_h;
    let row = id / g.k_h;
    let p = pixel_of(row, g.out_h, g.out_w);
    let b = p.x;
    let oh = p.y;
    let ow = p.z;
    let cw = g.in_c / W;
    let run = g.k_w * cw;
    let dst_base = row * g.k_h * run + kh * run;
    // Signed arithmetic: with padding the pixel can lie above or left of the input.
    let ih = i32(oh * g.stride_h + kh) - i32(g.pad_top);
    if (ih < 0 || ih >= i32(g.in_h)) {
        for (var j = 0u; j < run; j++) {
            dst[dst_base + j] = T(0.0);
        }
        return;
    }
    let src_row = (b * g.in_h + u32(ih)) * g.in_w;
    let iw0 = i32(ow * g.stride_w) - i32(g.pad_left);
    for (var kw = 0u; kw < g.k_w; kw++) {
        let iw = iw0 + i32(kw);
        let d = dst_base + kw * cw;
        if (iw < 0 || iw >= i32(g.in_w)) {
            for (var c = 0u; c < cw; c++) {
                dst[d + c] = T(0.0);
            }
        } else {
            let s = (src_row + u32(iw)) * cw;
            for (var c = 0u; c < cw; c++) {
                dst[d + c] = src[s + c];
            }
        }
    }
}

// One invocation per input pixel, over its channels: dx[pixel, c] accumulates the column
// entries of every (kh, kw) whose output position oh = (ih + pad_top - kh) / stride_h (and
// likewise ow) is a whole number inside the output.
@compute @workgroup_size(64)
fn col2im(@builtin(global_invocation_id) gid: vec3<u32>) {
    let pix = flat_id(gid, g.grid_width);
    if (pix >= g.batch * g.in_h * g.in_w) {
        return;
    }
    let p = pixel_of(pix, g.in_h, g.in_w);
    let b = p.x;
    let ih = p.y;
    let iw = p.z;
    let cw = g.in_c / W;
    let base = pix * cw;
    let patch_len = g.k_h * g.k_w * cw;
    for (var c = 0u; c < cw; c++) {
        dst[base + c] = T(0.0);
    }
    let ph = ih + g.pad_top;
    let pw = iw + g.pad_left;
    for (var kh = 0u; kh < g.k_h && kh <= ph; kh++) {
        var oh = ph - kh;
        if (g.stride_h != 1u) {
            if (oh % g.stride_h != 0u) {
                continue;
            }
            oh = oh / g.stride_h;
        }
        if (oh >= g.out_h) {
            continue;
        }
        for (var kw = 0u; kw < g.k_w && kw <= pw; kw++) {
            var ow = pw - kw;
            if (g.stride_w != 1u) {
                if (ow % g.stride_w != 0u) {
                    continue;
                }
                ow = ow / g.stride_w;
            }
            if (ow >= g.out_w) {
                continue;
            }
            let s = ((b * g.out_h + oh) * g.out_w + ow) * patch_len + (kh * g.k_w + kw) * cw;
            for (var c = 0u; c < cw; c++) {
                dst[base + c] += src[s + c];
            }
        }
    }
    if (DACT != 0u) {
        for (var c = 0u; c < cw; c++) {
            let i = base + c;
            dst[i] = dact_t(dst[i], aux[i]);
        }
    }
}
