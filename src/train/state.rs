//! A run's training state beside its weights, so that `--resume` continues it bit for bit:
//! the optimizer's state tensors (velocity; m and v) and step count, the epochs finished (the
//! next shuffle is drawn from the seed and the epoch; dropout's masks from the seed and the
//! step count), the learning-rate multiplier ReduceLROnPlateau has reached, and what the
//! command line recorded of the run (model, dataset and its shape, optimizer, schedule, batch,
//! seed, the history so far).
//!
//! Stored as safetensors too (`<name>.state.safetensors` beside `<name>.safetensors`): tensors
//! `optimizer/<k>/<weight name>` in the weights' Keras layouts, the rest as metadata.
//!
//! A checkpoint's weights and state are one unit: both carry the same save id (the run's id
//! and the epoch), and a save writes the state under a pending name first
//! (`<name>.state.pending.safetensors`), then the weights (the commit), then renames the
//! pending state into place. A run killed at any moment leaves weights whose state is one of
//! the two files ([`load_matching`] finds it): never a pair that cannot be resumed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Error, Result};
use crate::model::ParamLayout;
use crate::settings::RunSettings;

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
    /// The save it belongs to, as its weights' metadata records it (none in states written
    /// before saves had ids).
    pub save: Option<String>,
}

/// The state file that goes with the weights file `weights`: `mlp.safetensors` ->
/// `mlp.state.safetensors`.
pub fn path_for(weights: &Path) -> PathBuf {
    let stem = weights.file_stem().unwrap_or_default().to_string_lossy();
    weights.with_file_name(format!("{stem}.state.safetensors"))
}

/// Where a save writes its state before it commits the weights: `mlp.state.pending.safetensors`.
pub fn pending_path(weights: &Path) -> PathBuf {
    let stem = weights.file_stem().unwrap_or_default().to_string_lossy();
    weights.with_file_name(format!("{stem}.state.pending.safetensors"))
}

/// Moves a save's pending state into place, once its weights are committed.
pub fn commit(weights: &Path) -> Result<()> {
    let (from, to) = (pending_path(weights), path_for(weights));
    std::fs::rename(&from, &to).map_err(|e| Error::Io {
        path: to.clone(),
        source: e,
    })
}

/// The state of the weights `weights` whose metadata records save `save` and epoch `epoch`:
/// the state file, or the pending one where a save was killed between committing its weights
/// and moving its state into place. A state of another save is refused, naming both.
pub fn load_matching(
    weights: &Path,
    (save, epoch): (Option<&str>, Option<usize>),
    trainable: &ParamLayout,
) -> Result<TrainingState> {
    let belongs = |s: &TrainingState| match (save, &s.save) {
        (Some(id), Some(own)) => id == own,
        _ => Some(s.epoch) == epoch,
    };
    let pending = pending_path(weights);
    if pending.exists() {
        if let Ok(state) = load(&pending, trainable) {
            if belongs(&state) {
                return Ok(state);
            }
        }
    }
    let state = load(&path_for(weights), trainable)?;
    if belongs(&state) {
        return Ok(state);
    }
    Err(Error::file(
        weights,
        format!(
            "its weights are of epoch {} and its training state {} of epoch {}: they are of different saves; resume from a checkpoint whose pair is whole",
            epoch.map_or("?".into(), |e| e.to_string()),
            path_for(weights).display(),
            state.epoch
        ),
    ))
}

/// Writes `state` for a network laid out as `trainable`, beside and renamed over `path`.
pub fn save(path: &Path, state: &TrainingState, trainable: &ParamLayout) -> Result<()> {
    if let Some((name, i)) = first_non_finite(&state.optimizer, trainable) {
        return Err(Error::Diverged(format!(
            "the optimizer's state {name} holds a non-finite value at index {i}; nothing of this epoch was saved"
        )));
    }
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
    let mut metadata = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("epoch".to_string(), state.epoch.to_string()),
        ("steps".to_string(), state.steps.to_string()),
        ("lr_factor".to_string(), format!("{:e}", state.lr_factor)),
        ("run".to_string(), state.run.to_string()),
    ]);
    if let Some(save) = &state.save {
        metadata.insert("save".to_string(), save.clone());
    }
    let bytes = safetensors::tensor::serialize(views, Some(metadata))
        .map_err(|e| Error::file(path, format!("cannot encode the training state: {e}")))?;
    crate::output::replace(path, &bytes)
}

/// Reads a state file written by [`save`] for a network laid out as `trainable`.
pub fn load(path: &Path, trainable: &ParamLayout) -> Result<TrainingState> {
    load_from(path, &crate::input::read(path)?, trainable)
}

