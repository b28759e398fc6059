//! Model specs: presets, JSON reading and its errors, shape inference, parameter counts (the
//! reference notebooks' figures) and the summary table.

mod support;

use shaderfit::floor::Shape;
use shaderfit::layers::{Conv2d, KINDS};
use shaderfit::model::summary::summary;
use shaderfit::model::{ModelSpec, Network, PRESETS};

const MNIST: Shape = Shape { h: 28, w: 28, c: 1 };

fn net(name: &str) -> Network {
    ModelSpec::preset(name, None, 10)
        .unwrap()
        .compile(MNIST, 10)
        .unwrap()
}

#[test]
fn parameter_counts_match_the_notebooks() {
    assert_eq!(net("linear").param_count(), 7_850);
    assert_eq!(net("mlp").param_count(), 407_050);
    assert_eq!(net("mlp2").param_count(), 648_010);
    assert_eq!(net("mlp3").param_count(), 932_362);
    assert_eq!(net("mlp_small").param_count(), 109_386);
    assert_eq!(net("mlp_dropout").param_count(), 407_050);
    assert_eq!(net("lenet").param_count(), 63_302);
    assert_eq!(net("cnn").param_count(), 356_298);
    assert_eq!(net("cnn_wide").param_count(), 4_738_826);
    let bn = net("mlp_bn");
    assert_eq!(bn.param_count(), 246_442);
    assert_eq!(bn.non_trainable_count(), 960);
    assert_eq!(bn.trainable_count(), 246_442 - 960);
}

#[test]
fn shapes_follow_keras() {
    let cnn = net("cnn");
    let shapes: Vec<(usize, usize, usize)> = cnn
        .layers
        .iter()
        .map(|l| (l.output.h, l.output.w, l.output.c))
        .collect();
    assert_eq!(
        shapes,
        [
            (26, 26, 32),
            (13, 13, 32),
            (11, 11, 64),
            (5, 5, 64),
            (3, 3, 64),
            (1, 1, 576),
            (1, 1, 512),
            (1, 1, 10)
        ]
    );
    let lenet = net("lenet");
    assert_eq!(lenet.layers[5].output.features(), 400);
    let names: Vec<&str> = cnn.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names[..3], ["conv2d", "max_pooling2d", "conv2d_1"]);
}

#[test]
fn same_padding_and_strides() {
    let spec = ModelSpec::from_json(
        "t",
        r#"{"layers": [
            {"type": "conv2d", "filters": 4, "kernel": 5, "stride": 2, "padding": "same"},
            {"type": "conv2d", "filters": 4, "kernel": [3, 2], "padding": "valid"},
            {"type": "max_pool", "size": 3, "stride": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 10, "activation": "softmax"}]}"#,
    )
    .unwrap();
    let n = spec.compile(Shape::new(11, 11, 1), 10).unwrap();
    // same, stride 2: ceil(11/2) = 6, total padding (6-1)*2+5-11 = 4: 2 above, 2 below.
    let first = &n.layers[0];
    let w = first
        .downcast_ref::<Conv2d>()
        .unwrap()
        .window(first.input)
        .unwrap();
    assert_eq!(
        (w.output.h, w.output.w, w.pad_top, w.pad_left),
        (6, 6, 2, 2)
    );
    assert_eq!((n.layers[1].output.h, n.layers[1].output.w), (4, 5));
    // floor((4 - 3) / 2) + 1 = 1, floor((5 - 3) / 2) + 1 = 2
    assert_eq!((n.layers[2].output.h, n.layers[2].output.w), (1, 2));
}

#[test]
fn presets_round_trip_through_json() {
    for name in PRESETS {
        let spec = ModelSpec::preset(name, None, 10).unwrap();
        let text = serde_json::to_string_pretty(&spec.to_json()).unwrap();
        let back = ModelSpec::from_json(name, &text).unwrap();
        assert_eq!(back, spec, "{name}");
    }
}

/// Every layer kind of the registry, as its example (every field it takes, none at its
/// default), writes every field and reads back as the same layer, inside a model.
#[test]
fn every_layer_kind_round_trips_through_json() {
    for kind in KINDS {
        let spec = support::model_around(kind, Shape::new(9, 7, 1));
        let text = serde_json::to_string_pretty(&spec.to_json()).unwrap();
        let back = ModelSpec::from_json("every_kind", &text).unwrap();
        assert_eq!(back, spec, "{}", kind.type_name);
        let layer = spec
            .layers
            .iter()
            .find(|l| l.type_name() == kind.type_name)
            .expect("the model holds the kind");
        let mut written: Vec<String> = layer.to_json().keys().cloned().collect();
        let mut fields: Vec<String> = kind.fields.iter().map(|f| f.to_string()).collect();
        written.sort();
        fields.sort();
        assert_eq!(written, fields, "{}: writes every field", kind.type_name);
        let example: serde_json::Value = serde_json::from_str(kind.example).unwrap();
        let given = example.as_object().unwrap().len() - 1;
        assert_eq!(
            given,
            kind.fields.len(),
            "{}: its example gives every field",
            kind.type_name
        );
    }
}

