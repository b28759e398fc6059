//! Saving the weights after every epoch.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{Callback, Control};
use crate::error::Result;
use crate::model::checkpoint::{self, CheckpointInfo};
use crate::model::{ModelSpec, Network, ParamLayout};
use crate::train::{EpochReport, Trainer};

/// Writes the weights to a checkpoint after every epoch (safetensors, Keras's names; written
/// beside and renamed, so an interrupted run keeps its last finished epoch).
pub struct SaveCheckpoint {
    path: PathBuf,
    metadata: HashMap<String, String>,
    trainable: ParamLayout,
    non_trainable: ParamLayout,
}

impl SaveCheckpoint {
    /// Saves to `path` a network of `spec` trained on `dataset` (its name, as `--dataset`).
    pub fn new(path: PathBuf, spec: &ModelSpec, net: &Network, dataset: &str) -> SaveCheckpoint {
        SaveCheckpoint {
            path,
            metadata: CheckpointInfo::metadata(spec, net, dataset),
            // Per-tensor layouts (no GPU padding): what checkpoints hold.
            trainable: ParamLayout::trainable(net, 1),
            non_trainable: ParamLayout::non_trainable(net, 1),
        }
    }
}

impl Callback for SaveCheckpoint {
    fn on_epoch_end(&mut self, trainer: &mut Trainer, report: &EpochReport) -> Result<Control> {
        let mut metadata = self.metadata.clone();
        metadata.insert("epoch".to_string(), report.epoch.to_string());
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
