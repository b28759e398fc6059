//! A run's record: how each epoch went and what the run trained with, as one typed struct,
//! [`RunRecord`]. `train --history FILE.json` writes it (Keras's `history.history`, a list per
//! metric, with `epoch` and `settings` beside); a comparison's outcomes hold its two parts,
//! which `compare`, `compare merge`, `sweep` and the reports read back.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::TrainConfig;
use crate::data::Dataset;
use crate::floor::Shape;
use crate::model::{ModelSpec, Network};
use crate::settings::RunSettings;

/// Each metric per epoch, as Keras's `history.history` holds them, and the epochs' numbers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Epochs {
    /// One list per key in the order the keys first came (the epoch's logs: `loss`, the
    /// metrics, `val_`'s; then `learning_rate`, `seconds`), a value per epoch: NaN (`null` in
    /// JSON) where an epoch lacks it.
    #[serde(flatten, with = "columns")]
    pub columns: Vec<(String, Vec<f64>)>,
    /// From 0, as Keras counts.
    pub epoch: Vec<usize>,
}

impl Epochs {
    /// Epochs recorded.
    pub fn len(&self) -> usize {
        self.epoch.len()
    }

    pub fn is_empty(&self) -> bool {
        self.epoch.is_empty()
    }

    /// The keys it records, in the order they came.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// One metric per epoch (NaN where an epoch lacks it); empty for a key it lacks.
    pub fn column(&self, name: &str) -> Vec<f64> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map_or_else(Vec::new, |(_, values)| values.clone())
    }

    /// Appends epoch `epoch`: each key's value, a key new to the record getting NaN for the
    /// epochs before, a key the epoch lacks NaN for it.
    pub fn push(&mut self, epoch: usize, values: &[(String, f64)]) {
        let before = self.epoch.len();
        for (key, _) in values {
            if !self.columns.iter().any(|(k, _)| k == key) {
                self.columns.push((key.clone(), vec![f64::NAN; before]));
            }
        }
        for (key, column) in &mut self.columns {
            let value = values.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
            column.push(value.unwrap_or(f64::NAN));
        }
        self.epoch.push(epoch);
    }

    /// Every column as long as the epochs, and every value one its key can take (NaN stands
    /// for an epoch without it): accuracies in [0, 1]; losses, learning rates and seconds
    /// finite and not negative; anything else finite. The error names the first that is not.
    pub fn check(&self) -> Result<(), String> {
        let epochs = self.epoch.len();
        if let Some((name, c)) = self.columns.iter().find(|(_, c)| c.len() != epochs) {
            let n = c.len();
            return Err(format!("its '{name}' has {n} values for {epochs} epochs"));
        }
        for (name, column) in &self.columns {
            let (fits, expected) = range_of(name);
            if let Some(i) = column.iter().position(|&v| !v.is_nan() && !fits(v)) {
                return Err(format!(
                    "its '{name}' of epoch {} is {}; expected {expected}",
                    self.epoch[i] + 1,
                    column[i]
                ));
            }
        }
        Ok(())
    }

    /// Keras's CSVLogger: `epoch`, then the keys in sorted order.
    pub fn to_csv(&self) -> String {
        let mut sorted: Vec<&(String, Vec<f64>)> = self.columns.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let names: Vec<&str> = sorted.iter().map(|(n, _)| n.as_str()).collect();
        let mut s = format!("epoch,{}\n", names.join(","));
        for (row, epoch) in self.epoch.iter().enumerate() {
            let cells: Vec<String> = sorted.iter().map(|(_, c)| c[row].to_string()).collect();
            s += &format!("{epoch},{}\n", cells.join(","));
        }
        s
    }
}

