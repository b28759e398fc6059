//! Checkpoints in the safetensors format (readable by PyTorch, JAX and Hugging Face tools):
//! every trainable tensor and moving statistic under Keras's weight names
//! (`conv2d/kernel`, `batch_normalization/moving_mean`, ...), in Keras's layouts (a conv
//! kernel is `[kh, kw, in_c, filters]`), f32. Metadata records the model spec, the dataset,
//! the input shape and classes, and the epoch ([`CheckpointInfo`]).
//! Optimizer state is not saved: a run started from a checkpoint starts its optimizer afresh.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::layout::ParamLayout;
use super::Network;
use crate::error::{Error, Result};
use crate::floor::Shape;

/// Writes `params` (per tensor of `trainable`) and `stats` (per tensor of `non_trainable`) to
/// `path`, atomically and durably ([`crate::output::replace`]): an interrupted save leaves the
/// previous checkpoint intact.
pub fn save(
    path: &Path,
    trainable: &ParamLayout,
    params: &[Vec<f32>],
    non_trainable: &ParamLayout,
    stats: &[Vec<f32>],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let tensors: Vec<(String, TensorView)> = trainable
        .tensors
        .iter()
        .zip(params)
        .chain(non_trainable.tensors.iter().zip(stats))
        .map(|(slot, values)| {
            let view = TensorView::new(
                Dtype::F32,
                slot.spec.shape.clone(),
                bytemuck::cast_slice(values),
            )
            .map_err(|e| Error::file(path, format!("tensor {}: {e}", slot.spec.name)))?;
            Ok((slot.spec.name.clone(), view))
        })
        .collect::<Result<_>>()?;
    let mut metadata = metadata;
    let all = trainable.tensors.iter().zip(params);
    let all = all.chain(non_trainable.tensors.iter().zip(stats));
    let sum = checksum(all.map(|(slot, values)| (slot.spec.name.as_str(), values.as_slice())));
    metadata.insert(CHECKSUM.to_string(), sum);
    let bytes = safetensors::tensor::serialize(tensors, Some(metadata))
        .map_err(|e| Error::file(path, format!("cannot encode the checkpoint: {e}")))?;
    crate::output::replace(path, &bytes)
}

/// The metadata key of the checksum of a checkpoint's tensors, which loading verifies.
pub const CHECKSUM: &str = "tensors_sha256";

/// SHA-256 (hex) of `tensors` in order: each one's name, then its f32 values' bytes.
fn checksum<'a>(tensors: impl Iterator<Item = (&'a str, &'a [f32])>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (name, values) in tensors {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(bytemuck::cast_slice::<f32, u8>(values));
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks the tensors read against the checksum the checkpoint records, if it records one
/// (checkpoints written before it did are read as they are).
fn verify(
    path: &Path,
    bytes: &[u8],
    (layouts, weights): ([&ParamLayout; 2], [&[Vec<f32>]; 2]),
) -> Result<()> {
    let Ok((_, header)) = SafeTensors::read_metadata(bytes) else {
        return Ok(());
    };
    let Some(recorded) = header.metadata().as_ref().and_then(|m| m.get(CHECKSUM)) else {
        return Ok(());
    };
    let all = layouts[0].tensors.iter().zip(weights[0]);
    let all = all.chain(layouts[1].tensors.iter().zip(weights[1]));
    let sum = checksum(all.map(|(slot, values)| (slot.spec.name.as_str(), values.as_slice())));
    match sum == *recorded {
        true => Ok(()),
        false => Err(Error::file(
            path,
            format!("its tensors' bytes do not match the checksum it records ({CHECKSUM}): the file is corrupt; use another copy or an earlier checkpoint"),
        )),
    }
}

/// Trainable tensors and moving statistics, each a `Vec` per tensor in layout order.
pub type Weights = (Vec<Vec<f32>>, Vec<Vec<f32>>);

/// Reads a checkpoint for a network laid out as `trainable` and `non_trainable`: every tensor
/// must be present with its shape and dtype f32; tensors the network lacks are an error too.
pub fn load(path: &Path, trainable: &ParamLayout, non_trainable: &ParamLayout) -> Result<Weights> {
    load_from(path, &read(path)?, (trainable, non_trainable))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    crate::input::read(path)
}

/// As [`load`], from the file's `bytes` (`path` names it in errors).
pub fn load_from(
    path: &Path,
    bytes: &[u8],
    (trainable, non_trainable): (&ParamLayout, &ParamLayout),
) -> Result<Weights> {
    let err = |msg: String| Error::file(path, msg);
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| err(format!("not a safetensors checkpoint: {e}")))?;
    let read = |layout: &ParamLayout| -> Result<Vec<Vec<f32>>> {
        layout
            .tensors
            .iter()
            .map(|slot| {
                let name = &slot.spec.name;
                let t = file.tensor(name).map_err(|_| {
                    err(format!(
                        "tensor '{name}' is missing; the model has {} {:?}",
                        name, slot.spec.shape
                    ))
                })?;
                if t.dtype() != Dtype::F32 || t.shape() != slot.spec.shape.as_slice() {
                    return Err(err(format!(
                        "tensor '{name}' is {:?} {:?}; the model expects F32 {:?}",
                        t.dtype(),
                        t.shape(),
                        slot.spec.shape
                    )));
                }
                let values: Vec<f32> = bytemuck::pod_collect_to_vec(t.data());
                if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                    return Err(err(format!(
                        "tensor '{name}' holds {} at index {i}; a checkpoint of a diverged run cannot be used",
                        values[i]
                    )));
                }
                Ok(values)
            })
            .collect()
    };
    let params = read(trainable)?;
    let stats = read(non_trainable)?;
    verify(path, bytes, ([trainable, non_trainable], [&params, &stats]))?;
    let known = trainable.tensors.len() + non_trainable.tensors.len();
    if file.len() != known {
        let extra: Vec<&str> = file
            .names()
            .into_iter()
            .filter(|n| trainable.get(n).is_none() && non_trainable.get(n).is_none())
            .collect();
        return Err(err(format!(
            "holds tensors the model does not have: {}; is it a checkpoint of another model?",
            extra.join(", ")
        )));
    }
    Ok((params, stats))
}

