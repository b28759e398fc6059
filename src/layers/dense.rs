//! `dense`: Keras's Dense. `y = act(x · kernel + bias)`, kernel `[fan_in, units]`.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::Tensors;
use super::{
    Fields, Init, Io, Layer, LayerKind, LossRows, Node, ParamDef, TwinBackward, TwinForward,
};
use crate::floor::{Activation, Shape};
use crate::gpu::kernels::{
    DenseBackwardArgs, DenseXentArgs, Launch, MatmulArgs, MAX_FUSED_CLASSES,
};
use crate::onnx::graph::{Layout, OnnxGraph};
use crate::reference::ops;

#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    pub units: usize,
    pub activation: Activation,
}

pub(super) const KIND: LayerKind = LayerKind {
    type_name: "dense",
    fields: &["units", "activation"],
    example: r#"{"type": "dense", "units": 5, "activation": "sigmoid"}"#,
    parse: |f: &Fields| {
        Ok(Arc::new(Dense {
            units: f.count("units")?,
            activation: f.activation()?,
        }))
    },
};

impl Dense {
    pub fn new(units: usize, activation: Activation) -> Dense {
        Dense { units, activation }
    }
}

impl Layer for Dense {
    fn type_name(&self) -> &'static str {
        "dense"
    }

    fn to_json(&self) -> Map<String, Value> {
        let v = json!({"units": self.units, "activation": self.activation.name()});
        v.as_object().cloned().unwrap_or_default()
    }

    fn keras_name(&self) -> (&'static str, &'static str) {
        ("dense", "Dense")
    }

    fn output_shape(&self, input: Shape, flat: bool) -> Result<Shape, String> {
        if !flat && (input.h > 1 || input.w > 1) {
            return Err(format!(
                "input is {}x{}x{}; a dense layer needs a flat input: add {{\"type\": \"flatten\"}} before it",
                input.h, input.w, input.c
            ));
        }
        Ok(Shape::flat(self.units))
    }

    fn flattens(&self) -> bool {
        true
    }

    fn activation(&self) -> Activation {
        self.activation
    }

    fn params(&self, input: Shape) -> Vec<ParamDef> {
        let fan_in = input.features();
        vec![
            ParamDef {
                name: "kernel",
                shape: vec![fan_in, self.units],
                init: Init::GlorotUniform {
                    fan_in,
                    fan_out: self.units,
                },
                trainable: true,
            },
            ParamDef {
                name: "bias",
                shape: vec![self.units],
                init: Init::Zeros,
                trainable: true,
            },
        ]
    }

    fn forward(&self, node: &Node, io: &Io, _training: bool) -> Vec<Launch> {
        let shape = (io.batch, self.units, node.input.features());
        io.kernels.matmul(
            io.gpu,
            &MatmulArgs {
                bias: Some(io.param("bias")),
                act: self.activation.fused(),
                ..MatmulArgs::new("dense forward", shape, io.x, io.param("kernel"), io.y)
            },
        )
    }

    /// `dense_xent.wgsl`, for a linear output layer of at most [`MAX_FUSED_CLASSES`] units
    /// and a batch of at most one grid row of workgroups.
    fn forward_with_loss(&self, node: &Node, io: &Io, loss: &LossRows) -> Option<Launch> {
        let fits = self.activation.fused() == Activation::Linear
            && self.units <= MAX_FUSED_CLASSES
            && io.batch as u32 <= io.kernels.limits().max_compute_workgroups_per_dimension;
        fits.then(|| {
            io.kernels.dense_xent(
                io.gpu,
                &DenseXentArgs {
                    batch: io.batch,
                    k: node.input.features(),
                    classes: self.units,
                    label_smoothing: loss.label_smoothing,
                    x: io.x,
                    w: io.param("kernel"),
                    b: io.param("bias"),
                    labels: io.labels,
                    logits: io.y,
                    dlogits: io.dy,
                    rows: loss.rows,
                    cursor: io.cursor,
                },
            )
        })
    }

    /// `dW = xᵀ·dy`, `db = Σ dy`, and `dx = (dy · Wᵀ) ⊙ act'(x)`: one launch where the
    /// policy pairs them.
    fn backward(&self, node: &Node, io: &Io) -> Vec<Launch> {
        io.kernels.dense_backward(
            io.gpu,
            &DenseBackwardArgs {
                batch: io.batch,
                fan_in: node.input.features(),
                units: self.units,
                x: io.x,
                dy: io.dy,
                w: io.param("kernel"),
                dw: io.grad("kernel"),
                db: io.grad("bias"),
                dx: io.dx,
                act_grad: io.input_act_grad(),
            },
        )
    }

    /// ONNX's Gemm on the flat input (flattened in Keras's order first where it is an image):
    /// `x @ kernel + bias`, the kernel `[in, out]` as Keras keeps it.
    fn onnx(&self, node: &Node, g: &mut OnnxGraph, t: &Tensors) -> Result<(), String> {
        let x = g.flat(&format!("{}/flatten", node.name));
        let fan_in = node.input.features();
        let kernel = g.weight(
            &format!("{}/kernel", node.name),
            &[fan_in, self.units],
            t.get("kernel").to_vec(),
        );
        let bias = g.weight(
            &format!("{}/bias", node.name),
            &[self.units],
            t.get("bias").to_vec(),
        );
        g.op(
            ("Gemm", &node.name),
            vec![x, kernel, bias],
            vec![],
            Layout::Flat,
        );
        g.activation(self.activation, &node.name);
        Ok(())
    }

    fn twin_forward(&self, node: &Node, t: &mut TwinForward) -> Vec<f32> {
        let fan_in = node.input.features();
        let (w, b) = (t.params.get("kernel"), t.params.get("bias"));
        ops::dense_forward(t.x, w, b, t.batch, fan_in, self.units, self.activation)
    }

    fn twin_backward(&self, node: &Node, t: &mut TwinBackward) -> Vec<f32> {
        let (fan_in, units, batch) = (node.input.features(), self.units, t.batch);
        t.grads.set(
            "kernel",
            ops::matmul(t.x, t.dy, (fan_in, units, batch), true, false),
        );
        t.grads.set("bias", ops::bias_grad(t.dy, batch, units));
        ops::matmul(
            t.dy,
            t.params.get("kernel"),
            (batch, fan_in, units),
            false,
            true,
        )
    }
}
