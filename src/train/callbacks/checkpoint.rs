//! Saving checkpoints, as Keras's `ModelCheckpoint` (plus the training state, so that a run can
//! resume): after every epoch, or only when the monitored metric improved, to one file or to a
//! directory that keeps the last few epochs and the best.
//!
//! A checkpoint is two files committed as one: the training state is written under a pending
//! name (`<name>.state.pending.safetensors`), then the weights (`<name>.safetensors`, each
//! write beside and renamed over its old self: the weights' rename is the commit), then the
//! pending state is renamed into place (`<name>.state.safetensors`). Both carry one save id
//! (the run's id and the epoch), so a run killed at any moment leaves the previous checkpoint
//! or the new one whole, and `--resume` finds its state ([`state::load_matching`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Callback, Control, FitHandle, History, Monitor};
use crate::error::{Error, Result};
use crate::model::checkpoint::{self, CheckpointInfo};
use crate::model::{ModelSpec, Network, ParamLayout};
use crate::train::epoch_report::EpochReport;
use crate::train::state::{self, TrainingState};

/// Where checkpoints go.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// One file, replaced each time.
    File(PathBuf),
    /// `epoch-NNN.safetensors` per epoch, keeping the last `keep`, and `best.safetensors`.
    Dir { dir: PathBuf, keep: usize },
}

pub struct SaveCheckpoint {
    target: Target,
    /// Save only when the monitored metric improved (Keras's `save_best_only`).
    best_only: bool,
    monitor: Monitor,
    best: f64,
    metadata: HashMap<String, String>,
    trainable: ParamLayout,
    non_trainable: ParamLayout,
    /// What the caller records of the run in the state (its settings, its id, its data), and
    /// the history so far.
    run: serde_json::Value,
    history: History,
}

impl SaveCheckpoint {
    /// Saves a network of `spec` trained on `dataset` (its name, as `--dataset`) to `target`
    /// after every epoch; `run` (`settings`, `run_id`, `data`, as the caller records them)
    /// goes into the training state, with the history. (The CLI also holds an
    /// [`crate::output::OutputLock`] on the target for the run.)
    pub fn new(
        target: Target,
        (spec, net): (&ModelSpec, &Network),
        dataset: &str,
        run: serde_json::Value,
    ) -> Result<SaveCheckpoint> {
        let monitor = Monitor::val_loss();
        let best = worst(&monitor);
        if let Target::Dir { dir, .. } = &target {
            crate::output::prepare_dir("--checkpoint-dir", dir)?;
        }
        let mut metadata = CheckpointInfo::metadata(spec, net, dataset);
        // The training augmentation, which `evaluate --tta` draws its copies with by default.
        if let Some(augment) = run["settings"]["augment"].as_str() {
            metadata.insert("augment".into(), augment.into());
        }
        Ok(SaveCheckpoint {
            target,
            best_only: false,
            monitor,
            best,
            metadata,
            // Per-tensor layouts (no GPU padding): what checkpoints hold.
            trainable: ParamLayout::trainable(net, 1),
            non_trainable: ParamLayout::non_trainable(net, 1),
            history: History::in_memory(None),
            run,
        })
    }

    /// Records the classes' names (what `predict` and the ONNX export call the classes).
    pub fn naming(mut self, class_names: &[String]) -> SaveCheckpoint {
        let names = serde_json::json!(class_names).to_string();
        self.metadata.insert("class_names".into(), names);
        self
    }

    /// Judges improvement by `monitor` (for `best.safetensors`, and with `best_only` for every
    /// save).
    pub fn monitoring(mut self, monitor: Monitor, best_only: bool) -> SaveCheckpoint {
        self.best = worst(&monitor);
        self.monitor = monitor;
        self.best_only = best_only;
        self
    }

    /// Continues the history of a resumed run (its JSON, as the state holds it).
    pub fn resuming(mut self, history: &serde_json::Value) -> Result<SaveCheckpoint> {
        self.history.restore(history)?;
        Ok(self)
    }

    /// Writes the run's checkpoint `path` as one unit (see the module's notes): the state
    /// under its pending name, the weights, then the state into place.
    fn save(&self, handle: &dyn FitHandle, path: &Path, epoch: usize) -> Result<()> {
        crate::output::failpoint("save-begin");
        let id = self.run["run_id"].as_str().unwrap_or("run");
        let save = format!("{id}/{epoch}");
        let mut run = self.run.clone();
        run["history"] = self.history.to_json();
        let saved = handle.checkpoint(run)?;
        let training = TrainingState {
            save: Some(save.clone()),
            ..saved.state
        };
        state::save(&state::pending_path(path), &training, &self.trainable)?;
        let mut metadata = self.metadata.clone();
        metadata.insert("epoch".to_string(), epoch.to_string());
        metadata.insert("save".to_string(), save);
        checkpoint::save(
            path,
            &self.trainable,
            &saved.params,
            &self.non_trainable,
            &saved.stats,
            metadata,
        )?;
        crate::output::failpoint("save-committed");
        state::commit(path)?;
        crate::output::failpoint("save-end");
        Ok(())
    }

    /// Removes `dir`'s epoch checkpoints but the last `keep`.
    fn prune(dir: &Path, keep: usize, epoch: usize) -> Result<()> {
        for old in 1..=epoch.saturating_sub(keep) {
            let path = epoch_path(dir, old);
            for file in [state::path_for(&path), state::pending_path(&path), path] {
                match std::fs::remove_file(&file) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(Error::Io {
                            path: file,
                            source: e,
                        })
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// `dir/epoch-007.safetensors`.
pub fn epoch_path(dir: &Path, epoch: usize) -> PathBuf {
    dir.join(format!("epoch-{epoch:03}.safetensors"))
}

fn worst(monitor: &Monitor) -> f64 {
    if monitor.minimize() {
        f64::INFINITY
    } else {
        f64::NEG_INFINITY
    }
}

impl Callback for SaveCheckpoint {
    fn on_epoch_end(&mut self, run: &mut dyn FitHandle, report: &EpochReport) -> Result<Control> {
        self.history.on_epoch_end(run, report)?;
        let value = self.monitor.value(report).unwrap_or(f64::NAN);
        let improved = if self.monitor.minimize() {
            value < self.best
        } else {
            value > self.best
        };
        if improved {
            self.best = value;
        }
        let epoch = report.epoch;
        match &self.target {
            Target::File(path) => {
                if improved || !self.best_only {
                    self.save(run, path, epoch)?;
                }
            }
            Target::Dir { dir, keep } => {
                std::fs::create_dir_all(dir).map_err(|e| Error::Io {
                    path: dir.clone(),
                    source: e,
                })?;
                if !self.best_only {
                    self.save(run, &epoch_path(dir, epoch), epoch)?;
                    Self::prune(dir, *keep, epoch)?;
                }
                if improved {
                    self.save(run, &dir.join("best.safetensors"), epoch)?;
                }
            }
        }
        Ok(Control::Continue)
    }
}
