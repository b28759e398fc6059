//! The training history, written as each epoch ends so that an interrupted run keeps it: JSON
//! in the shape of Keras's `history.history` (a list per metric, plus `epoch` and the run's
//! settings), or CSV with Keras's `CSVLogger` columns (`epoch`, then the metrics in sorted
//! order). Epochs count from 0, as Keras's do.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::{Callback, Control};
use crate::error::{Error, Result};
use crate::train::{EpochReport, Trainer};

/// The metrics of one epoch, by Keras's names (sorted: the CSV's column order).
const COLUMNS: [&str; 6] = [
    "accuracy",
    "learning_rate",
    "loss",
    "seconds",
    "val_accuracy",
    "val_loss",
];

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
    /// One row per epoch, in [`COLUMNS`] order.
    rows: Vec<[f64; 6]>,
}

impl History {
    /// A history written to `path` (`.json` or `.csv`), which is created now, empty, so that a
    /// path that cannot be written fails before any training.
    pub fn new(path: PathBuf, settings: Value) -> Result<History> {
        let format = format_of(&path)?;
        let history = History {
            file: Some((path, format)),
            ..History::in_memory(settings)
        };
        history.write()?;
        Ok(history)
    }

    /// A history kept in memory only (for a report).
    pub fn in_memory(settings: Value) -> History {
        History {
            file: None,
            settings,
            epochs: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Epochs recorded so far (from 0, as Keras counts).
    pub fn epochs(&self) -> &[usize] {
        &self.epochs
    }

    /// One metric per epoch, as `history.history[name]` (NaN where an epoch lacks it); empty
    /// for a name it does not record.
    pub fn column(&self, name: &str) -> Vec<f64> {
        match COLUMNS.iter().position(|c| *c == name) {
            Some(k) => self.rows.iter().map(|r| r[k]).collect(),
            None => Vec::new(),
        }
    }

    /// The metric names it records, in the CSV's order.
    pub fn names(&self) -> &'static [&'static str] {
        &COLUMNS
    }

    /// As `history.history`, with `epoch` and the settings (NaN, for a metric an epoch
    /// lacks, is `null`).
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        for (k, name) in COLUMNS.iter().enumerate() {
            let column: Vec<f64> = self.rows.iter().map(|r| r[k]).collect();
            obj.insert(name.to_string(), json!(column));
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
        let numbers = |key: &str| -> Result<Vec<f64>> {
            json[key]
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
        let epochs: Vec<usize> = numbers("epoch")?.into_iter().map(|e| e as usize).collect();
        let columns = COLUMNS
            .iter()
            .map(|c| numbers(c))
            .collect::<Result<Vec<_>>>()?;
        if columns.iter().any(|c| c.len() != epochs.len()) {
            return Err(bad("columns"));
        }
        self.rows = (0..epochs.len())
            .map(|r| std::array::from_fn(|k| columns[k][r]))
            .collect();
        self.epochs = epochs;
        self.write()
    }

    fn to_csv(&self) -> String {
        let mut s = format!("epoch,{}\n", COLUMNS.join(","));
        for (epoch, row) in self.epochs.iter().zip(&self.rows) {
            let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
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
    fn on_epoch_end(&mut self, trainer: &mut Trainer, report: &EpochReport) -> Result<Control> {
        let train = report.train.score();
        let val = report.validation.as_ref().map(|v| v.score());
        let lr = trainer.learning_rate();
        let nan = f64::NAN;
        self.epochs.push(report.epoch - 1);
        self.rows.push([
            train.accuracy,
            lr,
            train.loss,
            report.seconds,
            val.map_or(nan, |v| v.accuracy),
            val.map_or(nan, |v| v.loss),
        ]);
        self.write()?;
        Ok(Control::Continue)
    }
}
