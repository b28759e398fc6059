//! A run's training state beside its weights, so that `--resume` continues it bit for bit:
//! the optimizer's state tensors (velocity; m and v) and step count, the epochs finished (the
//! next shuffle is drawn from the seed and the epoch; dropout's masks from the seed and the
//! step count), the learning-rate multiplier ReduceLROnPlateau has reached, and what the
//! command line recorded of the run (model, dataset and its shape, optimizer, schedule, batch,
//! seed, the history so far).
//!
//! Stored as safetensors too (`<name>.state.safetensors` beside `<name>.safetensors`): tensors
//! `optimizer/<k>/<weight name>` in the weights' Keras layouts, the rest as metadata.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::Trainer;
use crate::error::{Error, Result};
use crate::model::ParamLayout;

const FORMAT: &str = "shaderfit training state 1";

#[derive(Clone, Debug, PartialEq)]
pub struct TrainingState {
    /// Epochs finished.
    pub epoch: usize,
    /// Training steps taken (the optimizer's t).
    pub steps: u64,
    /// The learning-rate multiplier on top of the schedule.
    pub lr_factor: f64,
    /// `[state tensor][weight tensor]` values, in the trainable layout's order.
    pub optimizer: Vec<Vec<Vec<f32>>>,
    /// What the caller recorded of the run (its settings, its history), as JSON.
    pub run: serde_json::Value,
}

/// The state file that goes with the weights file `weights`: `mlp.safetensors` ->
/// `mlp.state.safetensors`.
pub fn path_for(weights: &Path) -> PathBuf {
    let stem = weights.file_stem().unwrap_or_default().to_string_lossy();
    weights.with_file_name(format!("{stem}.state.safetensors"))
}

impl Trainer<'_> {
    /// The state after the last finished epoch (reads the optimizer's state back).
    pub fn training_state(&self, run: serde_json::Value) -> Result<TrainingState> {
        let plan = self.plan();
        let n = plan.layout.total;
        let optimizer = match &plan.optimizer_state {
            None => Vec::new(),
            Some(buffer) => {
                let flat = self.gpu().read_f32(buffer, 0, n * plan.optimizer_tensors)?;
                flat.chunks(n).map(|t| plan.layout.unpack(t)).collect()
            }
        };
        Ok(TrainingState {
            epoch: self.epochs_done(),
            steps: self.steps_taken(),
            lr_factor: self.lr_factor(),
            optimizer,
            run,
        })
    }

    /// Continues from `state`: the optimizer's tensors, its step count (on the GPU's cursor
    /// too, for Adam and dropout), the epochs done and the rate multiplier. The weights are
    /// set separately ([`Trainer::set_weights`]).
    pub fn restore(&mut self, state: &TrainingState) -> Result<()> {
        let plan = self.plan();
        if state.optimizer.len() != plan.optimizer_tensors {
            return Err(Error::Mismatch(format!(
                "the training state holds {} optimizer tensors per weight; the optimizer keeps {}",
                state.optimizer.len(),
                plan.optimizer_tensors
            )));
        }
        if let Some(buffer) = &plan.optimizer_state {
            let packed: Vec<f32> = state
                .optimizer
                .iter()
                .flat_map(|values| plan.layout.pack(values))
                .collect();
            self.gpu()
                .queue
                .write_buffer(buffer, 0, bytemuck::cast_slice(&packed));
        }
        let t = u32::try_from(state.steps).map_err(|_| {
            Error::Mismatch(format!(
                "{} steps do not fit the GPU's counter",
                state.steps
            ))
        })?;
        self.gpu()
            .queue
            .write_buffer(&plan.train_cursor, 0, bytemuck::cast_slice(&[0u32, t]));
        self.resume_at(state.epoch, state.steps, state.lr_factor);
        Ok(())
    }
}

/// Writes `state` for a network laid out as `trainable`, beside and renamed over `path`.
pub fn save(path: &Path, state: &TrainingState, trainable: &ParamLayout) -> Result<()> {
    let names: Vec<String> = (0..state.optimizer.len())
        .flat_map(|k| {
            trainable
                .tensors
                .iter()
                .map(move |t| format!("optimizer/{k}/{}", t.spec.name))
        })
        .collect();
    let views = state
        .optimizer
        .iter()
        .flat_map(|tensors| trainable.tensors.iter().zip(tensors))
        .zip(&names)
        .map(|((slot, values), name)| {
            let view = TensorView::new(
                Dtype::F32,
                slot.spec.shape.clone(),
                bytemuck::cast_slice(values),
            )
            .map_err(|e| Error::file(path, format!("tensor {name}: {e}")))?;
            Ok((name.clone(), view))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("epoch".to_string(), state.epoch.to_string()),
        ("steps".to_string(), state.steps.to_string()),
        ("lr_factor".to_string(), format!("{:e}", state.lr_factor)),
        ("run".to_string(), state.run.to_string()),
    ]);
    let bytes = safetensors::tensor::serialize(views, Some(metadata))
        .map_err(|e| Error::file(path, format!("cannot encode the training state: {e}")))?;
    crate::output::replace(path, &bytes)
}

/// Reads a state file written by [`save`] for a network laid out as `trainable`.
pub fn load(path: &Path, trainable: &ParamLayout) -> Result<TrainingState> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let err = |m: String| Error::file(path, m);
    let file =
        SafeTensors::deserialize(&bytes).map_err(|e| err(format!("not a training state: {e}")))?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| err(format!("not a training state: {e}")))?;
    let empty = HashMap::new();
    let meta = header.metadata().as_ref().unwrap_or(&empty);
    let field = |key: &str| {
        meta.get(key).ok_or_else(|| {
            err(format!(
                "metadata '{key}' is missing; expected a file written by `shaderfit train --save`"
            ))
        })
    };
    if field("format")? != FORMAT {
        return Err(err(format!(
            "format '{}'; expected '{FORMAT}'",
            field("format")?
        )));
    }
    let number = |key: &str| -> Result<f64> {
        field(key)?.parse().map_err(|_| {
            err(format!(
                "metadata '{key}' is '{}'; expected a number",
                meta[key]
            ))
        })
    };
    let states = (0..)
        .take_while(|k| {
            file.names()
                .iter()
                .any(|n| n.starts_with(&format!("optimizer/{k}/")))
        })
        .count();
    let optimizer = (0..states)
        .map(|k| {
            trainable
                .tensors
                .iter()
                .map(|slot| {
                    let name = format!("optimizer/{k}/{}", slot.spec.name);
                    let t = file
                        .tensor(&name)
                        .map_err(|_| err(format!("tensor '{name}' is missing")))?;
                    if t.dtype() != Dtype::F32 || t.shape() != slot.spec.shape.as_slice() {
                        return Err(err(format!(
                            "tensor '{name}' is {:?} {:?}; expected F32 {:?}",
                            t.dtype(),
                            t.shape(),
                            slot.spec.shape
                        )));
                    }
                    Ok(bytemuck::pod_collect_to_vec(t.data()))
                })
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    let run = serde_json::from_str(field("run")?)
        .map_err(|e| err(format!("metadata 'run' is not JSON: {e}")))?;
    Ok(TrainingState {
        epoch: number("epoch")? as usize,
        steps: number("steps")? as u64,
        lr_factor: number("lr_factor")?,
        optimizer,
        run,
    })
}
