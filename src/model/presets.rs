//! The models of the reference notebooks, by name (`--model cnn`).

use std::sync::Arc;

use super::ModelSpec;
use crate::error::{Error, Result};
use crate::floor::{Activation, Padding};
use crate::layers::{BatchNorm, Conv2d, Dense, Dropout, Flatten, Layer, Pool2d};

/// Names accepted by `--model` besides a JSON file.
pub const PRESETS: [&str; 14] = [
    "linear",
    "mlp",
    "mlp2",
    "mlp3",
    "mlp_small",
    "mlp_dropout",
    "mlp_bn",
    "lenet",
    "cnn",
    "cnn_wide",
    "cnn4",
    "cnn_fast",
    "cnn_fast_bn",
    "cnn_cifar",
];

/// The error for a `--model` that is neither a preset nor a JSON file.
fn unknown(name: &str) -> Error {
    Error::flag(
        "--model",
        format!(
            "unknown model '{name}'{}; expected a JSON file or one of {}",
            crate::floor::did_you_mean(name, &PRESETS),
            PRESETS.join(", ")
        ),
    )
}

fn arc(layer: impl Layer) -> Arc<dyn Layer> {
    Arc::new(layer)
}

/// A preset. `hidden` is the activation of the hidden dense layers (the notebooks vary it for
/// `mlp_small`; relu otherwise), `classes` the width of the softmax output, from the data.
pub fn preset(name: &str, hidden: Option<Activation>, classes: usize) -> Result<ModelSpec> {
    use Activation::Relu;
    let act = hidden.unwrap_or(Relu);
    if act == Activation::Softmax {
        return Err(Error::flag(
            "--activation",
            "softmax is only for the output layer; expected relu, sigmoid or linear",
        ));
    }
    let layers = dense_net(name, act).or_else(|| conv_net(name, act));
    let mut layers = layers.ok_or_else(|| unknown(name))?;
    layers.push(arc(Dense::new(classes, Activation::Softmax)));
    Ok(ModelSpec {
        name: name.to_string(),
        input: None,
        layers,
    })
}

/// The layers of a preset of dense layers (before the output), if `name` is one.
fn dense_net(name: &str, act: Activation) -> Option<Vec<Arc<dyn Layer>>> {
    let dense = |units| arc(Dense::new(units, act));
    let dropout = |rate| arc(Dropout { rate });
    Some(match name {
        "linear" => vec![arc(Flatten)],
        "mlp" => vec![arc(Flatten), dense(512)],
        "mlp2" => vec![arc(Flatten), dense(500), dense(500)],
        "mlp3" => vec![arc(Flatten), dense(512), dense(512), dense(512)],
        "mlp_small" => vec![arc(Flatten), dense(128), dense(64)],
        "mlp_dropout" => vec![arc(Flatten), dense(512), dropout(0.5)],
        "mlp_bn" => {
            let mut v = vec![arc(Flatten)];
            for units in [256, 128, 64, 32] {
                v.extend([dense(units), arc(BatchNorm::default()), dropout(0.2)]);
            }
            v
        }
        _ => return None,
    })
}

/// The layers of a convolutional preset (before the output), if `name` is one.
fn conv_net(name: &str, act: Activation) -> Option<Vec<Arc<dyn Layer>>> {
    use Activation::Relu;
    let dense = |units| arc(Dense::new(units, act));
    let conv = |filters| arc(Conv2d::new(filters, 3, Relu));
    let dropout = |rate| arc(Dropout { rate });
    Some(match name {
        "lenet" => vec![
            arc(Conv2d::new(6, 3, Relu)),
            arc(Pool2d::avg(2)),
            arc(Conv2d::new(16, 3, Relu)),
            arc(Pool2d::avg(2)),
            dropout(0.2),
            arc(Flatten),
            dense(128),
            dense(64),
            dense(32),
            dense(16),
        ],
        "cnn" => vec![
            conv(32),
            arc(Pool2d::max(2)),
            conv(64),
            arc(Pool2d::max(2)),
            conv(64),
            arc(Flatten),
            dense(512),
        ],
        "cnn_wide" => vec![conv(32), conv(64), arc(Flatten), dense(128)],
        "cnn4" => vec![
            conv(32),
            conv(64),
            arc(Pool2d::max(2)),
            conv(64),
            arc(Pool2d::max(2)),
            conv(128),
            arc(Flatten),
            dense(64),
        ],
        // The `fast99` recipe's net (a public one-epoch MNIST speed run's): two convolutions,
        // 5x5 then 3x3, each max-pooled, then one wide dense layer.
        "cnn_fast" => vec![
            arc(Conv2d::new(24, 5, Relu)),
            arc(Pool2d::max(2)),
            conv(32),
            arc(Pool2d::max(2)),
            arc(Flatten),
            dense(256),
        ],
        // `cnn_fast` with batch normalisation after each pooling (after the pooling, where it
        // normalises a quarter of the values: on CPU adapters it costs 5% of a step, against
        // 45% after the convolution) and dropout 0.25 before the output: the `best` recipe's.
        "cnn_fast_bn" => vec![
            arc(Conv2d::new(24, 5, Relu)),
            arc(Pool2d::max(2)),
            arc(BatchNorm::default()),
            conv(32),
            arc(Pool2d::max(2)),
            arc(BatchNorm::default()),
            arc(Flatten),
            dense(256),
            dropout(0.25),
        ],
        // Keras's CIFAR-10 example network (examples/cifar10_cnn.py), for 32x32 RGB images
        // (any size from 12x12 and any channel count fit it): two blocks of two 3x3
        // convolutions (the first `same`), max pooling and dropout 0.25, then dense 512 and
        // dropout 0.5.
        "cnn_cifar" => {
            let same = |filters| {
                arc(Conv2d {
                    padding: Padding::Same,
                    ..Conv2d::new(filters, 3, Relu)
                })
            };
            vec![
                same(32),
                conv(32),
                arc(Pool2d::max(2)),
                dropout(0.25),
                same(64),
                conv(64),
                arc(Pool2d::max(2)),
                dropout(0.25),
                arc(Flatten),
                dense(512),
                dropout(0.5),
            ]
        }
        _ => return None,
    })
}
