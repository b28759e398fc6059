//! Metric accumulators as the loss kernel leaves them on the GPU, and per-epoch reports.

use bytemuck::{Pod, Zeroable};

/// One accumulator slot, as `Metric` in `softmax_xent.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct Metric {
    pub loss_sum: f32,
    pub correct: u32,
    pub count: u32,
    pub _pad: u32,
}

/// Slots of the metrics buffer.
pub const TRAIN_SLOT: usize = 0;
pub const VAL_SLOT: usize = 1;
pub const TEST_SLOT: usize = 2;
pub const SLOTS: usize = 3;

/// Mean loss and accuracy over the samples a slot saw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    pub loss: f64,
    pub accuracy: f64,
    pub samples: u32,
}

impl From<Metric> for Score {
    fn from(m: Metric) -> Score {
        let n = m.count.max(1) as f64;
        Score {
            loss: m.loss_sum as f64 / n,
            accuracy: m.correct as f64 / n,
            samples: m.count,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// From 1.
    pub epoch: usize,
    pub epochs: usize,
    pub seconds: f64,
    pub steps: usize,
    pub train: Score,
    pub validation: Option<Score>,
}

impl EpochReport {
    /// Keras's per-epoch line, e.g.
    /// `Epoch 3/5 - 1.23s 2.6ms/step - loss: 0.0728 - accuracy: 0.9789 - val_loss: 0.0765 - val_accuracy: 0.9771`.
    pub fn line(&self) -> String {
        let mut s = format!(
            "Epoch {}/{} - {:.2}s {:.1}ms/step - loss: {:.4} - accuracy: {:.4}",
            self.epoch,
            self.epochs,
            self.seconds,
            self.seconds * 1e3 / self.steps.max(1) as f64,
            self.train.loss,
            self.train.accuracy
        );
        if let Some(v) = self.validation {
            s.push_str(&format!(
                " - val_loss: {:.4} - val_accuracy: {:.4}",
                v.loss, v.accuracy
            ));
        }
        s
    }
}

/// The closing line scripts read: `test_loss: 0.0712 - test_accuracy: 0.9781`.
pub fn test_line(test: &Score) -> String {
    format!(
        "test_loss: {:.4} - test_accuracy: {:.4}",
        test.loss, test.accuracy
    )
}
