//! `train --resume F`: the run's defining flags come from the checkpoint's training state, and
//! a flag given anew must agree with them; the model comes from the checkpoint; the weights,
//! optimizer state, step count and epoch carry on where the checkpoint left them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::TrainArgs;
use crate::data::DatasetKind;
use crate::error::{Error, Result};
use crate::model::checkpoint::{self, CheckpointInfo, Weights};
use crate::model::{ModelSpec, ParamLayout};
use crate::train::state::{self, TrainingState};

/// The flags that define a run (what it trains, on what, how): saved in the training state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunFlags {
    pub dataset: String,
    pub optimizer: String,
    pub lr: Option<f32>,
    pub momentum: Option<f32>,
    pub weight_decay: Option<f32>,
    #[serde(default)]
    pub beta1: Option<f32>,
    #[serde(default)]
    pub beta2: Option<f32>,
    pub batch_size: usize,
    pub seed: u64,
    pub validation_split: f64,
    /// Absent from the state of runs before label smoothing existed: none.
    #[serde(default)]
    pub label_smoothing: f32,
    #[serde(default)]
    pub augment: Option<String>,
    pub lr_schedule: String,
    pub decay_rate: f64,
    pub decay_epochs: f64,
    pub lr_floor: f64,
    pub warmup_epochs: f64,
    pub epochs: usize,
}

impl RunFlags {
    pub fn of(a: &TrainArgs) -> RunFlags {
        RunFlags {
            dataset: a.dataset.name().to_string(),
            optimizer: a.optimizer.clone(),
            lr: a.lr,
            momentum: a.momentum,
            weight_decay: a.weight_decay,
            beta1: a.beta1,
            beta2: a.beta2,
            batch_size: a.batch_size,
            seed: a.seed,
            validation_split: a.validation_split,
            label_smoothing: a.label_smoothing,
            augment: a.augment.clone(),
            lr_schedule: a.lr_schedule.clone(),
            decay_rate: a.decay_rate,
            decay_epochs: a.decay_epochs,
            lr_floor: a.lr_floor,
            warmup_epochs: a.warmup_epochs,
            epochs: a.epochs,
        }
    }

    /// Each flag as (its argument id, its value as text), for comparisons and messages.
    fn entries(&self) -> Vec<(&'static str, String)> {
        let opt = |v: Option<f32>| v.map_or("its default".to_string(), |v| v.to_string());
        vec![
            ("dataset", self.dataset.clone()),
            ("optimizer", self.optimizer.clone()),
            ("lr", opt(self.lr)),
            ("momentum", opt(self.momentum)),
            ("weight_decay", opt(self.weight_decay)),
            ("beta1", opt(self.beta1)),
            ("beta2", opt(self.beta2)),
            ("batch_size", self.batch_size.to_string()),
            ("seed", self.seed.to_string()),
            ("validation_split", self.validation_split.to_string()),
            ("label_smoothing", self.label_smoothing.to_string()),
            (
                "augment",
                self.augment.clone().unwrap_or_else(|| "none".into()),
            ),
            ("lr_schedule", self.lr_schedule.clone()),
            ("decay_rate", self.decay_rate.to_string()),
            ("decay_epochs", self.decay_epochs.to_string()),
            ("lr_floor", self.lr_floor.to_string()),
            ("warmup_epochs", self.warmup_epochs.to_string()),
        ]
    }
}

/// What a resumed run starts from.
pub struct Resumed {
    pub path: PathBuf,
    pub spec: ModelSpec,
    pub weights: Weights,
    pub state: TrainingState,
}

