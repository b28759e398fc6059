//! How one run of a comparison went: its run record's two parts (its settings and its
//! epochs), its test results, and its rank among the others.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::runs::Run;
use crate::eval::CountMatrix;
use crate::train::record::{Epochs, RecordedSettings, RunRecord};

/// The key of a run's data fingerprint among its settings ([`Outcome::setting_map`]): a
/// column of the table where runs were trained on different data.
pub const DATA: &str = "data";

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
    pub fn counts(&self) -> CountMatrix {
        CountMatrix {
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
    /// Its settings, as its run record holds them.
    pub settings: RecordedSettings,
    /// Its epochs, as its run record holds them (`loss`, `val_accuracy`, ... and `epoch`).
    pub history: Epochs,
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
    /// A finished run, from the record its `train --history` file holds (`path`, the file):
    /// its curves and settings, its model rebuilt from the recorded spec for the parameters;
    /// no test results, which a record does not hold.
    pub fn finished(path: &str, index: usize, record: RunRecord) -> crate::error::Result<Outcome> {
        let (spec, net) = record.settings.model().map_err(|e| {
            crate::error::Error::file(
                path,
                format!("{e}; expected a history written by `train --history FILE.json`"),
            )
        })?;
        Ok(Outcome {
            run: Run {
                index,
                values: Map::new(),
            },
            model: spec.name.clone(),
            parameters: net.param_count(),
            seconds: record
                .epochs
                .column("seconds")
                .iter()
                .filter(|s| !s.is_nan())
                .sum(),
            settings: record.settings,
            history: record.epochs,
            test: None,
            adapter: String::new(),
            diverged: None,
            source: Some(path.to_string()),
        })
    }

    /// Its record: the settings and the epochs.
    pub fn record(&self) -> RunRecord {
        RunRecord {
            epochs: self.history.clone(),
            settings: self.settings.clone(),
        }
    }

    /// Its settings of [`crate::settings::RunSettings`] as JSON, by key, and its data's
    /// fingerprint as `data` (where its record has one).
    pub fn setting_map(&self) -> Map<String, Value> {
        let mut map = crate::settings::to_map(&self.settings.run);
        let data = self.settings.data_fingerprint.clone();
        map.insert(DATA.into(), data.map_or(Value::Null, Value::from));
        map
    }

    /// One metric per epoch (NaN where an epoch lacks it); empty if never recorded.
    pub fn column(&self, name: &str) -> Vec<f64> {
        self.history.column(name)
    }

    pub fn epochs(&self) -> usize {
        self.history.len()
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
