//! The runs of a comparison: the axes they vary (any setting of [`RunSettings`], or a
//! recipe), their cross product, each run's settings, and this machine's shard of them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::settings::{self, RunSettings, Settings};

/// The axis key that applies a recipe (`--recipes`): its settings, under the flags typed.
pub const RECIPE: &str = "recipe";

/// One setting the runs vary: its key (a [`RunSettings`] key or [`RECIPE`]), the flag that
/// gave it (`--lrs`, `--grid`), and its values as typed.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub key: String,
    pub flag: String,
    pub values: Vec<Value>,
}

/// Every key an axis may vary, in the settings' order.
pub fn axis_keys() -> Vec<&'static str> {
    let mut keys: Vec<&str> = RunSettings::keys().iter().map(|k| k.0).collect();
    keys.push(RECIPE);
    keys
}

/// Checks that `key` is a setting an axis may vary; the error says what it may be.
pub fn check_axis_key(key: &str) -> std::result::Result<(), String> {
    let keys = axis_keys();
    match keys.contains(&key) {
        true => Ok(()),
        false => Err(format!(
            "unknown setting '{key}'{}; expected one of {}",
            crate::floor::did_you_mean(key, &keys),
            keys.join(", ")
        )),
    }
}

/// One run of a comparison: its place in the whole list (so shards merge back in order) and
/// the value of each axis (or of each key a `--runs` file gives it), by setting key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub index: usize,
    pub values: Map<String, Value>,
}

/// The cross product of `axes`, the first axis slowest (as nested loops in the order given).
pub fn grid(axes: &[Axis]) -> Vec<Run> {
    let mut runs = vec![Map::new()];
    for axis in axes {
        runs = runs
            .into_iter()
            .flat_map(|run| {
                axis.values.iter().map(move |v| {
                    let mut run = run.clone();
                    run.insert(axis.key.clone(), v.clone());
                    run
                })
            })
            .collect();
    }
    runs.into_iter()
        .enumerate()
        .map(|(index, values)| Run { index, values })
        .collect()
}

/// Shard `k` of `n` (from 0): every n-th run starting at the k-th, as a Slurm job array's task
/// or a Kubernetes indexed Job's completion index picks its share.
pub fn shard(all: Vec<Run>, k: usize, n: usize) -> Vec<Run> {
    all.into_iter().filter(|r| r.index % n == k).collect()
}

/// The settings of `run`: `base` with its values, each parsed and checked as its flag is.
/// A recipe's settings come first and fill every setting `typed(key)` says was not typed;
/// the run's other values then override. Errors name the setting's own flag (see
/// [`name_axis`] for the axis').
pub fn settings_of(
    base: &RunSettings,
    typed: &dyn Fn(&str) -> bool,
    run: &Run,
) -> Result<RunSettings> {
    let mut map = settings::to_map(base);
    if let Some(name) = run.values.get(RECIPE) {
        let name = name
            .as_str()
            .map_or_else(|| name.to_string(), str::to_string);
        let recipe = crate::recipes::find(&name)?;
        let fixed = settings::to_map(&recipe.settings);
        for key in recipe.given.keys().filter(|k| !typed(k)) {
            map.insert(key.clone(), fixed[key].clone());
        }
    }
    for (key, value) in run.values.iter().filter(|(k, _)| *k != RECIPE) {
        map.insert(key.clone(), value.clone());
    }
    let settings: RunSettings = settings::from_map(&map, None)?;
    settings.check()?;
    if settings.epochs == 0 {
        return Err(Error::flag(
            "--epochs",
            "0 trains nothing, and a comparison ranks trained runs; expected at least 1",
        ));
    }
    Ok(settings)
}

/// `e` as the error of the axis that gave the value: an error naming a setting's flag
/// (`--lr: ...`, or clap's `invalid value 'tanh' for '--activation <ACTIVATION>'`) is the
/// axis' (`--lrs: ...`, `--activations: ...`).
pub fn name_axis(e: Error, axes: &[Axis]) -> Error {
    let axis_of = |flag: &str| axes.iter().find(|a| settings::flag_of(&a.key) == flag);
    // `--grid` gives many settings: its errors name the key too (`--grid: epochs: ...`).
    let of_axis = |axis: &Axis, message: String| match axis.flag == "--grid" {
        true => Error::flag("--grid", format!("{}: {message}", axis.key)),
        false => Error::flag(axis.flag.clone(), message),
    };
    match e {
        Error::Flag { flag, message } => match axis_of(&flag) {
            Some(axis) => of_axis(axis, message),
            None => Error::Flag { flag, message },
        },
        Error::Mismatch(message) => {
            let quoted = |a: &&Axis| {
                let flag = settings::flag_of(&a.key);
                message.contains(&format!("'{flag} ")) || message.contains(&format!("'{flag}'"))
            };
            match axes.iter().find(quoted) {
                Some(axis) => of_axis(axis, message),
                None => Error::Mismatch(message),
            }
        }
        other => other,
    }
}

