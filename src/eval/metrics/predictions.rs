//! Per-sample predictions: every sample's class probabilities, written on the GPU by the
//! evaluation pass itself (`predictions.wgsl`) at the sample's place in the pass, and read back
//! with the pass's other metrics. Reports build their galleries and probability charts from
//! these, and `predict` its answers.

use super::{Accumulator, BatchIo, MetricValue};
use crate::gpu::kernels::{Launch, PredictionsArgs, View};

/// Room for the probabilities of `capacity` samples (a pass's length; later samples are left
/// out).
#[derive(Clone, Copy, Debug)]
pub struct Predictions {
    pub capacity: usize,
}

/// Class probabilities per sample, in the pass's order.
#[derive(Clone, Debug, PartialEq)]
pub struct Probabilities {
    pub classes: usize,
    /// `[samples, classes]` row-major.
    pub values: Vec<f32>,
}

impl Probabilities {
    pub fn samples(&self) -> usize {
        self.values.len() / self.classes
    }

    pub fn row(&self, sample: usize) -> &[f32] {
        &self.values[sample * self.classes..(sample + 1) * self.classes]
    }

    /// The predicted class (the first most probable, as accuracy counts it) and its
    /// probability.
    pub fn predicted(&self, sample: usize) -> (usize, f32) {
        let row = self.row(sample);
        let mut best = 0;
        for (c, &p) in row.iter().enumerate().skip(1) {
            if p > row[best] {
                best = c;
            }
        }
        (best, row[best])
    }
}

impl Accumulator for Predictions {
    fn name(&self) -> &'static str {
        "predictions"
    }

    fn words(&self, classes: usize) -> usize {
        self.capacity * classes
    }

    fn record(&self, b: &BatchIo, region: View) -> Vec<Launch> {
        vec![b.kernels.predictions(
            b.gpu,
            &PredictionsArgs {
                batch: b.batch,
                classes: b.classes,
                logits: b.logits,
                labels: b.labels,
                cursor: b.cursor,
                probs: region,
                capacity: self.capacity,
            },
        )]
    }

    fn result(&self, words: &[u32], classes: usize) -> MetricValue {
        MetricValue::Probabilities(Probabilities {
            classes,
            values: bytemuck::cast_slice(words).to_vec(),
        })
    }
}
