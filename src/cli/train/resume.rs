//! `train --resume F`: the run's settings come from the checkpoint's training state, and a
//! setting given anew must agree with them (every setting of [`RunSettings`] that defines the
//! run, by its declared [`Resume`] role; `--epochs` may grow); the model comes from the
//! checkpoint; the weights, optimizer state, step count and epoch carry on where the
//! checkpoint left them.

use std::path::{Path, PathBuf};

use super::TrainArgs;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::checkpoint::{self, CheckpointInfo, Weights};
use crate::model::{ModelSpec, ParamLayout};
use crate::settings;
use crate::settings::RunSettings;
use crate::train::state::{self, TrainingState};

/// What a resumed run starts from.
pub struct Resumed {
    pub path: PathBuf,
    pub spec: ModelSpec,
    pub weights: Weights,
    pub state: TrainingState,
    /// The run's identity and data, as its state recorded them.
    pub record: RunIdentity,
}

/// What identifies a run across its checkpoints: an id drawn when it starts, and the data it
/// trains on (where it was found, and its [`Dataset::fingerprint`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RunIdentity {
    pub run_id: String,
    pub data_dir: String,
    pub fingerprint: String,
}

impl RunIdentity {
    /// A new run's: a fresh id, and `dataset`'s place and fingerprint.
    pub fn new(dataset: &Dataset) -> RunIdentity {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut g = crate::floor::rng::SplitMix64::new(nanos ^ ((std::process::id() as u64) << 32));
        RunIdentity {
            run_id: format!("{:016x}", g.next_u64()),
            data_dir: dataset.dir.display().to_string(),
            fingerprint: dataset.fingerprint(),
        }
    }

    /// What the training state records of the run: its settings, id and data.
    pub fn state_json(&self, settings: &RunSettings) -> serde_json::Value {
        serde_json::json!({
            "settings": settings::to_map(settings),
            "run_id": self.run_id,
            "data": { "dir": self.data_dir, "fingerprint": self.fingerprint },
        })
    }

    /// The record a state holds (an older state's lacks some: a fresh id, no data to check).
    fn of_state(state: &TrainingState) -> RunIdentity {
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        RunIdentity {
            run_id: state.run["run_id"]
                .as_str()
                .map_or_else(|| format!("earlier-{}", state.steps), str::to_string),
            data_dir: text(&state.run["data"]["dir"]),
            fingerprint: text(&state.run["data"]["fingerprint"]),
        }
    }
}

/// Every optimizer state tensor that is never negative (a mean of squares: Adam's and
/// RMSprop's) holds no negative value; the error names the tensor, as the state file does.
fn check_state_ranges(
    state: &TrainingState,
    settings: &RunSettings,
    trainable: &ParamLayout,
) -> std::result::Result<(), String> {
    let optimizer = settings.optimizer().map_err(|e| e.to_string())?;
    for (k, declared) in optimizer.state().iter().enumerate() {
        let tensors = state.optimizer.get(k).into_iter().flatten();
        for (values, slot) in tensors.zip(&trainable.tensors) {
            let negative = values.iter().position(|v| *v < 0.0);
            if let (true, Some(i)) = (declared.non_negative, negative) {
                return Err(format!(
                    "tensor 'optimizer/{k}/{}' holds {} at index {i}; {}'s {} is never negative (the file is corrupt)",
                    slot.spec.name,
                    values[i],
                    optimizer.name(),
                    declared.name
                ));
            }
        }
    }
    Ok(())
}

impl Resumed {
    /// The data opened for the resumed run must be the data the run trained on.
    pub fn check_data(&self, dataset: &Dataset) -> Result<()> {
        let want = &self.record.fingerprint;
        let got = dataset.fingerprint();
        if want.is_empty() || *want == got {
            return Ok(());
        }
        Err(Error::Mismatch(format!(
            "{}: the run trained on other data (fingerprint {want}, from {}) than {} holds (fingerprint {got}); give its data with --data",
            self.path.display(),
            self.record.data_dir,
            dataset.dir.display()
        )))
    }
}

