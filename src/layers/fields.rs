//! Typed reads of one layer's fields in model JSON. Every error names the layer type, the
//! field, what was found and what was expected: `(conv2d): field 'kernel' is -3; expected a
//! positive integer or [height, width]`.

use serde_json::{Map, Value};

use crate::floor::{Activation, Padding};

pub struct Fields<'a> {
    kind: &'a str,
    obj: &'a Map<String, Value>,
}

fn positive(v: &Value) -> Option<usize> {
    v.as_u64().filter(|&n| n > 0).map(|n| n as usize)
}

impl<'a> Fields<'a> {
    pub fn new(kind: &'a str, obj: &'a Map<String, Value>) -> Fields<'a> {
        Fields { kind, obj }
    }

    /// The field, unless absent or null.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    fn missing(&self, name: &str) -> String {
        format!("({}): missing field '{name}'", self.kind)
    }

    /// An error about field `name` holding `v`.
    pub fn invalid(&self, name: &str, v: &Value, expected: &str) -> String {
        format!(
            "({}): field '{name}' is {v}; expected {expected}",
            self.kind
        )
    }

    /// A required positive integer.
    pub fn count(&self, name: &str) -> Result<usize, String> {
        let v = self.get(name).ok_or_else(|| self.missing(name))?;
        positive(v).ok_or_else(|| self.invalid(name, v, "a positive integer"))
    }

    /// A positive integer `n` (meaning `[n, n]`) or `[height, width]`.
    pub fn size(&self, name: &str, default: Option<[usize; 2]>) -> Result<[usize; 2], String> {
        let Some(v) = self.get(name) else {
            return default.ok_or_else(|| self.missing(name));
        };
        if let Some(n) = positive(v) {
            return Ok([n, n]);
        }
        match v
            .as_array()
            .map(|a| a.iter().filter_map(positive).collect::<Vec<_>>())
        {
            Some(hw) if hw.len() == 2 && v.as_array().map(|a| a.len()) == Some(2) => {
                Ok([hw[0], hw[1]])
            }
            _ => Err(self.invalid(name, v, "a positive integer or [height, width]")),
        }
    }

    /// `activation`, linear when absent.
    pub fn activation(&self) -> Result<Activation, String> {
        match self.get("activation") {
            None => Ok(Activation::Linear),
            Some(v) => v.as_str().and_then(Activation::parse).ok_or_else(|| {
                self.invalid(
                    "activation",
                    v,
                    "\"relu\", \"sigmoid\", \"softmax\" or \"linear\"",
                )
            }),
        }
    }

    /// `activation`, which must be given.
    pub fn required_activation(&self) -> Result<Activation, String> {
        self.get("activation")
            .ok_or_else(|| self.missing("activation"))?;
        self.activation()
    }

    /// `padding`: "valid" (the default) or "same".
    pub fn padding(&self) -> Result<Padding, String> {
        match self.get("padding") {
            None => Ok(Padding::Valid),
            Some(v) => match v.as_str() {
                Some("valid") => Ok(Padding::Valid),
                Some("same") => Ok(Padding::Same),
                _ => Err(self.invalid("padding", v, "\"valid\" or \"same\"")),
            },
        }
    }

    /// A number in [0, 1) (or [0, 1] with `max_inclusive`).
    pub fn fraction(
        &self,
        name: &str,
        default: Option<f32>,
        max_inclusive: bool,
    ) -> Result<f32, String> {
        let Some(v) = self.get(name) else {
            return default.ok_or_else(|| self.missing(name));
        };
        match v.as_f64() {
            Some(x) if x >= 0.0 && (x < 1.0 || (max_inclusive && x <= 1.0)) => Ok(x as f32),
            _ => Err(self.invalid(
                name,
                v,
                if max_inclusive {
                    "a number in [0, 1]"
                } else {
                    "a number in [0, 1)"
                },
            )),
        }
    }

    /// A positive number.
    pub fn positive_f32(&self, name: &str, default: f32) -> Result<f32, String> {
        match self.get(name) {
            None => Ok(default),
            // Checked after the conversion: 1e300 is positive but infinite as f32.
            Some(v) => match v.as_f64() {
                Some(x) if x > 0.0 && (x as f32).is_finite() && x as f32 > 0.0 => Ok(x as f32),
                _ => Err(self.invalid(name, v, "a positive number within f32's range")),
            },
        }
    }
}

/// `n` for a square size, `[h, w]` otherwise: the JSON a size is written as.
pub fn size_json(s: [usize; 2]) -> Value {
    if s[0] == s[1] {
        Value::from(s[0])
    } else {
        Value::from(s.to_vec())
    }
}
