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
use super::state::TrainingState;
use crate::error::Result;
use crate::eval::WeightsCopy;

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
    /// After the epoch's metrics are in (`report.logs`); may change the run's learning-rate
    /// factor for the epochs to come (ReduceLROnPlateau), copy or save the weights, or stop.
    fn on_epoch_end(&mut self, _run: &mut dyn FitHandle, _report: &EpochReport) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// After the last epoch (or the one a callback stopped at); may change the weights (early
    /// stopping restores the best epoch's) and say so.
    fn on_train_end(&mut self, _run: &mut dyn FitHandle) -> Result<Option<String>> {
        Ok(None)
    }
}

/// What a callback sees of the run between epochs, and all it may change: the learning rate
/// and its multiplier, the epochs done, and the weights (copied, restored, or read with the
/// training state for a checkpoint). The trainer implements it; a callback knows nothing else
/// of the trainer.
pub trait FitHandle {
    /// The learning rate of the last epoch's last step, as Keras's history records it.
    fn learning_rate(&self) -> f64;
    /// What the learning rate is multiplied by on top of the schedule.
    fn lr_factor(&self) -> f64;
    /// Sets that multiplier (ReduceLROnPlateau); it applies from the next epoch.
    fn set_lr_factor(&mut self, factor: f64);
    /// Epochs finished.
    fn epochs_done(&self) -> usize;
    /// Copies the weights and moving statistics into `into` (allocated on first use), on the
    /// GPU: no readback.
    fn copy_weights(&self, into: &mut Option<WeightsCopy>);
    /// Replaces the weights and moving statistics with a copy; the optimizer state is left as
    /// it is.
    fn restore_weights(&mut self, from: &WeightsCopy);
    /// The weights, moving statistics and training state after the last finished epoch (`run`:
    /// what the caller records of the run in the state), for a checkpoint: readbacks.
    fn checkpoint(&self, run: serde_json::Value) -> Result<Checkpointed>;
}

/// A run's weights and training state as a checkpoint saves them.
pub struct Checkpointed {
    /// Trainable tensors in [`crate::model::ParamLayout::trainable`] order.
    pub params: Vec<Vec<f32>>,
    /// Moving statistics in [`crate::model::ParamLayout::non_trainable`] order.
    pub stats: Vec<Vec<f32>>,
    pub state: TrainingState,
}

/// How a [`super::Trainer::fit`] ended.
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
