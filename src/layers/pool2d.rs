//! `max_pool` and `avg_pool`: Keras's MaxPooling2D and AveragePooling2D, `valid` windows
//! (Keras's floor: 11x11 pooled by 2 gives 5x5). Max pooling keeps each window's argmax for
//! its backward. Below a convolution, a pooling whose windows tile its input has its backward
//! run by that convolution, fused with its col2im ([`Pool2d::backward_from_cols`]).

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::fields::size_json;
use super::Tensors;
use super::{
    require_image, Fields, Io, Layer, LayerKind, Node, Scratch, TwinBackward, TwinForward,
};
use crate::floor::Geom2d;
use crate::floor::{Padding, Shape, Window};
use crate::gpu::kernels::{Launch, PoolBackwardArgs, PoolForwardArgs, PoolGrad, PoolKind, View};
use crate::onnx::graph::{ints, Attr, Layout, OnnxGraph};
use crate::reference::ops;

#[derive(Clone, Debug, PartialEq)]
pub struct Pool2d {
    pub kind: PoolKind,
    /// The window, `[height, width]`.
    pub size: [usize; 2],
    pub stride: [usize; 2],
}

fn parse(kind: PoolKind, f: &Fields) -> Result<Pool2d, String> {
    let size = f.size("size", Some([2, 2]))?;
    Ok(Pool2d {
        kind,
        size,
        stride: f.size("stride", Some(size))?,
    })
}

pub(super) const MAX_POOL: LayerKind = LayerKind {
    type_name: "max_pool",
    fields: &["size", "stride"],
    example: r#"{"type": "max_pool", "size": [2, 3], "stride": 1}"#,
    parse: |f: &Fields| Ok(Arc::new(parse(PoolKind::Max, f)?)),
};

pub(super) const AVG_POOL: LayerKind = LayerKind {
    type_name: "avg_pool",
    fields: &["size", "stride"],
    example: r#"{"type": "avg_pool", "size": 3, "stride": 2}"#,
    parse: |f: &Fields| Ok(Arc::new(parse(PoolKind::Avg, f)?)),
};

impl Pool2d {
    /// Square windows of `size`, stride `size`.
    pub fn max(size: usize) -> Pool2d {
        Pool2d {
            kind: PoolKind::Max,
            size: [size; 2],
            stride: [size; 2],
        }
    }

    pub fn avg(size: usize) -> Pool2d {
        Pool2d {
            kind: PoolKind::Avg,
            ..Pool2d::max(size)
        }
    }

    /// The pooling's window over `input` (it keeps the channels).
    pub fn window(&self, input: Shape) -> Result<Window, String> {
        Window::new(input, self.size, self.stride, Padding::Valid, input.c)
            .map_err(|m| format!("field 'size' {m}"))
    }

    fn window_of(&self, node: &Node) -> Window {
        self.window(node.input)
            .expect("shape inference checked the window")
    }

    /// Whether its windows tile the input (stride = window, Keras's default): the condition
    /// for running its backward inside the col2im of a convolution above it.
    pub fn tiles(&self) -> bool {
        self.stride == self.size
    }

    fn argmax<'a>(&self, io: &Io<'a>) -> Option<View<'a>> {
        (self.kind == PoolKind::Max).then(|| io.scratch("argmax"))
    }

    /// Its backward from the `dcols` of the convolution `conv` that reads its output: one
    /// launch, the pooled gradient never stored.
    pub fn backward_from_cols(&self, node: &Node, io: &Io, conv: Geom2d, dcols: View) -> Launch {
        io.kernels.pool_backward(
            io.gpu,
            &PoolBackwardArgs {
                kind: self.kind,
                geom: self.window_of(node).geom(io.batch),
                dy: PoolGrad::Cols { conv, dcols },
                argmax: self.argmax(io),
                act_grad: io.input_act_grad(),
                dx: io.dx.expect("a fused pooling's input needs a gradient"),
            },
        )
    }
}

impl Layer for Pool2d {
    fn type_name(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "max_pool",
            PoolKind::Avg => "avg_pool",
        }
    }

    fn to_json(&self) -> Map<String, Value> {
        let v = json!({"size": size_json(self.size), "stride": size_json(self.stride)});
        v.as_object().cloned().unwrap_or_default()
    }

    fn keras_name(&self) -> (&'static str, &'static str) {
        match self.kind {
            PoolKind::Max => ("max_pooling2d", "MaxPooling2D"),
            PoolKind::Avg => ("average_pooling2d", "AveragePooling2D"),
        }
    }

    fn output_shape(&self, input: Shape, flat: bool) -> Result<Shape, String> {
        require_image(self.type_name(), input, flat)?;
        Ok(self.window(input)?.output)
    }

    /// Max pooling's argmax: `[batch, out_h, out_w, c]` u32 indices into x.
    fn scratch(&self, node: &Node, batch: usize, _input_grad: bool) -> Vec<Scratch> {
        match self.kind {
            PoolKind::Max => vec![Scratch::own("argmax", batch * node.output.features())],
            PoolKind::Avg => Vec::new(),
        }
    }

    fn forward(&self, node: &Node, io: &Io, _training: bool) -> Vec<Launch> {
        vec![io.kernels.pool_forward(
            io.gpu,
            &PoolForwardArgs {
                kind: self.kind,
                geom: self.window_of(node).geom(io.batch),
                x: io.x,
                argmax: self.argmax(io),
                y: io.y,
            },
        )]
    }

    fn backward(&self, node: &Node, io: &Io) -> Vec<Launch> {
        let Some(dx) = io.dx else {
            return Vec::new();
        };
        vec![io.kernels.pool_backward(
            io.gpu,
            &PoolBackwardArgs {
                kind: self.kind,
                geom: self.window_of(node).geom(io.batch),
                dy: PoolGrad::Pooled(io.dy),
                argmax: self.argmax(io),
                act_grad: io.input_act_grad(),
                dx,
            },
        )]
    }

    /// ONNX's MaxPool or AveragePool on NCHW, valid windows (the floor of Keras's output size).
    fn onnx(&self, node: &Node, g: &mut OnnxGraph, _: &Tensors) -> Result<(), String> {
        let x = g.nchw(&node.name);
        let op = match self.kind {
            PoolKind::Max => "MaxPool",
            PoolKind::Avg => "AveragePool",
        };
        let attrs = vec![
            Attr::Ints("kernel_shape", ints(&self.size)),
            Attr::Ints("strides", ints(&self.stride)),
        ];
        g.op((op, &node.name), vec![x], attrs, Layout::Nchw);
        Ok(())
    }

    fn twin_forward(&self, node: &Node, t: &mut TwinForward) -> Vec<f32> {
        let w = self.window_of(node);
        match self.kind {
            PoolKind::Max => {
                let (y, argmax) = ops::max_pool_forward(t.x, &w, t.batch);
                t.cache = Some(Box::new(argmax));
                y
            }
            PoolKind::Avg => ops::avg_pool_forward(t.x, &w, t.batch),
        }
    }

    fn twin_backward(&self, node: &Node, t: &mut TwinBackward) -> Vec<f32> {
        let w = self.window_of(node);
        match self.kind {
            PoolKind::Max => ops::max_pool_backward(t.dy, t.cache::<Vec<u32>>(), &w, t.batch),
            PoolKind::Avg => ops::avg_pool_backward(t.dy, &w, t.batch),
        }
    }
}
