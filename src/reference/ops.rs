//! Twins of the WGSL kernels, one function each, with the same layouts (all row-major).

use crate::floor::augment::{Augment, DrawKey};
use crate::floor::rng::pcg_hash;
use crate::floor::{Activation, Window};

/// Label of a padding row (a short last batch), as the gather kernel writes it.
pub const PAD_LABEL: u32 = u32::MAX;

/// Twin of `gather.wgsl`: batch `step` of `order` as `x: [batch, sample_bytes]` in [0, 1] and
/// `y: [batch]`, padding rows past the end of `order` with zeros and [`PAD_LABEL`].
pub fn gather(
    images: &[u8],
    labels: &[u8],
    order: &[u32],
    step: usize,
    batch: usize,
    sample_bytes: usize,
) -> (Vec<f32>, Vec<u32>) {
    let mut x = vec![0.0f32; batch * sample_bytes];
    let mut y = vec![PAD_LABEL; batch];
    for row in 0..batch {
        let Some(&sample) = order.get(step * batch + row) else {
            continue;
        };
        let sample = sample as usize;
        for col in 0..sample_bytes {
            x[row * sample_bytes + col] = images[sample * sample_bytes + col] as f32 / 255.0;
        }
        y[row] = labels[sample] as u32;
    }
    (x, y)
}

/// Twin of `gather.wgsl` with augmentation: batch `step` of `order`, each row drawn through
/// its random transform keyed by `key` (`image`: rows, cols, channels), with the kernel's f32
/// operations in its order.
pub fn gather_augmented(
    (images, labels): (&[u8], &[u8]),
    order: &[u32],
    (step, batch): (usize, usize),
    image: (usize, usize, usize),
    (augment, seed, key): (&Augment, u32, DrawKey),
) -> (Vec<f32>, Vec<u32>) {
    let (rows, cols, channels) = image;
    let bytes = rows * cols * channels;
    let (mut x, y) = gather(images, labels, order, step, batch, bytes);
    for row in 0..batch {
        let Some(&sample) = order.get(step * batch + row) else {
            continue;
        };
        let src = &images[sample as usize * bytes..][..bytes];
        let tr = match key {
            DrawKey::Step(t) => augment.transform(seed, t, row as u32),
            DrawKey::Position => augment.transform(seed, 0, (step * batch + row) as u32),
        };
        for (i, out) in x[row * bytes..][..bytes].iter_mut().enumerate() {
            *out = tr.sample(src, image, i);
        }
    }
    (x, y)
}

/// Twin of `matmul.wgsl` without epilogue: `op(A)·op(B)` as `[m, n]`, where `a` is `[m, k]`
/// (`[k, m]` if `trans_a`) and `b` is `[k, n]` (`[n, k]` if `trans_b`).
pub fn matmul(
    a: &[f32],
    b: &[f32],
    (m, n, k): (usize, usize, usize),
    trans_a: bool,
    trans_b: bool,
) -> Vec<f32> {
    let mut c = vec![0.0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut sum = 0.0f64;
            for p in 0..k {
                let av = if trans_a { a[p * m + i] } else { a[i * k + p] };
                let bv = if trans_b { b[j * k + p] } else { b[p * n + j] };
                sum += av as f64 * bv as f64;
            }
            c[i * n + j] = sum as f32;
        }
    }
    c
}

/// Activation applied in place (softmax is left to the loss, as on the GPU): the twin of every
/// fused `ACT` epilogue, and of `activation.wgsl`'s `forward`.
pub fn activate(values: &mut [f32], act: Activation) {
    for v in values {
        *v = match act {
            Activation::Relu => v.max(0.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-*v).exp()),
            Activation::Linear | Activation::Softmax => *v,
        };
    }
}

/// Dense forward: `act(x·W + b)` for `x: [rows, fan_in]`, `w: [fan_in, units]`.
pub fn dense_forward(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    rows: usize,
    fan_in: usize,
    units: usize,
    act: Activation,
) -> Vec<f32> {
    let mut y = matmul(x, w, (rows, units, fan_in), false, false);
    for r in 0..rows {
        for (v, bias) in y[r * units..(r + 1) * units].iter_mut().zip(b) {
            *v += bias;
        }
    }
    activate(&mut y, act);
    y
}

