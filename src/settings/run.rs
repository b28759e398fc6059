//! The settings that define a training run, declared once ([`crate::settings`]): `train`'s
//! flags, recipes (`assets/recipes/*.json`, whose keys are these), the training state that
//! `--resume` compares and restores, the run record's `settings` and comparisons' axes are
//! all this struct. A new setting is a field here (its help, flag, default and range check)
//! and its use. What the settings build (the training configuration, the callbacks they ask
//! for) is the training module's (`crate::train::run_settings`).

use std::sync::Arc;

use super::{rule, settings, Resume, Settings};
use crate::data::DatasetKind;
use crate::error::Result;
use crate::floor::{Activation, Augment};
use crate::optim::{self, Hyperparameters, ScheduleSettings};

settings! {
    /// What a run trains, on what data, and how.
    pub struct RunSettings {
        /// A preset (linear, mlp, mlp2, mlp3, mlp_small, mlp_dropout, mlp_bn, lenet, cnn,
        /// cnn_wide, cnn4, cnn_fast, cnn_fast_bn) or a JSON model file (see `shaderfit model
        /// show cnn`).
        #[arg(long, default_value = "mlp")]
        pub model: String [resume = Model],
        /// Activation of a preset's hidden dense layers (the notebooks vary it for mlp_small).
        #[arg(long, value_enum)]
        pub activation: Option<Activation> [resume = Model],
        /// A dataset of the catalogue (`shaderfit data list`), found where `data download`
        /// puts it; with --data, what its classes are called.
        #[arg(long, value_enum, default_value = "mnist")]
        pub dataset: DatasetKind,
        /// The number of classes, when some have no training samples (otherwise one more than
        /// the largest label, and a class without samples is reported as a likely corrupt
        /// file).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(2..=256))]
        pub classes: Option<u16>,
        /// Hold out the last fraction of the training set for validation (Keras's rule); with
        /// 0, validation runs on the test set, as the reference notebooks do.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        pub validation_split: f64 [check = rule::fraction],
        #[arg(long, default_value_t = 5)]
        pub epochs: usize [resume = Total],
        #[arg(long, default_value_t = 128)]
        pub batch_size: usize [check = rule::at_least_one],
        /// Seed of weight initialisation and shuffling.
        #[arg(long, default_value_t = 1)]
        pub seed: u64,
        /// sgd, adam, rmsprop or adamw, with Keras's defaults.
        #[arg(long, default_value = "adam")]
        pub optimizer: String,
        #[command(flatten)]
        #[serde(flatten)]
        pub hyper: Hyperparameters [flatten],
        #[command(flatten)]
        #[serde(flatten)]
        pub schedule: ScheduleSettings [flatten],
        /// Keras's ReduceLROnPlateau on this metric (loss, accuracy, val_loss, val_accuracy,
        /// or another of --metrics): multiply the rate by --lr-factor after --lr-patience
        /// epochs without improvement.
        #[arg(long, value_name = "METRIC")]
        pub reduce_lr_on_plateau: Option<String>,
        #[arg(long, requires = "reduce_lr_on_plateau", default_value_t = 0.1)]
        pub lr_factor: f64 [check = |f: &f64| match *f > 0.0 && *f < 1.0 {
            true => Ok(()),
            false => Err(format!("{f}; expected a factor in (0, 1)")),
        }],
        #[arg(long, requires = "reduce_lr_on_plateau", default_value_t = 10)]
        pub lr_patience: usize,
        /// The rate ReduceLROnPlateau never goes below.
        #[arg(long, requires = "reduce_lr_on_plateau", default_value_t = 0.0)]
        pub min_lr: f64 [check = |m: &f64| match m.is_finite() && *m >= 0.0 {
            true => Ok(()),
            false => Err(format!("{m}; expected a learning rate >= 0")),
        }],
        /// Keras's label smoothing of the cross-entropy: targets (1 - S) * onehot + S /
        /// classes, in training and evaluation; 0 for none.
        #[arg(long, value_name = "S", default_value_t = 0.0, allow_negative_numbers = true, value_parser = crate::settings::finite_f32)]
        pub label_smoothing: f32 [check = rule::fraction],
        /// Random affine augmentation of each training sample, e.g.
        /// shift=2,rotate=10,zoom=0.1,shear=5 (pixels, degrees, fraction, degrees; each drawn
        /// uniformly in +-range), applied on the GPU as batches are gathered; never at
        /// evaluation (but --tta's copies draw with it unless --tta-augment is given).
        /// elastic=PX adds elastic distortion of up to PX pixels.
        #[arg(long, value_name = "SPEC")]
        pub augment: Option<String>,
        /// Test-time augmentation: after training, also score the test set by each image's
        /// class probabilities averaged over the image and N - 1 augmented copies of it (drawn
        /// with --tta-augment, default --augment); 1 for none.
        #[arg(long, value_name = "N")]
        pub tta: Option<usize>,
        /// The transforms of --tta's copies (default --augment's), e.g. shift=1,rotate=5.
        #[arg(long, value_name = "SPEC")]
        pub tta_augment: Option<String>,
        /// Metrics besides the loss, computed on the GPU in training, validation and test
        /// passes and reported by Keras's names (val_ for validation): accuracy,
        /// top_k_accuracy:K (the label among the K highest scores).
        #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "accuracy")]
        pub metrics: Vec<String>,
    }
}

