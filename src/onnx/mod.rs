//! Export to ONNX: a checkpoint's inference graph (every layer as its evaluation forward, the
//! moving statistics in batch normalisation, dropout as nothing) for float input `[N, H, W, C]`
//! in [0, 1] (pixels / 255, Keras's layout) with a dynamic batch, ending in the class
//! probabilities `[N, classes]`. Each layer writes its own nodes ([`crate::layers::Layer::onnx`]);
//! the messages are prost's, generated from ONNX's official `onnx.proto3`
//! (`assets/onnx/onnx.proto3`) at build time.

pub mod graph;
pub mod proto;

use graph::{Attr, Layout, OnnxGraph};

use prost::Message;

use crate::layers::Tensors;
use crate::model::checkpoint::Weights;
use crate::model::{Network, ParamLayout};

use proto::{
    tensor_proto::DataType, tensor_shape_proto, tensor_shape_proto::dimension, type_proto,
    GraphProto, ModelProto, OperatorSetIdProto, StringStringEntryProto, TensorShapeProto,
    TypeProto, ValueInfoProto,
};

/// The operator set the graph uses: 17 has every operator it needs in its current form
/// (Softmax over one axis, BatchNormalization without training outputs) and runs on ONNX
/// Runtime 1.13 and later, onnxruntime-web included.
pub const OPSET: i64 = 17;
/// The IR version of opset 17's release (ONNX 1.12).
const IR_VERSION: i64 = 8;

/// What the file says about itself besides the graph (the model's metadata).
pub struct ExportInfo {
    /// Each class's name, by index.
    pub classes: Vec<String>,
    /// Key-value pairs for the metadata (dataset, checkpoint, epochs, ...).
    pub extra: Vec<(String, String)>,
}

/// `net` with `weights` (a checkpoint's trainable and non-trainable tensors, in
/// [`ParamLayout`]'s order) as an ONNX model file's bytes.
pub fn export(net: &Network, weights: &Weights, info: &ExportInfo) -> Result<Vec<u8>, String> {
    let input = "input";
    let mut g = OnnxGraph::new(input, Layout::Nhwc);
    let (trainable, stats) = (
        ParamLayout::trainable(net, 1),
        ParamLayout::non_trainable(net, 1),
    );
    for (i, node) in net.layers.iter().enumerate() {
        let (names, values) = layer_tensors(i, [&trainable, &stats], weights);
        let tensors = Tensors {
            names,
            values: &values,
        };
        node.layer
            .onnx(node, &mut g, &tensors)
            .map_err(|e| format!("layer {} ({}): {e}", i + 1, node.layer.type_name()))?;
    }
    let logits = g.flat("probabilities");
    let output = "probabilities";
    g.nodes.push(proto::NodeProto {
        name: "softmax".into(),
        op_type: "Softmax".into(),
        input: vec![logits],
        output: vec![output.into()],
        attribute: vec![Attr::Int("axis", -1).into_proto()],
        ..Default::default()
    });
    let s = net.input;
    let graph = GraphProto {
        name: net.name.clone(),
        node: std::mem::take(&mut g.nodes),
        initializer: std::mem::take(&mut g.initializers),
        input: vec![value_info(input, &[None, Some(s.h), Some(s.w), Some(s.c)])],
        output: vec![value_info(output, &[None, Some(net.classes)])],
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "shaderfit".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!(
            "{}: input float32 [N, {}, {}, {}] (pixels / 255, channels last), output class probabilities [N, {}]",
            net.name, s.h, s.w, s.c, net.classes
        ),
        graph: Some(graph),
        metadata_props: metadata(net, info),
        ..Default::default()
    };
    Ok(model.encode_to_vec())
}

/// Layer `i`'s tensors by their short names (`kernel`, `moving_mean`), trainable then not,
/// as [`Tensors`] holds them.
fn layer_tensors<'a>(
    i: usize,
    layouts: [&'a ParamLayout; 2],
    weights: &'a Weights,
) -> (Vec<(&'a str, usize)>, Vec<Vec<f32>>) {
    let short = |name: &'a str| name.rsplit('/').next().unwrap_or(name);
    let (mut names, mut values) = (Vec::new(), Vec::new());
    for (layout, tensors) in layouts.into_iter().zip([&weights.0, &weights.1]) {
        for (slot, t) in layout.tensors.iter().zip(tensors) {
            if slot.spec.layer == i {
                names.push((short(slot.spec.name.as_str()), values.len()));
                values.push(t.clone());
            }
        }
    }
    (names, values)
}

/// A float tensor's name, type and shape (`None` a dynamic dimension, the batch `N`).
fn value_info(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Some(n) => dimension::Value::DimValue(*n as i64),
                None => dimension::Value::DimParam("N".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The model's metadata: its class names (JSON), the preprocessing the input expects, the
/// model's spec and what the caller adds.
fn metadata(net: &Network, info: &ExportInfo) -> Vec<StringStringEntryProto> {
    let s = net.input;
    let mut props = vec![
        (
            "classes".to_string(),
            serde_json::to_string(&info.classes).expect("names serialise"),
        ),
        (
            "preprocessing".to_string(),
            format!(
                "divide each 8-bit pixel by 255: float32 in [0, 1], shape [N, {}, {}, {}] (channels last, as Keras); {}",
                s.h,
                s.w,
                s.c,
                match s.c {
                    3 => "RGB, as the dataset's",
                    _ => "light digits on black, as the dataset's",
                }
            ),
        ),
        ("output".to_string(), "class probabilities (softmax), [N, classes]".to_string()),
        ("model".to_string(), net.name.clone()),
    ];
    props.extend(info.extra.iter().cloned());
    props
        .into_iter()
        .map(|(key, value)| StringStringEntryProto { key, value })
        .collect()
}
