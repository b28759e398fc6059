//! `conv2d`: Keras's Conv2D, NHWC, kernel `[kh, kw, in_c, filters]` (Keras's layout), as a
//! product of the input's im2col matrix with the kernel (explicit im2col, or an implicit GEMM
//! reading the image, as the kernel policy decides).

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::fields::size_json;
use super::Tensors;
use super::{
    require_image, Fields, Init, Io, Layer, LayerKind, Node, ParamDef, Scratch, TwinBackward,
    TwinForward,
};
use crate::floor::{Activation, Padding, Shape, Window};
use crate::gpu::kernels::{Col2imArgs, ConvForwardArgs, ConvWeightGradArgs, Launch, MatmulArgs};
use crate::onnx::graph::{ints, Attr, Layout, OnnxGraph};
use crate::reference::ops;

#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    pub filters: usize,
    /// `[height, width]`.
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: Padding,
    pub activation: Activation,
}

pub(super) const KIND: LayerKind = LayerKind {
    type_name: "conv2d",
    fields: &["filters", "kernel", "stride", "padding", "activation"],
    example: r#"{"type": "conv2d", "filters": 3, "kernel": [3, 2], "stride": [2, 1], "padding": "same", "activation": "sigmoid"}"#,
    parse: |f: &Fields| {
        Ok(Arc::new(Conv2d {
            filters: f.count("filters")?,
            kernel: f.size("kernel", None)?,
            stride: f.size("stride", Some([1, 1]))?,
            padding: f.padding()?,
            activation: f.activation()?,
        }))
    },
};

impl Conv2d {
    /// A square `kernel`, stride 1, `valid` padding.
    pub fn new(filters: usize, kernel: usize, activation: Activation) -> Conv2d {
        Conv2d {
            filters,
            kernel: [kernel; 2],
            stride: [1, 1],
            padding: Padding::Valid,
            activation,
        }
    }

    /// The convolution's window over `input`.
    pub fn window(&self, input: Shape) -> Result<Window, String> {
        Window::new(input, self.kernel, self.stride, self.padding, self.filters)
            .map_err(|m| format!("field 'kernel' {m}"))
    }

    fn window_of(&self, node: &Node) -> Window {
        self.window(node.input)
            .expect("shape inference checked the window")
    }
}

