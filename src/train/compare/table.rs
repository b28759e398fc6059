//! A comparison's table, best first, and what it shows of each run: the settings that differ
//! between the runs and each run's name in legends.

use super::outcome::{Outcome, DATA};
use crate::settings::{self, RunSettings, Settings};
use serde_json::Value;

/// The settings whose values differ between `outcomes` (but the model, which has its own
/// column), in the settings' order: only settings of [`RunSettings`], never what a record
/// derives from them (the model's spec, the data's shape).
pub fn differing(outcomes: &[Outcome]) -> Vec<String> {
    let maps: Vec<_> = outcomes.iter().map(Outcome::setting_map).collect();
    let Some(first) = maps.first() else {
        return Vec::new();
    };
    let mut keys: Vec<String> = RunSettings::keys()
        .into_iter()
        .map(|(key, _)| key)
        .chain([DATA])
        .filter(|&k| k != "model")
        .filter(|&k| maps.iter().any(|m| m.get(k) != first.get(k)))
        .map(String::from)
        .collect();
    // Runs of different datasets differ in their data by definition.
    if keys.iter().any(|k| k == "dataset") {
        keys.retain(|k| k != DATA);
    }
    keys
}

/// Each outcome's name in legends: its model and the values of the `differing` settings
/// (`mlp_bn`, `sgd 0.01`); the file it came from where that leaves two alike.
pub fn labels(outcomes: &[Outcome], differing: &[String]) -> Vec<String> {
    let models = model_names(outcomes);
    let model_differs = models.iter().any(|m| *m != models[0]);
    let name = |(o, model): (&Outcome, &String)| {
        let map = o.setting_map();
        let values = differing.iter().map(|k| settings::show(map.get(k)));
        let mut parts: Vec<String> = model_differs.then(|| model.clone()).into_iter().collect();
        parts.extend(values);
        match parts.is_empty() {
            true => model.clone(),
            false => parts.join(" "),
        }
    };
    let names: Vec<String> = outcomes.iter().zip(&models).map(name).collect();
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

/// Each outcome's model as the table names it: the model's own name, or where two runs of
/// different models share a name (two files `m.json` in two folders), the `--model` each was
/// given.
pub fn model_names(outcomes: &[Outcome]) -> Vec<String> {
    let clash = |o: &Outcome| {
        let other =
            |p: &&Outcome| p.model == o.model && p.settings.run.model != o.settings.run.model;
        outcomes.iter().any(|p| other(&p))
    };
    outcomes
        .iter()
        .map(|o| match clash(o) {
            true => o.settings.run.model.clone(),
            false => o.model.clone(),
        })
        .collect()
}

/// The comparison, best first: rank, model, each setting that differs, parameters, final and
/// best validation accuracy, the best's epoch, test loss and accuracy, seconds and seconds per
/// epoch. A diverged run says so; a finished run's missing test results are `-`.
pub fn table(outcomes: &[Outcome]) -> String {
    let keys = differing(outcomes);
    let models = model_names(outcomes);
    let cells: Vec<Vec<String>> = outcomes
        .iter()
        .zip(&models)
        .enumerate()
        .map(|(i, (o, model))| row(i, (o, model), &keys))
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
fn row(i: usize, (o, model): (&Outcome, &String), keys: &[String]) -> Vec<String> {
    let mut cells = vec![(i + 1).to_string(), model.clone()];
    let map = o.setting_map();
    cells.extend(keys.iter().map(|k| cell(map.get(k))));
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
    use crate::train::compare::outcome::rank;
    use crate::train::compare::runs::Run;
    use crate::train::record::{Epochs, RecordedSettings};
    use serde_json::Map;

    fn outcome(index: usize, optimizer: &str, val_accuracy: &[f64]) -> Outcome {
        Outcome {
            run: Run {
                index,
                values: Map::new(),
            },
            model: "mlp".into(),
            parameters: 10,
            settings: RecordedSettings {
                run: RunSettings {
                    optimizer: optimizer.into(),
                    ..RunSettings::default()
                },
                recipe: None,
                data: String::new(),
                data_fingerprint: None,
                model_spec: Value::Null,
                input_shape: [28, 28, 1],
                class_count: 10,
                optimizer_config: String::new(),
                lr_schedule_config: String::new(),
            },
            history: Epochs {
                columns: vec![("val_accuracy".into(), val_accuracy.to_vec())],
                epoch: (0..val_accuracy.len()).collect(),
            },
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
            outcome(0, "sgd", &[0.5, 0.8, 0.7]),
            outcome(1, "adam", &[0.9, 0.6]),
            outcome(2, "rmsprop", &[0.8, f64::NAN]),
            outcome(3, "adamw", &[]),
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
