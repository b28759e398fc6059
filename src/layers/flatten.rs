//! `flatten`: Keras's Flatten, channels-last order (h, w, c), so weights line up with a Keras
//! model. A view: on the NHWC buffers it moves no data and records no launch.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::Tensors;
use super::{Fields, Io, Layer, LayerKind, Node, TwinBackward, TwinForward};
use crate::floor::Shape;
use crate::gpu::kernels::Launch;
use crate::onnx::graph::OnnxGraph;

#[derive(Clone, Debug, PartialEq)]
pub struct Flatten;

pub(super) const KIND: LayerKind = LayerKind {
    type_name: "flatten",
    fields: &[],
    example: r#"{"type": "flatten"}"#,
    parse: |_: &Fields| Ok(Arc::new(Flatten)),
};

impl Layer for Flatten {
    fn type_name(&self) -> &'static str {
        "flatten"
    }

    fn to_json(&self) -> Map<String, Value> {
        Map::new()
    }

    fn keras_name(&self) -> (&'static str, &'static str) {
        ("flatten", "Flatten")
    }

    fn output_shape(&self, input: Shape, _flat: bool) -> Result<Shape, String> {
        Ok(Shape::flat(input.features()))
    }

    fn flattens(&self) -> bool {
        true
    }

    fn is_view(&self) -> bool {
        true
    }

    fn forward(&self, _: &Node, _: &Io, _: bool) -> Vec<Launch> {
        Vec::new()
    }

    fn backward(&self, _: &Node, _: &Io) -> Vec<Launch> {
        Vec::new()
    }

    /// ONNX's Flatten, from NHWC so that the features are in Keras's order.
    fn onnx(&self, node: &Node, g: &mut OnnxGraph, _: &Tensors) -> Result<(), String> {
        g.flat(&node.name);
        Ok(())
    }

    fn twin_forward(&self, _: &Node, t: &mut TwinForward) -> Vec<f32> {
        t.x.to_vec()
    }

    fn twin_backward(&self, _: &Node, t: &mut TwinBackward) -> Vec<f32> {
        t.dy.to_vec()
    }
}
