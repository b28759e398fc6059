//! Twins of the WGSL kernels, one function each, with the same layouts (all row-major).

use crate::model::Activation;

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

/// Activation applied in place (softmax is left to the loss, as on the GPU).
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
/// (relu: h > 0; sigmoid: h(1 - h)).
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

/// Twin of `softmax_xent.wgsl`.
pub fn softmax_xent(logits: &[f32], labels: &[u32], classes: usize) -> LossOutput {
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
        loss_sum += zmax + sum.ln() - z[label as usize] as f64;
        correct += (arg == label as usize) as u32;
        for c in 0..classes {
            let p = (z[c] as f64 - zmax).exp() / sum;
            let onehot = if c == label as usize { 1.0 } else { 0.0 };
            dlogits[row * classes + c] = ((p - onehot) * scale) as f32;
        }
    }
    LossOutput {
        dlogits,
        loss_sum: loss_sum as f32,
        correct,
        count,
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

/// Twin of `adam`, at step `t` (counting from 1).
#[allow(clippy::too_many_arguments)]
pub fn adam(
    w: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    t: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
) {
    let t = t as f64;
    let alpha =
        (lr as f64 * (1.0 - (beta2 as f64).powf(t)).sqrt() / (1.0 - (beta1 as f64).powf(t))) as f32;
    for i in 0..w.len() {
        m[i] += (g[i] - m[i]) * (1.0 - beta1);
        v[i] += (g[i] * g[i] - v[i]) * (1.0 - beta2);
        w[i] -= alpha * m[i] / (v[i].sqrt() + eps);
    }
}

/// Twin of `rmsprop`: `v = rho*v + (1-rho)*g²; w -= lr*g / sqrt(v + eps)`.
pub fn rmsprop(w: &mut [f32], g: &[f32], v: &mut [f32], lr: f32, rho: f32, eps: f32) {
    for i in 0..w.len() {
        v[i] = rho * v[i] + (1.0 - rho) * g[i] * g[i];
        w[i] -= lr * g[i] / (v[i] + eps).sqrt();
    }
}
