//! Recipes: named bundles of a run's settings (model, data, optimizer, schedule, batch size,
//! epochs, ...), kept as JSON in `assets/recipes/` and compiled in. `train --recipe NAME`
//! starts from one; flags given on the command line override its settings.

use serde::Deserialize;

use crate::error::{Error, Result};

/// Every recipe file, compiled in (a test checks that the list matches the directory).
const FILES: [(&str, &str); 15] = [
    ("linear", include_str!("../assets/recipes/linear.json")),
    ("mlp", include_str!("../assets/recipes/mlp.json")),
    (
        "mlp_rmsprop",
        include_str!("../assets/recipes/mlp_rmsprop.json"),
    ),
    (
        "mlp_dropout",
        include_str!("../assets/recipes/mlp_dropout.json"),
    ),
    ("mlp2", include_str!("../assets/recipes/mlp2.json")),
    ("mlp3", include_str!("../assets/recipes/mlp3.json")),
    (
        "mlp_small",
        include_str!("../assets/recipes/mlp_small.json"),
    ),
    (
        "fashion_mlp_small",
        include_str!("../assets/recipes/fashion_mlp_small.json"),
    ),
    ("mlp_bn", include_str!("../assets/recipes/mlp_bn.json")),
    ("lenet", include_str!("../assets/recipes/lenet.json")),
    ("cnn", include_str!("../assets/recipes/cnn.json")),
    ("cnn_wide", include_str!("../assets/recipes/cnn_wide.json")),
    ("cnn4", include_str!("../assets/recipes/cnn4.json")),
    ("fast99", include_str!("../assets/recipes/fast99.json")),
    ("best", include_str!("../assets/recipes/best.json")),
];

/// One recipe: every setting it fixes, each named as the `train` flag it sets (`None`: the
/// flag's default).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    #[serde(skip)]
    pub name: String,
    /// One line on what it trains and why.
    pub description: String,
    pub model: String,
    pub dataset: Option<String>,
    pub activation: Option<String>,
    pub optimizer: Option<String>,
    pub lr: Option<f32>,
    pub momentum: Option<f32>,
    pub weight_decay: Option<f32>,
    pub beta1: Option<f32>,
    pub beta2: Option<f32>,
    pub lr_schedule: Option<String>,
    pub warmup_epochs: Option<f64>,
    pub batch_size: Option<usize>,
    pub epochs: Option<usize>,
    pub validation_split: Option<f64>,
    pub label_smoothing: Option<f32>,
    /// `--augment`'s spec, e.g. `shift=2,rotate=10,zoom=0.1`.
    pub augment: Option<String>,
    /// `--tta`'s views per test image, and `--tta-augment`'s spec (default `augment`).
    pub tta: Option<usize>,
    pub tta_augment: Option<String>,
    /// What the notebook it comes from reported, where it comes from one.
    pub notebook: Option<String>,
}

impl Recipe {
    fn parse(name: &str, json: &str) -> Result<Recipe> {
        let mut r: Recipe = serde_json::from_str(json)
            .map_err(|e| Error::file(format!("assets/recipes/{name}.json"), e.to_string()))?;
        r.name = name.to_string();
        Ok(r)
    }

    /// Its optimizer and hyperparameters in one phrase, e.g. `adam lr 0.01 beta1 0.7`.
    pub fn optimizer_phrase(&self) -> String {
        let mut s = self.optimizer.clone().unwrap_or_else(|| "adam".into());
        let parts = [
            ("lr", self.lr),
            ("momentum", self.momentum),
            ("weight decay", self.weight_decay),
            ("beta1", self.beta1),
            ("beta2", self.beta2),
        ];
        for (label, value) in parts {
            if let Some(v) = value {
                s.push_str(&format!(" {label} {v}"));
            }
        }
        s
    }
}

/// Every compiled-in recipe, in the order of [`FILES`].
pub fn all() -> Vec<Recipe> {
    FILES
        .iter()
        .map(|(name, json)| {
            Recipe::parse(name, json).expect("compiled-in recipes parse (a test holds it)")
        })
        .collect()
}

/// The recipe `name`, or an error naming `--recipe` and listing them.
pub fn find(name: &str) -> Result<Recipe> {
    let names: Vec<&str> = FILES.iter().map(|f| f.0).collect();
    match FILES.iter().find(|f| f.0 == name) {
        Some((name, json)) => Recipe::parse(name, json),
        None => Err(Error::flag(
            "--recipe",
            format!(
                "unknown recipe '{name}'{}; expected one of {} (see `shaderfit recipes`)",
                crate::error::did_you_mean(name, &names),
                names.join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recipe_file_is_compiled_in_and_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/recipes");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut compiled: Vec<String> = FILES.iter().map(|f| f.0.to_string()).collect();
        compiled.sort();
        assert_eq!(
            on_disk, compiled,
            "assets/recipes/ and recipes::FILES differ"
        );
        for r in all() {
            assert!(!r.description.is_empty(), "{}", r.name);
            assert!(
                crate::model::PRESETS.contains(&r.model.as_str()),
                "{}: model {}",
                r.name,
                r.model
            );
            // Every setting is one `train` accepts: the optimizer with its hyperparameters,
            // the schedule, the augmentation, the ranges.
            let hyper = crate::optim::Hyperparameters {
                learning_rate: r.lr,
                momentum: r.momentum,
                weight_decay: r.weight_decay,
                beta_1: r.beta1,
                beta_2: r.beta2,
            };
            let optimizer = r.optimizer.as_deref().unwrap_or("adam");
            crate::optim::build(optimizer, &hyper).unwrap_or_else(|e| panic!("{}: {e}", r.name));
            if let Some(s) = &r.lr_schedule {
                assert!(
                    crate::optim::schedule::NAMES.contains(&s.as_str()),
                    "{}: {s}",
                    r.name
                );
            }
            let parse = |a: &Option<String>| {
                a.as_deref().map(|a| {
                    crate::data::augment::Augment::parse(a)
                        .unwrap_or_else(|e| panic!("{}: {e}", r.name))
                })
            };
            let augment = parse(&r.augment);
            if let Some(n) = r.tta {
                let views = parse(&r.tta_augment).or(augment);
                crate::train::Tta::new(n, views).unwrap_or_else(|e| panic!("{}: {e}", r.name));
            }
            if let Some(d) = &r.dataset {
                assert!(
                    ["mnist", "fashion-mnist"].contains(&d.as_str()),
                    "{}: {d}",
                    r.name
                );
            }
            assert!(
                r.validation_split.is_none_or(|v| (0.0..1.0).contains(&v)),
                "{}",
                r.name
            );
            assert!(
                r.label_smoothing.is_none_or(|v| (0.0..1.0).contains(&v)),
                "{}",
                r.name
            );
            assert!(
                r.batch_size.is_none_or(|b| b > 0) && r.epochs.is_some(),
                "{}",
                r.name
            );
        }
    }

    #[test]
    fn an_unknown_recipe_names_the_flag_and_the_nearest() {
        let err = find("fast9").unwrap_err().to_string();
        assert!(err.contains("--recipe") && err.contains("fast99"), "{err}");
    }

    #[test]
    fn a_misspelt_setting_in_a_recipe_is_an_error_naming_the_file() {
        let err = Recipe::parse("x", r#"{"description": "d", "model": "mlp", "epoch": 3}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("assets/recipes/x.json") && err.contains("epoch"),
            "{err}"
        );
    }
}