/// The values a history's key can take, and how an error says so.
fn range_of(name: &str) -> (fn(f64) -> bool, &'static str) {
    if name.ends_with("accuracy") {
        (|v| (0.0..=1.0).contains(&v), "an accuracy in [0, 1]")
    } else if name.ends_with("loss") || name == "learning_rate" || name == "seconds" {
        (|v| v.is_finite() && v >= 0.0, "a finite number >= 0")
    } else {
        (f64::is_finite, "a finite number")
    }
}

/// [`Epochs::columns`] as a JSON object of lists, keeping their order; `null` reads as NaN
/// (and NaN writes as `null`, as serde_json writes any non-finite number).
mod columns {
    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        columns: &[(String, Vec<f64>)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(columns.len()))?;
        for (key, values) in columns {
            map.serialize_entry(key, values)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(String, Vec<f64>)>, D::Error> {
        d.deserialize_map(Columns)
    }

    struct Columns;

    impl<'de> Visitor<'de> for Columns {
        type Value = Vec<(String, Vec<f64>)>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("lists of numbers (or null), one per metric")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut columns = Vec::new();
            while let Some((key, values)) = map.next_entry::<String, Vec<Option<f64>>>()? {
                let values = values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect();
                columns.push((key, values));
            }
            Ok(columns)
        }
    }
}

/// What a run records of its settings: every setting (by `train`'s flags' names), then the
/// recipe it started from, where its data came from, and what the settings made of the model
/// (with the data's shape), the optimizer and the schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedSettings {
    #[serde(flatten)]
    pub run: RunSettings,
    #[serde(default)]
    pub recipe: Option<String>,
    /// The data's directory (empty in comparisons written before it was recorded).
    #[serde(default)]
    pub data: String,
    /// The data's fingerprint ([`Dataset::fingerprint`]; none in records written before it
    /// was recorded): runs trained on different data are told apart by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_fingerprint: Option<String>,
    /// The model, as `shaderfit model show` prints it.
    pub model_spec: Value,
    /// `[rows, cols, channels]` of the data.
    pub input_shape: [usize; 3],
    pub class_count: usize,
    #[serde(default)]
    pub optimizer_config: String,
    #[serde(default)]
    pub lr_schedule_config: String,
}

impl RecordedSettings {
    /// What `run` (started from `recipe`, if it was) records of itself training `spec` on
    /// `data` as configured by `cfg`.
    pub fn new(
        (run, recipe): (&RunSettings, Option<&str>),
        spec: &ModelSpec,
        data: &Dataset,
        cfg: &TrainConfig,
    ) -> RecordedSettings {
        RecordedSettings {
            run: run.clone(),
            recipe: recipe.map(str::to_string),
            data: data.dir.display().to_string(),
            data_fingerprint: Some(data.fingerprint()),
            model_spec: spec.to_json(),
            input_shape: [data.rows, data.cols, data.channels],
            class_count: data.classes,
            optimizer_config: cfg.optimizer.describe(),
            lr_schedule_config: cfg.schedule.describe(),
        }
    }

    /// The model it records, compiled; the error says what is wrong with it.
    pub fn model(&self) -> Result<(ModelSpec, Network), String> {
        let text = self.model_spec.to_string();
        let spec = ModelSpec::from_json("model_spec", &text)
            .map_err(|e| format!("its model_spec: {e}"))?;
        let [rows, cols, channels] = self.input_shape;
        let net = spec
            .compile(Shape::new(rows, cols, channels), self.class_count)
            .map_err(|e| e.to_string())?;
        Ok((spec, net))
    }

    /// Its JSON object, each f32 as typed.
    pub fn to_map(&self) -> serde_json::Map<String, Value> {
        match crate::settings::json(self) {
            Value::Object(map) => map,
            _ => unreachable!("recorded settings serialise as an object"),
        }
    }
}

/// One run's record, as `train --history FILE.json` writes it: Keras's `history.history`
/// (each metric's list, and `epoch`) with the run's `settings` beside.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    #[serde(flatten)]
    pub epochs: Epochs,
    pub settings: RecordedSettings,
}

