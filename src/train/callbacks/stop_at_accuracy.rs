//! Stopping at the first epoch that reaches a validation accuracy (`--until-accuracy`).

use super::{Callback, Control, FitHandle};
use crate::error::Result;
use crate::train::epoch_report::EpochReport;

/// Stops after the first epoch whose validation accuracy reaches `target`, saying how long
/// training took.
pub struct StopAtAccuracy {
    target: f64,
    seconds: f64,
    reached: bool,
}

impl StopAtAccuracy {
    pub fn new(target: f64) -> StopAtAccuracy {
        StopAtAccuracy {
            target,
            seconds: 0.0,
            reached: false,
        }
    }
}

impl Callback for StopAtAccuracy {
    fn on_epoch_end(&mut self, _: &mut dyn FitHandle, report: &EpochReport) -> Result<Control> {
        self.seconds += report.seconds;
        let Some(val) = report.validation.as_ref().map(|v| v.score()) else {
            return Ok(Control::Continue);
        };
        if val.accuracy < self.target {
            return Ok(Control::Continue);
        }
        self.reached = true;
        Ok(Control::Stop(format!(
            "reached val_accuracy {:.4} >= {} after {} epoch(s): {:.2}s of training (validation passes included)",
            val.accuracy, self.target, report.epoch, self.seconds
        )))
    }

    /// A target never reached is said, not passed over.
    fn on_train_end(&mut self, run: &mut dyn FitHandle) -> Result<Option<String>> {
        Ok((!self.reached).then(|| {
            format!(
                "val_accuracy never reached {} in {} epoch(s) ({:.2}s of training)",
                self.target,
                run.epochs_done(),
                self.seconds
            )
        }))
    }
}
