//! Optimizers, one file each. An optimizer owns its Keras defaults and named hyperparameters,
//! which flags it takes, how the GPU runs it (its entry point in `optimizer.wgsl` and the
//! uniform it fills) and its CPU twin. The update is one launch over the flat buffer holding
//! every trainable tensor. CONTRIBUTING.md says how to add one.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::kernels::OptimizerParams;
pub use crate::gpu::kernels::StepRate;

mod adam;
mod adamw;
mod rmsprop;
pub mod schedule;
mod sgd;

pub use adam::Adam;
pub use adamw::AdamW;
pub use rmsprop::RmsProp;
pub use schedule::{Schedule, ScheduleFlags};
pub use sgd::Sgd;

pub trait Optimizer: fmt::Debug + Send + Sync {
    /// Its name for `--optimizer`.
    fn name(&self) -> &'static str;
    /// Its settings, e.g. `adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)`.
    fn describe(&self) -> String;
    fn learning_rate(&self) -> f32;
    /// Per-parameter state tensors it keeps (velocity; m and v; ...), zero at the start.
    fn state_tensors(&self) -> usize;
    /// How the GPU runs one step.
    fn kernel(&self) -> OptimizerKernel;
    /// The step size of step `t` (counting from 1) at learning rate `learning_rate`, in f64:
    /// Adam folds its bias correction in; the others step by the learning rate.
    fn step_size(&self, learning_rate: f64, _t: u64) -> f64 {
        learning_rate
    }
    /// Step `t`'s row of the rate table, at learning rate `learning_rate` (the schedule's).
    fn rate(&self, learning_rate: f64, t: u64) -> StepRate {
        StepRate {
            learning_rate: learning_rate as f32,
            step_size: self.step_size(learning_rate, t) as f32,
        }
    }
    /// CPU twin of one step with these factors: updates `w` with gradient `g` and the state
    /// tensors.
    fn twin_step(&self, w: &mut [f32], g: &[f32], state: &mut [Vec<f32>], rate: StepRate);
}

/// An optimizer's launch: its entry point in `optimizer.wgsl`, its hyperparameters (the
/// launcher adds the parameter count), and its work per parameter for profiles. The per-step
/// factors come from the rate table ([`Optimizer::rate`]).
#[derive(Clone, Copy, Debug)]
pub struct OptimizerKernel {
    pub entry: &'static str,
    pub params: OptimizerParams,
    /// Floating-point operations and 4-byte words moved per parameter.
    pub work: (u64, u64),
}

/// The hyperparameters given on the command line; each optimizer takes its own and Keras's
/// defaults for the rest.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Hyperparameters {
    /// `--lr`.
    pub learning_rate: Option<f32>,
    /// `--momentum`.
    pub momentum: Option<f32>,
    /// `--weight-decay`.
    pub weight_decay: Option<f32>,
    /// `--beta1`, `--beta2`: Adam's (and AdamW's) `beta_1`, `beta_2`.
    pub beta_1: Option<f32>,
    pub beta_2: Option<f32>,
}

/// An optimizer by name: the flags it takes and how to build it from them.
pub struct OptimizerKind {
    pub name: &'static str,
    pub flags: &'static [&'static str],
    pub build: fn(&Hyperparameters) -> Arc<dyn Optimizer>,
}

/// Every optimizer `--optimizer` knows: the registry a new optimizer adds one line to.
pub const OPTIMIZERS: [&OptimizerKind; 4] = [&sgd::KIND, &adam::KIND, &rmsprop::KIND, &adamw::KIND];

/// Each hyperparameter given is in its range, or an error names its flag.
fn check_ranges(h: &Hyperparameters) -> Result<()> {
    if let Some(lr) = h.learning_rate {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::flag(
                "--lr",
                format!("{lr} is not a learning rate; expected a positive number"),
            ));
        }
    }
    if let Some(m) = h.momentum {
        if !(0.0..1.0).contains(&m) {
            return Err(Error::flag(
                "--momentum",
                format!("{m} is out of range; expected 0 <= momentum < 1"),
            ));
        }
    }
    if let Some(wd) = h.weight_decay {
        if !(wd.is_finite() && wd >= 0.0) {
            return Err(Error::flag(
                "--weight-decay",
                format!("{wd} is not a weight decay; expected a number >= 0"),
            ));
        }
    }
    for (flag, beta) in [("--beta1", h.beta_1), ("--beta2", h.beta_2)] {
        if let Some(b) = beta {
            if !(b > 0.0 && b < 1.0) {
                return Err(Error::flag(
                    flag,
                    format!("{b} is out of range; expected 0 < beta < 1"),
                ));
            }
        }
    }
    Ok(())
}

/// The optimizer `name` with Keras's defaults, overridden by the hyperparameters given. A
/// flag the optimizer does not take, or a value out of range, is an error naming the flag.
pub fn build(name: &str, h: &Hyperparameters) -> Result<Arc<dyn Optimizer>> {
    let kind = OPTIMIZERS.iter().find(|k| k.name == name).ok_or_else(|| {
        let names: Vec<&str> = OPTIMIZERS.iter().map(|k| k.name).collect();
        Error::flag(
            "--optimizer",
            format!(
                "unknown optimizer '{name}'{}; expected one of {}",
                crate::error::did_you_mean(name, &names),
                names.join(", ")
            ),
        )
    })?;
    check_ranges(h)?;
    let given = [
        ("--lr", h.learning_rate.is_some()),
        ("--momentum", h.momentum.is_some()),
        ("--weight-decay", h.weight_decay.is_some()),
        ("--beta1", h.beta_1.is_some()),
        ("--beta2", h.beta_2.is_some()),
    ];
    if let Some((flag, _)) = given
        .iter()
        .find(|(f, set)| *set && !kind.flags.contains(f))
    {
        let takers: Vec<&str> = OPTIMIZERS
            .iter()
            .filter(|k| k.flags.contains(flag))
            .map(|k| k.name)
            .collect();
        return Err(Error::flag(
            flag,
            format!(
                "applies to {} only; the optimizer is '{name}'",
                takers.join(", ")
            ),
        ));
    }
    Ok((kind.build)(h))
}
