//! Shape inference: a [`ModelSpec`] and an input shape become a [`Network`] of placed layers
//! ([`Node`]s) with known shapes and Keras names, and the network's parameter tensors. Errors
//! name the model, the layer index, its type and the field at fault.

use std::collections::HashMap;

use super::ModelSpec;
use crate::error::{Error, Result};
use crate::floor::{Activation, Shape};
use crate::layers::{fusion, Init, Node};

/// One parameter tensor of a network, in the order Keras lists weights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// The layer's index.
    pub layer: usize,
    /// `conv2d/kernel`, `batch_normalization/moving_mean`, ...
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
    /// Updated by the optimizer (moving statistics are not).
    pub trainable: bool,
}

impl ParamSpec {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its name within its layer: `kernel`, `moving_mean`, ...
    pub fn short_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    pub name: String,
    pub input: Shape,
    pub classes: usize,
    pub layers: Vec<Node>,
}

impl ModelSpec {
    /// Shape inference for samples of `input` and `classes` classes.
    pub fn compile(&self, input: Shape, classes: usize) -> Result<Network> {
        let model_err = |message: String| Error::Model {
            model: self.name.clone(),
            layer: None,
            message,
        };
        if let Some([h, w, c]) = self.input {
            if Shape::new(h, w, c) != input {
                return Err(model_err(format!(
                    "field 'input' is [{h}, {w}, {c}] but the data's images are [{}, {}, {}]",
                    input.h, input.w, input.c
                )));
            }
        }
        let mut nodes: Vec<Node> = Vec::new();
        let (mut shape, mut flat) = (input, false);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let err = |message: String| Error::Model {
                model: self.name.clone(),
                layer: Some((i, layer.type_name())),
                message,
            };
            let output = layer.output_shape(shape, flat).map_err(err)?;
            if layer.activation() == Activation::Softmax && i + 1 != self.layers.len() {
                return Err(err("softmax is only supported on the last layer".into()));
            }
            let (base, class) = layer.keras_name();
            let n = counts.entry(base).or_insert(0);
            let name = match *n {
                0 => base.to_string(),
                n => format!("{base}_{n}"),
            };
            *n += 1;
            flat = flat || layer.flattens();
            nodes.push(Node {
                name,
                class,
                input: shape,
                output,
                flat,
                layer: layer.clone(),
            });
            shape = output;
        }
        match nodes.last() {
            Some(l) if l.activation() == Activation::Softmax && l.flat && l.output.features() == classes => {}
            Some(l) => {
                return Err(model_err(format!(
                    "the last layer is {} with output {}x{}x{} ({}); expected dense {classes} softmax (the data has {classes} classes)",
                    l.name,
                    l.output.h,
                    l.output.w,
                    l.output.c,
                    l.activation().name()
                )))
            }
            None => {
                return Err(model_err(format!(
                    "no layers; expected at least the dense {classes} softmax output"
                )))
            }
        }
        Ok(Network {
            name: self.name.clone(),
            input,
            classes,
            layers: nodes,
        })
    }
}

impl Network {
    /// Every parameter tensor, in Keras's order: layer by layer, each layer's in its own order
    /// (kernel then bias; gamma, beta, moving mean, moving variance).
    pub fn param_specs(&self) -> Vec<ParamSpec> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, node)| {
                node.layer
                    .params(node.input)
                    .into_iter()
                    .map(move |p| ParamSpec {
                        layer: i,
                        name: format!("{}/{}", node.name, p.name),
                        shape: p.shape,
                        init: p.init,
                        trainable: p.trainable,
                    })
            })
            .collect()
    }

    /// Parameters of layer `i` (all, trainable or not), as Keras's summary counts them.
    pub fn layer_param_count(&self, i: usize) -> usize {
        let node = &self.layers[i];
        node.layer
            .params(node.input)
            .iter()
            .map(|p| p.shape.iter().product::<usize>())
            .sum()
    }

    fn count(&self, trainable: bool) -> usize {
        self.param_specs()
            .iter()
            .filter(|p| p.trainable == trainable)
            .map(ParamSpec::len)
            .sum()
    }

    pub fn trainable_count(&self) -> usize {
        self.count(true)
    }

    pub fn non_trainable_count(&self) -> usize {
        self.count(false)
    }

    /// All parameters, trainable and not (Keras's "Total params").
    pub fn param_count(&self) -> usize {
        self.trainable_count() + self.non_trainable_count()
    }

    /// The activation applied to the input of layer `i`, looking through views (flatten):
    /// the derivative a backward multiplies its input gradient by.
    pub fn input_activation(&self, i: usize) -> Activation {
        fusion::input_activation(&self.layers, i)
    }

    /// Whether layer `i` must pass a gradient to its input: only if some earlier layer has
    /// trainable parameters.
    pub fn needs_input_grad(&self, i: usize) -> bool {
        fusion::needs_input_grad(&self.layers, i)
    }
}