impl RunSettings {
    pub fn optimizer(&self) -> Result<Arc<dyn optim::Optimizer>> {
        optim::build(&self.optimizer, &self.hyper)
    }

    /// `--augment`'s transforms.
    pub fn augmentation(&self) -> Result<Option<Augment>> {
        self.augment
            .as_deref()
            .map(|spec| super::augment_flag("--augment", spec))
            .transpose()
    }

    /// The first setting that defines the run (every one whose declared role is
    /// [`Resume::Defining`]) that `given(key)` says was given and that `asked` has otherwise
    /// than `self`: its key, and both values as typed. What `--resume` refuses.
    pub fn first_change(
        &self,
        asked: &RunSettings,
        given: &dyn Fn(&str) -> bool,
    ) -> Option<(&'static str, String, String)> {
        let (was, now) = (super::to_map(self), super::to_map(asked));
        RunSettings::keys()
            .into_iter()
            .filter(|&(key, role)| role == Resume::Defining && given(key))
            .find(|(key, _)| was.get(*key) != now.get(*key))
            .map(|(key, _)| (key, super::show(was.get(key)), super::show(now.get(key))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// A value of `key` other than `value` that the setting accepts, from a few of each JSON
    /// type: the test below needs no list of the settings.
    fn another(key: &str, value: &Value) -> RunSettings {
        let candidates = [
            json!(2),
            json!(3),
            json!(0.25),
            json!(0.5),
            json!("sgd"),
            json!("step"),
            json!("fashion-mnist"),
            json!("shift=1"),
            json!("relu"),
            json!("val_loss"),
            json!(["accuracy", "top_k_accuracy:2"]),
        ];
        let mut map = crate::settings::to_map(&RunSettings::default());
        // A setting that needs another (`--lr-factor` needs `--reduce-lr-on-plateau`) gets it.
        map.insert("reduce_lr_on_plateau".into(), json!("val_loss"));
        candidates
            .iter()
            .filter(|c| *c != value)
            .find_map(|c| {
                let mut changed = map.clone();
                changed.insert(key.into(), c.clone());
                crate::settings::from_map::<RunSettings>(&changed, None).ok()
            })
            .unwrap_or_else(|| panic!("no other value of '{key}' found: add a candidate"))
    }

    /// Every setting whose role is to define the run, changed and given on the command line of
    /// a resumed run, is the change `--resume` refuses; the others are not compared here. The
    /// settings come from the declaration: nothing is listed by hand.
    #[test]
    fn resume_refuses_a_change_of_every_defining_setting() {
        let keys = RunSettings::keys();
        assert!(keys.len() > 20, "{keys:?}");
        for (key, role) in keys {
            let saved = RunSettings {
                reduce_lr_on_plateau: Some("val_loss".into()),
                ..RunSettings::default()
            };
            let asked = another(key, &crate::settings::to_map(&saved)[key]);
            let given = |k: &str| k == key;
            let change = saved.first_change(&asked, &given).map(|c| c.0);
            match role {
                Resume::Defining => assert_eq!(change, Some(key), "{key}"),
                Resume::Total | Resume::Model => assert_eq!(change, None, "{key}"),
            }
            assert_eq!(
                saved.first_change(&asked, &|_| false),
                None,
                "{key}: not given"
            );
        }
    }
}
