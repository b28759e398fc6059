//! The inference graph as layers add to it: the tensor each layer reads (the one the layer
//! below produced), its layout, the nodes and the weights (initializers). ONNX's convolution
//! and pooling take NCHW while the model's input and its flatten are NHWC (Keras's layout), so
//! the graph transposes only where the layout a layer needs differs from the current one.

use super::proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, AttributeProto, NodeProto, TensorProto,
};
use crate::floor::Activation;

/// How the current tensor's axes are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `[N, H, W, C]`: the input's, Keras's.
    Nhwc,
    /// `[N, C, H, W]`: ONNX's Conv, MaxPool, AveragePool and BatchNormalization's.
    Nchw,
    /// `[N, features]`, after a flatten or a dense layer.
    Flat,
}

/// A graph being built, layer by layer.
pub struct OnnxGraph {
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    current: String,
    layout: Layout,
}

/// An attribute of a node: a name and its value.
pub enum Attr {
    Int(&'static str, i64),
    Ints(&'static str, Vec<i64>),
    Float(&'static str, f32),
}

impl Attr {
    pub fn into_proto(self) -> AttributeProto {
        match self {
            Attr::Int(name, i) => AttributeProto {
                name: name.into(),
                r#type: AttributeType::Int as i32,
                i,
                ..Default::default()
            },
            Attr::Ints(name, ints) => AttributeProto {
                name: name.into(),
                r#type: AttributeType::Ints as i32,
                ints,
                ..Default::default()
            },
            Attr::Float(name, f) => AttributeProto {
                name: name.into(),
                r#type: AttributeType::Float as i32,
                f,
                ..Default::default()
            },
        }
    }
}

/// `[usize]` as ONNX's `int64` list.
pub fn ints(values: &[usize]) -> Vec<i64> {
    values.iter().map(|&v| v as i64).collect()
}

impl OnnxGraph {
    /// A graph whose current tensor is `input`, laid out as `layout`.
    pub fn new(input: &str, layout: Layout) -> OnnxGraph {
        OnnxGraph {
            nodes: Vec::new(),
            initializers: Vec::new(),
            current: input.to_string(),
            layout,
        }
    }

    /// The tensor the next layer reads.
    pub fn current(&self) -> &str {
        &self.current
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// A weight of `dims` named `name` (Keras's `dense/kernel`), returning its name.
    pub fn weight(&mut self, name: &str, dims: &[usize], values: Vec<f32>) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), values.len(), "{name}");
        self.initializers.push(TensorProto {
            name: name.into(),
            dims: ints(dims),
            data_type: DataType::Float as i32,
            float_data: values,
            ..Default::default()
        });
        name.to_string()
    }

    /// Adds node `op` (named `name`) reading `inputs`; its output, named after the node,
    /// becomes the current tensor, laid out as `layout`.
    pub fn op(
        &mut self,
        (op, name): (&str, &str),
        inputs: Vec<String>,
        attrs: Vec<Attr>,
        layout: Layout,
    ) -> String {
        let output = format!("{name}:{}", op.to_lowercase());
        self.nodes.push(NodeProto {
            name: name.into(),
            op_type: op.into(),
            input: inputs,
            output: vec![output.clone()],
            attribute: attrs.into_iter().map(Attr::into_proto).collect(),
            ..Default::default()
        });
        self.current = output.clone();
        self.layout = layout;
        output
    }

    /// The current tensor as `[N, C, H, W]` (a Transpose from NHWC where it is not).
    pub fn nchw(&mut self, name: &str) -> String {
        self.transposed(name, (Layout::Nhwc, Layout::Nchw), [0, 3, 1, 2])
    }

    /// The current tensor as `[N, H, W, C]` (a Transpose from NCHW where it is not), so that
    /// a flatten orders features as Keras's does and the dense kernels apply unchanged.
    pub fn nhwc(&mut self, name: &str) -> String {
        self.transposed(name, (Layout::Nchw, Layout::Nhwc), [0, 2, 3, 1])
    }

    /// The current tensor, transposed by `perm` into `to` where it is laid out as `from`.
    fn transposed(&mut self, name: &str, (from, to): (Layout, Layout), perm: [i64; 4]) -> String {
        if self.layout != from {
            return self.current.clone();
        }
        let x = self.current.clone();
        let step = format!("{name}/to_{}", format!("{to:?}").to_lowercase());
        let perm = Attr::Ints("perm", perm.to_vec());
        self.op(("Transpose", &step), vec![x], vec![perm], to)
    }

    /// The current tensor as `[N, features]` in Keras's order (a flatten where it is an image).
    pub fn flat(&mut self, name: &str) -> String {
        if self.layout == Layout::Flat {
            return self.current.clone();
        }
        let x = self.nhwc(name);
        let axis = Attr::Int("axis", 1);
        self.op(("Flatten", name), vec![x], vec![axis], Layout::Flat)
    }

    /// A layer's activation after its product. Softmax is left out here: the graph ends with
    /// the one softmax that turns the output layer's logits into class probabilities, as
    /// shaderfit's own loss and predictions do whatever the last activation says.
    pub fn activation(&mut self, activation: Activation, name: &str) {
        let op = match activation {
            Activation::Linear | Activation::Softmax => return,
            Activation::Relu => "Relu",
            Activation::Sigmoid => "Sigmoid",
        };
        let (x, layout) = (self.current.clone(), self.layout);
        self.op(
            (op, &format!("{name}/{}", op.to_lowercase())),
            vec![x],
            vec![],
            layout,
        );
    }
}