fn json_error(text: &str) -> String {
    match ModelSpec::from_json("m", text) {
        Err(e) => e,
        Ok(spec) => spec
            .compile(Shape::new(28, 28, 1), 10)
            .unwrap_err()
            .to_string(),
    }
}

#[test]
fn json_errors_name_the_layer_and_field() {
    let cases = [
        (r#"{"layers": [{"type": "conv3d"}]}"#, "layer 0: unknown layer type 'conv3d'"),
        (r#"{"layers": [{"type": "dense", "units": 10, "activation": "softmax", "bias": false}]}"#, "layer 0: (dense): unknown field 'bias'; expected units, activation"),
        (r#"{"layers": [{"type": "flatten"}, {"type": "dense"}]}"#, "layer 1: (dense): missing field 'units'"),
        (r#"{"layers": [{"type": "conv2d", "filters": 8, "kernel": -3}]}"#, "layer 0: (conv2d): field 'kernel' is -3; expected a positive integer or [height, width]"),
        (r#"{"layers": [{"type": "dropout", "rate": 1.5}]}"#, "layer 0: (dropout): field 'rate' is 1.5; expected a number in [0, 1)"),
        (r#"{"layers": [{"type": "activation"}]}"#, "layer 0: (activation): missing field 'activation'"),
        (r#"{"layers": [{"type": "activation", "activation": "tanh"}]}"#, "layer 0: (activation): field 'activation' is \"tanh\"; expected"),
        (r#"{"layers": [{"type": "flatten"}, {"type": "activation", "activation": "softmax"}, {"type": "dense", "units": 10, "activation": "softmax"}]}"#, "layer 1 (activation): softmax is only supported on the last layer"),
        (r#"{"layers": [{"type": "dense", "units": 10, "activation": "softmax"}]}"#, "layer 0 (dense): input is 28x28x1; a dense layer needs a flat input: add {\"type\": \"flatten\"} before it"),
        (r#"{"layers": [{"type": "conv2d", "filters": 8, "kernel": 29}, {"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}]}"#, "layer 0 (conv2d): field 'kernel' is 29x29, larger than its 28x28 input"),
        (r#"{"layers": [{"type": "flatten"}, {"type": "conv2d", "filters": 8, "kernel": 3}]}"#, "layer 1 (conv2d): conv2d needs an image-shaped input but its input is flat"),
        (r#"{"layers": [{"type": "flatten"}, {"type": "dense", "units": 7, "activation": "softmax"}]}"#, "expected dense 10 softmax"),
        (r#"{"input": [32, 32, 3], "layers": []}"#, "field 'input' is [32, 32, 3] but the data's images are [28, 28, 1]"),
        (r#"{"layers": [{"type": "flatten"}], "optimizer": "adam"}"#, "unknown field 'optimizer'"),
        (r#"{"layers": "#, "not valid JSON"),
    ];
    for (text, want) in cases {
        let got = json_error(text);
        assert!(
            got.contains(want),
            "for {text}\n  got: {got}\n want: {want}"
        );
    }
}

#[test]
fn summary_prints_keras_table() {
    let text = summary(&net("mlp_bn"));
    assert!(text.starts_with("Model: \"mlp_bn\"\n"), "{text}");
    assert!(text.contains("│ dense (Dense)"), "{text}");
    assert!(
        text.contains("│ batch_normalization (BatchNormalization)"),
        "{text}"
    );
    assert!(text.contains("(None, 256)"), "{text}");
    assert!(
        text.contains(" Total params: 246,442 (962.66 KB)"),
        "{text}"
    );
    assert!(
        text.contains(" Trainable params: 245,482 (958.91 KB)"),
        "{text}"
    );
    assert!(
        text.contains(" Non-trainable params: 960 (3.75 KB)"),
        "{text}"
    );
    let cnn = summary(&net("cnn"));
    assert!(
        cnn.contains("(None, 26, 26, 32)") && cnn.contains("320"),
        "{cnn}"
    );
    assert!(cnn.contains(" Total params: 356,298 (1.36 MB)"), "{cnn}");
}

/// The example specs under assets/models stay valid.
#[test]
fn example_models_compile() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let spec = ModelSpec::from_arg(path.to_str().unwrap(), None, 10).unwrap();
            let net = spec
                .compile(MNIST, 10)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(net.param_count() > 0);
            n += 1;
        }
    }
    assert!(n >= 3, "found {n} example models");
}
