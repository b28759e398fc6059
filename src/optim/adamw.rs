//! Keras 3's AdamW: Adam with decoupled weight decay. Before each Adam step every trainable
//! tensor decays as `w -= w·weight_decay·learning_rate` (Keras's order of operations), biases
//! and batch-norm parameters included, as Keras does unless told to exclude them.

use std::sync::Arc;

use super::{
    Adam, Hyperparameters, Optimizer, OptimizerKernel, OptimizerKind, StateTensor, StepRate,
};
use crate::gpu::kernels::OptimizerParams;
use crate::reference::ops;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamW {
    pub adam: Adam,
    pub weight_decay: f32,
}

impl Default for AdamW {
    /// Keras's defaults: Adam's, and a weight decay of 0.004.
    fn default() -> AdamW {
        AdamW {
            adam: Adam::default(),
            weight_decay: 0.004,
        }
    }
}

pub(super) const KIND: OptimizerKind = OptimizerKind {
    name: "adamw",
    flags: &["lr", "weight_decay", "beta1", "beta2"],
    build: |h: &Hyperparameters| {
        let d = AdamW::default();
        let h_adam = Hyperparameters {
            lr: h.lr.or(Some(d.adam.learning_rate)),
            ..*h
        };
        Arc::new(AdamW {
            adam: Adam::from_flags(&h_adam),
            weight_decay: h.weight_decay.unwrap_or(d.weight_decay),
        })
    },
};

impl Optimizer for AdamW {
    fn name(&self) -> &'static str {
        "adamw"
    }

    fn describe(&self) -> String {
        let a = &self.adam;
        format!(
            "adamw(learning_rate={}, weight_decay={}, beta_1={}, beta_2={}, epsilon={:e})",
            a.learning_rate, self.weight_decay, a.beta_1, a.beta_2, a.epsilon
        )
    }

    fn learning_rate(&self) -> f32 {
        self.adam.learning_rate
    }

    /// Adam's m and v.
    fn state(&self) -> &'static [StateTensor] {
        self.adam.state()
    }

    fn kernel(&self) -> OptimizerKernel {
        let adam = self.adam.kernel();
        OptimizerKernel {
            entry: "adamw",
            params: OptimizerParams {
                weight_decay: self.weight_decay,
                ..adam.params
            },
            // Adam's, and the decay's multiply-add and multiply.
            work: (adam.work.0 + 3, adam.work.1),
        }
    }

    fn step_size(&self, learning_rate: f64, t: u64) -> f64 {
        self.adam.step_size(learning_rate, t)
    }

    fn twin_step(&self, w: &mut [f32], g: &[f32], state: &mut [Vec<f32>], rate: StepRate) {
        ops::weight_decay(w, rate.learning_rate, self.weight_decay);
        self.adam.twin_step(w, g, state, rate);
    }
}
