//! The layers of a Sequential model, one file each. A layer owns everything about itself:
//!
//! - its fields in model JSON ([`LayerKind`] parses them, [`Layer::to_json`] writes them);
//! - its shape inference and Keras names;
//! - its parameters, as named tensors (`kernel`, `bias`, `gamma`, ...);
//! - the buffers it needs besides its output and output gradient;
//! - the launches of its forward and backward, bound through [`Io`];
//! - its CPU twin, plain Rust that calls only [`crate::reference::ops`] and never GPU code.
//!
//! The model ([`crate::model`]), the training plan ([`crate::train::plan`]), the reference
//! model ([`crate::reference`]) and the summary are loops over the [`Layer`] trait. Fusions
//! between neighbouring layers (activation derivatives in the kernel that produces a gradient,
//! a pooling's backward inside the col2im of the convolution above it) are one explicit pass,
//! [`fusion::fuse`]. CONTRIBUTING.md says how to add a layer.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::floor::{Activation, Shape};
use crate::gpu::kernels::Launch;
use crate::onnx::graph::OnnxGraph;

mod activation;
mod batch_norm;
mod conv2d;
mod dense;
mod dropout;
pub mod fields;
mod flatten;
pub mod fusion;
mod io;
mod pool2d;
mod twin;

pub use activation::ActivationLayer;
pub use batch_norm::BatchNorm;
pub use conv2d::Conv2d;
pub use dense::Dense;
pub use dropout::{dropout_seed, Dropout};
pub use fields::Fields;
pub use flatten::Flatten;
pub use fusion::Fusion;
pub use io::{FusedPool, Io, LossRows, Scratch};
pub use pool2d::Pool2d;
pub use twin::{Tensors, TensorsMut, TwinBackward, TwinForward};

/// Every layer type model JSON knows, by its `type`: the registry a new layer adds one line to.
pub const KINDS: [&LayerKind; 8] = [
    &conv2d::KIND,
    &pool2d::MAX_POOL,
    &pool2d::AVG_POOL,
    &flatten::KIND,
    &dense::KIND,
    &dropout::KIND,
    &batch_norm::KIND,
    &activation::KIND,
];

/// A layer type as model JSON names it.
pub struct LayerKind {
    /// `type` in JSON.
    pub type_name: &'static str,
    /// The fields it takes besides `type`.
    pub fields: &'static [&'static str],
    /// Reads those fields; errors name the field, what was found and what was expected.
    pub parse: fn(&Fields) -> Result<Arc<dyn Layer>, String>,
    /// The layer in JSON with every field it takes at a value other than its default: what
    /// the registry-driven tests build models of (JSON round trips, whole training steps
    /// against the reference, the Keras script).
    pub example: &'static str,
}

/// How a parameter tensor starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    GlorotUniform { fan_in: usize, fan_out: usize },
    Zeros,
    Ones,
}

/// One parameter tensor of a layer, as the layer declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamDef {
    /// Keras's weight name within the layer: `kernel`, `bias`, `moving_mean`, ...
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub init: Init,
    /// Updated by the optimizer (moving statistics are not).
    pub trainable: bool,
}

pub trait Layer: fmt::Debug + Send + Sync + Any {
    /// Its `type` in model JSON.
    fn type_name(&self) -> &'static str;
    /// Its fields in model JSON, besides `type`, as [`LayerKind::parse`] reads them back.
    fn to_json(&self) -> Map<String, Value>;
    /// Keras's base name (numbered in a model: `dense`, `dense_1`, ...) and class name.
    fn keras_name(&self) -> (&'static str, &'static str);

    /// Its output shape for `input` (`flat`: the input came through a flatten or a dense
    /// layer). The error names the field at fault.
    fn output_shape(&self, input: Shape, flat: bool) -> Result<Shape, String>;
    /// Whether its output is flat (flatten, dense).
    fn flattens(&self) -> bool {
        false
    }
    /// Whether its output is its input unchanged (flatten): it then shares its input's
    /// buffers, records no launch, and the derivative of the activation below it is applied
    /// by the layer above it.
    fn is_view(&self) -> bool {
        false
    }
    /// The activation at its end, whose derivative the layer above fuses into the gradient it
    /// produces.
    fn activation(&self) -> Activation {
        Activation::Linear
    }
    /// Its parameter tensors for this input, in Keras's weight order.
    fn params(&self, _input: Shape) -> Vec<ParamDef> {
        Vec::new()
    }

