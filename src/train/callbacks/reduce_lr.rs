//! Keras's `ReduceLROnPlateau`: when the monitored metric has not improved (by more than
//! `min_delta`) for `patience` epochs, multiply the learning rate by `factor`, not below
//! `min_lr`, then wait `cooldown` epochs before counting again. The new rate applies from the
//! next epoch's rate table.

use super::{Callback, Control, FitHandle, Monitor};
use crate::error::Result;
use crate::train::epoch_report::EpochReport;

#[derive(Clone, Debug)]
pub struct ReduceLrOnPlateau {
    monitor: Monitor,
    factor: f64,
    patience: usize,
    min_delta: f64,
    cooldown: usize,
    min_lr: f64,
    best: f64,
    wait: usize,
    cooldown_left: usize,
}

/// Keras's defaults besides the monitor: factor 0.1, patience 10, min_delta 1e-4, cooldown 0,
/// min_lr 0.
pub const DEFAULTS: (f64, usize, f64) = (0.1, 10, 1e-4);

impl ReduceLrOnPlateau {
    pub fn new(monitor: Monitor, factor: f64, patience: usize, min_lr: f64) -> ReduceLrOnPlateau {
        let best = if monitor.minimize() {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        };
        ReduceLrOnPlateau {
            monitor,
            factor,
            patience,
            min_delta: DEFAULTS.2,
            cooldown: 0,
            min_lr,
            best,
            wait: 0,
            cooldown_left: 0,
        }
    }

    fn improved(&self, value: f64) -> bool {
        if self.monitor.minimize() {
            value < self.best - self.min_delta
        } else {
            value > self.best + self.min_delta
        }
    }

    /// Keras 3's `on_epoch_end`: the learning rate to switch to after an epoch that ended
    /// with `value` at rate `lr`, if it changes.
    pub fn update(&mut self, value: f64, lr: f64) -> Option<f64> {
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.wait = 0;
        }
        if self.improved(value) {
            self.best = value;
            self.wait = 0;
            return None;
        }
        if self.cooldown_left > 0 {
            return None;
        }
        self.wait += 1;
        // Keras compares the optimizer's f32 rate with min_lr as f32.
        if self.wait < self.patience || lr as f32 <= self.min_lr as f32 {
            return None;
        }
        self.cooldown_left = self.cooldown;
        self.wait = 0;
        Some((lr * self.factor).max(self.min_lr))
    }
}

impl Callback for ReduceLrOnPlateau {
    fn on_epoch_end(&mut self, run: &mut dyn FitHandle, report: &EpochReport) -> Result<Control> {
        let Some(value) = self.monitor.value(report) else {
            return Ok(Control::Continue);
        };
        let lr = run.learning_rate();
        match self.update(value, lr) {
            None => Ok(Control::Continue),
            Some(new_lr) => {
                run.set_lr_factor(run.lr_factor() * new_lr / lr);
                Ok(Control::Note(format!(
                    "Epoch {}: ReduceLROnPlateau reducing learning rate to {new_lr}.",
                    report.epoch
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// val_loss improves, then stalls: with patience 2 the rate drops after the second epoch
    /// without improvement, and again two epochs later, never below min_lr.
    #[test]
    fn reduces_after_patience_epochs_without_improvement() {
        let mut r = ReduceLrOnPlateau::new(Monitor::val_loss(), 0.1, 2, 2e-4);
        let mut lr = 0.01;
        let mut changes = Vec::new();
        for (epoch, v) in [0.5, 0.4, 0.41, 0.40, 0.42, 0.45, 0.5, 0.6]
            .into_iter()
            .enumerate()
        {
            if let Some(new) = r.update(v, lr) {
                changes.push((epoch, new));
                lr = new;
            }
        }
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0].0, 3);
        assert!((changes[0].1 - 0.001).abs() < 1e-12);
        assert_eq!(changes[1], (5, 2e-4), "clamped at min_lr");
    }
}
