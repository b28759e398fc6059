//! What runs between epochs: callbacks that [`super::Trainer::fit`] calls in order, as Keras's
//! `callbacks=[...]`. The library's own are here (saving a checkpoint, stopping at an
//! accuracy); the CLI adds its progress bar and per-epoch lines. CONTRIBUTING.md says how to
//! add one.

use std::collections::HashMap;
use std::path::PathBuf;

use super::report::EpochReport;
use super::trainer::Trainer;
use crate::error::Result;
use crate::model::{checkpoint, ModelSpec, Network, ParamLayout};

/// What a callback tells the loop after an epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// Stop after this epoch, saying why.
    Stop(String),
}

pub trait Callback {
    /// Before epoch `epoch` (from 1) of `steps` steps.
    fn on_epoch_begin(&mut self, _epoch: usize, _steps: usize) {}
    /// Training steps of this epoch the GPU has finished, about every 100 ms.
    fn on_progress(&mut self, _steps_done: usize) {}
    /// After the epoch's metrics are in.
    fn on_epoch_end(&mut self, _trainer: &Trainer, _report: &EpochReport) -> Result<Control> {
        Ok(Control::Continue)
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
    pub last: Option<EpochReport>,
}

/// Writes the weights to a checkpoint after every epoch (safetensors, Keras's names; written
/// beside and renamed, so an interrupted run keeps its last finished epoch).
pub struct SaveCheckpoint {
    path: PathBuf,
    spec_json: String,
    trainable: ParamLayout,
    non_trainable: ParamLayout,
}

impl SaveCheckpoint {
    pub fn new(path: PathBuf, spec: &ModelSpec, net: &Network) -> SaveCheckpoint {
        SaveCheckpoint {
            path,
            spec_json: spec.to_json().to_string(),
            // Per-tensor layouts (no GPU padding): what checkpoints hold.
            trainable: ParamLayout::trainable(net, 1),
            non_trainable: ParamLayout::non_trainable(net, 1),
        }
    }
}

impl Callback for SaveCheckpoint {
    fn on_epoch_end(&mut self, trainer: &Trainer, report: &EpochReport) -> Result<Control> {
        let metadata = HashMap::from([
            ("format".to_string(), "shaderfit checkpoint 1".to_string()),
            ("model".to_string(), self.spec_json.clone()),
            ("epoch".to_string(), report.epoch.to_string()),
        ]);
        let (params, stats) = (trainer.read_params()?, trainer.read_stats()?);
        checkpoint::save(
            &self.path,
            &self.trainable,
            &params,
            &self.non_trainable,
            &stats,
            metadata,
        )?;
        Ok(Control::Continue)
    }
}

/// Stops after the first epoch whose validation accuracy reaches `target`, saying how long
/// training took.
pub struct StopAtAccuracy {
    target: f64,
    seconds: f64,
}

impl StopAtAccuracy {
    pub fn new(target: f64) -> StopAtAccuracy {
        StopAtAccuracy {
            target,
            seconds: 0.0,
        }
    }
}

impl Callback for StopAtAccuracy {
    fn on_epoch_end(&mut self, _: &Trainer, report: &EpochReport) -> Result<Control> {
        self.seconds += report.seconds;
        let Some(val) = report.validation.as_ref().map(|v| v.score()) else {
            return Ok(Control::Continue);
        };
        if val.accuracy < self.target {
            return Ok(Control::Continue);
        }
        Ok(Control::Stop(format!(
            "reached val_accuracy {:.4} >= {} after {} epoch(s): {:.2}s of training (validation passes included)",
            val.accuracy, self.target, report.epoch, self.seconds
        )))
    }
}