/// Multiplies `grad` in place by the derivative of `act`, given the activation's output `h`
/// (relu: h > 0; sigmoid: h(1 - h)): the twin of every fused `DACT`, and of
/// `activation.wgsl`'s `backward`.
pub fn activation_backward(grad: &mut [f32], h: &[f32], act: Activation) {
    for (g, &h) in grad.iter_mut().zip(h) {
        *g *= match act {
            Activation::Relu => {
                if h > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Sigmoid => h * (1.0 - h),
            Activation::Linear | Activation::Softmax => 1.0,
        };
    }
}

/// Twin of `bias.wgsl`: column sums of `dy: [rows, cols]`.
pub fn bias_grad(dy: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols)
        .map(|c| (0..rows).map(|r| dy[r * cols + c] as f64).sum::<f64>() as f32)
        .collect()
}

/// What `softmax_xent.wgsl` computes for one batch.
#[derive(Clone, Debug, PartialEq)]
pub struct LossOutput {
    /// `[batch, classes]`: `(softmax - onehot) / valid rows`, zero on padding rows.
    pub dlogits: Vec<f32>,
    /// Sum of per-sample losses over valid rows.
    pub loss_sum: f32,
    /// Valid rows whose first argmax equals the label.
    pub correct: u32,
    /// Valid (non-padding) rows.
    pub count: u32,
}

/// Twin of `softmax_xent.wgsl`, with Keras's label smoothing `smoothing` (targets
/// `(1 - s) * onehot + s / classes`; 0 for none).
pub fn softmax_xent(logits: &[f32], labels: &[u32], classes: usize, smoothing: f32) -> LossOutput {
    let s = smoothing as f64;
    let spread = s / classes as f64;
    let count = labels.iter().filter(|&&l| l != PAD_LABEL).count() as u32;
    let scale = if count > 0 { 1.0 / count as f64 } else { 0.0 };
    let mut dlogits = vec![0.0f32; logits.len()];
    let mut loss_sum = 0.0f64;
    let mut correct = 0;
    for (row, &label) in labels.iter().enumerate() {
        if label == PAD_LABEL {
            continue;
        }
        let z = &logits[row * classes..(row + 1) * classes];
        let mut arg = 0;
        for c in 1..classes {
            if z[c] > z[arg] {
                arg = c;
            }
        }
        let zmax = z[arg] as f64;
        let sum: f64 = z.iter().map(|&v| (v as f64 - zmax).exp()).sum();
        let z_sum: f64 = z.iter().map(|&v| v as f64).sum();
        loss_sum += zmax + sum.ln() - (1.0 - s) * z[label as usize] as f64 - spread * z_sum;
        correct += (arg == label as usize) as u32;
        for c in 0..classes {
            let p = (z[c] as f64 - zmax).exp() / sum;
            let target = if c == label as usize { 1.0 - s } else { 0.0 } + spread;
            dlogits[row * classes + c] = ((p - target) * scale) as f32;
        }
    }
    LossOutput {
        dlogits,
        loss_sum: loss_sum as f32,
        correct,
        count,
    }
}

/// Twin of `confusion.wgsl`: `counts[label * classes + predicted]` over the valid rows, the
/// prediction being the first argmax (as in [`softmax_xent`]).
pub fn confusion(logits: &[f32], labels: &[u32], classes: usize) -> Vec<u32> {
    let mut counts = vec![0u32; classes * classes];
    for (row, &label) in labels.iter().enumerate() {
        if label == PAD_LABEL {
            continue;
        }
        let z = &logits[row * classes..(row + 1) * classes];
        let mut predicted = 0;
        for c in 1..classes {
            if z[c] > z[predicted] {
                predicted = c;
            }
        }
        counts[label as usize * classes + predicted] += 1;
    }
    counts
}

/// Twin of `confusion.wgsl`'s `top_k`: the valid rows whose label is among the `k` highest
/// logits (fewer than `k` classes score strictly higher).
pub fn top_k(logits: &[f32], labels: &[u32], classes: usize, k: u32) -> u32 {
    let mut count = 0;
    for (row, &label) in labels.iter().enumerate() {
        if label == PAD_LABEL {
            continue;
        }
        let z = &logits[row * classes..(row + 1) * classes];
        let own = z[label as usize];
        let higher = z.iter().filter(|&&v| v > own).count();
        if higher < k as usize {
            count += 1;
        }
    }
    count
}

