//! The confusion matrix: `counts[true class][predicted class]` over a pass's samples, counted
//! on the GPU with integer atomics (exact), read back with the epoch's other metrics.

use super::{Accumulator, BatchIo, CountMatrix, MetricValue};
use crate::gpu::kernels::{ConfusionArgs, Launch, View};

#[derive(Clone, Copy, Debug, Default)]
pub struct ConfusionMatrix;

impl Accumulator for ConfusionMatrix {
    fn name(&self) -> &'static str {
        "confusion_matrix"
    }

    fn words(&self, classes: usize) -> usize {
        classes * classes
    }

    fn record(&self, b: &BatchIo, region: View) -> Vec<Launch> {
        vec![b.kernels.confusion(
            b.gpu,
            &ConfusionArgs {
                batch: b.batch,
                classes: b.classes,
                logits: b.logits,
                labels: b.labels,
                counts: region,
            },
        )]
    }

    fn result(&self, words: &[u32], classes: usize) -> MetricValue {
        MetricValue::Counts(CountMatrix {
            rows: classes,
            cols: classes,
            counts: words.to_vec(),
        })
    }
}
