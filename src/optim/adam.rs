//! Keras's Adam: epsilon outside the square root, the bias correction folded into the step
//! size, `w -= lr·sqrt(1 - beta_2^t) / (1 - beta_1^t) · m / (sqrt(v) + epsilon)`.

use std::sync::Arc;

use super::{
    Hyperparameters, Optimizer, OptimizerKernel, OptimizerKind, StateTensor, StepRate, MOMENTUM,
    VELOCITY,
};
use crate::gpu::kernels::OptimizerParams;
use crate::reference::ops;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    pub learning_rate: f32,
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
}

impl Default for Adam {
    /// Keras's defaults.
    fn default() -> Adam {
        Adam {
            learning_rate: 0.001,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
        }
    }
}

pub(super) const KIND: OptimizerKind = OptimizerKind {
    name: "adam",
    flags: &["lr", "beta1", "beta2"],
    build: |h: &Hyperparameters| Arc::new(Adam::from_flags(h)),
};

impl Adam {
    /// Keras's defaults, overridden by the flags given.
    pub(super) fn from_flags(h: &Hyperparameters) -> Adam {
        let d = Adam::default();
        Adam {
            learning_rate: h.lr.unwrap_or(d.learning_rate),
            beta_1: h.beta1.unwrap_or(d.beta_1),
            beta_2: h.beta2.unwrap_or(d.beta_2),
            ..d
        }
    }
}

impl Optimizer for Adam {
    fn name(&self) -> &'static str {
        "adam"
    }

    fn describe(&self) -> String {
        format!(
            "adam(learning_rate={}, beta_1={}, beta_2={}, epsilon={:e})",
            self.learning_rate, self.beta_1, self.beta_2, self.epsilon
        )
    }

    fn learning_rate(&self) -> f32 {
        self.learning_rate
    }

    /// m and v.
    fn state(&self) -> &'static [StateTensor] {
        &[MOMENTUM, VELOCITY]
    }

    fn kernel(&self) -> OptimizerKernel {
        OptimizerKernel {
            entry: "adam",
            params: OptimizerParams {
                beta_1: self.beta_1,
                beta_2: self.beta_2,
                epsilon: self.epsilon,
                ..Default::default()
            },
            work: (10, 7),
        }
    }

    /// Keras's `lr·sqrt(1 - beta_2^t) / (1 - beta_1^t)`, in f64.
    fn step_size(&self, learning_rate: f64, t: u64) -> f64 {
        let t = t as f64;
        let (b1, b2) = (self.beta_1 as f64, self.beta_2 as f64);
        learning_rate * (1.0 - b2.powf(t)).sqrt() / (1.0 - b1.powf(t))
    }

    fn twin_step(&self, w: &mut [f32], g: &[f32], state: &mut [Vec<f32>], rate: StepRate) {
        let [m, v] = state else {
            unreachable!("adam keeps m and v")
        };
        ops::adam(
            w,
            g,
            m,
            v,
            rate.step_size,
            self.beta_1,
            self.beta_2,
            self.epsilon,
        );
    }
}
