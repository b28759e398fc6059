//! Setting a run up from its settings: the model compiled for the data, the training
//! configuration, and what the run records of itself. `train` sets its run up here, and a
//! comparison each of its runs, so a run of a comparison is the run `train` would train.

use super::config::TrainConfig;
use super::record::RecordedSettings;
use crate::data::Dataset;
use crate::error::Result;
use crate::model::{ModelSpec, Network};
use crate::settings::RunSettings;

/// A run ready to train.
pub struct RunSetup {
    pub spec: ModelSpec,
    pub net: Network,
    pub cfg: TrainConfig,
    /// What its history and report record of its settings.
    pub recorded: RecordedSettings,
}

/// Where a run's model comes from, and the recipe its settings started from.
#[derive(Clone, Copy, Default)]
pub struct Origin<'a> {
    /// The model itself (a resumed run's, from its checkpoint); else the settings' `model`.
    pub spec: Option<&'a ModelSpec>,
    pub recipe: Option<&'a str>,
}

/// Sets `run` up on `data`: its model (the origin's, or its `model` setting's preset or
/// file) compiled for the data's images and classes, its training configuration (with the
/// fixed kernel table: the caller picks the adapter's policy once it has one), and its
/// recorded settings.
pub fn setup(run: &RunSettings, data: &Dataset, origin: Origin) -> Result<RunSetup> {
    let cfg = run.config(data)?;
    let spec = match origin.spec {
        Some(spec) => spec.clone(),
        None => ModelSpec::from_arg(&run.model, run.activation, data.classes)?,
    };
    let net = spec.compile(data.image(), data.classes)?;
    let recorded = RecordedSettings::new((run, origin.recipe), &spec, data, &cfg);
    Ok(RunSetup {
        spec,
        net,
        cfg,
        recorded,
    })
}
