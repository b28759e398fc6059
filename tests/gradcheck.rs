//! The CPU reference's gradients against central finite differences of its own loss, for a
//! network with every layer whose backward is hand-written: convolutions (`same`, strided),
//! batch normalisation after a convolution and after a dense layer, max and average pooling,
//! relu, sigmoid and softmax, and a standalone activation after batch normalisation. The GPU is
//! checked against this reference elsewhere (`parity_step.rs`), so a formula wrong in both
//! would only show here.
//!
//! Method and tolerance: per tensor, the derivative along a random ±1 direction over all its
//! entries, (L(w + h·d) - L(w - h·d)) / 2h with h = 1e-3, against Σ g·d. The loss is computed
//! in f32 (~1e-6 relative, so ~1e-3 absolute error in the quotient); directional sums are
//! checked only above 1e-2, where that is under 10% at worst and far less in practice, and
//! relu and max-pool kinks crossed within ±h add a few percent at most (measured: 0.01%-3%).
//! 5% separates those from a wrong formula (a missing term of a backward is off by far more).

use std::sync::Arc;

use shaderfit::floor::Shape;
use shaderfit::model::ModelSpec;
use shaderfit::model::ReferenceModel;
use shaderfit::optim::{Optimizer, Sgd};

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

#[test]
fn reference_gradients_match_finite_differences() {
    let net = ModelSpec::from_json(
        "gradcheck",
        r#"{"input": [8, 8, 2], "layers": [
            {"type": "conv2d", "filters": 3, "kernel": 3, "padding": "same", "activation": "relu"},
            {"type": "batch_norm"},
            {"type": "max_pool", "size": 2},
            {"type": "conv2d", "filters": 4, "kernel": 2, "stride": 2, "activation": "sigmoid"},
            {"type": "avg_pool", "size": [2, 1], "stride": 1},
            {"type": "flatten"},
            {"type": "dense", "units": 6, "activation": "relu"},
            {"type": "batch_norm"},
            {"type": "activation", "activation": "sigmoid"},
            {"type": "dense", "units": 5, "activation": "softmax"}
        ]}"#,
    )
    .unwrap()
    .compile(Shape::new(8, 8, 2), 5)
    .unwrap();
    let batch = 6;
    let x = random(batch * 8 * 8 * 2, 1);
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % 5).collect();
    let optimizer: Arc<dyn Optimizer> = Arc::new(Sgd::default());
    let base = ReferenceModel::new(net.clone(), optimizer.clone(), 3);
    let params = base.params.clone();
    let loss_at = |params: &[Vec<f32>]| -> f64 {
        let mut m = ReferenceModel::with_params(net.clone(), params.to_vec(), optimizer.clone(), 3);
        let (_, out) = m.gradients(&x, &labels);
        out.loss_sum as f64 / batch as f64
    };
    let mut m = ReferenceModel::with_params(net.clone(), params.clone(), optimizer.clone(), 3);
    let (grads, _) = m.gradients(&x, &labels);
    let mut checked = 0;
    for (t, tensor) in params.iter().enumerate() {
        // The derivative along a random ±1 direction over the whole tensor: a sum of many
        // gradients, large enough that f32 rounding in the loss does not drown it.
        let dir: Vec<f32> = random(tensor.len(), 100 + t as u64)
            .into_iter()
            .map(|r| if r < 0.5 { -1.0 } else { 1.0 })
            .collect();
        let h = 1e-3;
        let shifted = |sign: f32| {
            let mut p = params.clone();
            for (w, d) in p[t].iter_mut().zip(&dir) {
                *w += sign * h * d;
            }
            loss_at(&p)
        };
        let numeric = (shifted(1.0) - shifted(-1.0)) / (2.0 * h as f64);
        let analytic: f64 = grads[t].iter().zip(&dir).map(|(g, d)| (g * d) as f64).sum();
        if numeric.abs().max(analytic.abs()) < 1e-2 {
            continue;
        }
        let rel = (numeric - analytic).abs() / numeric.abs().max(analytic.abs());
        eprintln!("tensor {t}: analytic {analytic:.6e}, numeric {numeric:.6e} (rel {rel:.4})");
        assert!(
            rel < 0.05,
            "tensor {t}: analytic {analytic:.6e}, numeric {numeric:.6e} (rel {rel:.3})"
        );
        checked += 1;
    }
    assert!(
        checked >= 8,
        "only {checked} tensors with gradients large enough to check"
    );
}
