//! The axes of `compare`: the named ones (`--models`, `--lrs`, ...), each a plural flag for one
//! setting declared once in [`NAMED`] with its help taken from the setting's own; `--grid
//! KEY=V1,V2` for any other; or the runs a `--runs` file lists.

use std::path::Path;

use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::settings::RunSettings;
use crate::train::compare::{self, Axis, Run, RECIPE};

/// Each named axis: its flag and the setting (or [`RECIPE`]) it varies.
pub const NAMED: [(&str, &str); 6] = [
    ("models", "model"),
    ("optimizers", "optimizer"),
    ("lrs", "lr"),
    ("batch-sizes", "batch_size"),
    ("activations", "activation"),
    ("recipes", RECIPE),
];

/// The named axes' values as typed, by flag and setting, in [`NAMED`]'s order.
#[derive(Clone, Debug, Default)]
pub struct AxisFlags {
    pub given: Vec<(&'static str, &'static str, Vec<String>)>,
}

/// The named axes' argument ids (their flags' names).
pub fn ids() -> impl Iterator<Item = String> {
    NAMED.iter().map(|(flag, _)| flag.to_string())
}

impl FromArgMatches for AxisFlags {
    fn from_arg_matches(matches: &ArgMatches) -> std::result::Result<Self, clap::Error> {
        let mut flags = AxisFlags::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> std::result::Result<(), clap::Error> {
        for (flag, key) in NAMED {
            if let Some(values) = m.get_many::<String>(flag) {
                self.given.retain(|g| g.0 != flag);
                self.given.push((flag, key, values.cloned().collect()));
            }
        }
        Ok(())
    }
}

impl Args for AxisFlags {
    fn augment_args(cmd: Command) -> Command {
        let settings = RunSettings::augment_args(Command::new("settings"));
        NAMED.iter().fold(cmd, |cmd, &(flag, key)| {
            let own = settings.get_arguments().find(|a| a.get_id() == key);
            let help = match own.and_then(|a| a.get_help()) {
                Some(help) => {
                    format!("Compare these values of --{} (comma-separated): {help}", key.replace('_', "-"))
                }
                None if key == RECIPE => "Compare these recipes (see `shaderfit recipes`), comma-separated; flags typed override their settings".into(),
                None => format!("Compare these values of --{}, comma-separated", key.replace('_', "-")),
            };
            let arg = Arg::new(flag)
                .long(flag)
                .value_name("LIST")
                .value_delimiter(',')
                .allow_negative_numbers(true)
                .help(help);
            match own {
                Some(_) => cmd.arg(arg.conflicts_with(key)),
                None => cmd.arg(arg),
            }
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// A value as typed, as JSON: `true`/`false` as booleans (a switch's), else text, which the
/// setting's own flag parses.
fn value(text: &str) -> Value {
    match text.trim() {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        t => Value::String(t.to_string()),
    }
}

/// The axes of the named flags, then `--grid`'s in the order given; a setting varied twice,
/// an unknown key or an axis without values is refused, naming the flag.
pub fn of(flags: &AxisFlags, grid: &[String]) -> Result<Vec<Axis>> {
    let mut axes: Vec<Axis> = flags
        .given
        .iter()
        .map(|(flag, key, values)| Axis {
            key: key.to_string(),
            flag: format!("--{flag}"),
            values: values.iter().map(|v| value(v)).collect(),
        })
        .collect();
    for spec in grid {
        let bad = |why: &str| Error::flag("--grid", format!("'{spec}': {why}"));
        let (key, values) = spec
            .split_once('=')
            .ok_or_else(|| bad("expected KEY=V1,V2, e.g. epochs=5,10"))?;
        let key = key.trim();
        compare::check_axis_key(key).map_err(|e| Error::flag("--grid", e))?;
        if let Some(other) = axes.iter().find(|a| a.key == key) {
            return Err(bad(&format!("{key} is already an axis ({})", other.flag)));
        }
        let values: Vec<Value> = values
            .split(',')
            .filter(|v| !v.trim().is_empty())
            .map(value)
            .collect();
        if values.is_empty() {
            return Err(bad("no values; expected KEY=V1,V2"));
        }
        axes.push(Axis {
            key: key.to_string(),
            flag: "--grid".into(),
            values,
        });
    }
    Ok(axes)
}

/// The runs a `--runs` file lists: a JSON array of objects, each the settings (or recipe)
/// its run changes (errors name the run by its place in the file); returned in the canonical
/// order ([`canonical`]) with their list, which defines the comparison.
pub fn read_runs(path: &Path) -> Result<Listed> {
    let text = crate::input::read_to_string(path)?;
    let expected =
        "expected a JSON array of objects, e.g. [{\"model\": \"mlp_bn\"}, {\"model\": \"lenet\"}]";
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| Error::file(path, format!("not JSON ({e}); {expected}")))?;
    let list = json
        .as_array()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| Error::file(path, format!("not a non-empty array; {expected}")))?;
    let runs = list
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let values = item.as_object().ok_or_else(|| {
                Error::file(
                    path,
                    format!("run {}: not an object; {expected}", index + 1),
                )
            })?;
            for key in values.keys() {
                compare::check_axis_key(key)
                    .map_err(|e| Error::file(path, format!("run {}: {e}", index + 1)))?;
            }
            Ok(values.clone())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(canonical(runs))
}

/// The runs a `--runs` file lists, in their canonical order.
pub struct Listed {
    pub runs: Vec<Run>,
    /// Their list, which defines the comparison.
    pub json: Value,
    /// Each run's place in the file (from 0), by its index: what errors name.
    pub places: Vec<usize>,
}

/// The runs in one order whatever the file's (sorted by their settings, each object's keys
/// sorted), numbered in it, and that list as the JSON that defines the comparison: two files
/// listing the same runs are one comparison, whose shards merge run for run.
fn canonical(listed: Vec<serde_json::Map<String, Value>>) -> Listed {
    let sorted = |m: &serde_json::Map<String, Value>| -> std::collections::BTreeMap<String, Value> {
        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    let key = |m: &serde_json::Map<String, Value>| {
        serde_json::to_string(&sorted(m)).expect("JSON serialises")
    };
    let mut keyed: Vec<(String, usize, serde_json::Map<String, Value>)> = listed
        .into_iter()
        .enumerate()
        .map(|(place, m)| (key(&m), place, m))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let places = keyed.iter().map(|k| k.1).collect();
    let runs: Vec<Run> = keyed
        .into_iter()
        .enumerate()
        .map(|(index, (_, _, values))| Run { index, values })
        .collect();
    let json = runs
        .iter()
        .map(|r| serde_json::to_value(sorted(&r.values)).expect("JSON serialises"))
        .collect();
    Listed {
        runs,
        json: Value::Array(json),
        places,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every named axis varies a setting an axis may vary; its flag is its own.
    #[test]
    fn named_axes_are_settings() {
        let keys = compare::axis_keys();
        for (flag, key) in NAMED {
            assert!(keys.contains(&key), "{flag}: {key}");
        }
        let cmd = AxisFlags::augment_args(Command::new("compare"));
        assert_eq!(cmd.get_arguments().count(), NAMED.len());
    }

    #[test]
    fn grid_axes_are_checked() {
        let flags = AxisFlags {
            given: vec![("lrs", "lr", vec!["0.1".into(), "0.01".into()])],
        };
        let axes = of(&flags, &["epochs=2,4".into()]).unwrap();
        assert_eq!(axes.len(), 2);
        assert_eq!(axes[1].values, [Value::from("2"), Value::from("4")]);
        let e = of(&flags, &["lr=0.5".into()]).unwrap_err().to_string();
        assert!(
            e.contains("--grid: 'lr=0.5': lr is already an axis (--lrs)"),
            "{e}"
        );
        let e = of(&flags, &["epoch=2".into()]).unwrap_err().to_string();
        assert!(e.contains("unknown setting 'epoch'"), "{e}");
        let e = of(&flags, &["epochs".into()]).unwrap_err().to_string();
        assert!(e.contains("expected KEY=V1,V2"), "{e}");
    }
}
