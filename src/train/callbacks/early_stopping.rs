//! Keras's `EarlyStopping`: stop when the monitored metric has not improved (by more than
//! `min_delta`) for `patience` epochs, and optionally restore the weights of the best epoch at
//! the end. The decisions follow Keras 3's callback exactly (see [`Patience`]); the best
//! weights are kept as a copy on the GPU, so tracking them costs no readback.

use super::{Callback, Control};
use crate::error::{Error, Result};
use crate::train::{EpochReport, Trainer, WeightsCopy};

/// A metric of the epoch report, with the direction that counts as better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    Loss,
    Accuracy,
    ValLoss,
    ValAccuracy,
}

impl Monitor {
    pub const ALL: [Monitor; 4] = [
        Monitor::Loss,
        Monitor::Accuracy,
        Monitor::ValLoss,
        Monitor::ValAccuracy,
    ];

    /// Keras's name: `val_loss`, ...
    pub fn name(self) -> &'static str {
        match self {
            Monitor::Loss => "loss",
            Monitor::Accuracy => "accuracy",
            Monitor::ValLoss => "val_loss",
            Monitor::ValAccuracy => "val_accuracy",
        }
    }

    /// `flag`'s value as a metric, or an error naming the flag and the metrics there are.
    pub fn parse(flag: &'static str, name: &str) -> Result<Monitor> {
        Monitor::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Monitor::ALL.iter().map(|m| m.name()).collect();
                Error::flag(
                    flag,
                    format!(
                        "unknown metric '{name}'{}; expected one of {}",
                        crate::error::did_you_mean(name, &names),
                        names.join(", ")
                    ),
                )
            })
    }

    /// Losses improve downwards, accuracies upwards (Keras's `mode="auto"`).
    pub fn minimize(self) -> bool {
        matches!(self, Monitor::Loss | Monitor::ValLoss)
    }

    /// Its value in `report`, if the epoch has it.
    pub fn value(self, report: &EpochReport) -> Option<f64> {
        let (pass, loss) = match self {
            Monitor::Loss => (Some(&report.train), true),
            Monitor::Accuracy => (Some(&report.train), false),
            Monitor::ValLoss => (report.validation.as_ref(), true),
            Monitor::ValAccuracy => (report.validation.as_ref(), false),
        };
        let score = pass?.score();
        Some(if loss { score.loss } else { score.accuracy })
    }
}

/// Keras 3's bookkeeping: the best value so far (starting at ±infinity), the epoch it came
/// from, and the epochs waited since. An epoch improves when `value - min_delta` (towards
/// better) still beats the best; NaN never does.
#[derive(Clone, Debug, PartialEq)]
pub struct Patience {
    minimize: bool,
    min_delta: f64,
    patience: usize,
    pub best: f64,
    /// From 0, as Keras counts.
    pub best_epoch: usize,
    wait: usize,
}

/// What [`Patience::update`] decided for one epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub improved: bool,
    pub stop: bool,
}

impl Patience {
    pub fn new(minimize: bool, min_delta: f64, patience: usize) -> Patience {
        Patience {
            minimize,
            min_delta: min_delta.abs(),
            patience,
            best: if minimize {
                f64::INFINITY
            } else {
                f64::NEG_INFINITY
            },
            best_epoch: 0,
            wait: 0,
        }
    }

    /// Epoch `epoch` (from 0) ended with `value`.
    pub fn update(&mut self, epoch: usize, value: f64) -> Decision {
        self.wait += 1;
        let improved = if self.minimize {
            value + self.min_delta < self.best
        } else {
            value - self.min_delta > self.best
        };
        if improved {
            self.best = value;
            self.best_epoch = epoch;
            self.wait = 0;
        }
        Decision {
            improved,
            stop: !improved && self.wait >= self.patience && epoch > 0,
        }
    }
}

pub struct EarlyStopping {
    monitor: Monitor,
    patience: Patience,
    restore_best_weights: bool,
    best_weights: Option<WeightsCopy>,
}

impl EarlyStopping {
    pub fn new(
        monitor: Monitor,
        min_delta: f64,
        patience: usize,
        restore_best_weights: bool,
    ) -> EarlyStopping {
        EarlyStopping {
            monitor,
            patience: Patience::new(monitor.minimize(), min_delta, patience),
            restore_best_weights,
            best_weights: None,
        }
    }
}

impl Callback for EarlyStopping {
    fn on_epoch_end(&mut self, trainer: &mut Trainer, report: &EpochReport) -> Result<Control> {
        let Some(value) = self.monitor.value(report) else {
            return Ok(Control::Continue);
        };
        let epoch = report.epoch - 1;
        if self.restore_best_weights && self.best_weights.is_none() {
            // As Keras: until an epoch improves, the first epoch's weights are the best.
            trainer.copy_weights(&mut self.best_weights);
            self.patience.best_epoch = epoch;
        }
        let decision = self.patience.update(epoch, value);
        if decision.improved && self.restore_best_weights {
            trainer.copy_weights(&mut self.best_weights);
        }
        Ok(match decision.stop {
            true => Control::Stop(format!("Epoch {}: early stopping", epoch + 1)),
            false => Control::Continue,
        })
    }

    fn on_train_end(&mut self, trainer: &mut Trainer) -> Result<Option<String>> {
        let Some(best) = &self.best_weights else {
            return Ok(None);
        };
        trainer.restore_weights(best);
        Ok(Some(format!(
            "Restoring model weights from the end of the best epoch: {}.",
            self.patience.best_epoch + 1
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keras's own example: patience 3 on a loss that improves twice, then not.
    #[test]
    fn patience_counts_epochs_without_improvement_as_keras_does() {
        let mut p = Patience::new(true, 0.0, 3);
        let decisions: Vec<Decision> = [1.0, 0.9, 0.95, 0.93, 0.92, 0.5]
            .iter()
            .enumerate()
            .map(|(epoch, &v)| p.update(epoch, v))
            .collect();
        let stops: Vec<bool> = decisions.iter().map(|d| d.stop).collect();
        assert_eq!(stops, [false, false, false, false, true, false]);
        assert_eq!((p.best, p.best_epoch), (0.5, 5));

        // min_delta: an improvement must be larger than it; accuracy improves upwards.
        let mut p = Patience::new(false, 0.01, 1);
        assert!(p.update(0, 0.90).improved);
        let d = p.update(1, 0.905);
        assert_eq!((d.improved, d.stop), (false, true));
        assert_eq!(p.best_epoch, 0);

        // Patience 0 stops at the first epoch that does not improve, never at the first.
        let mut p = Patience::new(true, 0.0, 0);
        assert!(!p.update(0, f64::NAN).stop, "never on the first epoch");
        assert!(p.update(1, f64::NAN).stop, "NaN never improves");
    }

    #[test]
    fn monitors_are_named_as_keras_names_them() {
        assert_eq!(
            Monitor::parse("--early-stopping", "val_loss").unwrap(),
            Monitor::ValLoss
        );
        let err = Monitor::parse("--early-stopping", "val_acc")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "--early-stopping: unknown metric 'val_acc'; expected one of loss, accuracy, val_loss, val_accuracy"
        );
        assert!(Monitor::ValLoss.minimize() && !Monitor::ValAccuracy.minimize());
    }
}
