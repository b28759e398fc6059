//! Models and batches too big for the adapter are refused before anything is allocated, with
//! an error naming the buffer, its size and the limit.

mod support;

use std::sync::Arc;

use shaderfit::layers::{Activation, Dense, Flatten, Layer, Shape};
use shaderfit::model::ModelSpec;
use shaderfit::train::{TrainConfig, Trainer};
use support::{gpu, synthetic_dataset};

#[test]
fn an_over_limit_model_is_refused_before_allocation() {
    let ctx = gpu();
    let limit = ctx
        .limits
        .max_buffer_size
        .min(ctx.limits.max_storage_buffer_binding_size);
    // A dense layer whose kernel alone is twice the largest buffer the adapter allows.
    let units = (limit / 4 / 49 * 2) as usize;
    let layers: Vec<Arc<dyn Layer>> = vec![
        Arc::new(Flatten),
        Arc::new(Dense::new(units, Activation::Relu)),
        Arc::new(Dense::new(10, Activation::Softmax)),
    ];
    let spec = ModelSpec {
        name: "huge".into(),
        input: None,
        layers,
    };
    let net = spec.compile(Shape::new(7, 7, 1), 10).unwrap();
    let data = synthetic_dataset(40, 10, 7, 7, 10);
    let cfg = TrainConfig {
        batch_size: 16,
        ..Default::default()
    };
    let err = Trainer::new(&ctx, &net, &data, cfg)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("the parameters")
            && (err.contains("per buffer") || err.contains("host memory")),
        "{err}"
    );
    ctx.check_errors().expect("nothing reached wgpu");

    let small = ModelSpec::from_arg("linear", None, 10)
        .unwrap()
        .compile(Shape::new(7, 7, 1), 10)
        .unwrap();
    let cfg = TrainConfig {
        batch_size: 41,
        ..Default::default()
    };
    let err = Trainer::new(&ctx, &small, &data, cfg)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("--batch-size: 41 is more than the 40 training samples"),
        "{err}"
    );
}
