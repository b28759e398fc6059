//! What the run's settings build: its training configuration on a dataset, and the checks and
//! callbacks that need the training module's own types (monitors, test-time augmentation,
//! metrics). The settings themselves are declared in [`crate::settings::RunSettings`].

use std::sync::Arc;

use super::callbacks::{Monitor, ReduceLrOnPlateau};
use super::config::TrainConfig;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::eval::metrics::{self, Metric};
use crate::eval::Tta;
use crate::settings::{self, RunSettings, Settings};

impl RunSettings {
    /// Every setting in its range and every combination one that means something; errors
    /// name the flag. Nothing here reads data or touches a GPU.
    pub fn check(&self) -> Result<()> {
        self.check_ranges()?;
        self.schedule.check_uses()?;
        self.optimizer()?;
        self.augmentation()?;
        self.tta()?;
        let metrics = self.metric_list()?;
        let warmup = self.schedule.warmup_epochs;
        if warmup > self.epochs as f64 && self.epochs > 0 {
            return Err(Error::flag(
                "--warmup-epochs",
                format!(
                    "{warmup} epochs of warm-up in a run of {}: the rate would never reach --lr; expected at most {}",
                    self.epochs, self.epochs
                ),
            ));
        }
        if let Some(metric) = &self.reduce_lr_on_plateau {
            Monitor::parse("--reduce-lr-on-plateau", metric, &metrics)?;
            if !self.schedule.is_constant() {
                return Err(Error::flag(
                    "--reduce-lr-on-plateau",
                    "set with a learning-rate schedule; as in Keras, use one or the other",
                ));
            }
        }
        Ok(())
    }

    /// `--tta`'s views, drawn with `--tta-augment`'s transforms or else training's.
    pub fn tta(&self) -> Result<Option<Tta>> {
        let own = self
            .tta_augment
            .as_deref()
            .map(|spec| settings::augment_flag("--tta-augment", spec))
            .transpose()?;
        if own.is_some() && self.tta.is_none() {
            return Err(Error::flag(
                "--tta-augment",
                "given without --tta; expected --tta N as well",
            ));
        }
        let views = own.or(self.augmentation()?);
        self.tta.map(|n| Tta::new(n, views)).transpose()
    }

    /// Keras's ReduceLROnPlateau as `--reduce-lr-on-plateau` and its flags ask for it, watching
    /// one of `metrics` (the run's, as the trainer compiled them).
    pub fn reduce_lr(&self, metrics: &[Arc<dyn Metric>]) -> Result<Option<ReduceLrOnPlateau>> {
        let Some(metric) = &self.reduce_lr_on_plateau else {
            return Ok(None);
        };
        let monitor = Monitor::parse("--reduce-lr-on-plateau", metric, metrics)?;
        Ok(Some(ReduceLrOnPlateau::new(
            monitor,
            self.lr_factor,
            self.lr_patience,
            self.min_lr,
        )))
    }

    /// `--metrics`, parsed.
    pub fn metric_list(&self) -> Result<Vec<Arc<dyn Metric>>> {
        metrics::parse_list("--metrics", &self.metrics)
    }

    /// The run's configuration on `dataset`: its schedule spans the training split (after
    /// the validation split) in batches, for every epoch. The caller adds what is not a
    /// setting of the run (the kernel policy, the submission size, report accumulators).
    pub fn config(&self, dataset: &Dataset) -> Result<TrainConfig> {
        self.check()?;
        let (train, _) =
            crate::data::dataset::split_indices(dataset.train.len(), self.validation_split);
        let steps = train.len().div_ceil(self.batch_size);
        Ok(TrainConfig {
            batch_size: self.batch_size,
            epochs: self.epochs,
            optimizer: self.optimizer()?,
            seed: self.seed,
            validation_split: self.validation_split,
            schedule: self.schedule.build(self.epochs, steps)?,
            label_smoothing: self.label_smoothing,
            augment: self.augmentation()?,
            tta: self.tta()?,
            metrics: self.metric_list()?,
            ..Default::default()
        })
    }
}
