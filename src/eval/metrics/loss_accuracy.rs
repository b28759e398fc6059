//! Loss and accuracy: the loss kernel (`softmax_xent.wgsl`) adds each batch's summed loss,
//! correct predictions (first argmax, as Keras's accuracy) and valid rows into this
//! accumulator's region itself, so it records no launch of its own.

use super::{Accumulator, BatchIo, MetricValue};
use crate::gpu::kernels::{Launch, LossMetric, View};

#[derive(Clone, Copy, Debug, Default)]
pub struct LossAccuracy;

/// Mean loss and accuracy over the samples a pass saw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    pub loss: f64,
    pub accuracy: f64,
    pub samples: u32,
    /// Correct predictions (exact).
    pub correct: u32,
    /// The summed loss, as the GPU added it.
    pub loss_sum: f32,
    /// The batch index within the pass of the first batch whose loss was not finite.
    pub first_bad_step: Option<u32>,
}

impl Score {
    /// Whether a loss was NaN or infinite in this pass.
    pub fn diverged(&self) -> bool {
        self.first_bad_step.is_some() || !self.loss_sum.is_finite()
    }
}

impl From<LossMetric> for Score {
    fn from(m: LossMetric) -> Score {
        let n = m.count.max(1) as f64;
        Score {
            loss: m.loss_sum as f64 / n,
            accuracy: m.correct as f64 / n,
            samples: m.count,
            correct: m.correct,
            loss_sum: m.loss_sum,
            first_bad_step: m.first_bad_step.checked_sub(1),
        }
    }
}

impl Accumulator for LossAccuracy {
    fn name(&self) -> &'static str {
        "loss_accuracy"
    }

    fn words(&self, _classes: usize) -> usize {
        std::mem::size_of::<LossMetric>() / 4
    }

    fn record(&self, _: &BatchIo, _: View) -> Vec<Launch> {
        Vec::new()
    }

    fn result(&self, words: &[u32], _classes: usize) -> MetricValue {
        let metric: LossMetric = bytemuck::pod_read_unaligned(bytemuck::cast_slice(words));
        MetricValue::Score(Score::from(metric))
    }
}
