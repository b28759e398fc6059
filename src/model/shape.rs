//! Shape inference: a [`ModelSpec`] and an input shape become a [`Network`] of layers with
//! known input and output shapes, geometry and parameter tensors. Errors name the layer index,
//! its type and the field at fault.

use super::spec::{Activation, Layer, ModelSpec, Padding};
use crate::error::{Error, Result};

/// Height, width, channels of one sample (NHWC without the batch). Flat tensors are
/// `1 x 1 x features`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Shape {
    pub fn new(h: usize, w: usize, c: usize) -> Shape {
        Shape { h, w, c }
    }

    pub fn flat(features: usize) -> Shape {
        Shape::new(1, 1, features)
    }

    pub fn features(&self) -> usize {
        self.h * self.w * self.c
    }
}

/// A 2-D window sliding over an NHWC input: convolution kernels and pooling windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub input: Shape,
    pub output: Shape,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    /// Zero rows above and columns left of the input (`same` padding only).
    pub pad_top: usize,
    pub pad_left: usize,
}

impl Window {
    /// Columns of the im2col matrix: one per (kh, kw, input channel), Keras's kernel order.
    pub fn patch(&self) -> usize {
        self.kh * self.kw * self.input.c
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// Kernel `[kh, kw, in_c, filters]` (Keras's layout), bias `[filters]`.
    Conv2d(Window),
    MaxPool(Window),
    AvgPool(Window),
    Flatten,
    /// Kernel `[fan_in, units]`, bias `[units]`.
    Dense {
        fan_in: usize,
        units: usize,
    },
    Dropout {
        rate: f32,
    },
    /// Normalises each of `channels` over the batch and `spatial` positions.
    BatchNorm {
        channels: usize,
        spatial: usize,
        momentum: f32,
        epsilon: f32,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct CompiledLayer {
    /// Keras's name: `conv2d`, `conv2d_1`, `dense`, ...
    pub name: String,
    /// Keras's class name, for summaries.
    pub class: &'static str,
    pub op: Op,
    pub input: Shape,
    pub output: Shape,
    /// Applied at the end of the layer (conv2d and dense only; softmax only last).
    pub activation: Activation,
}

/// How a parameter tensor starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    GlorotUniform { fan_in: usize, fan_out: usize },
    Zeros,
    Ones,
}

/// One parameter tensor of a network, in the order Keras lists weights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    pub layer: usize,
    /// `conv2d/kernel`, `batch_normalization/moving_mean`, ...
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
    /// Updated by the optimizer (moving statistics are not).
    pub trainable: bool,
}

impl ParamSpec {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    pub name: String,
    pub input: Shape,
    pub classes: usize,
    pub layers: Vec<CompiledLayer>,
}

impl ModelSpec {
    /// Shape inference for samples of `input` and `classes` classes.
    pub fn compile(&self, input: Shape, classes: usize) -> Result<Network> {
        if let Some([h, w, c]) = self.input {
            if Shape::new(h, w, c) != input {
                return Err(Error::Config(format!(
                    "model '{}': field 'input' is [{h}, {w}, {c}] but the data's images are [{}, {}, {}]",
                    self.name, input.h, input.w, input.c
                )));
            }
        }
        let mut layers: Vec<CompiledLayer> = Vec::new();
        let mut shape = input;
        // True once the tensor is flat (after flatten or dense): dense needs it, conv and
        // pooling need spatial inputs.
        let mut flat = false;
        let mut counts = std::collections::HashMap::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let err = |msg: String| {
                Error::Config(format!(
                    "model '{}', layer {i} ({}): {msg}",
                    self.name,
                    layer.type_name()
                ))
            };
            let spatial = |what: &str| {
                if flat {
                    Err(err(format!(
                        "{what} needs an image-shaped input but its input is flat ({} features); move it before the flatten",
                        shape.features()
                    )))
                } else {
                    Ok(())
                }
            };
            let (op, output, activation) = match *layer {
                Layer::Conv2d {
                    filters,
                    kernel,
                    stride,
                    padding,
                    activation,
                } => {
                    spatial("conv2d")?;
                    let w = window(shape, kernel, stride, padding, filters)
                        .map_err(|m| err(format!("field 'kernel' {m}")))?;
                    (Op::Conv2d(w), w.output, activation)
                }
                Layer::MaxPool { size, stride } | Layer::AvgPool { size, stride } => {
                    spatial(layer.type_name())?;
                    let w = window(shape, size, stride, Padding::Valid, shape.c)
                        .map_err(|m| err(format!("field 'size' {m}")))?;
                    let op = if matches!(layer, Layer::MaxPool { .. }) {
                        Op::MaxPool(w)
                    } else {
                        Op::AvgPool(w)
                    };
                    (op, w.output, Activation::Linear)
                }
                Layer::Flatten => {
                    flat = true;
                    (
                        Op::Flatten,
                        Shape::flat(shape.features()),
                        Activation::Linear,
                    )
                }
                Layer::Dense { units, activation } => {
                    if !flat && (shape.h > 1 || shape.w > 1) {
                        return Err(err(format!(
                            "input is {}x{}x{}; a dense layer needs a flat input: add {{\"type\": \"flatten\"}} before it",
                            shape.h, shape.w, shape.c
                        )));
                    }
                    flat = true;
                    (
                        Op::Dense {
                            fan_in: shape.features(),
                            units,
                        },
                        Shape::flat(units),
                        activation,
                    )
                }
                Layer::Dropout { rate } => {
                    if !(0.0..1.0).contains(&rate) {
                        return Err(err(format!(
                            "field 'rate' is {rate}; expected 0 <= rate < 1"
                        )));
                    }
                    (Op::Dropout { rate }, shape, Activation::Linear)
                }
                Layer::BatchNorm { momentum, epsilon } => (
                    Op::BatchNorm {
                        channels: shape.c,
                        spatial: shape.h * shape.w,
                        momentum,
                        epsilon,
                    },
                    shape,
                    Activation::Linear,
                ),
            };
            if activation == Activation::Softmax && i + 1 != self.layers.len() {
                return Err(err("softmax is only supported on the last layer".into()));
            }
            let (base, class) = keras_names(&op);
            let n = counts.entry(base).or_insert(0usize);
            let name = if *n == 0 {
                base.to_string()
            } else {
                format!("{base}_{n}")
            };
            *n += 1;
            layers.push(CompiledLayer {
                name,
                class,
                op,
                input: shape,
                output,
                activation,
            });
            shape = output;
        }
        match layers.last() {
            Some(l) if matches!(l.op, Op::Dense { units, .. } if units == classes) && l.activation == Activation::Softmax => {}
            Some(l) => {
                return Err(Error::Config(format!(
                    "model '{}': the last layer is {} with output {}x{}x{} ({}); expected dense {classes} softmax (the data has {classes} classes)",
                    self.name,
                    l.name,
                    l.output.h,
                    l.output.w,
                    l.output.c,
                    l.activation.name()
                )))
            }
            None => {
                return Err(Error::Config(format!(
                    "model '{}': no layers; expected at least the dense {classes} softmax output",
                    self.name
                )))
            }
        }
        Ok(Network {
            name: self.name.clone(),
            input,
            classes,
            layers,
        })
    }
}

