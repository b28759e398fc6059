//! Comparisons: runs that differ in some of their settings (the axes: models, optimizers,
//! learning rates, or any other setting of [`RunSettings`], or a recipe), each trained from
//! the same seed and scored on the test set, then ranked by the best validation accuracy.
//! A sweep is the comparison over optimizers and learning rates. Shards split the runs over
//! machines; results are JSON, so shards merge; finished runs' history files compare too.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{History, TrainConfig, Trainer};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::model::{ModelSpec, Network};
use crate::settings::RunSettings;
use crate::settings::{self, Settings};

/// The axis key that applies a recipe (`--recipes`): its settings, under the flags typed.
pub const RECIPE: &str = "recipe";

/// Settings a run's record holds that are derived from the others, not chosen: never a
/// difference between runs worth a column.
const DERIVED: [&str; 7] = [
    "data",
    "model_spec",
    "input_shape",
    "class_count",
    "optimizer_config",
    "lr_schedule_config",
    "recipe",
];

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
    Ok(settings)
}

/// `e` as the error of the axis that gave the value: an error naming a setting's flag
/// (`--lr: ...`, or clap's `invalid value 'tanh' for '--activation <ACTIVATION>'`) is the
/// axis' (`--lrs: ...`, `--activations: ...`).
pub fn name_axis(e: Error, axes: &[Axis]) -> Error {
    let axis_of = |flag: &str| axes.iter().find(|a| settings::flag_of(&a.key) == flag);
    match e {
        Error::Flag { flag, message } => match axis_of(&flag) {
            Some(axis) => Error::flag(axis.flag.clone(), message),
            None => Error::Flag { flag, message },
        },
        Error::Mismatch(message) => {
            let quoted = |a: &&Axis| {
                let flag = settings::flag_of(&a.key);
                message.contains(&format!("'{flag} ")) || message.contains(&format!("'{flag}'"))
            };
            match axes.iter().find(quoted) {
                Some(axis) => Error::flag(axis.flag.clone(), message),
                None => Error::Mismatch(message),
            }
        }
        other => other,
    }
}

/// The first two runs (numbered from 1) whose settings are the same, which would train the
/// same model twice.
pub fn first_identical(settings: &[RunSettings]) -> Option<(usize, usize)> {
    (0..settings.len()).find_map(|b| {
        (0..b)
            .find(|&a| settings[a] == settings[b])
            .map(|a| (a + 1, b + 1))
    })
}

/// A run's test-set results, for the table and the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestOutcome {
    pub loss: f64,
    pub accuracy: f64,
    /// The confusion matrix, `classes x classes` row-major, true classes down.
    pub confusion: Vec<u32>,
    pub classes: usize,
    /// Each test sample's predicted class, in the test split's order.
    pub predicted: Vec<u16>,
}

impl TestOutcome {
    pub fn counts(&self) -> crate::eval::CountMatrix {
        crate::eval::CountMatrix {
            rows: self.classes,
            cols: self.classes,
            counts: self.confusion.clone(),
        }
    }
}

