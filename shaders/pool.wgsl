// pool: 2-D max and average pooling, NHWC, `valid` windows (Keras's floor: 11x11 pooled by
// 2 gives 5x5), any window size and stride.
//
// x: [batch, in_h, in_w, c]; y: [batch, out_h, out_w, c].
// argmax: [batch, out_h, out_w, c] u32, the flat index into x of the window's first maximum,
//         kept by max_forward for max_backward.
// Backward kernels are gathers over the input (each input pixel sums the windows that cover
// it), so they need no atomics and are deterministic; their epilogue multiplies by the
// derivative of the activation that produced x (DACT, see the prelude), given its output in
// `aux` (= x).
//
// The host prepends the element type (see `src/gpu/kernels/pool.rs`): `T` is f32 or, when the
// channel count is a multiple of 4, vec4<f32> (then `U` is vec4<u32> and `W` is 4): every
// access moves 4 channels, which on CPU adapters, where each storage access is a loop over the
// SIMD lanes, makes these kernels ~3x faster. `lanes(i)` gives the flat float indices of the
// W channels starting at float index i; `dact_t` is the prelude's dact for T. Indices in `g`
// count floats; array indices count T.

struct Geom {
    batch: u32,
    in_h: u32,
    in_w: u32,
    c: u32,
    out_h: u32,
    out_w: u32,
    p_h: u32,
    p_w: u32,
    stride_h: u32,
    stride_w: u32,
    grid_width: u32, // invocations per grid row: workgroups in x * 64
    // The convolution that reads the pooled output, for the *_backward_cols kernels: its
    // output size, kernel, strides and padding (its input is the pooled [out_h, out_w, c]).
    conv_out_h: u32,
    conv_out_w: u32,
    k_h: u32,
    k_w: u32,
    conv_stride_h: u32,
    conv_stride_w: u32,
    pad_top: u32,
    pad_left: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> g: Geom;
@group(0) @binding(1) var<storage, read> src: array<T>; // forward: x; backward: dy (or dcols)
@group(0) @binding(2) var<storage, read> aux: array<T>; // backward: the activation output x
@group(0) @binding(3) var<storage, read_write> argmax: array<U>; // flat float indices into x
@group(0) @binding(4) var<storage, read_write> dst: array<T>; // forward: y; backward: dx

// The array index (in T) of channels c..c+W of input pixel (b, ih, iw); c counts T.
fn x_index(b: u32, ih: u32, iw: u32, c: u32) -> u32 {
    return ((b * g.in_h + ih) * g.in_w + iw) * (g.c / W) + c;
}

fn grad_activation(v: T, id: u32) -> T {
    if (DACT != 0u) {
        return dact_t(v, aux[id]);
    }
    return v;
}

// Forward kernels: one invocation per output pixel, over its channels; backward kernels: one
// per input pixel, over its channels. Index arithmetic (integer division, slow where there is
// no vector divide, as on CPU adapters) is then paid once per pixel, not once per element.
// PER_CHANNEL (GPUs): one invocation per pixel and channel group T instead, so that a launch
// has c/W times the invocations (cnn's second pooling: 3200 pixels, 51,200 invocations) and
// consecutive invocations read consecutive addresses.
override PER_CHANNEL: bool = false;

// The pixel and the channels [y, z) (counting T) of invocation `id`.
fn work_of(id: u32) -> vec3<u32> {
    let cw = g.c / W;
    if (PER_CHANNEL) {
        return vec3<u32>(id / cw, id % cw, id % cw + 1u);
    }
    return vec3<u32>(id, 0u, cw);
}

@compute @workgroup_size(64)
fn max_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let work = work_of(flat_id(gid, g.grid_width));
    let o = work.x;
    if (o >= g.batch * g.out_h * g.out_w) {
        return;
    }
    let p = pixel_of(o, g.out_h, g.out_w);
    let b = p.x;
    let oh = p.y;
    let ow = p.z;
    let cw = g.c / W;
    for (var c = work.y; c < work.z; c++) {
        let first = x_index(b, oh * g.stride_h, ow * g.stride_w, c);
        var best = lanes(first * W);
        var best_v = src[first];
        for (var ph = 0u; ph < g.p_h; ph++) {
            for (var pw = 0u; pw < g.p_w; pw++) {
                let i = x_index(b, oh * g.stride_h + ph, ow * g.stride_w + pw, c);
                let v = src[i];
                // The first maximum wins: only a strictly greater value moves it.
                let better = v > best_v;
                best_v = select(best_v, v, better);
                // Not select(): on vec4<u32> naga writes mix(uvec4, uvec4, bvec4), which
                // desktop GLSL has only from 4.50 on; U(better) is 1 or 0 per lane.
                best += (lanes(i * W) - best) * U(better);
            }
        }
        dst[o * cw + c] = best_v;
        argmax[o * cw + c] = best;
    }
}