fn keras_names(op: &Op) -> (&'static str, &'static str) {
    match op {
        Op::Conv2d(_) => ("conv2d", "Conv2D"),
        Op::MaxPool(_) => ("max_pooling2d", "MaxPooling2D"),
        Op::AvgPool(_) => ("average_pooling2d", "AveragePooling2D"),
        Op::Flatten => ("flatten", "Flatten"),
        Op::Dense { .. } => ("dense", "Dense"),
        Op::Dropout { .. } => ("dropout", "Dropout"),
        Op::BatchNorm { .. } => ("batch_normalization", "BatchNormalization"),
    }
}

/// Geometry of a `kernel` window moved by `stride` over `input`, with `out_c` output channels.
fn window(
    input: Shape,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: Padding,
    out_c: usize,
) -> std::result::Result<Window, String> {
    let [kh, kw] = kernel;
    let [sh, sw] = stride;
    let (oh, ow, pad_top, pad_left) = match padding {
        Padding::Valid => {
            if kh > input.h || kw > input.w {
                return Err(format!(
                    "is {kh}x{kw}, larger than its {}x{} input",
                    input.h, input.w
                ));
            }
            ((input.h - kh) / sh + 1, (input.w - kw) / sw + 1, 0, 0)
        }
        Padding::Same => {
            let oh = input.h.div_ceil(sh);
            let ow = input.w.div_ceil(sw);
            let pad_h = ((oh - 1) * sh + kh).saturating_sub(input.h);
            let pad_w = ((ow - 1) * sw + kw).saturating_sub(input.w);
            (oh, ow, pad_h / 2, pad_w / 2)
        }
    };
    Ok(Window {
        input,
        output: Shape::new(oh, ow, out_c),
        kh,
        kw,
        sh,
        sw,
        pad_top,
        pad_left,
    })
}

