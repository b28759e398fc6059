//! Optimizer recipes: which update rule and its hyperparameters, with Keras 3's defaults.
//! A pure description; the GPU kernel and the CPU twin both read it.

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// `w -= lr*g`, or with momentum m: `v = m*v - lr*g; w += v`.
    Sgd { lr: f32, momentum: f32 },
    /// Keras's Adam: eps outside the square root, bias correction folded into the step size.
    Adam {
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
    },
    /// Keras's RMSprop: eps inside the square root.
    RmsProp { lr: f32, rho: f32, eps: f32 },
}

pub const OPTIMIZERS: [&str; 3] = ["sgd", "adam", "rmsprop"];

impl Optimizer {
    /// The optimizer `name` with Keras's defaults, `lr` overriding the learning rate.
    pub fn from_name(name: &str, lr: Option<f32>, momentum: f32) -> Result<Optimizer> {
        if let Some(lr) = lr {
            if !(lr.is_finite() && lr > 0.0) {
                return Err(Error::Config(format!(
                    "--lr: {lr} is not a learning rate; expected a positive number"
                )));
            }
        }
        if !(0.0..1.0).contains(&momentum) {
            return Err(Error::Config(format!(
                "--momentum: {momentum} is out of range; expected 0 <= momentum < 1"
            )));
        }
        if momentum != 0.0 && name != "sgd" {
            return Err(Error::Config(format!(
                "--momentum applies to sgd only; the optimizer is '{name}'"
            )));
        }
        Ok(match name {
            "sgd" => Optimizer::Sgd {
                lr: lr.unwrap_or(0.01),
                momentum,
            },
            "adam" => Optimizer::Adam {
                lr: lr.unwrap_or(0.001),
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-7,
            },
            "rmsprop" => Optimizer::RmsProp {
                lr: lr.unwrap_or(0.001),
                rho: 0.9,
                eps: 1e-7,
            },
            other => {
                return Err(Error::Config(format!(
                    "--optimizer: unknown optimizer '{other}'; expected one of {}",
                    OPTIMIZERS.join(", ")
                )))
            }
        })
    }

    pub fn lr(&self) -> f32 {
        match *self {
            Optimizer::Sgd { lr, .. }
            | Optimizer::Adam { lr, .. }
            | Optimizer::RmsProp { lr, .. } => lr,
        }
    }

    /// Number of per-parameter state tensors the rule keeps (velocity; m, v; v).
    pub fn state_tensors(&self) -> usize {
        match *self {
            Optimizer::Sgd { momentum: 0.0, .. } => 0,
            Optimizer::Sgd { .. } | Optimizer::RmsProp { .. } => 1,
            Optimizer::Adam { .. } => 2,
        }
    }

    pub fn describe(&self) -> String {
        match *self {
            Optimizer::Sgd { lr, momentum: 0.0 } => format!("sgd(lr={lr})"),
            Optimizer::Sgd { lr, momentum } => format!("sgd(lr={lr}, momentum={momentum})"),
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                format!("adam(lr={lr}, beta1={beta1}, beta2={beta2}, eps={eps:e})")
            }
            Optimizer::RmsProp { lr, rho, eps } => {
                format!("rmsprop(lr={lr}, rho={rho}, eps={eps:e})")
            }
        }
    }
}
