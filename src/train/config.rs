//! What a training run is configured with: its batch, epochs, optimizer and schedule, seed,
//! augmentation, and how its evaluations run ([`TrainConfig::eval_config`]).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::eval::metrics::{Accumulator, Accuracy, Metric};
use crate::eval::samples::Placement;
use crate::eval::{EvalConfig, Tta};
use crate::floor::Augment;
use crate::gpu::kernels::{FixedTable, KernelPolicy};
use crate::optim::{Adam, Optimizer, Schedule};

#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub batch_size: usize,
    /// The validation and test passes' batch (forward only, so larger batches fit; their
    /// metrics are sums, so the batch changes no count): `None` for the largest the adapter
    /// allows up to 1024 ([`crate::eval::limits::eval_batch`]).
    pub eval_batch_size: Option<usize>,
    pub epochs: usize,
    pub optimizer: Arc<dyn Optimizer>,
    pub seed: u64,
    /// Fraction of the training split held out for validation (Keras's `validation_split`:
    /// the last samples); 0 validates on the test split.
    pub validation_split: f64,
    /// Steps recorded into one submission.
    pub steps_per_submit: usize,
    /// Which kernels run (the CLI gives GPUs the tuner; the default is the fixed table).
    pub kernels: Arc<dyn KernelPolicy>,
    /// The metrics besides the loss that every pass reports (`--metrics`), training's
    /// included; the ones with accumulators of their own run them in every pass.
    pub metrics: Vec<Arc<dyn Metric>>,
    /// Accumulators besides the metrics' on the validation and test passes (a report's
    /// confusion matrix, predictions).
    pub accumulators: Vec<Arc<dyn Accumulator>>,
    /// The learning rate per step, as a multiple of the optimizer's.
    pub schedule: Schedule,
    /// Keras's `CategoricalCrossentropy(label_smoothing=s)`: the loss's targets are
    /// `(1 - s) * onehot + s / classes`, in training and evaluation alike; 0 for none.
    pub label_smoothing: f32,
    /// Random affine augmentation of training batches (never of evaluation's).
    pub augment: Option<Augment>,
    /// Test-time augmentation: [`crate::eval::Evaluator::tta`] scores the test split by the
    /// mean of the plain images' probabilities and `copies - 1` augmented copies'.
    pub tta: Option<Tta>,
    /// Keep the training set on the host and stream each submission's samples (`--stream`),
    /// rather than the placement [`crate::eval::samples::Residency::choose`] picks.
    pub stream: bool,
    /// Treat the adapter as binding at most this many bytes per storage buffer, for the
    /// training set's placement (tests and benchmarks force a split with it).
    pub binding_limit: Option<u64>,
}

impl TrainConfig {
    /// Checks the settings that do not depend on the data or the adapter.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 || self.eval_batch_size == Some(0) {
            return Err(Error::flag("--batch-size", "0; expected at least 1"));
        }
        if self.steps_per_submit == 0 {
            return Err(Error::flag("--steps-per-submit", "0; expected at least 1"));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(Error::flag(
                "--label-smoothing",
                format!("{}; expected a fraction in [0, 1)", self.label_smoothing),
            ));
        }
        if !(0.0..1.0).contains(&self.validation_split) {
            return Err(Error::flag(
                "--validation-split",
                format!("{}; expected a fraction in [0, 1)", self.validation_split),
            ));
        }
        Ok(())
    }
}

impl TrainConfig {
    /// Where the run's splits are to live ([`crate::eval::samples::Residency`]).
    pub fn placement(&self) -> Placement {
        Placement {
            stream: self.stream,
            binding_limit: self.binding_limit,
        }
    }

    /// How the run's validation and test passes run: at their own batch, never below the
    /// training batch, with the run's seed, loss, metrics and kernels.
    pub fn eval_config(&self) -> EvalConfig {
        EvalConfig {
            batch_size: self.eval_batch_size,
            min_batch: self.batch_size,
            seed: self.seed,
            label_smoothing: self.label_smoothing,
            metrics: self.metrics.clone(),
            accumulators: self.accumulators.clone(),
            tta: self.tta,
            steps_per_submit: self.steps_per_submit,
            kernels: self.kernels.clone(),
            placement: self.placement(),
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            batch_size: 128,
            eval_batch_size: None,
            epochs: 5,
            optimizer: Arc::new(Adam::default()),
            seed: 1,
            validation_split: 0.0,
            steps_per_submit: 16,
            kernels: Arc::new(FixedTable),
            metrics: vec![Arc::new(Accuracy)],
            accumulators: Vec::new(),
            schedule: Schedule::default(),
            label_smoothing: 0.0,
            augment: None,
            tta: None,
            stream: false,
            binding_limit: None,
        }
    }
}