/// Twin of `predictions.wgsl`: the softmax of each valid row of batch `step` of a pass, written
/// at row `step * batch + row` of `probs` (`[capacity, classes]`) when it fits.
pub fn predictions(logits: &[f32], labels: &[u32], classes: usize, step: usize, probs: &mut [f32]) {
    let batch = labels.len();
    let capacity = probs.len() / classes;
    for (row, &label) in labels.iter().enumerate() {
        let sample = step * batch + row;
        if label == PAD_LABEL || sample >= capacity {
            continue;
        }
        let z = &logits[row * classes..(row + 1) * classes];
        let zmax = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = z.iter().map(|&v| (v - zmax).exp()).sum();
        for c in 0..classes {
            probs[sample * classes + c] = (z[c] - zmax).exp() / sum;
        }
    }
}

/// Twin of `optimizer.wgsl`'s `sgd`.
pub fn sgd(w: &mut [f32], g: &[f32], lr: f32) {
    for (w, g) in w.iter_mut().zip(g) {
        *w -= lr * g;
    }
}

/// Twin of `sgd_momentum`: `v = momentum*v - lr*g; w += v`.
pub fn sgd_momentum(w: &mut [f32], g: &[f32], v: &mut [f32], lr: f32, momentum: f32) {
    for i in 0..w.len() {
        v[i] = momentum * v[i] - lr * g[i];
        w[i] += v[i];
    }
}

/// Twin of `adam`, with the step size `alpha` (the rate table's, bias correction included).
#[allow(clippy::too_many_arguments)]
pub fn adam(
    w: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    alpha: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
) {
    for i in 0..w.len() {
        m[i] += (g[i] - m[i]) * (1.0 - beta1);
        v[i] += (g[i] * g[i] - v[i]) * (1.0 - beta2);
        w[i] -= alpha * m[i] / (v[i].sqrt() + eps);
    }
}

/// Twin of `adamw`'s decoupled weight decay, before its Adam step: `w -= w·wd·lr`, in Keras's
/// order of operations.
pub fn weight_decay(w: &mut [f32], lr: f32, wd: f32) {
    for w in w {
        *w -= *w * wd * lr;
    }
}

/// Twin of `rmsprop`: `v = rho*v + (1-rho)*g²; w -= lr*g / sqrt(v + eps)`.
pub fn rmsprop(w: &mut [f32], g: &[f32], v: &mut [f32], lr: f32, rho: f32, eps: f32) {
    for i in 0..w.len() {
        v[i] = rho * v[i] + (1.0 - rho) * g[i] * g[i];
        w[i] -= lr * g[i] / (v[i] + eps).sqrt();
    }
}

/// Twin of `im2col.wgsl`'s `im2col`: `[batch*out_h*out_w, kh*kw*in_c]` from NHWC `x`.
pub fn im2col(x: &[f32], w: &Window, batch: usize) -> Vec<f32> {
    let (i, o) = (w.input, w.output);
    let patch = w.patch();
    let mut cols = vec![0.0f32; batch * o.h * o.w * patch];
    for b in 0..batch {
        for oh in 0..o.h {
            for ow in 0..o.w {
                let row = (b * o.h + oh) * o.w + ow;
                for kh in 0..w.kh {
                    for kw in 0..w.kw {
                        let ih = (oh * w.sh + kh) as isize - w.pad_top as isize;
                        let iw = (ow * w.sw + kw) as isize - w.pad_left as isize;
                        if ih < 0 || iw < 0 || ih >= i.h as isize || iw >= i.w as isize {
                            continue;
                        }
                        for c in 0..i.c {
                            cols[row * patch + (kh * w.kw + kw) * i.c + c] =
                                x[((b * i.h + ih as usize) * i.w + iw as usize) * i.c + c];
                        }
                    }
                }
            }
        }
    }
    cols
}

