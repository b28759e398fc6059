//! `batch_norm`: Keras's BatchNormalization over the last axis (after Dense or Conv2D): batch
//! statistics in training (moving averages updated), moving statistics at evaluation. Padding
//! rows of a short last batch are left out of the statistics and get zero gradient.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::Tensors;
use super::{
    Fields, Init, Io, Layer, LayerKind, Node, ParamDef, Scratch, TwinBackward, TwinForward,
};
use crate::floor::Shape;
use crate::gpu::kernels::{BatchNormArgs, BnLaunch, BnShape, Launch};
use crate::onnx::graph::{Attr, Layout, OnnxGraph};
use crate::reference::ops;

#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    pub momentum: f32,
    pub epsilon: f32,
}

impl Default for BatchNorm {
    /// Keras's defaults.
    fn default() -> BatchNorm {
        BatchNorm {
            momentum: 0.99,
            epsilon: 1e-3,
        }
    }
}

pub(super) const KIND: LayerKind = LayerKind {
    type_name: "batch_norm",
    fields: &["momentum", "epsilon"],
    example: r#"{"type": "batch_norm", "momentum": 0.9, "epsilon": 0.01}"#,
    parse: |f: &Fields| {
        Ok(Arc::new(BatchNorm {
            momentum: f.fraction("momentum", Some(0.99), true)?,
            epsilon: f.positive_f32("epsilon", 1e-3)?,
        }))
    },
};

impl BatchNorm {
    /// Per-channel statistics over batch x spatial rows.
    fn shape(&self, node: &Node, batch: usize) -> BnShape {
        let spatial = node.input.h * node.input.w;
        BnShape {
            rows: batch * spatial,
            channels: node.input.c,
            spatial,
            momentum: self.momentum,
            epsilon: self.epsilon,
        }
    }
}

