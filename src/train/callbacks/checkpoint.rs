//! Saving the weights after every epoch.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{Callback, Control};
use crate::error::Result;
use crate::model::{checkpoint, ModelSpec, Network, ParamLayout};
use crate::train::{EpochReport, Trainer};

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
