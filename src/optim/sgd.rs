//! Keras's SGD: `w -= lr·g`, or with momentum `v = momentum·v - lr·g; w += v`.

use std::sync::Arc;

use super::{
    Hyperparameters, Optimizer, OptimizerKernel, OptimizerKind, StateTensor, StepRate, MOMENTUM,
};
use crate::gpu::kernels::OptimizerParams;
use crate::reference::ops;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd {
    pub learning_rate: f32,
    pub momentum: f32,
}

impl Default for Sgd {
    /// Keras's defaults.
    fn default() -> Sgd {
        Sgd {
            learning_rate: 0.01,
            momentum: 0.0,
        }
    }
}

pub(super) const KIND: OptimizerKind = OptimizerKind {
    name: "sgd",
    flags: &["lr", "momentum"],
    build: |h: &Hyperparameters| {
        let d = Sgd::default();
        Arc::new(Sgd {
            learning_rate: h.lr.unwrap_or(d.learning_rate),
            momentum: h.momentum.unwrap_or(d.momentum),
        })
    },
};

impl Optimizer for Sgd {
    fn name(&self) -> &'static str {
        "sgd"
    }

    fn describe(&self) -> String {
        if self.momentum == 0.0 {
            format!("sgd(learning_rate={})", self.learning_rate)
        } else {
            format!(
                "sgd(learning_rate={}, momentum={})",
                self.learning_rate, self.momentum
            )
        }
    }

    fn learning_rate(&self) -> f32 {
        self.learning_rate
    }

    /// The velocity, with momentum.
    fn state(&self) -> &'static [StateTensor] {
        match self.momentum != 0.0 {
            true => &[MOMENTUM],
            false => &[],
        }
    }

    fn kernel(&self) -> OptimizerKernel {
        let params = OptimizerParams {
            momentum: self.momentum,
            ..Default::default()
        };
        if self.momentum == 0.0 {
            OptimizerKernel {
                entry: "sgd",
                params,
                work: (2, 3),
            }
        } else {
            OptimizerKernel {
                entry: "sgd_momentum",
                params,
                work: (3, 5),
            }
        }
    }

    fn twin_step(&self, w: &mut [f32], g: &[f32], state: &mut [Vec<f32>], rate: StepRate) {
        let lr = rate.learning_rate;
        match state {
            [] => ops::sgd(w, g, lr),
            [v] => ops::sgd_momentum(w, g, v, lr, self.momentum),
            _ => unreachable!("sgd keeps at most a velocity"),
        }
    }
}
