//! Sequential model specs and the presets from `reference-models.md`.

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
}

#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// Images are already flat `[batch, rows*cols]` rows; kept for Keras-like specs.
    Flatten,
    Dense {
        units: usize,
        activation: Activation,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    pub name: String,
    pub layers: Vec<Layer>,
}

/// Names accepted by `--model`.
pub const PRESETS: [&str; 5] = ["linear", "mlp", "mlp2", "mlp3", "mlp_small"];

impl ModelSpec {
    /// A preset from the reference notebooks. `hidden` is the activation of the hidden layers
    /// (only `mlp_small` offers a choice in the notebooks; the others use relu), `classes` the
    /// width of the softmax output, taken from the data.
    pub fn preset(name: &str, hidden: Option<Activation>, classes: usize) -> Result<ModelSpec> {
        let widths: &[usize] = match name {
            "linear" => &[],
            "mlp" => &[512],
            "mlp2" => &[500, 500],
            "mlp3" => &[512, 512, 512],
            "mlp_small" => &[128, 64],
            other => {
                return Err(Error::Config(format!(
                    "--model: unknown model '{other}'; expected one of {}",
                    PRESETS.join(", ")
                )))
            }
        };
        let act = hidden.unwrap_or(Activation::Relu);
        if matches!(act, Activation::Softmax) {
            return Err(Error::Config(
                "--activation: softmax is only for the output layer; expected relu, sigmoid or linear"
                    .into(),
            ));
        }
        let mut layers = vec![Layer::Flatten];
        layers.extend(widths.iter().map(|&units| Layer::Dense {
            units,
            activation: act,
        }));
        layers.push(Layer::Dense {
            units: classes,
            activation: Activation::Softmax,
        });
        Ok(ModelSpec {
            name: name.to_string(),
            layers,
        })
    }

    /// Shape inference for inputs of `input` features and `classes` classes.
    pub fn compile(&self, input: usize, classes: usize) -> Result<Network> {
        let mut dense = Vec::new();
        let mut width = input;
        for (i, layer) in self.layers.iter().enumerate() {
            match *layer {
                Layer::Flatten => {
                    if !dense.is_empty() {
                        return Err(Error::Config(format!(
                            "model '{}', layer {i} (flatten): a flatten after a dense layer does nothing here; expected it first",
                            self.name
                        )));
                    }
                }
                Layer::Dense { units, activation } => {
                    if units == 0 {
                        return Err(Error::Config(format!(
                            "model '{}', layer {i} (dense): field 'units' is 0; expected at least 1",
                            self.name
                        )));
                    }
                    let last = i + 1 == self.layers.len();
                    if activation == Activation::Softmax && !last {
                        return Err(Error::Config(format!(
                            "model '{}', layer {i} (dense): softmax is only supported on the last layer",
                            self.name
                        )));
                    }
                    dense.push(DenseLayer {
                        fan_in: width,
                        units,
                        activation,
                    });
                    width = units;
                }
            }
        }
        match dense.last() {
            Some(l) if l.activation == Activation::Softmax && l.units == classes => {}
            Some(l) => {
                return Err(Error::Config(format!(
                    "model '{}': the last layer is dense {} {}; expected dense {classes} softmax (the data has {classes} classes)",
                    self.name,
                    l.units,
                    l.activation.name()
                )))
            }
            None => {
                return Err(Error::Config(format!(
                    "model '{}': no dense layer; expected at least the dense {classes} softmax output",
                    self.name
                )))
            }
        }
        Ok(Network {
            input,
            classes,
            dense,
        })
    }
}

/// One fully connected layer: `y = act(x·W + b)`, `W: [fan_in, units]` row-major as Keras's
/// kernel, `b: [units]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseLayer {
    pub fan_in: usize,
    pub units: usize,
    pub activation: Activation,
}

/// A compiled model: shapes known, ready to lay out parameters and buffers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    pub input: usize,
    pub classes: usize,
    pub dense: Vec<DenseLayer>,
}

impl Network {
    /// Trainable parameters (the same count as Keras's `model.summary()`).
    pub fn param_count(&self) -> usize {
        self.dense
            .iter()
            .map(|l| l.fan_in * l.units + l.units)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(name: &str) -> usize {
        ModelSpec::preset(name, None, 10)
            .unwrap()
            .compile(784, 10)
            .unwrap()
            .param_count()
    }

    #[test]
    fn preset_parameter_counts_match_the_notebooks() {
        assert_eq!(count("linear"), 7_850);
        assert_eq!(count("mlp"), 407_050);
        assert_eq!(count("mlp2"), 648_010);
        assert_eq!(count("mlp3"), 932_362);
        assert_eq!(count("mlp_small"), 109_386);
    }

    #[test]
    fn wrong_output_width_is_an_error() {
        let spec = ModelSpec::preset("mlp", None, 10).unwrap();
        let e = spec.compile(784, 3).unwrap_err().to_string();
        assert!(e.contains("expected dense 3 softmax"), "{e}");
    }
}
