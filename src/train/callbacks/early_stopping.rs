//! Keras's `EarlyStopping`: stop when the monitored metric has not improved (by more than
//! `min_delta`) for `patience` epochs, and optionally restore the weights of the best epoch at
//! the end. The decisions follow Keras 3's callback exactly (see [`Patience`]); the best
//! weights are kept as a copy on the GPU, so tracking them costs no readback.

use std::sync::Arc;

use super::{Callback, Control, FitHandle};
use crate::error::{Error, Result};
use crate::eval::metrics::{monitorable, Metric, METRICS};
use crate::eval::WeightsCopy;
use crate::train::epoch_report::EpochReport;

/// A key of the epoch's logs (`val_loss`, `accuracy`, `val_top_k_accuracy`, ...), with the
/// direction its metric declares better.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Monitor {
    key: String,
    higher_is_better: bool,
}

impl Monitor {
    /// Keras's default monitor.
    pub fn val_loss() -> Monitor {
        Monitor {
            key: "val_loss".into(),
            higher_is_better: false,
        }
    }

    /// Keras's name: `val_loss`, ...
    pub fn name(&self) -> &str {
        &self.key
    }

    /// `flag`'s value as a key of the logs of a run of `metrics`, or an error naming the flag
    /// and the keys there are.
    pub fn parse(flag: &'static str, name: &str, metrics: &[Arc<dyn Metric>]) -> Result<Monitor> {
        let keys = monitorable(metrics);
        if let Some((key, higher_is_better)) = keys.iter().find(|(k, _)| k == name) {
            return Ok(Monitor {
                key: key.clone(),
                higher_is_better: *higher_is_better,
            });
        }
        let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        let known = METRICS
            .iter()
            .any(|m| name.trim_start_matches("val_") == m.name);
        let hint = match known {
            true => format!(" (add {} to --metrics)", name.trim_start_matches("val_")),
            false => crate::floor::did_you_mean(name, &names),
        };
        Err(Error::flag(
            flag,
            format!(
                "unknown metric '{name}'{hint}; expected one of {}",
                names.join(", ")
            ),
        ))
    }

    /// Losses improve downwards, accuracies upwards (Keras's `mode="auto"`), as the metric
    /// declares.
    pub fn minimize(&self) -> bool {
        !self.higher_is_better
    }

    /// Its value in `report`, if the epoch has it.
    pub fn value(&self, report: &EpochReport) -> Option<f64> {
        report.logs.get(&self.key)
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
            patience: Patience::new(monitor.minimize(), min_delta, patience),
            monitor,
            restore_best_weights,
            best_weights: None,
        }
    }
}

impl Callback for EarlyStopping {
    fn on_epoch_end(&mut self, run: &mut dyn FitHandle, report: &EpochReport) -> Result<Control> {
        let Some(value) = self.monitor.value(report) else {
            return Ok(Control::Continue);
        };
        let epoch = report.epoch - 1;
        if self.restore_best_weights && self.best_weights.is_none() {
            // As Keras: until an epoch improves, the first epoch's weights are the best.
            run.copy_weights(&mut self.best_weights);
            self.patience.best_epoch = epoch;
        }
        let decision = self.patience.update(epoch, value);
        if decision.improved && self.restore_best_weights {
            run.copy_weights(&mut self.best_weights);
        }
        Ok(match decision.stop {
            true => Control::Stop(format!("Epoch {}: early stopping", epoch + 1)),
            false => Control::Continue,
        })
    }

    fn on_train_end(&mut self, run: &mut dyn FitHandle) -> Result<Option<String>> {
        let Some(best) = &self.best_weights else {
            return Ok(None);
        };
        run.restore_weights(best);
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
        let metrics: Vec<Arc<dyn Metric>> = vec![Arc::new(crate::eval::metrics::Accuracy)];
        let parse = |name: &str| Monitor::parse("--early-stopping", name, &metrics);
        assert_eq!(parse("val_loss").unwrap(), Monitor::val_loss());
        let err = parse("val_acc").unwrap_err().to_string();
        assert_eq!(
            err,
            "--early-stopping: unknown metric 'val_acc'; expected one of loss, accuracy, val_loss, val_accuracy"
        );
        let err = parse("val_top_k_accuracy").unwrap_err().to_string();
        assert!(err.contains("(add top_k_accuracy to --metrics)"), "{err}");
        assert!(Monitor::val_loss().minimize() && !parse("val_accuracy").unwrap().minimize());
        let top_k: Vec<Arc<dyn Metric>> = vec![Arc::new(crate::eval::metrics::TopK { k: 3 })];
        let m = Monitor::parse("--monitor", "val_top_k_accuracy", &top_k).unwrap();
        assert!(!m.minimize(), "the metric says higher is better");
    }
}
