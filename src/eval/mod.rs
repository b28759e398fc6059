//! Inference, apart from training: an [`Evaluator`] holds a network's weights on the GPU and
//! runs its forward passes (validation, test, test-time augmentation's copies, a few samples'
//! layer outputs) at a batch of its own, with the metrics as GPU-side accumulators
//! ([`metrics`]). No gradient, no optimizer state. `evaluate`, `predict` and a training run's
//! validation and test passes all run through it; the training module adds the step.

pub mod buffers;
pub mod evaluator;
pub mod limits;
pub mod metrics;
pub mod record;
pub mod samples;
pub mod split;
pub mod tta;

pub use buffers::{WeightBuffers, WeightsCopy};
pub use evaluator::{EvalConfig, EvalPass, Evaluator, InitialWeights, Validation};
pub use metrics::{Accumulator, CountMatrix, MetricValue, Pass, PassMetrics, Score};
pub use tta::{Tta, TtaResult};

use std::sync::Arc;

use crate::data::Split;
use crate::error::{Error, Result};
use crate::gpu::kernels::KernelPolicy;
use crate::gpu::GpuContext;
use crate::model::Network;
use metrics::{Predictions, Probabilities};

/// The class probabilities of each of `images` (`[n, features]` u8, light on black) under
/// `net` with these weights: one test pass with the predictions accumulator over the images,
/// uploaded once.
pub fn predict(
    ctx: &GpuContext,
    net: &Network,
    weights: InitialWeights,
    images: &[u8],
    kernels: Arc<dyn KernelPolicy>,
) -> Result<Probabilities> {
    let n = images.len() / net.input.features();
    if n == 0 {
        return Err(Error::Dataset("no images to predict".into()));
    }
    // The images as a test split; their labels are unknown and unused (0 is a valid label, so
    // no row is taken for padding).
    let split = Split {
        images: images.to_vec().into(),
        labels: vec![0; n],
    };
    let cfg = EvalConfig {
        kernels,
        accumulators: vec![Arc::new(Predictions { capacity: n })],
        ..Default::default()
    };
    let evaluator = Evaluator::new(ctx, net, weights, cfg, (&split, Validation::OnTest))?;
    let test = evaluator.evaluate(Pass::Test)?;
    Ok(test
        .probabilities()
        .expect("the pass has the predictions accumulator")
        .clone())
}
