//! `dropout`: Keras's Dropout, inverted (kept values scaled by 1 / (1 - rate)), off at
//! evaluation. The mask is a hash of the layer's seed, the step and the element, so it is
//! never stored and the twin draws it bit for bit (see `dropout.wgsl`).

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::Tensors;
use super::{Fields, Io, Layer, LayerKind, Node, TwinBackward, TwinForward};
use crate::floor::rng::SplitMix64;
use crate::floor::Shape;
use crate::gpu::kernels::{DropoutArgs, DropoutMode, Launch};
use crate::onnx::graph::OnnxGraph;
use crate::reference::ops;

#[derive(Clone, Debug, PartialEq)]
pub struct Dropout {
    pub rate: f32,
}

pub(super) const KIND: LayerKind = LayerKind {
    type_name: "dropout",
    fields: &["rate"],
    example: r#"{"type": "dropout", "rate": 0.3}"#,
    parse: |f: &Fields| {
        Ok(Arc::new(Dropout {
            rate: f.fraction("rate", None, false)?,
        }))
    },
};

/// Stream ids of dropout layers' mask seeds start here (one per layer index).
pub const DROPOUT_STREAM: u64 = 1 << 20;

/// The 32-bit mask seed of the dropout layer at `layer` for a run seeded `seed`.
pub fn dropout_seed(seed: u64, layer: usize) -> u32 {
    (SplitMix64::for_stream(seed, DROPOUT_STREAM + layer as u64).next_u64() >> 32) as u32
}

impl Layer for Dropout {
    fn type_name(&self) -> &'static str {
        "dropout"
    }

    fn to_json(&self) -> Map<String, Value> {
        let v = json!({ "rate": self.rate });
        v.as_object().cloned().unwrap_or_default()
    }

    fn keras_name(&self) -> (&'static str, &'static str) {
        ("dropout", "Dropout")
    }

    fn output_shape(&self, input: Shape, _flat: bool) -> Result<Shape, String> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(format!(
                "field 'rate' is {}; expected 0 <= rate < 1",
                self.rate
            ));
        }
        Ok(input)
    }

    fn forward(&self, node: &Node, io: &Io, training: bool) -> Vec<Launch> {
        vec![io.kernels.dropout(
            io.gpu,
            &DropoutArgs {
                mode: if training {
                    DropoutMode::Forward
                } else {
                    DropoutMode::Identity
                },
                n: io.batch * node.output.features(),
                rate: self.rate,
                seed: dropout_seed(io.seed, io.index),
                src: io.x,
                act_grad: None,
                cursor: io.cursor,
                dst: io.y,
            },
        )]
    }

    /// The same mask on the gradient (redrawn from the step count), times the derivative of
    /// the activation below.
    fn backward(&self, node: &Node, io: &Io) -> Vec<Launch> {
        let Some(dx) = io.dx else {
            return Vec::new();
        };
        vec![io.kernels.dropout(
            io.gpu,
            &DropoutArgs {
                mode: DropoutMode::Backward,
                n: io.batch * node.output.features(),
                rate: self.rate,
                seed: dropout_seed(io.seed, io.index),
                src: io.dy,
                act_grad: io.input_act_grad(),
                cursor: io.cursor,
                dst: dx,
            },
        )]
    }

    /// Nothing: dropout is the identity at inference, as Keras exports it.
    fn onnx(&self, _: &Node, _: &mut OnnxGraph, _: &Tensors) -> Result<(), String> {
        Ok(())
    }

    fn twin_forward(&self, _: &Node, t: &mut TwinForward) -> Vec<f32> {
        if t.training {
            ops::dropout(t.x, self.rate, dropout_seed(t.seed, t.index), t.step)
        } else {
            t.x.to_vec()
        }
    }

    fn twin_backward(&self, _: &Node, t: &mut TwinBackward) -> Vec<f32> {
        ops::dropout(t.dy, self.rate, dropout_seed(t.seed, t.index), t.step)
    }
}
