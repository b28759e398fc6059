//! Class probabilities of a few given images (not a dataset's splits), computed by the same
//! evaluation pass as the test metrics, with the predictions accumulator.

use std::path::PathBuf;
use std::sync::Arc;

use super::metrics::{Predictions, Probabilities};
use super::{TrainConfig, Trainer};
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::gpu::kernels::KernelPolicy;
use crate::gpu::GpuContext;
use crate::model::checkpoint::Weights;
use crate::model::Network;

/// The probabilities of each of `images` (`[n, rows*cols]` u8, light on black) under `net`
/// with these weights.
pub fn predict(
    ctx: &GpuContext,
    net: &Network,
    (params, stats): &Weights,
    images: &[u8],
    kernels: Arc<dyn KernelPolicy>,
) -> Result<Probabilities> {
    let features = net.input.features();
    let n = images.len() / features;
    if n == 0 {
        return Err(Error::Dataset("no images to predict".into()));
    }
    // The images as a test split; their labels are unknown and unused (0 is a valid label, so
    // no row is taken for padding).
    let split = Split {
        images: images.to_vec(),
        labels: vec![0; n],
    };
    let data = Dataset {
        dir: PathBuf::new(),
        rows: net.input.h,
        cols: net.input.w,
        classes: net.classes,
        train: split.clone(),
        test: split,
    };
    let cfg = TrainConfig {
        batch_size: n.min(256),
        epochs: 0,
        kernels,
        accumulators: vec![Arc::new(Predictions { capacity: n })],
        ..Default::default()
    };
    let mut trainer = Trainer::new(ctx, net, &data, cfg)?;
    trainer.set_weights(params, stats);
    let test = trainer.evaluate_test()?;
    Ok(test
        .probabilities()
        .expect("the pass has the predictions accumulator")
        .clone())
}