/// What a history file that is not a run record is told.
const EXPECTED: &str = "expected a history written by `train --history FILE.json`";

impl RunRecord {
    /// The record in `text`, the JSON of the history file `path` (named in errors): every
    /// column a list of numbers as long as `epoch`, every setting parsed as its flag is.
    pub fn parse(path: &str, text: &str) -> crate::error::Result<RunRecord> {
        let bad = |what: String| crate::error::Error::file(path, format!("{what}; {EXPECTED}"));
        let json: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON ({e})")))?;
        if !json.is_object() {
            return Err(bad("not a JSON object".into()));
        }
        if !json.get("settings").is_some_and(Value::is_object) {
            return Err(bad("no 'settings' object".into()));
        }
        let record: RunRecord =
            serde_json::from_value(json).map_err(|e| bad(format!("not a run's record: {e}")))?;
        record
            .epochs
            .check()
            .map_err(|e| crate::error::Error::file(path, e))?;
        Ok(record)
    }

    /// The file's text: pretty JSON, each f32 setting as typed.
    pub fn to_text(&self) -> String {
        serde_json::to_string_pretty(self).expect("a record serialises") + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RunRecord {
        let mut epochs = Epochs::default();
        epochs.push(0, &[("loss".into(), 0.5), ("val_loss".into(), 0.25)]);
        epochs.push(1, &[("loss".into(), 0.375), ("seconds".into(), 2.0)]);
        RunRecord {
            epochs,
            settings: RecordedSettings {
                run: RunSettings {
                    optimizer: "sgd".into(),
                    label_smoothing: 0.1,
                    ..RunSettings::default()
                },
                recipe: Some("mlp".into()),
                data: "data/mnist".into(),
                data_fingerprint: Some("0123456789abcdef".into()),
                model_spec: serde_json::json!({"name": "mlp"}),
                input_shape: [28, 28, 1],
                class_count: 10,
                optimizer_config: "sgd".into(),
                lr_schedule_config: "constant".into(),
            },
        }
    }

    /// A record is Keras's `history.history` beside `epoch` and `settings`: a key an epoch
    /// lacks is `null` (NaN here), an f32 setting is written as typed, and it reads back equal
    /// (NaN compared as NaN).
    #[test]
    fn a_record_writes_keras_history_and_reads_back() {
        let r = record();
        let text = r.to_text();
        let json: Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["loss", "val_loss", "seconds", "epoch", "settings"]);
        assert_eq!(json["val_loss"], serde_json::json!([0.25, null]));
        assert_eq!(json["seconds"], serde_json::json!([null, 2.0]));
        assert!(text.contains("\"label_smoothing\": 0.1,"), "{text}");
        let back = RunRecord::parse("h.json", &text).unwrap();
        assert_eq!(back.settings, r.settings);
        assert_eq!(back.epochs.epoch, [0, 1]);
        let bits = |e: &Epochs| {
            let f = |v: &f64| v.to_bits();
            e.columns
                .iter()
                .map(|(k, c)| (k.clone(), c.iter().map(f).collect::<Vec<_>>()))
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&back.epochs), bits(&r.epochs));
    }

    /// A record whose settings a flag would refuse, or whose lists are not one per epoch, is
    /// refused naming the file.
    #[test]
    fn a_bad_record_is_refused_naming_the_file() {
        let mut json: Value = serde_json::from_str(&record().to_text()).unwrap();
        json["settings"]["lr"] = serde_json::json!(-1);
        let e = RunRecord::parse("h.json", &json.to_string())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("h.json: ") && e.contains("--lr"), "{e}");
        let mut json: Value = serde_json::from_str(&record().to_text()).unwrap();
        json["loss"] = serde_json::json!([0.5]);
        let e = RunRecord::parse("h.json", &json.to_string())
            .unwrap_err()
            .to_string();
        assert!(e.contains("'loss' has 1 values for 2 epochs"), "{e}");
    }
}