/// Twin of `col2im` (without its activation epilogue): the adjoint of [`im2col`], each input
/// pixel summing the column entries that read it.
pub fn col2im(dcols: &[f32], w: &Window, batch: usize) -> Vec<f32> {
    let (i, o) = (w.input, w.output);
    let patch = w.patch();
    let mut dx = vec![0.0f64; batch * i.features()];
    for b in 0..batch {
        for oh in 0..o.h {
            for ow in 0..o.w {
                let row = (b * o.h + oh) * o.w + ow;
                for kh in 0..w.kh {
                    for kw in 0..w.kw {
                        let ih = (oh * w.sh + kh) as isize - w.pad_top as isize;
                        let iw = (ow * w.sw + kw) as isize - w.pad_left as isize;
                        if ih < 0 || iw < 0 || ih >= i.h as isize || iw >= i.w as isize {
                            continue;
                        }
                        for c in 0..i.c {
                            dx[((b * i.h + ih as usize) * i.w + iw as usize) * i.c + c] +=
                                dcols[row * patch + (kh * w.kw + kw) * i.c + c] as f64;
                        }
                    }
                }
            }
        }
    }
    dx.into_iter().map(|v| v as f32).collect()
}

/// Twin of `max_forward`: the window maxima and the flat index into `x` of each window's
/// first maximum.
pub fn max_pool_forward(x: &[f32], w: &Window, batch: usize) -> (Vec<f32>, Vec<u32>) {
    let (i, o) = (w.input, w.output);
    let mut y = Vec::with_capacity(batch * o.features());
    let mut argmax = Vec::with_capacity(batch * o.features());
    for b in 0..batch {
        for oh in 0..o.h {
            for ow in 0..o.w {
                for c in 0..o.c {
                    let at = |ph: usize, pw: usize| {
                        ((b * i.h + oh * w.sh + ph) * i.w + ow * w.sw + pw) * i.c + c
                    };
                    let mut best = at(0, 0);
                    for ph in 0..w.kh {
                        for pw in 0..w.kw {
                            if x[at(ph, pw)] > x[best] {
                                best = at(ph, pw);
                            }
                        }
                    }
                    y.push(x[best]);
                    argmax.push(best as u32);
                }
            }
        }
    }
    (y, argmax)
}

/// Twin of `max_backward` (without its activation epilogue).
pub fn max_pool_backward(dy: &[f32], argmax: &[u32], w: &Window, batch: usize) -> Vec<f32> {
    let mut dx = vec![0.0f32; batch * w.input.features()];
    for (g, &i) in dy.iter().zip(argmax) {
        dx[i as usize] += g;
    }
    dx
}

/// Twin of `avg_forward`: window means.
pub fn avg_pool_forward(x: &[f32], w: &Window, batch: usize) -> Vec<f32> {
    let (i, o) = (w.input, w.output);
    let mut y = Vec::with_capacity(batch * o.features());
    for b in 0..batch {
        for oh in 0..o.h {
            for ow in 0..o.w {
                for c in 0..o.c {
                    let mut sum = 0.0f64;
                    for ph in 0..w.kh {
                        for pw in 0..w.kw {
                            sum += x[((b * i.h + oh * w.sh + ph) * i.w + ow * w.sw + pw) * i.c + c]
                                as f64;
                        }
                    }
                    y.push((sum / (w.kh * w.kw) as f64) as f32);
                }
            }
        }
    }
    y
}

/// Twin of `avg_backward` (without its activation epilogue).
pub fn avg_pool_backward(dy: &[f32], w: &Window, batch: usize) -> Vec<f32> {
    let (i, o) = (w.input, w.output);
    let mut dx = vec![0.0f64; batch * i.features()];
    let share = 1.0 / (w.kh * w.kw) as f64;
    for b in 0..batch {
        for oh in 0..o.h {
            for ow in 0..o.w {
                for c in 0..o.c {
                    let g = dy[((b * o.h + oh) * o.w + ow) * o.c + c] as f64 * share;
                    for ph in 0..w.kh {
                        for pw in 0..w.kw {
                            dx[((b * i.h + oh * w.sh + ph) * i.w + ow * w.sw + pw) * i.c + c] += g;
                        }
                    }
                }
            }
        }
    }
    dx.into_iter().map(|v| v as f32).collect()
}

/// Whether dropout keeps element `i` at optimizer step `step` (completed steps before this
/// one) for a layer seeded `seed`; bit-identical to the kernel.
pub fn dropout_keep(i: usize, step: u32, seed: u32, rate: f32) -> bool {
    let threshold = (rate as f64 * (1u32 << 24) as f64).round() as u32;
    (pcg_hash(pcg_hash(pcg_hash(i as u32) ^ step) ^ seed) >> 8) >= threshold
}

