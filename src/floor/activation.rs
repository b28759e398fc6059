//! The activations a layer ends with and a kernel fuses: one enum for model JSON, `--activation`,
//! the kernels' variants (WGSL's `ACT` code), the CPU twins and ONNX export.

/// The activation at the end of a layer (conv2d, dense). Softmax only last, where the loss
/// kernel fuses it with the cross-entropy; a kernel fuses [`Activation::fused`], which leaves
/// softmax to the loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Activation {
    #[default]
    Linear,
    Relu,
    Sigmoid,
    /// Only on the last layer, where it is fused with the cross-entropy loss.
    Softmax,
}

impl serde::Serialize for Activation {
    /// As `--activation` and model JSON name it.
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl Activation {
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Softmax => "softmax",
        }
    }

    pub fn parse(s: &str) -> Option<Activation> {
        Some(match s {
            "linear" | "none" => Activation::Linear,
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "softmax" => Activation::Softmax,
            _ => return None,
        })
    }

    /// As a kernel fuses it: softmax is left to the loss kernel, so a layer's last product
    /// leaves logits.
    pub fn fused(self) -> Activation {
        match self {
            Activation::Softmax => Activation::Linear,
            other => other,
        }
    }

    /// Whether fusing it changes nothing (linear, or softmax left to the loss).
    pub fn is_identity(self) -> bool {
        self.fused() == Activation::Linear
    }
}
