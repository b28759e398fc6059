//! The training history, written as each epoch ends so that an interrupted run keeps it: JSON
//! in the shape of Keras's `history.history` (a list per metric, plus `epoch` and the run's
//! settings), or CSV with Keras's `CSVLogger` columns (`epoch`, then the metrics in sorted
//! order). Epochs count from 0, as Keras's do.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::{Callback, Control, FitHandle};
use crate::error::{Error, Result};
use crate::train::epoch_report::EpochReport;

/// What each epoch records besides its logs.
const EXTRA: [&str; 2] = ["learning_rate", "seconds"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

pub struct History {
    /// Where it is written as each epoch ends; none keeps it in memory only.
    file: Option<(PathBuf, Format)>,
    /// The run's settings, in the JSON form.
    settings: Value,
    epochs: Vec<usize>,
    /// One list per key, a value per epoch, in the order the keys first came: the epoch's
    /// logs (`loss`, the metrics, `val_`'s), then [`EXTRA`].
    columns: Vec<(String, Vec<f64>)>,
}

impl History {
    /// A history written to `path` (`.json` or `.csv`) as each epoch ends, whole each time.
    /// Nothing is written before the first epoch ends: a run that fails or diverges before
    /// then leaves a history already there as it was. (The caller checks first that `path`
    /// can be written, with [`crate::output::check_writable`].)
    pub fn new(path: PathBuf, settings: Value) -> Result<History> {
        let format = format_of(&path)?;
        Ok(History {
            file: Some((path, format)),
            ..History::in_memory(settings)
        })
    }

    /// A history kept in memory only (for a report).
    pub fn in_memory(settings: Value) -> History {
        History {
            file: None,
            settings,
            epochs: Vec::new(),
            columns: Vec::new(),
        }
    }

    /// Epochs recorded so far (from 0, as Keras counts).
    pub fn epochs(&self) -> &[usize] {
        &self.epochs
    }

    /// One metric per epoch, as `history.history[name]` (NaN where an epoch lacks it); empty
    /// for a name it does not record.
    pub fn column(&self, name: &str) -> Vec<f64> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map_or_else(Vec::new, |(_, values)| values.clone())
    }

    /// The keys it records, in the order they came.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// As `history.history`, with `epoch` and the settings (NaN, for a metric an epoch
    /// lacks, is `null`).
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        for (name, values) in &self.columns {
            obj.insert(name.clone(), json!(values));
        }
        obj.insert("epoch".into(), json!(self.epochs));
        obj.insert("settings".into(), self.settings.clone());
        Value::Object(obj)
    }

    /// Takes the epochs of `json` (as [`History::to_json`] wrote it, e.g. a resumed run's) as
    /// its own, and writes its file if it has one.
    pub fn restore(&mut self, json: &Value) -> Result<()> {
        let bad = |what: &str| {
            Error::Mismatch(format!(
                "the saved history's {what} is not a list of numbers"
            ))
        };
        let numbers = |key: &str, value: &Value| -> Result<Vec<f64>> {
            value
                .as_array()
                .ok_or_else(|| bad(key))?
                .iter()
                .map(|v| {
                    if v.is_null() {
                        Some(f64::NAN)
                    } else {
                        v.as_f64()
                    }
                })
                .collect::<Option<_>>()
                .ok_or_else(|| bad(key))
        };
        let obj = json.as_object().ok_or_else(|| bad("whole"))?;
        let epochs = numbers("epoch", obj.get("epoch").unwrap_or(&Value::Null))?;
        let columns = obj
            .iter()
            .filter(|(k, _)| *k != "epoch" && *k != "settings")
            .map(|(k, v)| Ok((k.clone(), numbers(k, v)?)))
            .collect::<Result<Vec<_>>>()?;
        if columns.iter().any(|(_, c)| c.len() != epochs.len()) {
            return Err(bad("columns"));
        }
        self.epochs = epochs.into_iter().map(|e| e as usize).collect();
        self.columns = columns;
        self.write()
    }

    /// Appends one epoch: each key's value, a key new to the history getting NaN for the
    /// epochs before, a key the epoch lacks NaN for it.
    fn push(&mut self, epoch: usize, values: &[(String, f64)]) {
        let before = self.epochs.len();
        for (key, _) in values {
            if !self.columns.iter().any(|(k, _)| k == key) {
                self.columns.push((key.clone(), vec![f64::NAN; before]));
            }
        }
        for (key, column) in &mut self.columns {
            let value = values.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
            column.push(value.unwrap_or(f64::NAN));
        }
        self.epochs.push(epoch);
    }

    /// Keras's CSVLogger: `epoch`, then the keys in sorted order.
    fn to_csv(&self) -> String {
        let mut sorted: Vec<&(String, Vec<f64>)> = self.columns.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let names: Vec<&str> = sorted.iter().map(|(n, _)| n.as_str()).collect();
        let mut s = format!("epoch,{}\n", names.join(","));
        for (row, epoch) in self.epochs.iter().enumerate() {
            let cells: Vec<String> = sorted.iter().map(|(_, c)| c[row].to_string()).collect();
            s += &format!("{epoch},{}\n", cells.join(","));
        }
        s
    }

    /// The whole file, written beside and renamed over: a reader never sees half of it.
    fn write(&self) -> Result<()> {
        let Some((path, format)) = &self.file else {
            return Ok(());
        };
        let text = match format {
            Format::Json => {
                serde_json::to_string_pretty(&self.to_json()).expect("a JSON value serialises")
                    + "\n"
            }
            Format::Csv => self.to_csv(),
        };
        crate::output::replace(path, text.as_bytes())
    }
}

/// Checks that `path` names a history file this callback writes (`.json` or `.csv`).
pub fn check_path(path: &Path) -> Result<()> {
    format_of(path).map(|_| ())
}

fn format_of(path: &Path) -> Result<Format> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        _ => Err(Error::flag(
            "--history",
            format!("{}: expected a .json or .csv file", path.display()),
        )),
    }
}

impl Callback for History {
    fn on_epoch_end(&mut self, run: &mut dyn FitHandle, report: &EpochReport) -> Result<Control> {
        let mut values = report.logs.0.clone();
        let extra = [run.learning_rate(), report.seconds];
        values.extend(EXTRA.iter().map(|k| k.to_string()).zip(extra));
        self.push(report.epoch - 1, &values);
        self.write()?;
        Ok(Control::Continue)
    }
}
