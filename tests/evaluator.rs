//! The Evaluator on its own: what it allocates (no gradient, no optimizer state, no training
//! batch), that it scores a test split exactly as a trainer's test pass does, and that it
//! hands back every layer's output as the CPU twin computes it.

mod support;

use std::sync::Arc;

use shaderfit::data::Dataset;
use shaderfit::eval::metrics::ConfusionMatrix;
use shaderfit::eval::{EvalConfig, Evaluator, Pass, Validation};
use shaderfit::floor::Shape;
use shaderfit::model::{init_params, init_stats, Network, ParamLayout, ReferenceModel};
use shaderfit::optim::Sgd;
use shaderfit::reference::ops;
use shaderfit::train::{TrainConfig, Trainer};
use support::parity::assert_within;
use support::{gpu, model_of_every_kind, synthetic_dataset};

/// A model of every layer kind (convolution, pooling, batch normalisation, dropout, dense,
/// activation) on 9x7 images, and 29 training and 11 test samples of them.
fn every_kind() -> (Network, Dataset) {
    let input = Shape::new(9, 7, 1);
    let net = model_of_every_kind(input).compile(input, 10).unwrap();
    (net, synthetic_dataset(29, 11, 9, 7, 10))
}

/// The labels of the buffers made while `make` ran.
fn labels_made<T>(ctx: &shaderfit::gpu::GpuContext, make: impl FnOnce() -> T) -> (T, Vec<String>) {
    let before = ctx.buffers_made().len();
    let made = make();
    let labels = ctx.buffers_made()[before..]
        .iter()
        .map(|(label, _)| label.clone())
        .collect();
    (made, labels)
}

/// The buffers an Evaluator makes are exactly: the test split, the evaluation batch's input,
/// labels, each layer's output (a view shares its input's), the logits' gradient the loss
/// writes, the forward's scratch, the weights and statistics, the metrics and the cursor. No
/// gradient, no optimizer state, no training split or batch; a Trainer of the same model
/// makes all of those, so the list would show them.
#[test]
fn an_evaluator_allocates_no_gradient_or_optimizer_state() {
    let ctx = gpu();
    let (net, data) = every_kind();
    let align = ctx.binding_align_floats();
    let params = init_params(&ParamLayout::trainable(&net, align), 1);
    let stats = init_stats(&ParamLayout::non_trainable(&net, align));
    let cfg = EvalConfig {
        accumulators: vec![Arc::new(ConfusionMatrix)],
        ..EvalConfig::default()
    };
    let (eval, mut made) = labels_made(&ctx, || {
        let split = (&data.test, Validation::OnTest);
        Evaluator::new(&ctx, &net, (&params, &stats), cfg, split).unwrap()
    });
    let mut want: Vec<String> = [
        "test images",
        "test labels",
        "test order",
        "the evaluation batch",
        "evaluation dlogits",
        "evaluation labels",
        "params",
        "moving statistics",
        "metrics",
        "eval cursor",
    ]
    .map(String::from)
    .to_vec();
    for node in net.layers.iter().filter(|n| !n.layer.is_view()) {
        want.push(format!("{} output", node.name));
        for s in node.layer.scratch(node, eval.batch(), false) {
            want.push(match s.shared {
                true => s.name.to_string(),
                false => format!("{} {}", node.name, s.name),
            });
        }
    }
    want.sort();
    want.dedup();
    // The kernels' placeholders for bindings an entry point leaves unused (4 bytes each,
    // made with the pipeline cache) are not the model's.
    made.retain(|label| !label.starts_with("unused"));
    made.sort();
    assert_eq!(made, want);
    let cfg = TrainConfig {
        batch_size: 8,
        optimizer: Arc::new(Sgd {
            learning_rate: 0.1,
            momentum: 0.9,
        }),
        ..TrainConfig::default()
    };
    let (_, trained) = labels_made(&ctx, || Trainer::new(&ctx, &net, &data, cfg).unwrap());
    for training_only in [
        "grads",
        "optimizer state",
        "train images",
        "the input batch",
    ] {
        assert!(
            trained.iter().any(|l| l == training_only),
            "{training_only}"
        );
        assert!(!made.iter().any(|l| l == training_only), "{training_only}");
    }
}

/// An Evaluator given a trained model's weights scores the test split exactly as the
/// trainer's own test pass does: every count, and the loss to the bit (same data, order,
/// batch and kernels).
#[test]
fn an_evaluator_scores_as_the_trainers_test_pass() {
    let ctx = gpu();
    let (net, data) = every_kind();
    let cfg = TrainConfig {
        batch_size: 8,
        optimizer: Arc::new(Sgd {
            learning_rate: 0.1,
            momentum: 0.0,
        }),
        accumulators: vec![Arc::new(ConfusionMatrix)],
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(&ctx, &net, &data, cfg.clone()).unwrap();
    trainer.fit_epoch().unwrap();
    let want = trainer.evaluate_test().unwrap();
    let trained = trainer.evaluator();
    let (params, stats) = (
        trained.read_params().unwrap(),
        trained.read_stats().unwrap(),
    );
    let split = (&data.test, Validation::OnTest);
    let eval = Evaluator::new(&ctx, &net, (&params, &stats), cfg.eval_config(), split).unwrap();
    assert_eq!(eval.batch(), trained.batch());
    let got = eval.evaluate(Pass::Test).unwrap();
    assert_eq!(got, want);
}

/// Every layer's output for a few samples matches the CPU twin's evaluation forward.
///
/// Tolerance: 1e-5 x (1 + |cpu|). Each layer's output carries its kernels' f32 roundings,
/// which the layer checks bound to about 1e-6 relative per layer; through this model's
/// layers they compound to well under 1e-5 relative, while a wrong row, channel or layer is
/// off by whole units.
#[test]
fn layer_outputs_match_the_reference_forward() {
    let ctx = gpu();
    let (net, data) = every_kind();
    let align = ctx.binding_align_floats();
    let params = init_params(&ParamLayout::trainable(&net, align), 3);
    let stats = init_stats(&ParamLayout::non_trainable(&net, align));
    let split = (&data.test, Validation::OnTest);
    let eval = Evaluator::new(&ctx, &net, (&params, &stats), EvalConfig::default(), split).unwrap();
    let features = net.input.features();
    let n = 3;
    let got = eval
        .layer_outputs(&data.test.images[..n * features])
        .unwrap();
    let mut model = ReferenceModel::with_params(
        net.clone(),
        params.clone(),
        Arc::new(Sgd {
            learning_rate: 0.1,
            momentum: 0.0,
        }),
        3,
    );
    let order: Vec<u32> = (0..n as u32).collect();
    let (x, y) = ops::gather(&data.test.images, &data.test.labels, &order, 0, n, features);
    let want = model.layer_outputs(&x, &y);
    assert_eq!(got.len(), net.layers.len());
    for ((node, got), want) in net.layers.iter().zip(&got).zip(&want) {
        assert_within(&node.name, got, want, |i| 1e-5 * (1.0 + want[i].abs()));
    }
    let too_many = data.test.images.repeat(200);
    assert!(eval.layer_outputs(&too_many).is_err());
}