/// As [`load`], from the file's `bytes` (`path` names it in errors). Every value is checked:
/// counts are whole numbers, the rate multiplier in (0, 1], every optimizer tensor present
/// with its shape and finite.
pub fn load_from(path: &Path, bytes: &[u8], trainable: &ParamLayout) -> Result<TrainingState> {
    let err = |m: String| Error::file(path, m);
    let file =
        SafeTensors::deserialize(bytes).map_err(|e| err(format!("not a training state: {e}")))?;
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| err(format!("not a training state: {e}")))?;
    let empty = HashMap::new();
    let meta = Metadata {
        path,
        map: header.metadata().as_ref().unwrap_or(&empty),
    };
    if meta.field("format")? != FORMAT {
        return Err(err(format!(
            "format '{}'; expected '{FORMAT}'",
            meta.field("format")?
        )));
    }
    let optimizer = optimizer_tensors(&file, trainable).map_err(err)?;
    if let Some((name, i)) = first_non_finite(&optimizer, trainable) {
        return Err(err(format!(
            "tensor '{name}' holds a non-finite value at index {i}; the state of a diverged run cannot be resumed"
        )));
    }
    let run = serde_json::from_str(meta.field("run")?)
        .map_err(|e| err(format!("metadata 'run' is not JSON: {e}")))?;
    Ok(TrainingState {
        epoch: meta.count("epoch")? as usize,
        steps: meta.count("steps")?,
        lr_factor: meta.lr_factor()?,
        optimizer,
        run,
        save: meta.map.get("save").cloned(),
    })
}

/// A state file's metadata, each value read with an error naming the file and the key.
struct Metadata<'a> {
    path: &'a Path,
    map: &'a HashMap<String, String>,
}

impl Metadata<'_> {
    fn field(&self, key: &str) -> Result<&str> {
        self.map.get(key).map(String::as_str).ok_or_else(|| {
            Error::file(
                self.path,
                format!("metadata '{key}' is missing; expected a file written by `shaderfit train --save`"),
            )
        })
    }

    fn count(&self, key: &str) -> Result<u64> {
        let text = self.field(key)?;
        text.parse().map_err(|_| {
            Error::file(
                self.path,
                format!("metadata '{key}' is '{text}'; expected a count (a whole number >= 0)"),
            )
        })
    }

    fn lr_factor(&self) -> Result<f64> {
        let text = self.field("lr_factor")?;
        text.parse()
            .ok()
            .filter(|f: &f64| f.is_finite() && *f > 0.0 && *f <= 1.0)
            .ok_or_else(|| {
                Error::file(
                    self.path,
                    format!("metadata 'lr_factor' is '{text}'; expected a learning-rate multiplier in (0, 1]"),
                )
            })
    }
}

/// The optimizer's state tensors `optimizer/<k>/<weight>` of `file`, each with its weight's
/// shape, for every `k` from 0 the file has.
fn optimizer_tensors(
    file: &SafeTensors,
    trainable: &ParamLayout,
) -> std::result::Result<Vec<Vec<Vec<f32>>>, String> {
    let states = (0..)
        .take_while(|k| {
            file.names()
                .iter()
                .any(|n| n.starts_with(&format!("optimizer/{k}/")))
        })
        .count();
    let tensor = |name: &str, shape: &[usize]| -> std::result::Result<Vec<f32>, String> {
        let t = file
            .tensor(name)
            .map_err(|_| format!("tensor '{name}' is missing"))?;
        if t.dtype() != Dtype::F32 || t.shape() != shape {
            return Err(format!(
                "tensor '{name}' is {:?} {:?}; expected F32 {shape:?}",
                t.dtype(),
                t.shape(),
            ));
        }
        Ok(bytemuck::pod_collect_to_vec(t.data()))
    };
    (0..states)
        .map(|k| {
            trainable
                .tensors
                .iter()
                .map(|slot| {
                    tensor(
                        &format!("optimizer/{k}/{}", slot.spec.name),
                        &slot.spec.shape,
                    )
                })
                .collect()
        })
        .collect()
}

impl TrainingState {
    /// The run's settings it records, each checked as its flag would be (`source`, the state
    /// file, named in errors). States written before the settings were declared in one place
    /// hold a subset under `flags`; the rest take their defaults, which those runs had.
    pub fn settings(&self, source: &str) -> Result<RunSettings> {
        let saved = match self.run.get("settings") {
            Some(s) => s,
            None => &self.run["flags"],
        };
        let Some(map) = saved.as_object() else {
            return Err(Error::file(
                source,
                "holds no run settings; expected the training state of a `train --save` run",
            ));
        };
        crate::settings::from_map(map, Some(source))
    }
}

/// The first optimizer tensor (by its state file name) holding NaN or infinity, and where.
fn first_non_finite(
    optimizer: &[Vec<Vec<f32>>],
    trainable: &ParamLayout,
) -> Option<(String, usize)> {
    optimizer.iter().enumerate().find_map(|(k, tensors)| {
        tensors
            .iter()
            .zip(&trainable.tensors)
            .find_map(|(values, slot)| {
                let i = values.iter().position(|v| !v.is_finite())?;
                Some((format!("optimizer/{k}/{}", slot.spec.name), i))
            })
    })
}
