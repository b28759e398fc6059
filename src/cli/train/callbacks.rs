//! The library's callbacks that `train`'s flags ask for, in the order they see an epoch.

use super::progress::{EpochBar, EpochLines};
use super::resume::RunIdentity;
use super::TrainArgs;
use std::sync::Arc;

use crate::error::Result;
use crate::eval::metrics::Metric;
use crate::model::{ModelSpec, Network};
use crate::train::callbacks::checkpoint::Target;
use crate::train::record::RecordedSettings;
use crate::train::setup::RunSetup;
use crate::train::{
    Callback, EarlyStopping, History, Monitor, ReduceLrOnPlateau, SaveCheckpoint, StopAtAccuracy,
    Trainer,
};

/// The library's callbacks the flags ask for.
pub struct RunCallbacks {
    /// The run's settings, as the history and the report show them.
    pub settings: RecordedSettings,
    save: Vec<SaveCheckpoint>,
    pub history: Option<History>,
    reduce_lr: Option<ReduceLrOnPlateau>,
    early: Option<EarlyStopping>,
    until: Option<StopAtAccuracy>,
}

impl RunCallbacks {
    /// The callbacks of `args`; a resumed run's `history` continues in the history file, the
    /// report and the checkpoints' training state.
    pub fn new(
        args: &TrainArgs,
        (setup, class_names): (&RunSetup, &[String]),
        trainer: &Trainer,
        (record, history): (&RunIdentity, Option<&serde_json::Value>),
    ) -> Result<RunCallbacks> {
        let (spec, net) = (&setup.spec, &setup.net);
        let metrics = &trainer.config().metrics;
        let early = match &args.early_stopping {
            None => None,
            Some(metric) => Some(EarlyStopping::new(
                Monitor::parse("--early-stopping", metric, metrics)?,
                args.min_delta.unwrap_or(0.0),
                args.patience.unwrap_or(0),
                args.restore_best_weights,
            )),
        };
        let settings = setup.recorded.clone();
        let saved = history;
        let mut history = match (&args.history, &args.report.dir) {
            (Some(path), _) => Some(History::new(path.clone(), settings.clone())?),
            (None, Some(_)) => Some(History::in_memory(Some(settings.clone()))),
            (None, None) => None,
        };
        if let (Some(h), Some(saved)) = (&mut history, saved) {
            h.restore(saved)?;
        }
        let reduce_lr = args.run.reduce_lr(metrics)?;
        Ok(RunCallbacks {
            settings,
            reduce_lr,
            save: savers(args, (spec, net, class_names), metrics, (record, saved))?,
            history,
            early,
            until: args.until_accuracy.map(StopAtAccuracy::new),
        })
    }

    /// Every callback in the order they see an epoch: the progress bar, saving and the
    /// history, the epoch's line, then what may stop the run.
    pub fn in_order<'a>(
        &'a mut self,
        bar: Option<&'a mut EpochBar>,
        lines: Option<&'a mut EpochLines>,
    ) -> Vec<&'a mut dyn Callback> {
        let mut callbacks: Vec<&mut dyn Callback> = Vec::new();
        if let Some(bar) = bar {
            callbacks.push(bar);
        }
        for save in &mut self.save {
            callbacks.push(save);
        }
        if let Some(history) = &mut self.history {
            callbacks.push(history);
        }
        if let Some(lines) = lines {
            callbacks.push(lines);
        }
        if let Some(reduce) = &mut self.reduce_lr {
            callbacks.push(reduce);
        }
        if let Some(early) = &mut self.early {
            callbacks.push(early);
        }
        if let Some(until) = &mut self.until {
            callbacks.push(until);
        }
        callbacks
    }
}

/// A checkpoint saver per target (--save, --checkpoint-dir), judging the best by --monitor.
fn savers(
    args: &TrainArgs,
    (spec, net, class_names): (&ModelSpec, &Network, &[String]),
    metrics: &[Arc<dyn Metric>],
    (record, history): (&RunIdentity, Option<&serde_json::Value>),
) -> Result<Vec<SaveCheckpoint>> {
    let monitor = Monitor::parse("--monitor", &args.monitor, metrics)?;
    let run = record.state_json(&args.run);
    let file = args.save.clone().map(Target::File);
    let dir = args.checkpoint_dir.clone().map(|dir| Target::Dir {
        dir,
        keep: args.keep,
    });
    file.into_iter()
        .chain(dir)
        .map(|target| {
            let model = (spec, net);
            let saver = SaveCheckpoint::new(target, model, args.run.dataset.name(), run.clone())?
                .naming(class_names)
                .monitoring(monitor.clone(), args.save_best_only);
            match history {
                Some(h) => saver.resuming(h),
                None => Ok(saver),
            }
        })
        .collect()
}
