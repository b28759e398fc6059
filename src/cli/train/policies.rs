//! The library's callbacks that `train`'s flags ask for, in the order they see an epoch.

use super::progress::{EpochBar, EpochLines};
use super::TrainArgs;
use crate::data::Dataset;
use crate::error::Result;
use crate::model::{ModelSpec, Network};
use crate::train::{
    Callback, EarlyStopping, History, Monitor, ReduceLrOnPlateau, SaveCheckpoint, StopAtAccuracy,
    Trainer,
};

/// The library's callbacks the flags ask for.
pub struct Policies {
    /// The run's settings, as the history and the report show them.
    pub settings: serde_json::Value,
    save: Option<SaveCheckpoint>,
    pub history: Option<History>,
    reduce_lr: Option<ReduceLrOnPlateau>,
    early: Option<EarlyStopping>,
    until: Option<StopAtAccuracy>,
}

impl Policies {
    pub fn new(
        args: &TrainArgs,
        (spec, net): (&ModelSpec, &Network),
        (data, trainer): (&Dataset, &Trainer),
    ) -> Result<Policies> {
        let early = match &args.early_stopping {
            None => None,
            Some(metric) => Some(EarlyStopping::new(
                Monitor::parse("--early-stopping", metric)?,
                args.min_delta.unwrap_or(0.0),
                args.patience.unwrap_or(0),
                args.restore_best_weights,
            )),
        };
        let settings = settings(args, spec, data, trainer);
        let history = match (&args.history, &args.report) {
            (Some(path), _) => Some(History::new(path.clone(), settings.clone())?),
            (None, Some(_)) => Some(History::in_memory(settings.clone())),
            (None, None) => None,
        };
        let reduce_lr = match &args.reduce_lr_on_plateau {
            None => None,
            Some(metric) => Some(ReduceLrOnPlateau::new(
                Monitor::parse("--reduce-lr-on-plateau", metric)?,
                args.lr_factor,
                args.lr_patience,
                args.min_lr,
            )),
        };
        Ok(Policies {
            settings,
            reduce_lr,
            save: args
                .save
                .clone()
                .map(|p| SaveCheckpoint::new(p, spec, net, args.dataset.name())),
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
        if let Some(save) = &mut self.save {
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

/// The run's settings, as the history records them.
fn settings(
    args: &TrainArgs,
    spec: &ModelSpec,
    data: &Dataset,
    trainer: &Trainer,
) -> serde_json::Value {
    let cfg = trainer.config();
    serde_json::json!({
        "model": spec.to_json(),
        "dataset": args.dataset.name(),
        "data": data.dir.display().to_string(),
        "optimizer": cfg.optimizer.describe(),
        "lr_schedule": cfg.schedule.describe(),
        "batch_size": cfg.batch_size,
        "epochs": cfg.epochs,
        "seed": cfg.seed,
        "validation_split": cfg.validation_split,
    })
}