@compute @workgroup_size(64)
fn avg_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let work = work_of(flat_id(gid, g.grid_width));
    let o = work.x;
    if (o >= g.batch * g.out_h * g.out_w) {
        return;
    }
    let p = pixel_of(o, g.out_h, g.out_w);
    let b = p.x;
    let oh = p.y;
    let ow = p.z;
    let scale = 1.0 / f32(g.p_h * g.p_w);
    let cw = g.c / W;
    for (var c = work.y; c < work.z; c++) {
        var sum = T(0.0);
        for (var ph = 0u; ph < g.p_h; ph++) {
            for (var pw = 0u; pw < g.p_w; pw++) {
                sum += src[x_index(b, oh * g.stride_h + ph, ow * g.stride_w + pw, c)];
            }
        }
        dst[o * cw + c] = sum * scale;
    }
}

// Output rows oh whose window covers input row i: oh*stride <= i < oh*stride + p, as the
// half-open range [first, last).
fn covering(i: u32, p: u32, stride: u32, out: u32) -> vec2<u32> {
    var first = 0u;
    if (i + 1u > p) {
        first = (i + 1u - p + stride - 1u) / stride;
    }
    let last = min(i / stride + 1u, out);
    return vec2<u32>(first, last);
}

@compute @workgroup_size(64)
fn max_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let work = work_of(flat_id(gid, g.grid_width));
    let pix = work.x;
    if (pix >= g.batch * g.in_h * g.in_w) {
        return;
    }
    let p = pixel_of(pix, g.in_h, g.in_w);
    let b = p.x;
    let ih = p.y;
    let iw = p.z;
    let rows = covering(ih, g.p_h, g.stride_h, g.out_h);
    let cols = covering(iw, g.p_w, g.stride_w, g.out_w);
    let cw = g.c / W;
    for (var c = work.y; c < work.z; c++) {
        let id = pix * cw + c;
        let ids = lanes(id * W);
        var sum = T(0.0);
        for (var oh = rows.x; oh < rows.y; oh++) {
            for (var ow = cols.x; ow < cols.y; ow++) {
                let o = ((b * g.out_h + oh) * g.out_w + ow) * cw + c;
                sum += select(T(0.0), src[o], argmax[o] == ids);
            }
        }
        dst[id] = grad_activation(sum, id);
    }
}

@compute @workgroup_size(64)
fn avg_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let work = work_of(flat_id(gid, g.grid_width));
    let pix = work.x;
    if (pix >= g.batch * g.in_h * g.in_w) {
        return;
    }
    let p = pixel_of(pix, g.in_h, g.in_w);
    let b = p.x;
    let ih = p.y;
    let iw = p.z;
    let rows = covering(ih, g.p_h, g.stride_h, g.out_h);
    let cols = covering(iw, g.p_w, g.stride_w, g.out_w);
    let scale = 1.0 / f32(g.p_h * g.p_w);
    let cw = g.c / W;
    for (var c = work.y; c < work.z; c++) {
        var sum = T(0.0);
        for (var oh = rows.x; oh < rows.y; oh++) {
            for (var ow = cols.x; ow < cols.y; ow++) {
                sum += src[((b * g.out_h + oh) * g.out_w + ow) * cw + c];
            }
        }
        let id = pix * cw + c;
        dst[id] = grad_activation(sum * scale, id);
    }
}