    /// Buffers of its own besides its output and output gradient, for batches of `batch`;
    /// `input_grad` says whether its backward must produce an input gradient.
    fn scratch(&self, _node: &Node, _batch: usize, _input_grad: bool) -> Vec<Scratch> {
        Vec::new()
    }
    /// The launches of its forward: training (batch statistics, dropout masks) or evaluation.
    fn forward(&self, node: &Node, io: &Io, training: bool) -> Vec<Launch>;
    /// The launches of its backward: parameter gradients, and the input gradient (times the
    /// derivative of the activation below) when `io.dx` is given.
    fn backward(&self, node: &Node, io: &Io) -> Vec<Launch>;
    /// As the output layer of a training step whose end is fused: its forward and softmax
    /// cross-entropy in one launch (`io.y` the logits, `io.dy` their gradient, `loss.rows`
    /// each row's share), or none where it has no such kernel (the step then runs unfused).
    fn forward_with_loss(&self, _node: &Node, _io: &Io, _loss: &LossRows) -> Option<Launch> {
        None
    }

    /// Its evaluation forward as ONNX nodes ([`crate::onnx`]), reading `g`'s current tensor:
    /// `t` holds its tensors by name (moving statistics included). An error says what ONNX
    /// cannot express.
    fn onnx(&self, node: &Node, g: &mut OnnxGraph, t: &Tensors) -> Result<(), String>;

    /// CPU twin of the forward. A layer that its backward needs something from (im2col's
    /// columns, argmaxes, batch statistics) leaves it in `t.cache`.
    fn twin_forward(&self, node: &Node, t: &mut TwinForward) -> Vec<f32>;
    /// CPU twin of the backward: writes its parameter gradients by name and returns the input
    /// gradient *before* the derivative of the activation below (the reference model applies
    /// that, independently of the GPU's fusions).
    fn twin_backward(&self, node: &Node, t: &mut TwinBackward) -> Vec<f32>;
}

impl dyn Layer {
    /// The layer as its concrete type, for passes that treat some kinds specially (fusion).
    pub fn downcast_ref<T: Layer>(&self) -> Option<&T> {
        (self as &dyn Any).downcast_ref::<T>()
    }

    /// Same type and same fields.
    pub fn same_as(&self, other: &dyn Layer) -> bool {
        self.type_name() == other.type_name() && self.to_json() == other.to_json()
    }
}

/// A layer placed in a model: its Keras name and its shapes.
#[derive(Clone, Debug)]
pub struct Node {
    /// Keras's name: `conv2d`, `conv2d_1`, `dense`, ...
    pub name: String,
    /// Keras's class name, for summaries.
    pub class: &'static str,
    pub input: Shape,
    pub output: Shape,
    /// Whether the output is flat (after a flatten or a dense layer): summaries print
    /// `(None, features)` then.
    pub flat: bool,
    pub layer: Arc<dyn Layer>,
}

impl Node {
    pub fn activation(&self) -> Activation {
        self.layer.activation()
    }

    pub fn downcast_ref<T: Layer>(&self) -> Option<&T> {
        self.layer.downcast_ref::<T>()
    }
}

impl PartialEq for Node {
    fn eq(&self, other: &Node) -> bool {
        self.name == other.name
            && self.input == other.input
            && self.output == other.output
            && self.flat == other.flat
            && self.layer.same_as(other.layer.as_ref())
    }
}

/// Reads one layer object of model JSON, e.g. `{"type": "dense", "units": 10}`.
pub fn parse_layer(v: &Value) -> Result<Arc<dyn Layer>, String> {
    let names: Vec<&str> = KINDS.iter().map(|k| k.type_name).collect();
    let obj = v
        .as_object()
        .ok_or_else(|| format!("expected an object with a \"type\", found {v}"))?;
    let type_name = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing field 'type' ({})", names.join(", ")))?;
    let kind = KINDS
        .iter()
        .find(|k| k.type_name == type_name)
        .ok_or_else(|| {
            let (last, rest) = names.split_last().expect("there are layer kinds");
            format!(
                "unknown layer type '{type_name}'{}; expected {} or {last}",
                crate::floor::did_you_mean(type_name, &names),
                rest.join(", ")
            )
        })?;
    for key in obj.keys() {
        if key != "type" && !kind.fields.contains(&key.as_str()) {
            let expected = if kind.fields.is_empty() {
                "none".to_string()
            } else {
                kind.fields.join(", ")
            };
            return Err(format!(
                "({type_name}): unknown field '{key}'; expected {expected}"
            ));
        }
    }
    (kind.parse)(&Fields::new(type_name, obj))
}

/// The error of a layer that needs an image-shaped input but got a flat one.
pub fn require_image(type_name: &str, input: Shape, flat: bool) -> Result<(), String> {
    if flat {
        return Err(format!(
            "{type_name} needs an image-shaped input but its input is flat ({} features); move it before the flatten",
            input.features()
        ));
    }
    Ok(())
}