/// How one run went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    #[serde(flatten)]
    pub run: Run,
    pub model: String,
    pub parameters: usize,
    /// Every setting of the run (as `train`'s history records them), with `model_spec`.
    pub settings: Map<String, Value>,
    /// Its history as `train --history` writes it (`loss`, `val_accuracy`, ... and `epoch`;
    /// `null` where an epoch lacks a value), without the settings.
    pub history: Map<String, Value>,
    /// Training time, validation included.
    pub seconds: f64,
    /// The test pass after the last epoch; none for a run that diverged or a finished run
    /// read from its history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<TestOutcome>,
    /// The adapter it ran on.
    pub adapter: String,
    /// Why it stopped early when its training diverged (its history then ends at the last
    /// good epoch); a comparison goes on with the other runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diverged: Option<String>,
    /// The file a finished run was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Outcome {
    /// One metric per epoch (NaN where an epoch lacks it); empty if never recorded.
    pub fn column(&self, name: &str) -> Vec<f64> {
        let values = self.history.get(name).and_then(Value::as_array);
        values.map_or_else(Vec::new, |values| {
            values
                .iter()
                .map(|v| v.as_f64().unwrap_or(f64::NAN))
                .collect()
        })
    }

    /// The history as `train`'s report has it, to draw the run's own curves.
    pub fn history(&self) -> Result<History> {
        let mut history = History::in_memory(Value::Object(self.settings.clone()));
        history.restore(&Value::Object(self.history.clone()))?;
        Ok(history)
    }

    pub fn epochs(&self) -> usize {
        self.column("epoch").len()
    }

    /// The best validation accuracy and its epoch (from 1; the first of equals); NaN and 0
    /// for a run with no validated epoch.
    pub fn best(&self) -> (f64, usize) {
        self.column("val_accuracy")
            .iter()
            .enumerate()
            .fold((f64::NAN, 0), |(b, e), (i, &v)| {
                if v > b || (b.is_nan() && !v.is_nan()) {
                    (v, i + 1)
                } else {
                    (b, e)
                }
            })
    }

    pub fn final_val_accuracy(&self) -> f64 {
        self.column("val_accuracy")
            .last()
            .copied()
            .unwrap_or(f64::NAN)
    }
}

/// Best first: by best validation accuracy (a run with none last), then final, then the
/// comparison's order.
pub fn rank(outcomes: &mut [Outcome]) {
    let key = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else { v };
    outcomes.sort_by(|a, b| {
        key(b.best().0)
            .total_cmp(&key(a.best().0))
            .then(key(b.final_val_accuracy()).total_cmp(&key(a.final_val_accuracy())))
            .then(a.run.index.cmp(&b.run.index))
    })
}

/// The settings whose values differ between `outcomes` (but the model, which has its own
/// column, and what is derived from the others), in the settings' order.
pub fn differing(outcomes: &[Outcome]) -> Vec<String> {
    let Some(first) = outcomes.first() else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = first.settings.keys().collect();
    for o in outcomes {
        keys.extend(
            o.settings
                .keys()
                .filter(|k| !first.settings.contains_key(*k)),
        );
    }
    keys.into_iter()
        .filter(|k| *k != "model" && !DERIVED.contains(&k.as_str()))
        .filter(|k| {
            outcomes
                .iter()
                .any(|o| o.settings.get(*k) != first.settings.get(*k))
        })
        .cloned()
        .collect()
}

/// Each outcome's name in legends: its model and the values of the `differing` settings
/// (`mlp_bn`, `sgd 0.01`); the file it came from where that leaves two alike.
pub fn labels(outcomes: &[Outcome], differing: &[String]) -> Vec<String> {
    let model_differs = outcomes.iter().any(|o| o.model != outcomes[0].model);
    let name = |o: &Outcome| {
        let values = differing.iter().map(|k| settings::show(o.settings.get(k)));
        let mut parts: Vec<String> = model_differs.then(|| o.model.clone()).into_iter().collect();
        parts.extend(values);
        match parts.is_empty() {
            true => o.model.clone(),
            false => parts.join(" "),
        }
    };
    let names: Vec<String> = outcomes.iter().map(name).collect();
    let alike = |n: &String| names.iter().filter(|m| *m == n).count() > 1;
    outcomes
        .iter()
        .zip(&names)
        .map(|(o, n)| match (&o.source, alike(n)) {
            (Some(source), true) => source.clone(),
            (None, true) => format!("{n} #{}", o.run.index + 1),
            _ => n.clone(),
        })
        .collect()
}

/// What a run trains: its model (compiled) and its settings.
pub struct Trained<'a> {
    pub spec: &'a ModelSpec,
    pub net: &'a Network,
    pub settings: &'a RunSettings,
}