/// The first two runs (numbered from 1) whose settings are the same, which would train the
/// same model twice.
pub fn first_identical(settings: &[RunSettings]) -> Option<(usize, usize)> {
    // By each run's JSON, in one pass: linear in the number of runs.
    let mut seen = std::collections::HashMap::new();
    settings.iter().enumerate().find_map(|(b, s)| {
        let key = serde_json::to_string(s).expect("settings serialise");
        seen.insert(key, b).map(|a| (a + 1, b + 1))
    })
}

/// The most runs a comparison takes unless `--max-runs` raises it: past it, a grid is more
/// likely a typo (`--grid seed=1,...`) than a plan.
pub const MAX_RUNS: usize = 10_000;

/// The number of runs `axes` cross into, refused past `max` (before any run is set up); the
/// error names the axes and how to raise the cap.
pub fn check_grid_size(axes: &[Axis], max: usize) -> Result<usize> {
    let runs = axes
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
        .unwrap_or(usize::MAX);
    if runs <= max {
        return Ok(runs);
    }
    let sizes: Vec<String> = axes
        .iter()
        .map(|a| format!("{} {} ({})", a.values.len(), a.key, a.flag))
        .collect();
    Err(Error::flag(
        "--max-runs",
        format!(
            "the axes cross into {runs} runs ({}), more than {max}; expected fewer values, or --max-runs {runs} to train them all",
            sizes.join(" x ")
        ),
    ))
}

/// A run's values as typed: `optimizer adam, lr 0.01`.
pub fn show_values(values: &Map<String, Value>) -> String {
    let parts: Vec<String> = values
        .iter()
        .map(|(k, v)| format!("{k} {}", settings::show(Some(v))))
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn axis(key: &str, values: &[Value]) -> Axis {
        Axis {
            key: key.into(),
            flag: format!("--{key}s"),
            values: values.to_vec(),
        }
    }

    #[test]
    fn the_grid_is_the_cross_product_and_shards_partition_it() {
        let all = grid(&[
            axis("optimizer", &[json!("sgd"), json!("adam")]),
            axis("lr", &[json!("0.1"), json!("0.01"), json!("0.001")]),
        ]);
        assert_eq!(all.len(), 6);
        assert_eq!(show_values(&all[4].values), "optimizer adam, lr 0.01");
        let mut seen: Vec<usize> = (0..4)
            .flat_map(|k| shard(all.clone(), k, 4).into_iter().map(|r| r.index))
            .collect();
        seen.sort();
        assert_eq!(seen, [0, 1, 2, 3, 4, 5]);
        assert_eq!(
            shard(all, 1, 4).iter().map(|r| r.index).collect::<Vec<_>>(),
            [1, 5]
        );
    }

    #[test]
    fn a_run_takes_its_values_over_the_base_and_errors_name_the_axis() {
        let axes = [axis("lr", &[json!("0.5"), json!("-1")])];
        let runs = grid(&axes);
        let base = RunSettings::default();
        let one = settings_of(&base, &|_| false, &runs[0]).unwrap();
        assert_eq!(one.hyper.lr, Some(0.5));
        let e = settings_of(&base, &|_| false, &runs[1]).unwrap_err();
        let e = name_axis(e, &axes).to_string();
        assert!(e.starts_with("--lrs: "), "{e}");
        let recipe = Run {
            index: 0,
            values: [(RECIPE.to_string(), json!("lenet"))].into_iter().collect(),
        };
        let typed_epochs = RunSettings {
            epochs: 2,
            ..RunSettings::default()
        };
        let lenet = settings_of(&typed_epochs, &|k| k == "epochs", &recipe).unwrap();
        assert_eq!((lenet.model.as_str(), lenet.epochs), ("lenet", 2));
        assert_eq!(first_identical(&[one.clone(), lenet, one]), Some((1, 3)));
        assert!(check_axis_key("lr").is_ok());
        let e = check_axis_key("optimiser").unwrap_err();
        assert!(
            e.contains("unknown setting 'optimiser'") && e.contains("optimizer"),
            "{e}"
        );
    }
}