/// The arguments of the resumed run (the checkpoint's flags, with the command line's for
/// everything else) and what it starts from. `given(id)` says whether a flag was on the
/// command line.
pub fn prepare(args: &TrainArgs, given: &dyn Fn(&str) -> bool) -> Result<(TrainArgs, Resumed)> {
    let path = checkpoint_of(args.resume.as_deref().expect("--resume given"))?;
    let info = checkpoint::load_info(&path)?;
    let net = info.spec.compile(info.input, info.classes)?;
    let trainable = ParamLayout::trainable(&net, 1);
    let state = state::load(&state::path_for(&path), &trainable)?;
    if info.epoch != Some(state.epoch) {
        return Err(Error::file(
            &path,
            format!(
                "its weights are of epoch {} and its training state of epoch {}; the run was killed while saving, so resume from the other file of the pair's run or an earlier checkpoint",
                info.epoch.map_or("?".into(), |e| e.to_string()),
                state.epoch
            ),
        ));
    }
    let saved: RunFlags = serde_json::from_value(state.run["flags"].clone())
        .map_err(|e| Error::file(&path, format!("its training state's flags: {e}")))?;
    check_flags(&path, &saved, &RunFlags::of(args), given)?;
    check_model(&path, &info, args, given)?;
    let mut resumed = args.clone();
    apply(&saved, &mut resumed)?;
    // Without a new place to save, the run goes on saving where it was saved.
    if args.save.is_none() && args.checkpoint_dir.is_none() {
        let given_dir = args.resume.as_deref().filter(|p| p.is_dir());
        match given_dir {
            Some(dir) => resumed.checkpoint_dir = Some(dir.to_path_buf()),
            None => resumed.save = Some(path.clone()),
        }
    }
    resumed.epochs = if given("epochs") {
        args.epochs
    } else {
        saved.epochs
    };
    if resumed.epochs <= state.epoch {
        return Err(Error::flag(
            "--epochs",
            format!(
                "{}: {} has finished {} epochs already; ask for more",
                resumed.epochs,
                path.display(),
                state.epoch
            ),
        ));
    }
    let weights = checkpoint::load(&path, &trainable, &ParamLayout::non_trainable(&net, 1))?;
    let spec = info.spec;
    Ok((
        resumed,
        Resumed {
            path,
            spec,
            weights,
            state,
        },
    ))
}

/// A checkpoint file, or in a `--checkpoint-dir` the latest epoch's.
fn checkpoint_of(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let read = std::fs::read_dir(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let latest = read
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| {
            n.starts_with("epoch-")
                && n.ends_with(".safetensors")
                && !n.ends_with(".state.safetensors")
        })
        .max();
    latest.map(|n| path.join(n)).ok_or_else(|| {
        Error::file(
            path,
            "holds no epoch-NNN.safetensors checkpoint; expected a --checkpoint-dir",
        )
    })
}

/// A run-defining flag given anew must be what the checkpoint was trained with.
fn check_flags(
    path: &Path,
    saved: &RunFlags,
    asked: &RunFlags,
    given: &dyn Fn(&str) -> bool,
) -> Result<()> {
    for ((id, was), (_, now)) in saved.entries().into_iter().zip(asked.entries()) {
        if given(id) && was != now {
            let message = if id == "dataset" {
                format!("{}: trained on {was}, given {now}", path.display())
            } else {
                let flag = format!("--{}", id.replace('_', "-"));
                format!("{}: trained with {flag} {was}, given {now}", path.display())
            };
            return Err(Error::Mismatch(message));
        }
    }
    Ok(())
}

/// `--model` (or `--activation`) given with `--resume` must be the checkpoint's model.
fn check_model(
    path: &Path,
    info: &CheckpointInfo,
    args: &TrainArgs,
    given: &dyn Fn(&str) -> bool,
) -> Result<()> {
    if !(given("model") || given("activation")) {
        return Ok(());
    }
    let asked = ModelSpec::from_arg(&args.model, args.activation, info.classes)?;
    match info.spec.difference(&asked) {
        None => Ok(()),
        Some(d) => Err(Error::Mismatch(format!("{}: {d}", path.display()))),
    }
}

/// Takes the checkpoint's run-defining flags.
fn apply(saved: &RunFlags, args: &mut TrainArgs) -> Result<()> {
    args.dataset = DatasetKind::from_name(&saved.dataset).ok_or_else(|| {
        Error::Mismatch(format!(
            "the checkpoint's dataset '{}' is unknown",
            saved.dataset
        ))
    })?;
    args.optimizer = saved.optimizer.clone();
    args.lr = saved.lr;
    args.momentum = saved.momentum;
    args.weight_decay = saved.weight_decay;
    args.beta1 = saved.beta1;
    args.beta2 = saved.beta2;
    args.batch_size = saved.batch_size;
    args.seed = saved.seed;
    args.validation_split = saved.validation_split;
    args.label_smoothing = saved.label_smoothing;
    args.augment = saved.augment.clone();
    args.lr_schedule = saved.lr_schedule.clone();
    args.decay_rate = saved.decay_rate;
    args.decay_epochs = saved.decay_epochs;
    args.lr_floor = saved.lr_floor;
    args.warmup_epochs = saved.warmup_epochs;
    Ok(())
}