/// The arguments of the resumed run (the checkpoint's flags, with the command line's for
/// everything else) and what it starts from. `given(id)` says whether a flag was on the
/// command line.
pub fn prepare(args: &TrainArgs, given: &dyn Fn(&str) -> bool) -> Result<(TrainArgs, Resumed)> {
    let path = checkpoint_of(args.resume.as_deref().expect("--resume given"))?;
    let info = checkpoint::load_info(&path)?;
    let net = info.spec.compile(info.input, info.classes)?;
    let trainable = ParamLayout::trainable(&net, 1);
    let state = state::load_matching(&path, (info.save.as_deref(), info.epoch), &trainable)?;
    let source = state::path_for(&path).display().to_string();
    let saved = state.settings(&source)?;
    // What the state holds must be what a run could have written: its settings one that
    // trains, its optimizer's state in the optimizer's range.
    saved
        .check()
        .map_err(|e| Error::file(&source, format!("its settings: {e}")))?;
    check_state_ranges(&state, &saved, &trainable).map_err(|e| Error::file(&source, e))?;
    // The history it continues: every value a number, every list one per epoch.
    crate::train::History::in_memory(None)
        .restore(&state.run["history"])
        .map_err(|e| Error::file(&source, e.to_string()))?;
    check_settings(&path, &saved, &args.run, given)?;
    check_model(&path, &info, args, given)?;
    let mut resumed = args.clone();
    resumed.run = saved.clone();
    let record = RunIdentity::of_state(&state);
    // Without --data, the run goes on with the data it was trained on, where it still is.
    let recorded = PathBuf::from(&record.data_dir);
    if args.source.data.is_none() && recorded.exists() {
        resumed.source.data = Some(recorded);
    }
    // The run saves on to the checkpoint it continues, or into its directory (unless told
    // otherwise): they are handed over from the inputs to the outputs.
    let named = args.resume.clone().expect("--resume given");
    for file in [
        named,
        path.clone(),
        state::path_for(&path),
        state::pending_path(&path),
    ] {
        crate::input::hand_over(&file);
    }
    // Without a new place to save, the run goes on saving where it was saved.
    // A checkpoint of a --checkpoint-dir (the directory, its best or an epoch's) goes on in
    // that directory, as --save-best-only where it holds no epoch checkpoint.
    if args.save.is_none() && args.checkpoint_dir.is_none() {
        let given_dir = args.resume.as_deref().filter(|p| p.is_dir());
        match given_dir
            .map(Path::to_path_buf)
            .or_else(|| checkpoint_dir_of(&path))
        {
            Some(dir) => {
                resumed.save_best_only = !holds_epochs(&dir);
                resumed.checkpoint_dir = Some(dir);
            }
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
            record,
            state,
        },
    ))
}

/// A `--checkpoint-dir` takes one run's checkpoints: refused when it holds another run's
/// (whose saves carry another run id; for a new run, also checkpoints that carry none,
/// written before saves had ids), so that a later `--resume DIR` cannot pick up a stranger's
/// epochs.
pub fn check_dir_belongs(dir: &Path, run_id: &str, resuming: bool) -> Result<()> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let ours = format!("{run_id}/");
    for entry in read.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let weights = name.ends_with(".safetensors") && !name.contains(".state.");
        if !weights || !(name.starts_with("epoch-") || name == "best.safetensors") {
            continue;
        }
        let save = checkpoint::load_info(&entry.path())
            .ok()
            .and_then(|i| i.save);
        let foreign = match save {
            Some(s) => !s.starts_with(&ours),
            None => !resuming,
        };
        if foreign {
            let what = match resuming {
                // Resuming into it: its checkpoints are of two runs, and resuming it again
                // would not help.
                true => "; move one run's checkpoints to a directory of their own".to_string(),
                false => format!(
                    "; resume that run with --resume {}, or give this one another directory",
                    dir.display()
                ),
            };
            return Err(Error::flag(
                "--checkpoint-dir",
                format!("{} holds {name} of another run{what}", dir.display()),
            ));
        }
    }
    Ok(())
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
    // By epoch number, not by name: epoch-1000 is later than epoch-999.
    let latest = read
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter_map(|n| {
            let epoch = n.strip_prefix("epoch-")?.strip_suffix(".safetensors")?;
            Some((epoch.parse::<u64>().ok()?, n))
        })
        .max();
    // A --save-best-only directory holds best.safetensors alone.
    let best = path.join(BEST);
    match latest {
        Some((_, n)) => Ok(path.join(n)),
        None if best.is_file() => Ok(best),
        None => Err(Error::file(
            path,
            "holds no epoch-NNN.safetensors or best.safetensors checkpoint; expected a --checkpoint-dir",
        )),
    }
}

/// Whether `dir` holds an epoch's checkpoint (a directory that only ever got the best holds
/// none: one of `--save-best-only`).
fn holds_epochs(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("epoch-")
                && name.ends_with(".safetensors")
                && !name.contains(".state.")
        })
    })
}

/// The best checkpoint of a `--checkpoint-dir`.
const BEST: &str = "best.safetensors";

/// The `--checkpoint-dir` that `checkpoint` is one of (an `epoch-NNN.safetensors` or
/// `best.safetensors` there), if it is: a run resumed from it goes on saving there.
fn checkpoint_dir_of(checkpoint: &Path) -> Option<PathBuf> {
    let name = checkpoint.file_name()?.to_string_lossy().into_owned();
    let epoch = name
        .strip_prefix("epoch-")
        .and_then(|n| n.strip_suffix(".safetensors"))
        .is_some_and(|n| n.parse::<u64>().is_ok());
    let dir = checkpoint.parent().filter(|p| !p.as_os_str().is_empty());
    (epoch || name == BEST).then(|| dir.unwrap_or(Path::new(".")).to_path_buf())
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
