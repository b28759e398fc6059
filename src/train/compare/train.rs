//! Training one run of a comparison on a GPU, set up as `train` sets its run up
//! ([`crate::train::setup`]), and scoring it on the test set.

use super::outcome::{Outcome, TestOutcome};
use super::runs::Run;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::settings::RunSettings;
use crate::train::setup::RunSetup;
use crate::train::{Callback, History, Trainer};

/// Trains `run` as `setup` has it (its configuration's accumulators must hold the confusion
/// matrix and predictions), with the ReduceLROnPlateau its `settings` ask for, then scores it
/// on the test set. A run that diverges is an outcome that says so.
pub fn train(
    ctx: &GpuContext,
    (setup, settings, data): (RunSetup, &RunSettings, &Dataset),
    run: &Run,
) -> Result<Outcome> {
    let mut trainer = Trainer::new(ctx, &setup.net, data, setup.cfg)?;
    let mut history = History::in_memory(Some(setup.recorded.clone()));
    let mut reduce = settings.reduce_lr(&trainer.config().metrics)?;
    let mut callbacks: Vec<&mut dyn Callback> = vec![&mut history];
    if let Some(reduce) = &mut reduce {
        callbacks.push(reduce);
    }
    let diverged = match trainer.fit(&mut callbacks) {
        Ok(_) => None,
        // "training diverged in epoch 2: ...; stopped before saving ..." -> its cause.
        Err(Error::Diverged(why)) => {
            let cause = why.split("; ").next().unwrap_or(&why);
            Some(cause.trim_start_matches("training ").to_string())
        }
        Err(e) => return Err(e),
    };
    let test = match diverged {
        None => Some(test_outcome(&mut trainer)?),
        Some(_) => None,
    };
    let epochs = history.epochs().clone();
    Ok(Outcome {
        run: run.clone(),
        model: setup.spec.name.clone(),
        parameters: setup.net.param_count(),
        seconds: epochs
            .column("seconds")
            .iter()
            .filter(|s| !s.is_nan())
            .sum(),
        settings: setup.recorded,
        history: epochs,
        test,
        adapter: format!("{} ({:?})", ctx.info.name, ctx.info.backend),
        diverged,
        source: None,
    })
}

/// The test pass's loss, accuracy, confusion matrix and each sample's predicted class.
fn test_outcome(trainer: &mut Trainer) -> Result<TestOutcome> {
    let test = trainer.evaluate_test()?;
    let score = test.score();
    let missing = |what: &str| Error::Dataset(format!("a comparison needs the test pass's {what}"));
    let counts = test
        .counts("confusion_matrix")
        .ok_or_else(|| missing("confusion matrix"))?;
    let probs = test.probabilities().ok_or_else(|| missing("predictions"))?;
    Ok(TestOutcome {
        loss: score.loss,
        accuracy: score.accuracy,
        confusion: counts.counts.clone(),
        classes: counts.rows,
        predicted: (0..probs.samples())
            .map(|i| probs.predicted(i).0 as u16)
            .collect(),
    })
}
