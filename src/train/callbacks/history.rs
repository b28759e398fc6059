//! The training history, written as each epoch ends so that an interrupted run keeps it: JSON
//! in the shape of Keras's `history.history` (a list per metric, plus `epoch` and the run's
//! settings), or CSV with Keras's `CSVLogger` columns (`epoch`, then the metrics in sorted
//! order). Epochs count from 0, as Keras's do.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::{Callback, Control, FitHandle};
use crate::error::{Error, Result};
use crate::train::epoch_report::EpochReport;
use crate::train::record::{Epochs, RecordedSettings, RunRecord};

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
    epochs: Epochs,
    /// The run's settings, which a history file records beside its epochs; none for the
    /// history a checkpoint's training state keeps (the state holds the settings itself).
    settings: Option<RecordedSettings>,
}

impl History {
    /// A history written to `path` (`.json` or `.csv`) as each epoch ends, whole each time.
    /// Nothing is written before the first epoch ends: a run that fails or diverges before
    /// then leaves a history already there as it was. (The caller checks first that `path`
    /// can be written, with [`crate::output::check_writable`].)
    pub fn new(path: PathBuf, settings: RecordedSettings) -> Result<History> {
        let format = format_of(&path)?;
        Ok(History {
            file: Some((path, format)),
            ..History::in_memory(Some(settings))
        })
    }

    /// A history kept in memory only (for a report, a comparison, a checkpoint's state).
    pub fn in_memory(settings: Option<RecordedSettings>) -> History {
        History {
            file: None,
            epochs: Epochs::default(),
            settings,
        }
    }

    /// Each metric per epoch so far.
    pub fn epochs(&self) -> &Epochs {
        &self.epochs
    }

    /// The run's record so far, where it has its settings.
    pub fn record(&self) -> Option<RunRecord> {
        self.settings.clone().map(|settings| RunRecord {
            epochs: self.epochs.clone(),
            settings,
        })
    }

    /// The epochs as a checkpoint's training state keeps them: `history.history` with
    /// `epoch` (and the settings, where it has them).
    pub fn to_json(&self) -> Value {
        match &self.settings {
            Some(_) => crate::settings::json(&self.record()),
            None => crate::settings::json(&self.epochs),
        }
    }

    /// Takes the epochs of `json` (as [`History::to_json`] wrote it, e.g. a resumed run's) as
    /// its own, and writes its file if it has one. Its settings, if any, are not read.
    pub fn restore(&mut self, json: &Value) -> Result<()> {
        self.epochs = epochs_of(json)?;
        self.write()
    }

    /// The whole file, written beside and renamed over: a reader never sees half of it.
    fn write(&self) -> Result<()> {
        let Some((path, format)) = &self.file else {
            return Ok(());
        };
        let text = match (format, self.record()) {
            (Format::Json, Some(record)) => record.to_text(),
            (Format::Json, None) => unreachable!("a history with a file has its settings"),
            (Format::Csv, _) => self.epochs.to_csv(),
        };
        crate::output::replace(path, text.as_bytes())
    }
}

/// The epochs of a history's JSON (its settings left aside), each column a list of numbers
/// (or null) as long as `epoch`; the error names the list that is not.
fn epochs_of(json: &Value) -> Result<Epochs> {
    let bad = |what: &str| {
        Error::Mismatch(format!(
            "the saved history's {what} is not a list of numbers"
        ))
    };
    let numbers = |key: &str, value: &Value| -> Result<Vec<f64>> {
        let values = value.as_array().ok_or_else(|| bad(key))?;
        values
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
    let obj: &Map<String, Value> = json.as_object().ok_or_else(|| bad("whole"))?;
    let epoch = numbers("epoch", obj.get("epoch").unwrap_or(&json!(null)))?;
    let columns = obj
        .iter()
        .filter(|(k, _)| *k != "epoch" && *k != "settings")
        .map(|(k, v)| Ok((k.clone(), numbers(k, v)?)))
        .collect::<Result<Vec<_>>>()?;
    let epochs = Epochs {
        columns,
        epoch: epoch.into_iter().map(|e| e as usize).collect(),
    };
    epochs
        .check()
        .map_err(|e| Error::Mismatch(format!("the saved history: {e}")))?;
    Ok(epochs)
}

/// Checks that `path` names a history file this callback writes (`.json` or `.csv`).
pub fn check_path(path: &Path) -> Result<()> {
    format_of(path).map(|_| ())
}

/// The format `path`'s extension (any case) names, as `--history` declares it
/// ([`crate::output::OUTPUT_FLAGS`]).
fn format_of(path: &Path) -> Result<Format> {
    match crate::output::check_extension("--history", path)?.as_str() {
        "csv" => Ok(Format::Csv),
        _ => Ok(Format::Json),
    }
}

impl Callback for History {
    fn on_epoch_end(&mut self, run: &mut dyn FitHandle, report: &EpochReport) -> Result<Control> {
        let mut values = report.logs.0.clone();
        let extra = [run.learning_rate(), report.seconds];
        values.extend(EXTRA.iter().map(|k| k.to_string()).zip(extra));
        self.epochs.push(report.epoch - 1, &values);
        self.write()?;
        Ok(Control::Continue)
    }
}