impl Layer for Conv2d {
    fn type_name(&self) -> &'static str {
        "conv2d"
    }

    fn to_json(&self) -> Map<String, Value> {
        let v = json!({
            "filters": self.filters,
            "kernel": size_json(self.kernel),
            "stride": size_json(self.stride),
            "padding": if self.padding == Padding::Same { "same" } else { "valid" },
            "activation": self.activation.name(),
        });
        v.as_object().cloned().unwrap_or_default()
    }

    fn keras_name(&self) -> (&'static str, &'static str) {
        ("conv2d", "Conv2D")
    }

    fn output_shape(&self, input: Shape, flat: bool) -> Result<Shape, String> {
        require_image("conv2d", input, flat)?;
        Ok(self.window(input)?.output)
    }

    fn activation(&self) -> Activation {
        self.activation
    }

    fn params(&self, input: Shape) -> Vec<ParamDef> {
        let [kh, kw] = self.kernel;
        let f = self.filters;
        vec![
            ParamDef {
                name: "kernel",
                shape: vec![kh, kw, input.c, f],
                init: Init::GlorotUniform {
                    fan_in: kh * kw * input.c,
                    fan_out: kh * kw * f,
                },
                trainable: true,
            },
            ParamDef {
                name: "bias",
                shape: vec![f],
                init: Init::Zeros,
                trainable: true,
            },
        ]
    }

    /// `cols`: the im2col matrix, kept from the forward for dW; `dcols`: its gradient, needed
    /// only within the backward, so shared by every convolution.
    fn scratch(&self, node: &Node, batch: usize, input_grad: bool) -> Vec<Scratch> {
        let w = self.window_of(node);
        let len = batch * w.output.h * w.output.w * w.patch();
        let mut s = vec![Scratch::own("cols", len)];
        if input_grad {
            s.push(Scratch::shared("dcols", len));
        }
        s
    }

    fn forward(&self, node: &Node, io: &Io, _training: bool) -> Vec<Launch> {
        io.kernels.conv_forward(
            io.gpu,
            &ConvForwardArgs {
                geom: self.window_of(node).geom(io.batch),
                filters: self.filters,
                act: self.activation.fused(),
                x: io.x,
                cols: io.scratch("cols"),
                w: io.param("kernel"),
                b: io.param("bias"),
                y: io.y,
            },
        )
    }

    /// `dW = colsᵀ·dy`, `db = Σ dy`, `dcols = dy·Wᵀ`, then `dx = col2im(dcols) ⊙ act'(x)`, or
    /// the pooling below's backward straight from dcols when the fusion pass gave it to us.
    fn backward(&self, node: &Node, io: &Io) -> Vec<Launch> {
        let g = self.window_of(node).geom(io.batch);
        let mut launches = io.kernels.conv_weight_grads(
            io.gpu,
            &ConvWeightGradArgs {
                geom: g,
                filters: self.filters,
                x: io.x,
                cols: io.scratch("cols"),
                dy: io.dy,
                dw: io.grad("kernel"),
                db: io.grad("bias"),
                defer: io.split_sums,
            },
        );
        let Some(dx) = io.dx else {
            return launches;
        };
        let dcols = io.scratch("dcols");
        launches.extend(io.kernels.matmul(
            io.gpu,
            &MatmulArgs {
                trans_b: true,
                ..MatmulArgs::new(
                    "conv2d dcols",
                    (g.rows(), g.patch(), self.filters),
                    io.dy,
                    io.param("kernel"),
                    dcols,
                )
            },
        ));
        launches.push(match &io.pool_below {
            Some(below) => below
                .pool
                .backward_from_cols(below.node, &below.io, g, dcols),
            None => io.kernels.col2im(
                io.gpu,
                &Col2imArgs {
                    geom: g,
                    dcols,
                    act_grad: io.input_act_grad(),
                    dx,
                },
            ),
        });
        launches
    }

    /// ONNX's Conv on NCHW: the kernel `[kh, kw, in, out]` (Keras's) as `[out, in, kh, kw]`,
    /// `same` padding as explicit pads, the extra row and column at the bottom and right.
    fn onnx(&self, node: &Node, g: &mut OnnxGraph, t: &Tensors) -> Result<(), String> {
        let w = self.window_of(node);
        let (c, f) = (node.input.c, self.filters);
        let kernel = t.get("kernel");
        let mut oihw = vec![0.0; kernel.len()];
        for (i, value) in kernel.iter().enumerate() {
            // i = ((y * kw + x) * c + ci) * f + fo
            let (fo, ci) = (i % f, (i / f) % c);
            let (x, y) = ((i / (f * c)) % w.kw, i / (f * c * w.kw));
            oihw[((fo * c + ci) * w.kh + y) * w.kw + x] = *value;
        }
        let x = g.nchw(&node.name);
        let weight = g.weight(&format!("{}/kernel", node.name), &[f, c, w.kh, w.kw], oihw);
        let bias = g.weight(&format!("{}/bias", node.name), &[f], t.get("bias").to_vec());
        // The pads beyond the input at the end: what the last window needs past it.
        let end = |out: usize, k: usize, s: usize, input: usize, begin: usize| {
            ((out - 1) * s + k).saturating_sub(input + begin)
        };
        let pads = [
            w.pad_top,
            w.pad_left,
            end(w.output.h, w.kh, w.sh, w.input.h, w.pad_top),
            end(w.output.w, w.kw, w.sw, w.input.w, w.pad_left),
        ];
        let attrs = vec![
            Attr::Ints("kernel_shape", ints(&[w.kh, w.kw])),
            Attr::Ints("strides", ints(&[w.sh, w.sw])),
            Attr::Ints("pads", ints(&pads)),
        ];
        g.op(
            ("Conv", &node.name),
            vec![x, weight, bias],
            attrs,
            Layout::Nchw,
        );
        g.activation(self.activation, &node.name);
        Ok(())
    }

    fn twin_forward(&self, node: &Node, t: &mut TwinForward) -> Vec<f32> {
        let w = self.window_of(node);
        let cols = ops::im2col(t.x, &w, t.batch);
        let (kernel, bias) = (t.params.get("kernel"), t.params.get("bias"));
        let rows = t.batch * w.output.h * w.output.w;
        let y = ops::dense_forward(
            &cols,
            kernel,
            bias,
            rows,
            w.patch(),
            self.filters,
            self.activation,
        );
        t.cache = Some(Box::new(cols));
        y
    }

    fn twin_backward(&self, node: &Node, t: &mut TwinBackward) -> Vec<f32> {
        let w = self.window_of(node);
        let rows = t.batch * w.output.h * w.output.w;
        let cols: &Vec<f32> = t.cache();
        let dw = ops::matmul(cols, t.dy, (w.patch(), self.filters, rows), true, false);
        t.grads.set("kernel", dw);
        t.grads
            .set("bias", ops::bias_grad(t.dy, rows, self.filters));
        let dcols = ops::matmul(
            t.dy,
            t.params.get("kernel"),
            (rows, w.patch(), self.filters),
            false,
            true,
        );
        ops::col2im(&dcols, &w, t.batch)
    }
}
