//! Recipes: named bundles of a run's settings (model, data, optimizer, schedule, batch size,
//! epochs, ...), kept as JSON in `assets/recipes/` and compiled in. `train --recipe NAME`
//! starts from one; flags given on the command line override its settings.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::settings::{self, RunSettings};

/// Every recipe file, compiled in (a test checks that the list matches the directory).
const FILES: [(&str, &str); 16] = [
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
    (
        "cifar_cnn",
        include_str!("../assets/recipes/cifar_cnn.json"),
    ),
];

/// One recipe: a description and the settings it fixes, each under its key in
/// [`RunSettings`] (the `train` flag it sets, `_` for `-`); every other setting keeps its
/// flag's default.
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    pub name: String,
    /// One line on what it trains and why.
    pub description: String,
    /// What the notebook it comes from reported, where it comes from one.
    pub notebook: Option<String>,
    /// The settings it fixes, as the file gives them (in its order).
    pub given: Map<String, Value>,
    /// Those over every other setting's default, parsed and range-checked as flags are.
    pub settings: RunSettings,
}

impl Recipe {
    fn parse(name: &str, json: &str) -> Result<Recipe> {
        let path = format!("assets/recipes/{name}.json");
        let bad = |what: &str| Error::file(&path, what.to_string());
        let mut given: Map<String, Value> =
            serde_json::from_str(json).map_err(|e| Error::file(&path, e.to_string()))?;
        let description = match given.remove("description") {
            Some(Value::String(d)) => d,
            _ => {
                return Err(bad(
                    "field 'description' is missing; expected one line of text",
                ))
            }
        };
        let notebook = match given.remove("notebook") {
            None => None,
            Some(Value::String(n)) => Some(n),
            Some(_) => return Err(bad("field 'notebook' is not text")),
        };
        let settings = settings::from_map(&given, Some(&path))?;
        Ok(Recipe {
            name: name.to_string(),
            description,
            notebook,
            given,
            settings,
        })
    }

    /// The settings it fixes as a phrase, e.g. `model cnn_fast, optimizer adam, lr 0.01`.
    pub fn phrase(&self) -> String {
        let parts: Vec<String> = self
            .given
            .iter()
            .map(|(key, value)| {
                format!("{} {}", key.replace('_', " "), settings::show(Some(value)))
            })
            .collect();
        parts.join(", ")
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
                crate::floor::did_you_mean(name, &names),
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
                crate::model::PRESETS.contains(&r.settings.model.as_str()),
                "{}: model {}",
                r.name,
                r.settings.model
            );
            // Every setting is one `train` accepts, alone and in combination: the optimizer
            // with its hyperparameters, the schedule, the augmentation, the ranges.
            r.settings
                .check()
                .unwrap_or_else(|e| panic!("{}: {e}", r.name));
            assert!(
                r.given.contains_key("epochs"),
                "{}: says its epochs",
                r.name
            );
        }
    }

    #[test]
    fn a_bad_value_in_a_recipe_is_refused_as_its_flag_would_be() {
        let err = Recipe::parse("x", r#"{"description": "d", "model": "mlp", "lr": -1}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "assets/recipes/x.json: --lr: -1 is not a learning rate; expected a positive number"
        );
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
