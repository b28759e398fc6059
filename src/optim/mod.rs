//! Optimizers, one file each. An optimizer owns its Keras defaults and named hyperparameters,
//! which flags it takes, how the GPU runs it (its entry point in `optimizer.wgsl` and the
//! uniform it fills) and its CPU twin. The update is one launch over the flat buffer holding
//! every trainable tensor. CONTRIBUTING.md says how to add one.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::kernels::OptimizerParams;
pub use crate::gpu::kernels::StepRate;
use crate::settings::{self, finite_f32, rule, settings, Settings};

mod adam;
mod adamw;
mod rmsprop;
pub mod schedule;
mod sgd;

pub use adam::Adam;
pub use adamw::AdamW;
pub use rmsprop::RmsProp;
pub use schedule::{Schedule, ScheduleSettings};
pub use sgd::Sgd;

pub trait Optimizer: fmt::Debug + Send + Sync {
    /// Its name for `--optimizer`.
    fn name(&self) -> &'static str;
    /// Its settings, e.g. `adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)`.
    fn describe(&self) -> String;
    fn learning_rate(&self) -> f32;
    /// The per-parameter state tensors it keeps (velocity; m and v; ...), zero at the start:
    /// any number, each as large as the parameters.
    fn state(&self) -> &'static [StateTensor];
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

/// One state tensor an optimizer keeps per parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateTensor {
    /// Keras's name for the variable: `momentum`, `velocity`.
    pub name: &'static str,
    /// Whether its values are never negative (a mean of squares): tests draw such state
    /// from non-negative values only.
    pub non_negative: bool,
}

/// A velocity, or Adam's first moment: any sign.
pub const MOMENTUM: StateTensor = StateTensor {
    name: "momentum",
    non_negative: false,
};

/// A mean of squared gradients: never negative.
pub const VELOCITY: StateTensor = StateTensor {
    name: "velocity",
    non_negative: true,
};

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

settings! {
    /// The optimizers' hyperparameters, one setting each (its flag, default, help and range
    /// check). Each optimizer takes its own ([`OptimizerKind::flags`]) and Keras's defaults
    /// for the rest; unset means that default. A new hyperparameter is a field here and its
    /// use in the optimizers that take it.
    pub struct Hyperparameters {
        /// Learning rate; default Keras's for the optimizer (sgd 0.01, adam, rmsprop and adamw
        /// 0.001).
        #[arg(long, allow_negative_numbers = true, value_parser = finite_f32)]
        pub lr: Option<f32> [check = rule::optional(learning_rate)],
        /// SGD momentum (default 0).
        #[arg(long, allow_negative_numbers = true, value_parser = finite_f32)]
        pub momentum: Option<f32> [check = rule::optional(momentum)],
        /// AdamW's decoupled weight decay (default Keras's 0.004).
        #[arg(long, allow_negative_numbers = true, value_parser = finite_f32)]
        pub weight_decay: Option<f32> [check = rule::optional(weight_decay)],
        /// Adam's and AdamW's beta_1, the first moment's decay (default Keras's 0.9).
        #[arg(long, allow_negative_numbers = true, value_parser = finite_f32)]
        pub beta1: Option<f32> [check = rule::optional(decay("beta"))],
        /// Adam's and AdamW's beta_2, the second moment's decay (default Keras's 0.999).
        #[arg(long, allow_negative_numbers = true, value_parser = finite_f32)]
        pub beta2: Option<f32> [check = rule::optional(decay("beta"))],
        /// RMSprop's rho, the decay of its mean of squared gradients (default Keras's 0.9).
        #[arg(long, allow_negative_numbers = true, value_parser = finite_f32)]
        pub rho: Option<f32> [check = rule::optional(decay("rho"))],
    }
}

fn learning_rate(lr: &f32) -> std::result::Result<(), String> {
    match lr.is_finite() && *lr > 0.0 {
        true => Ok(()),
        false => Err(format!(
            "{lr} is not a learning rate; expected a positive number"
        )),
    }
}

fn momentum(m: &f32) -> std::result::Result<(), String> {
    match (0.0..1.0).contains(m) {
        true => Ok(()),
        false => Err(format!("{m} is out of range; expected 0 <= momentum < 1")),
    }
}

fn weight_decay(wd: &f32) -> std::result::Result<(), String> {
    match wd.is_finite() && *wd >= 0.0 {
        true => Ok(()),
        false => Err(format!(
            "{wd} is not a weight decay; expected a number >= 0"
        )),
    }
}

/// A decay factor (Adam's betas, RMSprop's rho), strictly between 0 and 1.
fn decay(name: &'static str) -> impl Fn(&f32) -> std::result::Result<(), String> {
    move |d| match *d > 0.0 && *d < 1.0 {
        true => Ok(()),
        false => Err(format!("{d} is out of range; expected 0 < {name} < 1")),
    }
}

/// An optimizer by name: the flags it takes and how to build it from them.
pub struct OptimizerKind {
    pub name: &'static str,
    /// The [`Hyperparameters`] it takes, by key (`lr`, `beta1`, ...).
    pub flags: &'static [&'static str],
    pub build: fn(&Hyperparameters) -> Arc<dyn Optimizer>,
}

/// Every optimizer `--optimizer` knows: the registry a new optimizer adds one line to.
pub const OPTIMIZERS: [&OptimizerKind; 4] = [&sgd::KIND, &adam::KIND, &rmsprop::KIND, &adamw::KIND];

/// The optimizer `name` with Keras's defaults, overridden by the hyperparameters given. A
/// flag the optimizer does not take, or a value out of range, is an error naming the flag.
pub fn build(name: &str, h: &Hyperparameters) -> Result<Arc<dyn Optimizer>> {
    let kind = OPTIMIZERS.iter().find(|k| k.name == name).ok_or_else(|| {
        let names: Vec<&str> = OPTIMIZERS.iter().map(|k| k.name).collect();
        Error::flag(
            "--optimizer",
            format!(
                "unknown optimizer '{name}'{}; expected one of {}",
                crate::floor::did_you_mean(name, &names),
                names.join(", ")
            ),
        )
    })?;
    h.check_ranges()?;
    let given = settings::to_map(h);
    let foreign = given
        .iter()
        .find(|(key, value)| !value.is_null() && !kind.flags.contains(&key.as_str()));
    if let Some((key, _)) = foreign {
        let takers: Vec<&str> = OPTIMIZERS
            .iter()
            .filter(|k| k.flags.contains(&key.as_str()))
            .map(|k| k.name)
            .collect();
        return Err(Error::flag(
            settings::flag_of(key),
            format!(
                "applies to {} only; the optimizer is '{name}'",
                takers.join(", ")
            ),
        ));
    }
    Ok((kind.build)(h))
}
