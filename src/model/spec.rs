//! Sequential model specs: the layers a user writes (in JSON or as a preset), before shapes
//! are known. JSON reading is by hand rather than derived so that every error can name the
//! layer index and the field.

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Activation {
    Linear,
    Relu,
    Sigmoid,
    /// Only on the last layer, where it is fused with the cross-entropy loss.
    Softmax,
}

impl Activation {
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Softmax => "softmax",
        }
    }

    fn parse(s: &str) -> Option<Activation> {
        Some(match s {
            "linear" | "none" => Activation::Linear,
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "softmax" => Activation::Softmax,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Padding {
    /// No padding: the output shrinks by kernel - 1 (Keras's default).
    #[default]
    Valid,
    /// Zero padding so that the output is ceil(input / stride), the extra pixel at the
    /// bottom and right when the total is odd (as TensorFlow).
    Same,
}

/// A Keras-like layer. Sizes are `[height, width]`.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    Conv2d {
        filters: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: Padding,
        activation: Activation,
    },
    MaxPool {
        size: [usize; 2],
        stride: [usize; 2],
    },
    AvgPool {
        size: [usize; 2],
        stride: [usize; 2],
    },
    /// Channels-last order (h, w, c), as Keras: a no-op on the NHWC buffers.
    Flatten,
    Dense {
        units: usize,
        activation: Activation,
    },
    Dropout {
        rate: f32,
    },
    BatchNorm {
        momentum: f32,
        epsilon: f32,
    },
}

impl Layer {
    /// The `type` of the layer in JSON.
    pub fn type_name(&self) -> &'static str {
        match self {
            Layer::Conv2d { .. } => "conv2d",
            Layer::MaxPool { .. } => "max_pool",
            Layer::AvgPool { .. } => "avg_pool",
            Layer::Flatten => "flatten",
            Layer::Dense { .. } => "dense",
            Layer::Dropout { .. } => "dropout",
            Layer::BatchNorm { .. } => "batch_norm",
        }
    }

    fn conv(filters: usize, kernel: usize, activation: Activation) -> Layer {
        Layer::Conv2d {
            filters,
            kernel: [kernel; 2],
            stride: [1, 1],
            padding: Padding::Valid,
            activation,
        }
    }

    fn dense(units: usize, activation: Activation) -> Layer {
        Layer::Dense { units, activation }
    }

    fn max_pool(size: usize) -> Layer {
        Layer::MaxPool {
            size: [size; 2],
            stride: [size; 2],
        }
    }

    fn avg_pool(size: usize) -> Layer {
        Layer::AvgPool {
            size: [size; 2],
            stride: [size; 2],
        }
    }

    fn batch_norm() -> Layer {
        Layer::BatchNorm {
            momentum: 0.99,
            epsilon: 1e-3,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    pub name: String,
    /// `[height, width, channels]`; `None` takes it from the data.
    pub input: Option<[usize; 3]>,
    pub layers: Vec<Layer>,
}

/// Names accepted by `--model` besides a JSON file.
pub const PRESETS: [&str; 11] = [
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
];

impl ModelSpec {
    /// A preset from the reference notebooks. `hidden` is the activation of the hidden dense
    /// layers (the notebooks vary it for `mlp_small`; relu otherwise), `classes` the width of
    /// the softmax output, taken from the data.
    pub fn preset(name: &str, hidden: Option<Activation>, classes: usize) -> Result<ModelSpec> {
        use Activation::Relu;
        let act = hidden.unwrap_or(Relu);
        if act == Activation::Softmax {
            return Err(Error::Config(
                "--activation: softmax is only for the output layer; expected relu, sigmoid or linear"
                    .into(),
            ));
        }
        let dense = |units| Layer::dense(units, act);
        let mut layers = match name {
            "linear" => vec![Layer::Flatten],
            "mlp" => vec![Layer::Flatten, dense(512)],
            "mlp2" => vec![Layer::Flatten, dense(500), dense(500)],
            "mlp3" => vec![Layer::Flatten, dense(512), dense(512), dense(512)],
            "mlp_small" => vec![Layer::Flatten, dense(128), dense(64)],
            "mlp_dropout" => vec![Layer::Flatten, dense(512), Layer::Dropout { rate: 0.5 }],
            "mlp_bn" => {
                let mut l = vec![Layer::Flatten];
                for units in [256, 128, 64, 32] {
                    l.extend([
                        dense(units),
                        Layer::batch_norm(),
                        Layer::Dropout { rate: 0.2 },
                    ]);
                }
                l
            }
            "lenet" => vec![
                Layer::conv(6, 3, Relu),
                Layer::avg_pool(2),
                Layer::conv(16, 3, Relu),
                Layer::avg_pool(2),
                Layer::Dropout { rate: 0.2 },
                Layer::Flatten,
                dense(128),
                dense(64),
                dense(32),
                dense(16),
            ],
            "cnn" => vec![
                Layer::conv(32, 3, Relu),
                Layer::max_pool(2),
                Layer::conv(64, 3, Relu),
                Layer::max_pool(2),
                Layer::conv(64, 3, Relu),
                Layer::Flatten,
                dense(512),
            ],
            "cnn_wide" => vec![
                Layer::conv(32, 3, Relu),
                Layer::conv(64, 3, Relu),
                Layer::Flatten,
                dense(128),
            ],
            "cnn4" => vec![
                Layer::conv(32, 3, Relu),
                Layer::conv(64, 3, Relu),
                Layer::max_pool(2),
                Layer::conv(64, 3, Relu),
                Layer::max_pool(2),
                Layer::conv(128, 3, Relu),
                Layer::Flatten,
                dense(64),
            ],
            other => {
                return Err(Error::Config(format!(
                    "--model: unknown model '{other}'; expected a JSON file or one of {}",
                    PRESETS.join(", ")
                )))
            }
        };
        layers.push(Layer::dense(classes, Activation::Softmax));
        Ok(ModelSpec {
            name: name.to_string(),
            input: None,
            layers,
        })
    }

    /// `--model`: a preset name, or else a JSON file.
    pub fn from_arg(arg: &str, hidden: Option<Activation>, classes: usize) -> Result<ModelSpec> {
        let path = std::path::Path::new(arg);
        if PRESETS.contains(&arg) || !(arg.ends_with(".json") || path.is_file()) {
            return ModelSpec::preset(arg, hidden, classes);
        }
        if hidden.is_some() {
            return Err(Error::Config(
                "--activation applies to presets only; a JSON model sets each layer's activation"
                    .into(),
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("{arg}: cannot read model file: {e}")))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        ModelSpec::from_json(&name, &text).map_err(|e| Error::Config(format!("{arg}: {e}")))
    }

    /// Parses the JSON form, e.g. `{"input": [28, 28, 1], "layers": [{"type": "conv2d",
    /// "filters": 32, "kernel": 3, "activation": "relu"}, {"type": "flatten"}, ...]}`.
    pub fn from_json(name: &str, text: &str) -> std::result::Result<ModelSpec, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let obj = value
            .as_object()
            .ok_or("expected a JSON object with \"layers\" (and optionally \"input\")")?;
        for key in obj.keys() {
            if !["input", "layers", "name"].contains(&key.as_str()) {
                return Err(format!(
                    "unknown field '{key}'; expected \"input\", \"layers\" or \"name\""
                ));
            }
        }
        let name = match obj.get("name") {
            None => name.to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => return Err(format!("field 'name' is {other}; expected a string")),
        };
        let input = match obj.get("input") {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_input(v)?),
        };
        let layers = obj
            .get("layers")
            .ok_or("missing field 'layers'")?
            .as_array()
            .ok_or("field 'layers' must be an array of layer objects")?
            .iter()
            .enumerate()
            .map(|(i, v)| parse_layer(v).map_err(|e| format!("layer {i}: {e}")))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(ModelSpec {
            name,
            input,
            layers,
        })
    }

    /// The JSON form, which [`ModelSpec::from_json`] reads back.
    pub fn to_json(&self) -> Value {
        let size = |s: [usize; 2]| if s[0] == s[1] { json!(s[0]) } else { json!(s) };
        let layers: Vec<Value> = self
            .layers
            .iter()
            .map(|l| match *l {
                Layer::Conv2d {
                    filters,
                    kernel,
                    stride,
                    padding,
                    activation,
                } => json!({
                    "type": "conv2d", "filters": filters, "kernel": size(kernel),
                    "stride": size(stride),
                    "padding": if padding == Padding::Same { "same" } else { "valid" },
                    "activation": activation.name()
                }),
                Layer::MaxPool { size: s, stride } | Layer::AvgPool { size: s, stride } => {
                    json!({"type": l.type_name(), "size": size(s), "stride": size(stride)})
                }
                Layer::Flatten => json!({"type": "flatten"}),
                Layer::Dense { units, activation } => {
                    json!({"type": "dense", "units": units, "activation": activation.name()})
                }
                Layer::Dropout { rate } => json!({"type": "dropout", "rate": rate}),
                Layer::BatchNorm { momentum, epsilon } => {
                    json!({"type": "batch_norm", "momentum": momentum, "epsilon": epsilon})
                }
            })
            .collect();
        let mut obj = Map::new();
        obj.insert("name".into(), json!(self.name));
        if let Some(input) = self.input {
            obj.insert("input".into(), json!(input));
        }
        obj.insert("layers".into(), Value::Array(layers));
        Value::Object(obj)
    }
}

fn parse_input(v: &Value) -> std::result::Result<[usize; 3], String> {
    let dims: Vec<usize> = v
        .as_array()
        .map(|a| a.iter().filter_map(positive).collect())
        .unwrap_or_default();
    match (v.as_array().map(|a| a.len()), dims.len()) {
        (Some(3), 3) => Ok([dims[0], dims[1], dims[2]]),
        _ => Err(format!(
            "field 'input' is {v}; expected [height, width, channels] of positive integers"
        )),
    }
}

fn positive(v: &Value) -> Option<usize> {
    v.as_u64().filter(|&n| n > 0).map(|n| n as usize)
}

fn parse_layer(v: &Value) -> std::result::Result<Layer, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("expected an object with a \"type\", found {v}"))?;
    let kind = obj.get("type").and_then(Value::as_str).ok_or(
        "missing field 'type' (conv2d, max_pool, avg_pool, flatten, dense, dropout, batch_norm)",
    )?;
    let fields: &[&str] = match kind {
        "conv2d" => &["filters", "kernel", "stride", "padding", "activation"],
        "max_pool" | "avg_pool" => &["size", "stride"],
        "flatten" => &[],
        "dense" => &["units", "activation"],
        "dropout" => &["rate"],
        "batch_norm" => &["momentum", "epsilon"],
        other => {
            return Err(format!(
                "unknown layer type '{other}'; expected conv2d, max_pool, avg_pool, flatten, dense, dropout or batch_norm"
            ))
        }
    };
    for key in obj.keys() {
        if key != "type" && !fields.contains(&key.as_str()) {
            return Err(format!(
                "({kind}): unknown field '{key}'; expected {}",
                if fields.is_empty() {
                    "none".to_string()
                } else {
                    fields.join(", ")
                }
            ));
        }
    }
    let field = |name: &str| obj.get(name).filter(|v| !v.is_null());
    let count = |name: &str| -> std::result::Result<usize, String> {
        let v = field(name).ok_or(format!("({kind}): missing field '{name}'"))?;
        positive(v).ok_or(format!(
            "({kind}): field '{name}' is {v}; expected a positive integer"
        ))
    };
    let size =
        |name: &str, default: Option<[usize; 2]>| -> std::result::Result<[usize; 2], String> {
            let Some(v) = field(name) else {
                return default.ok_or(format!("({kind}): missing field '{name}'"));
            };
            if let Some(n) = positive(v) {
                return Ok([n, n]);
            }
            match v
                .as_array()
                .map(|a| a.iter().filter_map(positive).collect::<Vec<_>>())
            {
                Some(hw) if hw.len() == 2 && v.as_array().map(|a| a.len()) == Some(2) => {
                    Ok([hw[0], hw[1]])
                }
                _ => Err(format!(
                "({kind}): field '{name}' is {v}; expected a positive integer or [height, width]"
            )),
            }
        };
    let activation = || -> std::result::Result<Activation, String> {
        match field("activation") {
            None => Ok(Activation::Linear),
            Some(v) => v.as_str().and_then(Activation::parse).ok_or(format!(
                "({kind}): field 'activation' is {v}; expected \"relu\", \"sigmoid\", \"softmax\" or \"linear\""
            )),
        }
    };
    let fraction = |name: &str,
                    default: Option<f32>,
                    max_inclusive: bool|
     -> std::result::Result<f32, String> {
        let Some(v) = field(name) else {
            return default.ok_or(format!("({kind}): missing field '{name}'"));
        };
        match v.as_f64() {
            Some(x) if x >= 0.0 && (x < 1.0 || (max_inclusive && x <= 1.0)) => Ok(x as f32),
            _ => Err(format!(
                "({kind}): field '{name}' is {v}; expected a number in [0, 1{}",
                if max_inclusive { "]" } else { ")" }
            )),
        }
    };
    Ok(match kind {
        "conv2d" => Layer::Conv2d {
            filters: count("filters")?,
            kernel: size("kernel", None)?,
            stride: size("stride", Some([1, 1]))?,
            padding: match field("padding").map(|v| v.as_str()) {
                None | Some(Some("valid")) => Padding::Valid,
                Some(Some("same")) => Padding::Same,
                Some(_) => {
                    return Err(format!(
                        "({kind}): field 'padding' is {}; expected \"valid\" or \"same\"",
                        obj["padding"]
                    ))
                }
            },
            activation: activation()?,
        },
        "max_pool" | "avg_pool" => {
            let s = size("size", Some([2, 2]))?;
            let stride = size("stride", Some(s))?;
            if kind == "max_pool" {
                Layer::MaxPool { size: s, stride }
            } else {
                Layer::AvgPool { size: s, stride }
            }
        }
        "flatten" => Layer::Flatten,
        "dense" => Layer::Dense {
            units: count("units")?,
            activation: activation()?,
        },
        "dropout" => Layer::Dropout {
            rate: fraction("rate", None, false)?,
        },
        _ => {
            let epsilon = match field("epsilon") {
                None => 1e-3,
                Some(v) => match v.as_f64() {
                    Some(e) if e > 0.0 => e as f32,
                    _ => {
                        return Err(format!(
                            "({kind}): field 'epsilon' is {v}; expected a positive number"
                        ))
                    }
                },
            };
            Layer::BatchNorm {
                momentum: fraction("momentum", Some(0.99), true)?,
                epsilon,
            }
        }
    })
}