impl Layer for BatchNorm {
    fn type_name(&self) -> &'static str {
        "batch_norm"
    }

    fn to_json(&self) -> Map<String, Value> {
        let v = json!({"momentum": self.momentum, "epsilon": self.epsilon});
        v.as_object().cloned().unwrap_or_default()
    }

    fn keras_name(&self) -> (&'static str, &'static str) {
        ("batch_normalization", "BatchNormalization")
    }

    fn output_shape(&self, input: Shape, _flat: bool) -> Result<Shape, String> {
        Ok(input)
    }

    fn params(&self, input: Shape) -> Vec<ParamDef> {
        let p = |name, init, trainable| ParamDef {
            name,
            shape: vec![input.c],
            init,
            trainable,
        };
        vec![
            p("gamma", Init::Ones, true),
            p("beta", Init::Zeros, true),
            p("moving_mean", Init::Zeros, false),
            p("moving_variance", Init::Ones, false),
        ]
    }

    /// The batch's mean, inverse deviation and valid row count, from forward to backward.
    fn scratch(&self, node: &Node, _batch: usize, _input_grad: bool) -> Vec<Scratch> {
        vec![Scratch::own("saved", 2 * node.input.c + 1)]
    }

    fn forward(&self, node: &Node, io: &Io, training: bool) -> Vec<Launch> {
        let shape = self.shape(node, io.batch);
        let (gamma, beta) = (io.param("gamma"), io.param("beta"));
        let (moving_mean, moving_var) = (io.stat("moving_mean"), io.stat("moving_variance"));
        let (x, saved, y) = (io.x, io.scratch("saved"), io.y);
        let launches = if training {
            vec![
                BnLaunch::Stats {
                    x,
                    labels: io.labels,
                    saved,
                    moving_mean,
                    moving_var,
                },
                BnLaunch::ApplyTrain {
                    x,
                    saved,
                    gamma,
                    beta,
                    y,
                },
            ]
        } else {
            vec![BnLaunch::ApplyEval {
                x,
                moving_mean,
                moving_var,
                gamma,
                beta,
                y,
            }]
        };
        launches
            .into_iter()
            .map(|launch| {
                io.kernels
                    .batchnorm(io.gpu, &BatchNormArgs { shape, launch })
            })
            .collect()
    }

    fn backward(&self, node: &Node, io: &Io) -> Vec<Launch> {
        let shape = self.shape(node, io.batch);
        let (x, labels, saved, dy) = (io.x, io.labels, io.scratch("saved"), io.dy);
        let (dgamma, dbeta) = (io.grad("gamma"), io.grad("beta"));
        let mut launches = vec![BnLaunch::GradSums {
            x,
            labels,
            saved,
            dy,
            dgamma,
            dbeta,
        }];
        if let Some(dx) = io.dx {
            launches.push(BnLaunch::Backward {
                x,
                labels,
                saved,
                gamma: io.param("gamma"),
                dy,
                dgamma,
                dbeta,
                dact: io.input_act.fused(),
                dx,
            });
        }
        launches
            .into_iter()
            .map(|launch| {
                io.kernels
                    .batchnorm(io.gpu, &BatchNormArgs { shape, launch })
            })
            .collect()
    }

    /// ONNX's BatchNormalization with the moving statistics and Keras's epsilon, on NCHW (its
    /// channel axis is 1) or on the flat `[N, features]`.
    fn onnx(&self, node: &Node, g: &mut OnnxGraph, t: &Tensors) -> Result<(), String> {
        let (x, layout) = match g.layout() {
            Layout::Flat => (g.current().to_string(), Layout::Flat),
            _ => (g.nchw(&node.name), Layout::Nchw),
        };
        let c = node.input.c;
        let mut inputs = vec![x];
        for name in ["gamma", "beta", "moving_mean", "moving_variance"] {
            inputs.push(g.weight(&format!("{}/{name}", node.name), &[c], t.get(name).to_vec()));
        }
        let attrs = vec![Attr::Float("epsilon", self.epsilon)];
        g.op(("BatchNormalization", &node.name), inputs, attrs, layout);
        Ok(())
    }

    fn twin_forward(&self, node: &Node, t: &mut TwinForward) -> Vec<f32> {
        let (channels, spatial) = (node.input.c, node.input.h * node.input.w);
        let (gamma, beta) = (t.params.get("gamma"), t.params.get("beta"));
        if !t.training {
            let var = t.stats.get_mut("moving_variance").clone();
            let inv_std: Vec<f32> = var
                .iter()
                .map(|v| 1.0 / (v + self.epsilon).sqrt())
                .collect();
            let mean = t.stats.get_mut("moving_mean").clone();
            return ops::batchnorm_apply(t.x, &mean, &inv_std, gamma, beta);
        }
        let (mean, var, inv_std, n) =
            ops::batchnorm_stats(t.x, t.labels, channels, spatial, self.epsilon);
        let m = self.momentum;
        for (moving, batch) in [("moving_mean", &mean), ("moving_variance", &var)] {
            for (s, b) in t.stats.get_mut(moving).iter_mut().zip(batch.iter()) {
                *s = *s * m + b * (1.0 - m);
            }
        }
        let y = ops::batchnorm_apply(t.x, &mean, &inv_std, gamma, beta);
        t.cache = Some(Box::new((mean, inv_std, n)));
        y
    }

    fn twin_backward(&self, node: &Node, t: &mut TwinBackward) -> Vec<f32> {
        let spatial = node.input.h * node.input.w;
        let (mean, inv_std, n) = t.cache::<(Vec<f32>, Vec<f32>, usize)>();
        let gamma = t.params.get("gamma");
        let (dgamma, dbeta, dx) =
            ops::batchnorm_backward(t.x, t.dy, t.labels, spatial, mean, inv_std, gamma, *n);
        t.grads.set("gamma", dgamma);
        t.grads.set("beta", dbeta);
        dx
    }
}
