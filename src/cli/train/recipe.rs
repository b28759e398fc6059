//! `train --recipe NAME`: the recipe's settings fill in the flags not given.

use super::TrainArgs;
use crate::data::DatasetKind;
use crate::error::{Error, Result};
use crate::layers::Activation;

/// `args` with the settings of `--recipe` (if given) wherever the flag itself was not given.
pub fn with_recipe(args: &TrainArgs, given: &dyn Fn(&str) -> bool) -> Result<TrainArgs> {
    let Some(name) = &args.recipe else {
        return Ok(args.clone());
    };
    let r = crate::recipes::find(name)?;
    let mut a = args.clone();
    let take = |id: &str| !given(id);
    if take("model") {
        a.model = r.model.clone();
    }
    if let (true, Some(d)) = (take("dataset"), &r.dataset) {
        a.dataset = <DatasetKind as clap::ValueEnum>::from_str(d, true)
            .map_err(|e| Error::flag("--recipe", format!("{name}: dataset: {e}")))?;
    }
    if let (true, Some(act)) = (take("activation"), &r.activation) {
        let act = <Activation as clap::ValueEnum>::from_str(act, true)
            .map_err(|e| Error::flag("--recipe", format!("{name}: activation: {e}")))?;
        a.activation = Some(act);
    }
    let mut set = |id: &str, apply: &mut dyn FnMut(&mut TrainArgs)| {
        if take(id) {
            apply(&mut a);
        }
    };
    if let Some(v) = &r.optimizer {
        set("optimizer", &mut |a| a.optimizer = v.clone());
    }
    set("lr", &mut |a| a.lr = r.lr.or(a.lr));
    set("momentum", &mut |a| a.momentum = r.momentum.or(a.momentum));
    set("weight_decay", &mut |a| {
        a.weight_decay = r.weight_decay.or(a.weight_decay)
    });
    set("beta1", &mut |a| a.beta1 = r.beta1.or(a.beta1));
    set("beta2", &mut |a| a.beta2 = r.beta2.or(a.beta2));
    if let Some(v) = &r.lr_schedule {
        set("lr_schedule", &mut |a| a.lr_schedule = v.clone());
    }
    set("warmup_epochs", &mut |a| {
        a.warmup_epochs = r.warmup_epochs.unwrap_or(a.warmup_epochs)
    });
    set("batch_size", &mut |a| {
        a.batch_size = r.batch_size.unwrap_or(a.batch_size)
    });
    set("epochs", &mut |a| a.epochs = r.epochs.unwrap_or(a.epochs));
    set("validation_split", &mut |a| {
        a.validation_split = r.validation_split.unwrap_or(a.validation_split)
    });
    if let Some(v) = &r.augment {
        set("augment", &mut |a| a.augment = Some(v.clone()));
    }
    set("tta", &mut |a| a.tta = r.tta.or(a.tta));
    if let Some(v) = &r.tta_augment {
        set("tta_augment", &mut |a| a.tta_augment = Some(v.clone()));
    }
    set("label_smoothing", &mut |a| {
        a.label_smoothing = r.label_smoothing.unwrap_or(a.label_smoothing)
    });
    Ok(a)
}