/// Trains `run` as configured by `cfg` (whose accumulators must hold the confusion matrix
/// and predictions), with the ReduceLROnPlateau its settings ask for, then scores it on the
/// test set. A run that diverges is an outcome that says so.
pub fn train(
    ctx: &GpuContext,
    (trained, data): (Trained, &Dataset),
    cfg: TrainConfig,
    run: &Run,
) -> Result<Outcome> {
    let mut settings = settings::to_map(trained.settings);
    settings.insert("model_spec".into(), trained.spec.to_json());
    settings.insert("input_shape".into(), json!([data.rows, data.cols, 1]));
    settings.insert("class_count".into(), json!(data.classes));
    let mut trainer = Trainer::new(ctx, trained.net, data, cfg)?;
    let mut history = History::in_memory(Value::Null);
    let mut reduce = trained.settings.reduce_lr(&trainer.config().metrics)?;
    let mut callbacks: Vec<&mut dyn super::Callback> = vec![&mut history];
    if let Some(reduce) = &mut reduce {
        callbacks.push(reduce);
    }
    let fitted = trainer.fit(&mut callbacks);
    let diverged = match fitted {
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
    let mut history = match history.to_json() {
        Value::Object(map) => map,
        _ => unreachable!("a history is an object"),
    };
    history.remove("settings");
    let seconds = history_seconds(&history);
    Ok(Outcome {
        run: run.clone(),
        model: trained.spec.name.clone(),
        parameters: trained.net.param_count(),
        settings,
        history,
        seconds,
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

/// The sum of a history's `seconds` column.
fn history_seconds(history: &Map<String, Value>) -> f64 {
    let column = history.get("seconds").and_then(Value::as_array);
    column.map_or(0.0, |c| c.iter().filter_map(Value::as_f64).sum())
}

/// A finished run as an outcome, from the history file `train --history run.json` wrote:
/// its curves and settings (its model rebuilt from the recorded spec, for the parameters);
/// no test results, which a history does not hold.
pub fn from_history(path: &str, index: usize, json: &Value) -> Result<Outcome> {
    let bad = |what: String| {
        Error::file(
            path,
            format!("{what}; expected a history written by `train --history FILE.json`"),
        )
    };
    let mut history = json
        .as_object()
        .cloned()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    let settings = match history.remove("settings") {
        Some(Value::Object(map)) => map,
        _ => return Err(bad("no 'settings' object".into())),
    };
    // Checks every column, as a resumed run's history is checked.
    History::in_memory(Value::Null)
        .restore(&Value::Object(history.clone()))
        .map_err(|e| bad(e.to_string()))?;
    let (spec, net) = model_of(&settings).map_err(bad)?;
    Ok(Outcome {
        run: Run {
            index,
            values: Map::new(),
        },
        model: spec.name.clone(),
        parameters: net.param_count(),
        seconds: history_seconds(&history),
        settings,
        history,
        test: None,
        adapter: String::new(),
        diverged: None,
        source: Some(path.to_string()),
    })
}

/// The model a run's settings record (`model_spec`, `input_shape` and `class_count`, as
/// `train`'s history and a comparison's outcomes hold them), compiled; an error says what is
/// missing or wrong.
pub fn model_of(
    settings: &Map<String, Value>,
) -> std::result::Result<(ModelSpec, Network), String> {
    let text = settings
        .get("model_spec")
        .map(Value::to_string)
        .ok_or("its settings have no 'model_spec'")?;
    let spec =
        ModelSpec::from_json("model_spec", &text).map_err(|e| format!("its model_spec: {e}"))?;
    let dims: Option<Vec<usize>> = settings
        .get("input_shape")
        .and_then(Value::as_array)
        .and_then(|d| d.iter().map(|v| v.as_u64().map(|v| v as usize)).collect());
    let (rows, cols, channels) = match dims.as_deref() {
        Some(&[r, c, ch]) => (r, c, ch),
        _ => return Err("its settings have no 'input_shape' [rows, cols, channels]".into()),
    };
    let classes = settings
        .get("class_count")
        .and_then(Value::as_u64)
        .ok_or("its settings have no 'class_count'")? as usize;
    let net = spec
        .compile(crate::floor::Shape::new(rows, cols, channels), classes)
        .map_err(|e| e.to_string())?;
    Ok((spec, net))
}

/// A comparison's results as written by `--json`: what was compared and every outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareFile {
    /// What defines the comparison, which its shards must share to merge: every setting the
    /// runs share (`RunSettings`), the axes' values and the data's fingerprint.
    #[serde(default)]
    pub defines: Map<String, Value>,
    pub dataset: String,
    /// The runs of the whole comparison, and the shard this file holds (`k/n`).
    pub runs: usize,
    pub shard: String,
    pub outcomes: Vec<Outcome>,
}

impl CompareFile {
    /// Joins shards of one comparison: they must agree on what was compared; a run present
    /// twice is an error, one missing is reported by the caller from [`CompareFile::missing`].
    pub fn merge(files: Vec<(String, CompareFile)>) -> Result<CompareFile> {
        let mut iter = files.into_iter();
        let (first_name, mut merged) = iter
            .next()
            .ok_or_else(|| Error::flag("FILES", "none given; expected JSON files of shards"))?;
        for (name, file) in iter {
            if let Some(difference) = file.difference(&merged) {
                return Err(Error::Mismatch(format!(
                    "{name} is of another comparison than {first_name}: {difference}"
                )));
            }
            for o in file.outcomes {
                if merged.outcomes.iter().any(|m| m.run.index == o.run.index) {
                    return Err(Error::Mismatch(format!(
                        "{name}: run {} ({}) is in another file too",
                        o.run.index + 1,
                        show_values(&o.run.values)
                    )));
                }
                merged.outcomes.push(o);
            }
        }
        merged.shard = "merged".into();
        Ok(merged)
    }

    /// How `self` is another comparison than `other`, if it is: the first thing that defines
    /// them and differs, with both values.
    fn difference(&self, other: &CompareFile) -> Option<String> {
        let facts = |f: &CompareFile| {
            let mut all = f.defines.clone();
            all.insert("runs".into(), f.runs.into());
            all
        };
        let (mine, theirs) = (facts(self), facts(other));
        let keys = mine.keys().chain(theirs.keys());
        keys.into_iter().find_map(|k| {
            let (a, b) = (mine.get(k), theirs.get(k));
            (a != b).then(|| {
                let show = |v: Option<&Value>| settings::show(v);
                format!("its {k} is {}, the other's {}", show(a), show(b))
            })
        })
    }

    /// Indices of runs no outcome covers.
    pub fn missing(&self) -> Vec<usize> {
        (0..self.runs)
            .filter(|i| !self.outcomes.iter().any(|o| o.run.index == *i))
            .collect()
    }
}

/// A run's values as typed: `optimizer adam, lr 0.01`.
pub fn show_values(values: &Map<String, Value>) -> String {
    let parts: Vec<String> = values
        .iter()
        .map(|(k, v)| format!("{k} {}", settings::show(Some(v))))
        .collect();
    parts.join(", ")
}

/// The comparison, best first: rank, model, each setting that differs, parameters, final and
/// best validation accuracy, the best's epoch, test loss and accuracy, seconds and seconds per
/// epoch. A diverged run says so; a finished run's missing test results are `-`.
pub fn table(outcomes: &[Outcome]) -> String {
    let keys = differing(outcomes);
    let cells: Vec<Vec<String>> = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| row(i, o, &keys))
        .collect();
    let mut header: Vec<String> = vec!["rank".into(), "model".into()];
    header.extend(keys.iter().cloned());
    header.extend(
        [
            "params",
            "val_accuracy",
            "best",
            "epoch",
            "test_loss",
            "test_accuracy",
            "seconds",
            "s/epoch",
        ]
        .map(String::from),
    );
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            let cell = |r: &Vec<String>| r[c].chars().count();
            cells
                .iter()
                .map(cell)
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |r: &[String]| {
        let padded: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            // Names left, figures right.
            .map(|(c, (v, w))| match (1..2 + keys.len()).contains(&c) {
                true => format!("{v:<w$}"),
                false => format!("{v:>w$}"),
            })
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut s = line(&header) + "\n";
    for (r, o) in cells.iter().zip(outcomes) {
        s += &line(r);
        if let Some(why) = &o.diverged {
            s += &format!("  ({why})");
        }
        s += "\n";
    }
    s
}

/// A setting's value in a cell, as typed: a rate far from 1 in exponent form (`1e30`,
/// where JSON's text would be `1e+30`).
fn cell(value: Option<&Value>) -> String {
    match value.and_then(Value::as_f64) {
        Some(x) if !value.is_some_and(|v| v.is_i64() || v.is_u64()) => {
            match x != 0.0 && !(1e-4..1e4).contains(&x.abs()) {
                true => format!("{:e}", x as f32),
                false => (x as f32).to_string(),
            }
        }
        _ => settings::show(value),
    }
}

/// One outcome's cells, in the table's order.
fn row(i: usize, o: &Outcome, keys: &[String]) -> Vec<String> {
    let mut cells = vec![(i + 1).to_string(), o.model.clone()];
    cells.extend(keys.iter().map(|k| cell(o.settings.get(k))));
    cells.push(o.parameters.to_string());
    let (best, epoch) = o.best();
    let figure = |v: f64| match v.is_nan() {
        true => "-".to_string(),
        false => format!("{v:.4}"),
    };
    let last = match (&o.diverged, o.epochs()) {
        (Some(_), 0) => "diverged".to_string(),
        _ => figure(o.final_val_accuracy()),
    };
    cells.push(last);
    cells.push(figure(best));
    cells.push(match epoch {
        0 => "-".into(),
        e => e.to_string(),
    });
    cells.push(o.test.as_ref().map_or("-".into(), |t| figure(t.loss)));
    cells.push(o.test.as_ref().map_or("-".into(), |t| figure(t.accuracy)));
    cells.push(format!("{:.1}", o.seconds));
    cells.push(match o.epochs() {
        0 => "-".into(),
        n => format!("{:.2}", o.seconds / n as f64),
    });
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn outcome(index: usize, optimizer: &str, val_accuracy: Value) -> Outcome {
        Outcome {
            run: Run {
                index,
                values: Map::new(),
            },
            model: "mlp".into(),
            parameters: 10,
            settings: [("optimizer".to_string(), json!(optimizer))]
                .into_iter()
                .collect(),
            history: [
                ("val_accuracy".to_string(), val_accuracy.clone()),
                (
                    "epoch".to_string(),
                    json!([0, 1, 2][..val_accuracy.as_array().unwrap().len()]),
                ),
            ]
            .into_iter()
            .collect(),
            seconds: 1.0,
            test: None,
            adapter: String::new(),
            diverged: None,
            source: None,
        }
    }

    #[test]
    fn ranking_is_by_best_validation_accuracy_and_the_table_shows_what_differs() {
        let mut all = vec![
            outcome(0, "sgd", json!([0.5, 0.8, 0.7])),
            outcome(1, "adam", json!([0.9, 0.6])),
            outcome(2, "rmsprop", json!([0.8, null])),
            outcome(3, "adamw", json!([])),
        ];
        rank(&mut all);
        let order: Vec<usize> = all.iter().map(|o| o.run.index).collect();
        // 0 and 2 share the best; 0's last epoch is validated, 2's is not.
        assert_eq!(order, [1, 0, 2, 3]);
        assert_eq!(all[1].best(), (0.8, 2));
        assert_eq!(labels(&all, &differing(&all))[0], "adam");
        let table = table(&all);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("rank  model  optimizer  params"),
            "{table}"
        );
        let adam: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            adam[..7],
            ["1", "mlp", "adam", "10", "0.6000", "0.9000", "1"]
        );
        assert!(
            lines[4].contains("adamw") && lines[4].contains(" - "),
            "{table}"
        );
    }
}
