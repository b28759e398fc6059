//! Sequential model specs: the layers a user writes (in JSON or as a preset), before shapes
//! are known. JSON reading is by hand rather than derived so that every error can name the
//! layer index and the field; each layer reads its own fields ([`crate::layers::LayerKind`]).

use std::sync::Arc;

use serde_json::{Map, Value};

use super::presets::{self, PRESETS};
use crate::error::{Error, Result};
use crate::floor::Activation;
use crate::layers::{parse_layer, Layer};

#[derive(Clone, Debug)]
pub struct ModelSpec {
    pub name: String,
    /// `[height, width, channels]`; `None` takes it from the data.
    pub input: Option<[usize; 3]>,
    pub layers: Vec<Arc<dyn Layer>>,
}

impl PartialEq for ModelSpec {
    fn eq(&self, other: &ModelSpec) -> bool {
        self.name == other.name
            && self.input == other.input
            && self.layers.len() == other.layers.len()
            && self
                .layers
                .iter()
                .zip(&other.layers)
                .all(|(a, b)| a.same_as(b.as_ref()))
    }
}

impl ModelSpec {
    /// A preset from the reference notebooks (see [`presets`]).
    pub fn preset(name: &str, hidden: Option<Activation>, classes: usize) -> Result<ModelSpec> {
        presets::preset(name, hidden, classes)
    }

    /// `--model`: a preset name, or else a JSON file.
    pub fn from_arg(arg: &str, hidden: Option<Activation>, classes: usize) -> Result<ModelSpec> {
        let path = std::path::Path::new(arg);
        if PRESETS.contains(&arg) || !(arg.ends_with(".json") || path.is_file()) {
            return ModelSpec::preset(arg, hidden, classes);
        }
        if hidden.is_some() {
            return Err(Error::flag(
                "--activation",
                "applies to presets only; a JSON model sets each layer's activation",
            ));
        }
        crate::input::check_regular(path)?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::file(path, format!("cannot read model file: {e}")))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        ModelSpec::from_json(&name, &text).map_err(|e| Error::file(path, e))
    }

    /// Parses the JSON form, e.g. `{"input": [28, 28, 1], "layers": [{"type": "conv2d",
    /// "filters": 32, "kernel": 3, "activation": "relu"}, {"type": "flatten"}, ...]}`.
    pub fn from_json(name: &str, text: &str) -> std::result::Result<ModelSpec, String> {
        // Editors on Windows may start a UTF-8 file with a byte-order mark; JSON has none.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let obj = value
            .as_object()
            .ok_or("expected a JSON object with \"layers\" (and optionally \"input\")")?;
        for key in obj.keys() {
            if !["input", "layers", "name"].contains(&key.as_str()) {
                return Err(format!(
                    "unknown field '{key}'; expected \"input\", \"layers\" or \"name\""
                ));
            }
        }
        let name = match obj.get("name") {
            None => name.to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => return Err(format!("field 'name' is {other}; expected a string")),
        };
        let input = match obj.get("input") {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_input(v)?),
        };
        let layers = obj
            .get("layers")
            .ok_or("missing field 'layers'")?
            .as_array()
            .ok_or("field 'layers' must be an array of layer objects")?
            .iter()
            .enumerate()
            .map(|(i, v)| parse_layer(v).map_err(|e| format!("layer {i}: {e}")))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(ModelSpec {
            name,
            input,
            layers,
        })
    }

    /// What identifies its architecture whatever it is named or where its file is: the first
    /// 16 hex digits of the SHA-256 of its layers and input in JSON.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut json = self.to_json();
        if let Value::Object(obj) = &mut json {
            obj.remove("name");
        }
        let digest = Sha256::digest(json.to_string().as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The JSON form, which [`ModelSpec::from_json`] reads back.
    pub fn to_json(&self) -> Value {
        let layers: Vec<Value> = self
            .layers
            .iter()
            .map(|l| {
                let mut obj = Map::new();
                obj.insert("type".into(), l.type_name().into());
                obj.extend(l.to_json());
                Value::Object(obj)
            })
            .collect();
        let mut obj = Map::new();
        obj.insert("name".into(), self.name.clone().into());
        if let Some(input) = self.input {
            obj.insert("input".into(), input.to_vec().into());
        }
        obj.insert("layers".into(), Value::Array(layers));
        Value::Object(obj)
    }
}

impl ModelSpec {
    /// How `asked` differs from `self` (a checkpoint's spec), in the terms of the first
    /// difference: `layer 2 (dense): activation sigmoid in the checkpoint, relu asked`. None
    /// when they are the same model (names aside).
    pub fn difference(&self, asked: &ModelSpec) -> Option<String> {
        let layers = |s: &ModelSpec| {
            s.to_json()["layers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        };
        let (mine, theirs) = (layers(self), layers(asked));
        if mine.len() != theirs.len() {
            return Some(format!(
                "{} layers in the checkpoint, {} asked",
                mine.len(),
                theirs.len()
            ));
        }
        let text = |v: Option<&Value>| match v {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "none".into(),
        };
        for (i, (a, b)) in mine.iter().zip(&theirs).enumerate() {
            let kind = text(a.get("type"));
            if a.get("type") != b.get("type") {
                return Some(format!(
                    "layer {i}: {kind} in the checkpoint, {} asked",
                    text(b.get("type"))
                ));
            }
            let keys = a
                .as_object()
                .into_iter()
                .chain(b.as_object())
                .flat_map(|o| o.keys());
            for key in keys {
                if a.get(key) != b.get(key) {
                    return Some(format!(
                        "layer {i} ({kind}): {key} {} in the checkpoint, {} asked",
                        text(a.get(key)),
                        text(b.get(key))
                    ));
                }
            }
        }
        None
    }
}

fn parse_input(v: &Value) -> std::result::Result<[usize; 3], String> {
    let positive = |v: &Value| v.as_u64().filter(|&n| n > 0).map(|n| n as usize);
    let dims: Vec<usize> = v
        .as_array()
        .map(|a| a.iter().filter_map(positive).collect())
        .unwrap_or_default();
    match (v.as_array().map(|a| a.len()), dims.len()) {
        (Some(3), 3) => Ok([dims[0], dims[1], dims[2]]),
        _ => Err(format!(
            "field 'input' is {v}; expected [height, width, channels] of positive integers"
        )),
    }
}