// Backward fused with the col2im of the convolution that reads the pooled output: `src` is that
// convolution's dcols [batch·conv_out_h·conv_out_w, k_h·k_w·c] and the pooled gradient dy is
// gathered from it as col2im does (see im2col.wgsl), pixel by pixel, never stored. That saves
// a launch and dy's round trip through memory. For windows that tile the input (stride =
// window), the only kind the host fuses: one invocation per pooled pixel, which gathers its
// dy once and writes its whole window of dx, plus the rows and columns past the last window
// (Keras's floor leaves them uncovered: zero).

// dy at pooled pixel (b, ih, iw), channels c.. (c counts T): the dcols entries that read it.
fn dy_from_cols(b: u32, ih: u32, iw: u32, c: u32) -> T {
    let cw = g.c / W;
    let patch_len = g.k_h * g.k_w * cw;
    let ph = ih + g.pad_top;
    let pw = iw + g.pad_left;
    var sum = T(0.0);
    for (var kh = 0u; kh < g.k_h && kh <= ph; kh++) {
        var oh = ph - kh;
        if (oh % g.conv_stride_h != 0u) {
            continue;
        }
        oh = oh / g.conv_stride_h;
        if (oh >= g.conv_out_h) {
            continue;
        }
        for (var kw = 0u; kw < g.k_w && kw <= pw; kw++) {
            var ow = pw - kw;
            if (ow % g.conv_stride_w != 0u) {
                continue;
            }
            ow = ow / g.conv_stride_w;
            if (ow >= g.conv_out_w) {
                continue;
            }
            sum += src[((b * g.conv_out_h + oh) * g.conv_out_w + ow) * patch_len + (kh * g.k_w + kw) * cw + c];
        }
    }
    return sum;
}

// dx over pooled pixel o's window (and the uncovered tail beyond the last window): the
// window's share of dy (MAX: all of it at the argmax, else a 1/(p_h·p_w) share each), times
// the activation's derivative.
fn backward_cols(work: vec3<u32>, max: bool) {
    let o = work.x;
    let p = pixel_of(o, g.out_h, g.out_w);
    let b = p.x;
    let oh = p.y;
    let ow = p.z;
    // The window's rows and columns, and the tail's when it is the last one.
    let h0 = oh * g.p_h;
    let h1 = select(h0 + g.p_h, g.in_h, oh + 1u == g.out_h);
    let w0 = ow * g.p_w;
    let w1 = select(w0 + g.p_w, g.in_w, ow + 1u == g.out_w);
    let scale = 1.0 / f32(g.p_h * g.p_w);
    let cw = g.c / W;
    for (var c = work.y; c < work.z; c++) {
        let dy = dy_from_cols(b, oh, ow, c);
        var best = U(0u);
        if (max) {
            best = argmax[o * cw + c];
        }
        for (var ih = h0; ih < h1; ih++) {
            for (var iw = w0; iw < w1; iw++) {
                let id = x_index(b, ih, iw, c);
                let inside = ih < h0 + g.p_h && iw < w0 + g.p_w;
                var v = T(0.0);
                if (max) {
                    v = select(T(0.0), dy, lanes(id * W) == best);
                } else if (inside) {
                    v = dy * scale;
                }
                dst[id] = grad_activation(v, id);
            }
        }
    }
}

@compute @workgroup_size(64)
fn max_backward_cols(@builtin(global_invocation_id) gid: vec3<u32>) {
    let work = work_of(flat_id(gid, g.grid_width));
    if (work.x < g.batch * g.out_h * g.out_w) {
        backward_cols(work, true);
    }
}

@compute @workgroup_size(64)
fn avg_backward_cols(@builtin(global_invocation_id) gid: vec3<u32>) {
    let work = work_of(flat_id(gid, g.grid_width));
    if (work.x < g.batch * g.out_h * g.out_w) {
        backward_cols(work, false);
    }
}