impl Network {
    /// Every parameter tensor, in Keras's order: per layer kernel then bias; for batch
    /// normalisation gamma, beta, moving mean, moving variance.
    pub fn param_specs(&self) -> Vec<ParamSpec> {
        let mut specs = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let mut add = |suffix: &str, shape: Vec<usize>, init: Init, trainable: bool| {
                specs.push(ParamSpec {
                    layer: i,
                    name: format!("{}/{suffix}", l.name),
                    shape,
                    init,
                    trainable,
                })
            };
            match l.op {
                Op::Conv2d(w) => {
                    let f = w.output.c;
                    add(
                        "kernel",
                        vec![w.kh, w.kw, w.input.c, f],
                        Init::GlorotUniform {
                            fan_in: w.patch(),
                            fan_out: w.kh * w.kw * f,
                        },
                        true,
                    );
                    add("bias", vec![f], Init::Zeros, true);
                }
                Op::Dense { fan_in, units } => {
                    add(
                        "kernel",
                        vec![fan_in, units],
                        Init::GlorotUniform {
                            fan_in,
                            fan_out: units,
                        },
                        true,
                    );
                    add("bias", vec![units], Init::Zeros, true);
                }
                Op::BatchNorm { channels, .. } => {
                    add("gamma", vec![channels], Init::Ones, true);
                    add("beta", vec![channels], Init::Zeros, true);
                    add("moving_mean", vec![channels], Init::Zeros, false);
                    add("moving_variance", vec![channels], Init::Ones, false);
                }
                Op::MaxPool(_) | Op::AvgPool(_) | Op::Flatten | Op::Dropout { .. } => {}
            }
        }
        specs
    }

    /// Parameters of layer `i` (all, trainable or not), as Keras's summary counts them.
    pub fn layer_param_count(&self, i: usize) -> usize {
        self.param_specs()
            .iter()
            .filter(|p| p.layer == i)
            .map(ParamSpec::len)
            .sum()
    }

    pub fn trainable_count(&self) -> usize {
        self.param_specs()
            .iter()
            .filter(|p| p.trainable)
            .map(ParamSpec::len)
            .sum()
    }

    pub fn non_trainable_count(&self) -> usize {
        self.param_specs()
            .iter()
            .filter(|p| !p.trainable)
            .map(ParamSpec::len)
            .sum()
    }

    /// All parameters, trainable and not (Keras's "Total params").
    pub fn param_count(&self) -> usize {
        self.trainable_count() + self.non_trainable_count()
    }

    /// The activation applied to the input of layer `i`, looking through flatten layers (which
    /// pass their input on unchanged): backward kernels multiply by its derivative.
    pub fn input_activation(&self, i: usize) -> Activation {
        let mut j = i;
        while j > 0 {
            j -= 1;
            match self.layers[j].op {
                Op::Flatten => continue,
                _ => return self.layers[j].activation,
            }
        }
        Activation::Linear
    }

    /// Whether layer `i` must pass a gradient to its input: only if some earlier layer has
    /// trainable parameters.
    pub fn needs_input_grad(&self, i: usize) -> bool {
        self.layers[..i].iter().any(|l| {
            matches!(
                l.op,
                Op::Conv2d(_) | Op::Dense { .. } | Op::BatchNorm { .. }
            )
        })
    }
}