/// The `format` of the checkpoints this version writes and reads.
pub const FORMAT: &str = "shaderfit checkpoint 1";

/// What a checkpoint's metadata says of the run that wrote it.
#[derive(Clone, Debug)]
pub struct CheckpointInfo {
    pub spec: super::ModelSpec,
    /// The dataset it was trained on (`mnist`, `fashion-mnist`), when recorded.
    pub dataset: Option<String>,
    /// One sample's shape and the classes (28x28x1 and 10 when not recorded: checkpoints
    /// written before these were saved were all of MNIST's shape).
    pub input: Shape,
    pub classes: usize,
    /// Epochs trained, when recorded.
    pub epoch: Option<usize>,
    /// The training run's `--augment` spec, when it had one.
    pub augment: Option<String>,
    /// The save it was written by (the run's id and the epoch), which its training state
    /// shares; none in checkpoints written before saves had ids.
    pub save: Option<String>,
    /// The classes' names, when recorded (image-folder sets name them after the folders).
    pub class_names: Option<Vec<String>>,
}

impl CheckpointInfo {
    /// The metadata entries [`save`] writes for a network of this spec trained on `dataset`.
    pub fn metadata(
        spec: &super::ModelSpec,
        net: &Network,
        dataset: &str,
    ) -> HashMap<String, String> {
        let i = net.input;
        HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("model".to_string(), spec.to_json().to_string()),
            ("dataset".to_string(), dataset.to_string()),
            ("input".to_string(), format!("{}x{}x{}", i.h, i.w, i.c)),
            ("classes".to_string(), net.classes.to_string()),
        ])
    }

    /// An error unless the checkpoint was trained on `dataset` (named as the user named it).
    pub fn check_dataset(&self, path: &Path, dataset: &str) -> Result<()> {
        match &self.dataset {
            Some(trained) if trained != dataset => Err(Error::Mismatch(format!(
                "{}: trained on {trained}, given {dataset}",
                path.display()
            ))),
            _ => Ok(()),
        }
    }
}

/// The model spec and run facts a checkpoint was saved with (its metadata), for commands that
/// take the model from the checkpoint rather than from flags.
pub fn load_info(path: &Path) -> Result<CheckpointInfo> {
    info_from(path, &read(path)?)
}

/// As [`load_info`], from the file's `bytes` (`path` names it in errors).
pub fn info_from(path: &Path, bytes: &[u8]) -> Result<CheckpointInfo> {
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| Error::file(path, format!("not a safetensors checkpoint: {e}")))?;
    let empty = HashMap::new();
    let meta = header.metadata().as_ref().unwrap_or(&empty);
    match meta.get("format").map(String::as_str) {
        Some(FORMAT) => {}
        Some(other) if other.starts_with("shaderfit training state") => {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let weights = name.replace(".state.pending.", ".").replace(".state.", ".");
            return Err(Error::file(
                path,
                format!("is a checkpoint's training state (the optimizer's, for --resume), not a checkpoint; give the checkpoint beside it, {weights}"),
            ));
        }
        Some(other) => {
            return Err(Error::file(
                path,
                format!("format '{other}'; this shaderfit reads '{FORMAT}'"),
            ))
        }
        None => {
            return Err(Error::file(
                path,
                "the metadata names no format; expected a checkpoint written by `shaderfit train --save`",
            ))
        }
    }
    let text = meta.get("model").ok_or_else(|| {
        Error::file(
            path,
            "the checkpoint's metadata holds no model spec; expected one written by `shaderfit train --save`",
        )
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let spec = super::ModelSpec::from_json(&name, text)
        .map_err(|e| Error::file(path, format!("the model spec in its metadata: {e}")))?;
    let number = |key: &str| -> Result<Option<usize>> {
        meta.get(key)
            .map(|v| {
                v.parse().map_err(|_| {
                    Error::file(path, format!("metadata '{key}' is '{v}'; expected a count"))
                })
            })
            .transpose()
    };
    let input = match meta.get("input") {
        None => Shape::new(28, 28, 1),
        Some(v) => parse_shape(v).ok_or_else(|| {
            Error::file(
                path,
                format!("metadata 'input' is '{v}'; expected HxWxC such as 28x28x1"),
            )
        })?,
    };
    Ok(CheckpointInfo {
        spec,
        dataset: meta.get("dataset").cloned(),
        input,
        classes: number("classes")?.unwrap_or(10),
        epoch: number("epoch")?,
        augment: meta.get("augment").cloned(),
        save: meta.get("save").cloned(),
        class_names: class_names(path, meta.get("class_names"))?,
    })
}

/// The `class_names` metadata: a JSON array of strings.
fn class_names(path: &Path, text: Option<&String>) -> Result<Option<Vec<String>>> {
    text.map(|t| {
        serde_json::from_str(t).map_err(|_| {
            Error::file(
                path,
                format!("metadata 'class_names' is '{t}'; expected a JSON array of names"),
            )
        })
    })
    .transpose()
}

fn parse_shape(text: &str) -> Option<Shape> {
    let dims: Vec<usize> = text
        .split('x')
        .map(|d| d.parse().ok())
        .collect::<Option<_>>()?;
    match dims[..] {
        [h, w, c] if h * w * c > 0 => Some(Shape::new(h, w, c)),
        _ => None,
    }
}
