//! `activation`: Keras's Activation layer, an activation on its own, so that
//! `conv2d -> batch_norm -> activation` can be written. `softmax` only last (after a linear
//! dense layer), where the loss kernel fuses it.
//!
//! Like every layer's, its derivative is applied by the layer above, fused into whichever launch
//! writes its output gradient; its own backward only passes the gradient on, times the
//! derivative of the activation below.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::Tensors;
use super::{Fields, Io, Layer, LayerKind, Node, TwinBackward, TwinForward};
use crate::floor::{Activation, Shape};
use crate::gpu::kernels::{ActivationBackwardArgs, ActivationForwardArgs, Launch};
use crate::onnx::graph::OnnxGraph;
use crate::reference::ops;

#[derive(Clone, Debug, PartialEq)]
pub struct ActivationLayer {
    pub activation: Activation,
}

pub(super) const KIND: LayerKind = LayerKind {
    type_name: "activation",
    fields: &["activation"],
    example: r#"{"type": "activation", "activation": "relu"}"#,
    parse: |f: &Fields| {
        Ok(Arc::new(ActivationLayer {
            activation: f.required_activation()?,
        }))
    },
};

impl Layer for ActivationLayer {
    fn type_name(&self) -> &'static str {
        "activation"
    }

    fn to_json(&self) -> Map<String, Value> {
        let v = json!({ "activation": self.activation.name() });
        v.as_object().cloned().unwrap_or_default()
    }

    fn keras_name(&self) -> (&'static str, &'static str) {
        ("activation", "Activation")
    }

    fn output_shape(&self, input: Shape, _flat: bool) -> Result<Shape, String> {
        Ok(input)
    }

    fn activation(&self) -> Activation {
        self.activation
    }

    fn forward(&self, node: &Node, io: &Io, _training: bool) -> Vec<Launch> {
        vec![io.kernels.activation_forward(
            io.gpu,
            &ActivationForwardArgs {
                n: io.batch * node.output.features(),
                act: self.activation.fused(),
                x: io.x,
                y: io.y,
            },
        )]
    }

    fn backward(&self, node: &Node, io: &Io) -> Vec<Launch> {
        let Some(dx) = io.dx else {
            return Vec::new();
        };
        vec![io.kernels.activation_backward(
            io.gpu,
            &ActivationBackwardArgs {
                n: io.batch * node.output.features(),
                dy: io.dy,
                act_grad: io.input_act_grad(),
                dx,
            },
        )]
    }

    fn onnx(&self, node: &Node, g: &mut OnnxGraph, _: &Tensors) -> Result<(), String> {
        g.activation(self.activation, &node.name);
        Ok(())
    }

    fn twin_forward(&self, _: &Node, t: &mut TwinForward) -> Vec<f32> {
        let mut y = t.x.to_vec();
        ops::activate(&mut y, self.activation);
        y
    }

    fn twin_backward(&self, _: &Node, t: &mut TwinBackward) -> Vec<f32> {
        t.dy.to_vec()
    }
}
