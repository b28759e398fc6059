//! What runs between epochs: callbacks that [`super::Trainer::fit`] calls in order, as Keras's
//! `callbacks=[...]`. The library's own are here, one file each (saving a checkpoint, the
//! history, early stopping, ReduceLROnPlateau, stopping at an accuracy); the CLI adds its
//! progress bar and per-epoch lines. Each watches the epoch's logs by key. CONTRIBUTING.md
//! says how to add one.

pub mod checkpoint;
mod early_stopping;
mod history;
mod reduce_lr;
mod stop_at_accuracy;

pub use checkpoint::SaveCheckpoint;
pub use early_stopping::{EarlyStopping, Monitor, Patience};
pub use history::{check_path as check_history_path, History};
pub use reduce_lr::ReduceLrOnPlateau;
pub use stop_at_accuracy::StopAtAccuracy;

use super::epoch_report::EpochReport;
use super::live::Progress;
use super::trainer::Trainer;
use crate::error::Result;

/// What a callback tells the loop after an epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// Stop after this epoch, saying why.
    Stop(String),
    /// Go on, and tell the user this now (e.g. that the learning rate was reduced): every
    /// callback's [`Callback::on_note`] receives it.
    Note(String),
}

pub trait Callback {
    /// Before epoch `epoch` (from 1) of `steps` steps.
    fn on_epoch_begin(&mut self, _epoch: usize, _steps: usize) {}
    /// Where the epoch stands (steps done, phase, running metrics), about every 100 ms.
    fn on_progress(&mut self, _progress: &Progress) {}
    /// A note another callback made at the end of an epoch (see [`Control::Note`]).
    fn on_note(&mut self, _note: &str) {}
    /// After the epoch's metrics are in; may change the trainer's settings for the epochs to
    /// come (ReduceLROnPlateau lowers the learning rate).
    fn on_epoch_end(&mut self, _trainer: &mut Trainer, _report: &EpochReport) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// After the last epoch (or the one a callback stopped at); may change the weights (early
    /// stopping restores the best epoch's) and say so.
    fn on_train_end(&mut self, _trainer: &mut Trainer) -> Result<Option<String>> {
        Ok(None)
    }
}

/// How a [`Trainer::fit`] ended.
#[derive(Clone, Debug, Default)]
pub struct FitSummary {
    /// Epochs run.
    pub epochs: usize,
    /// Their seconds, validation passes included.
    pub seconds: f64,
    /// Why a callback stopped the run early.
    pub stopped: Option<String>,
    /// What callbacks said at the end (early stopping's restored epoch).
    pub notes: Vec<String>,
    pub last: Option<EpochReport>,
}
