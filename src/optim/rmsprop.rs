//! Keras's RMSprop: epsilon inside the square root, `v = rho·v + (1 - rho)·g²;
//! w -= lr·g / sqrt(v + epsilon)`.

use std::sync::Arc;

use super::{
    Hyperparameters, Optimizer, OptimizerKernel, OptimizerKind, StateTensor, StepRate, VELOCITY,
};
use crate::gpu::kernels::OptimizerParams;
use crate::reference::ops;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsProp {
    pub learning_rate: f32,
    pub rho: f32,
    pub epsilon: f32,
}

impl Default for RmsProp {
    /// Keras's defaults.
    fn default() -> RmsProp {
        RmsProp {
            learning_rate: 0.001,
            rho: 0.9,
            epsilon: 1e-7,
        }
    }
}

pub(super) const KIND: OptimizerKind = OptimizerKind {
    name: "rmsprop",
    flags: &["lr", "rho"],
    build: |h: &Hyperparameters| {
        let d = RmsProp::default();
        Arc::new(RmsProp {
            learning_rate: h.lr.unwrap_or(d.learning_rate),
            rho: h.rho.unwrap_or(d.rho),
            ..d
        })
    },
};

impl Optimizer for RmsProp {
    fn name(&self) -> &'static str {
        "rmsprop"
    }

    fn describe(&self) -> String {
        format!(
            "rmsprop(learning_rate={}, rho={}, epsilon={:e})",
            self.learning_rate, self.rho, self.epsilon
        )
    }

    fn learning_rate(&self) -> f32 {
        self.learning_rate
    }

    /// The mean of squares v.
    fn state(&self) -> &'static [StateTensor] {
        &[VELOCITY]
    }

    fn kernel(&self) -> OptimizerKernel {
        OptimizerKernel {
            entry: "rmsprop",
            params: OptimizerParams {
                rho: self.rho,
                epsilon: self.epsilon,
                ..Default::default()
            },
            work: (6, 5),
        }
    }

    fn twin_step(&self, w: &mut [f32], g: &[f32], state: &mut [Vec<f32>], rate: StepRate) {
        let [v] = state else {
            unreachable!("rmsprop keeps v")
        };
        ops::rmsprop(w, g, v, rate.learning_rate, self.rho, self.epsilon);
    }
}
