//! What an epoch reports, and the lines the CLI prints from it (Keras's per-epoch line).

use crate::eval::metrics::{Logs, PassMetrics, Score};

#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// From 1.
    pub epoch: usize,
    pub epochs: usize,
    pub seconds: f64,
    pub steps: usize,
    pub train: PassMetrics,
    pub validation: Option<PassMetrics>,
    /// The loss and the run's metrics of the training pass, then the validation pass's
    /// (`val_`), by Keras's keys: what callbacks watch and record.
    pub logs: Logs,
}

impl EpochReport {
    /// Keras's per-epoch line, e.g.
    /// `Epoch 3/5 - 1.23s 2.6ms/step - loss: 0.0728 - accuracy: 0.9789 - val_loss: 0.0765 - val_accuracy: 0.9771`.
    pub fn line(&self) -> String {
        format!(
            "Epoch {}/{} - {:.2}s {:.1}ms/step - {}",
            self.epoch,
            self.epochs,
            self.seconds,
            self.seconds * 1e3 / self.steps.max(1) as f64,
            self.logs.line()
        )
    }
}

impl EpochReport {
    /// Why the run must stop if the epoch diverged: a non-finite loss in training (with the
    /// step it started at), or non-finite weights after the last step (the validation loss).
    pub fn divergence(&self, learning_rate: f64) -> Option<String> {
        let train = self.train.score();
        let val = self.validation.as_ref().map(|v| v.score());
        let what = if train.diverged() {
            let from = train.first_bad_step.map_or(1, |s| s + 1);
            format!(
                "the training loss was not finite from step {from} of {} on",
                self.steps
            )
        } else if val.is_some_and(|v| v.diverged()) {
            "its last steps left weights whose validation loss is not finite".to_string()
        } else {
            return None;
        };
        Some(format!(
            "training diverged in epoch {}: {what} (learning rate {:e}); stopped before saving anything from it, so the last checkpoint is intact; try a lower --lr",
            self.epoch,
            learning_rate as f32
        ))
    }
}

/// The closing line scripts read, the test pass's logs: `test_loss: 0.0712 -
/// test_accuracy: 0.9781` (and `test_` of every other metric of the run).
pub fn test_line(test: &Logs) -> String {
    test.line()
}

/// The test line of a TTA evaluation, e.g. `tta 8 views - test_loss: 0.0120 - test_accuracy:
/// 0.9961`: the averaged probabilities' loss and accuracy.
pub fn tta_line(tta: &crate::eval::TtaResult) -> String {
    let score: &Score = &tta.score;
    let logs = Logs(vec![
        ("test_loss".into(), score.loss),
        ("test_accuracy".into(), score.accuracy),
    ]);
    format!("tta {} views - {}", tta.copies, logs.line())
}
