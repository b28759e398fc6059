//! `train --resume F`: the run's settings come from the checkpoint's training state, and a
//! setting given anew must agree with them (every setting of [`RunSettings`] that defines the
//! run, by its declared [`Resume`] role; `--epochs` may grow); the model comes from the
//! checkpoint; the weights, optimizer state, step count and epoch carry on where the
//! checkpoint left them.

use std::path::{Path, PathBuf};

use super::TrainArgs;
use crate::error::{Error, Result};
use crate::model::checkpoint::{self, CheckpointInfo, Weights};
use crate::model::{ModelSpec, ParamLayout};
use crate::settings;
use crate::train::state::{self, TrainingState};
use crate::train::RunSettings;

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
    let saved = saved_settings(&path, &state)?;
    check_settings(&path, &saved, &args.run, given)?;
    check_model(&path, &info, args, given)?;
    let mut resumed = args.clone();
    resumed.run = saved.clone();
    // Without a new place to save, the run goes on saving where it was saved.
    if args.save.is_none() && args.checkpoint_dir.is_none() {
        let given_dir = args.resume.as_deref().filter(|p| p.is_dir());
        match given_dir {
            Some(dir) => resumed.checkpoint_dir = Some(dir.to_path_buf()),
            None => resumed.save = Some(path.clone()),
        }
    }
    resumed.run.epochs = if given("epochs") {
        args.run.epochs
    } else {
        saved.epochs
    };
    if resumed.run.epochs <= state.epoch {
        return Err(Error::flag(
            "--epochs",
            format!(
                "{}: {} has finished {} epochs already; ask for more",
                resumed.run.epochs,
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

/// The settings the training state recorded, each checked as its flag would be. (States
/// written before the settings were declared in one place hold a subset under `flags`; the
/// rest take their defaults, which those runs had.)
fn saved_settings(path: &Path, state: &TrainingState) -> Result<RunSettings> {
    let source = state::path_for(path).display().to_string();
    let saved = match state.run.get("settings") {
        Some(s) => s,
        None => &state.run["flags"],
    };
    let Some(map) = saved.as_object() else {
        return Err(Error::file(
            &source,
            "holds no run settings; expected the training state of a `train --save` run",
        ));
    };
    settings::from_map(map, Some(&source))
}

/// Every setting that defines the run and is given anew must be what the checkpoint was
/// trained with: all of [`RunSettings`]'s but those whose declared role says otherwise.
fn check_settings(
    path: &Path,
    saved: &RunSettings,
    asked: &RunSettings,
    given: &dyn Fn(&str) -> bool,
) -> Result<()> {
    let Some((key, was, now)) = saved.first_change(asked, given) else {
        return Ok(());
    };
    let message = match key {
        "dataset" => format!("{}: trained on {was}, given {now}", path.display()),
        _ => format!(
            "{}: trained with {} {was}, given {now}",
            path.display(),
            settings::flag_of(key)
        ),
    };
    Err(Error::Mismatch(message))
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
    let asked = ModelSpec::from_arg(&args.run.model, args.run.activation, info.classes)?;
    match info.spec.difference(&asked) {
        None => Ok(()),
        Some(d) => Err(Error::Mismatch(format!("{}: {d}", path.display()))),
    }
}