/// Twin of dropout's `forward` and, applied to `dy`, of its `backward` (without the
/// activation epilogue): kept elements scaled by 1 / (1 - rate), the others zero.
pub fn dropout(values: &[f32], rate: f32, seed: u32, step: u32) -> Vec<f32> {
    let scale = 1.0 / (1.0 - rate);
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if dropout_keep(i, step, seed, rate) {
                v * scale
            } else {
                0.0
            }
        })
        .collect()
}

/// Batch statistics of `x: [rows, channels]` over the rows whose sample (row / spatial) is
/// not padding: per channel mean and 1/sqrt(biased var + eps), and the valid row count.
pub fn batchnorm_stats(
    x: &[f32],
    labels: &[u32],
    channels: usize,
    spatial: usize,
    epsilon: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, usize) {
    let rows = x.len() / channels;
    let valid: Vec<usize> = (0..rows)
        .filter(|r| labels[r / spatial] != PAD_LABEL)
        .collect();
    let n = valid.len().max(1) as f64;
    let mut mean = vec![0.0f32; channels];
    let mut var = vec![0.0f32; channels];
    let mut inv_std = vec![0.0f32; channels];
    for c in 0..channels {
        let m = valid
            .iter()
            .map(|&r| x[r * channels + c] as f64)
            .sum::<f64>()
            / n;
        let v = valid
            .iter()
            .map(|&r| (x[r * channels + c] as f64 - m).powi(2))
            .sum::<f64>()
            / n;
        mean[c] = m as f32;
        var[c] = v as f32;
        inv_std[c] = (1.0 / (v + epsilon as f64).sqrt()) as f32;
    }
    (mean, var, inv_std, valid.len())
}

/// `gamma * (x - mean) * inv_std + beta` per channel of `x: [rows, channels]`.
pub fn batchnorm_apply(
    x: &[f32],
    mean: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
    beta: &[f32],
) -> Vec<f32> {
    let channels = gamma.len();
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = i % channels;
            gamma[c] * (v - mean[c]) * inv_std[c] + beta[c]
        })
        .collect()
}

/// Twin of `grad_sums` and `backward` (without the activation epilogue): `(dgamma, dbeta,
/// dx)` over the valid rows; padding rows get zero gradient.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    x: &[f32],
    dy: &[f32],
    labels: &[u32],
    spatial: usize,
    mean: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
    n: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let channels = gamma.len();
    let rows = x.len() / channels;
    let valid = |r: usize| labels[r / spatial] != PAD_LABEL;
    let xhat = |i: usize| (x[i] as f64 - mean[i % channels] as f64) * inv_std[i % channels] as f64;
    let mut dgamma = vec![0.0f64; channels];
    let mut dbeta = vec![0.0f64; channels];
    for r in (0..rows).filter(|&r| valid(r)) {
        for c in 0..channels {
            let i = r * channels + c;
            dbeta[c] += dy[i] as f64;
            dgamma[c] += dy[i] as f64 * xhat(i);
        }
    }
    let n = n as f64;
    let dx = (0..x.len())
        .map(|i| {
            let c = i % channels;
            if !valid(i / channels) {
                return 0.0;
            }
            (gamma[c] as f64 * inv_std[c] as f64 / n
                * (n * dy[i] as f64 - dbeta[c] - xhat(i) * dgamma[c])) as f32
        })
        .collect();
    (
        dgamma.into_iter().map(|v| v as f32).collect(),
        dbeta.into_iter().map(|v| v as f32).collect(),
        dx,
    )
}

/// Twin of `ring.wgsl`: the ring's images `[slots, sample_bytes]` and labels `[slots]` after
/// the fill that starts at epoch position `first` (a multiple of 4): slot `s` holds the
/// position `p` in `[first, first + slots)` with `p % slots == s`, zeros past the order's end.
pub fn ring_fill(
    (images, labels): (&[u8], &[u8]),
    order: &[u32],
    first: usize,
    (slots, sample_bytes): (usize, usize),
) -> (Vec<u8>, Vec<u8>) {
    let mut ring_images = vec![0u8; slots * sample_bytes];
    let mut ring_labels = vec![0u8; slots];
    for pos in first..first + slots {
        let Some(&sample) = order.get(pos) else {
            continue;
        };
        let (slot, sample) = (pos % slots, sample as usize);
        for b in 0..sample_bytes {
            ring_images[slot * sample_bytes + b] = images[sample * sample_bytes + b];
        }
        ring_labels[slot] = labels[sample];
    }
    (ring_images, ring_labels)
}
