//! How a group of settings is declared: once, as a struct whose every field is one setting, with
//! its help (the doc comment), its flag and default (clap's `#[arg]`), and optionally its range
//! check and how `--resume` treats it. Everything else is derived from that declaration:
//!
//! - the command-line flags (clap's derive; a setting's key is its field name, its flag the
//!   key with `-` for `_`);
//! - its defaults ([`defaults`]: clap's, with nothing on the command line);
//! - its JSON form (serde, both ways), which recipes, training states, run records and
//!   comparisons use;
//! - reading it back from JSON ([`from_map`]): each value goes through its flag's own parser
//!   and the struct's range checks, so a recipe or a state file is checked as a flag is;
//! - its keys and their resume roles ([`Settings::keys`]), which `--resume` compares.
//!
//! The run's settings ([`RunSettings`], in [`run`]) are one such struct; the optimizers'
//! hyperparameters and the schedule's are others, flattened into it.

use std::fmt::Display;

use clap::{Args, FromArgMatches};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

pub mod run;

pub use run::RunSettings;

/// How `--resume` treats a setting given anew on its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// It defines the run: taken from the checkpoint, and refused when given with another
    /// value. Every setting is this unless it says otherwise.
    Defining,
    /// The run's total (`--epochs`): may be raised when resuming.
    Total,
    /// Part of the model, which comes from the checkpoint and is compared as a model.
    Model,
}

/// A group of settings declared with [`settings!`].
pub trait Settings: Args + FromArgMatches + serde::Serialize + Clone {
    /// Each setting's key, in declaration order (flattened groups' in place), and its role.
    fn keys() -> Vec<(&'static str, Resume)>;
    /// Each setting's own range check (the ones declared with `[check = ...]`).
    fn check_ranges(&self) -> Result<()>;
}

/// The flag of setting `key`: `batch_size` -> `--batch-size`.
pub fn flag_of(key: &str) -> String {
    format!("--{}", key.replace('_', "-"))
}

/// Applies a declared range check: `rule` says what is wrong with the value, the error names
/// the setting's flag.
pub fn check_rule<T>(
    key: &str,
    value: &T,
    rule: impl Fn(&T) -> std::result::Result<(), String>,
) -> Result<()> {
    rule(value).map_err(|message| Error::flag(flag_of(key), message))
}

/// The settings of `S` with nothing given: clap's defaults.
pub fn defaults<S: Settings>() -> S {
    let matches = S::augment_args(clap::Command::new("settings"))
        .try_get_matches_from(["settings"])
        .expect("every setting has a default or is optional");
    S::from_arg_matches(&matches).expect("defaults parse")
}

/// `settings` as a JSON object, one key per setting.
pub fn to_map<S: Settings>(settings: &S) -> Map<String, Value> {
    match json(settings) {
        Value::Object(map) => map,
        _ => unreachable!("a settings struct serialises as an object"),
    }
}

/// `value` as JSON with each f32 as typed (`0.1`, not the `0.10000000149011612` of its f64
/// widening, which `serde_json::to_value` would give): through the text form, which writes
/// an f32's shortest digits.
pub fn json<T: serde::Serialize>(value: &T) -> Value {
    let text = serde_json::to_string(value).expect("settings serialise");
    serde_json::from_str(&text).expect("serde_json reads what it writes")
}

/// The settings `map` gives, every other at its default. Each value is parsed by its flag's
/// parser and range-checked, exactly as on the command line; `source` (a recipe file, a
/// training state) is named in every error, with the setting's flag. Without a source the
/// values are the command line's own, and errors read as for a flag typed.
pub fn from_map<S: Settings>(map: &Map<String, Value>, source: Option<&str>) -> Result<S> {
    let keys: Vec<&str> = S::keys().iter().map(|k| k.0).collect();
    let defaults = to_map(&defaults::<S>());
    let within = |e: Error| match source {
        Some(source) => Error::file(source, e.to_string()),
        None => e,
    };
    let parse_error = |e: clap::Error| within(Error::Mismatch(clap_message(&e)));
    let mut argv = vec!["settings".to_string()];
    for (key, value) in map {
        if !keys.contains(&key.as_str()) {
            return Err(within(Error::Mismatch(format!(
                "unknown setting '{key}'{}; expected one of {}",
                crate::floor::did_you_mean(key, &keys),
                keys.join(", ")
            ))));
        }
        // Only what differs from the default is given, as a user would type it (a default
        // that needs another flag, `--lr-factor` without `--reduce-lr-on-plateau`, is not).
        if defaults.get(key) != Some(value) {
            argv.extend(as_flag(key, value).map_err(within)?);
        }
    }
    let matches = S::augment_args(clap::Command::new("settings"))
        .try_get_matches_from(&argv)
        .map_err(parse_error)?;
    let settings = S::from_arg_matches(&matches).map_err(parse_error)?;
    settings.check_ranges().map_err(within)?;
    Ok(settings)
}

/// `value` of setting `key` as its flag would be typed: `--lr=0.01`, `--metrics=a,b`;
/// nothing for an unset option.
fn as_flag(key: &str, value: &Value) -> Result<Option<String>> {
    let flag = flag_of(key);
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let bad = || Error::Mismatch(format!("{key}: {value} is not a value {flag} takes"));
    Ok(match value {
        Value::Null | Value::Bool(false) => None,
        Value::Bool(true) => Some(flag),
        Value::Array(items) => {
            let items: Option<Vec<String>> = items.iter().map(text).collect();
            Some(format!("{flag}={}", items.ok_or_else(bad)?.join(",")))
        }
        v => Some(format!("{flag}={}", text(v).ok_or_else(bad)?)),
    })
}

/// A clap error in one line, without its usage hint but with the values it lists
/// (`invalid value 'tanh' for '--activation <ACTIVATION>' [possible values: linear, ...]`).
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let mut lines = text.lines();
    let first = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ");
    match lines
        .map(str::trim)
        .find(|l| l.starts_with("[possible values"))
    {
        Some(values) => format!("{first} {values}"),
        None => first.to_string(),
    }
}

/// `--augment`'s (or `flag`'s) transforms, its errors naming the flag.
pub fn augment_flag(flag: &'static str, text: &str) -> Result<crate::floor::Augment> {
    crate::floor::Augment::parse(text).map_err(|message| Error::flag(flag, message))
}

/// An f32 flag's value, refused with the text as typed when it is not a number or is outside
/// f32's range (`1e39` would silently become `inf`, `1e-50` zero).
pub fn finite_f32(text: &str) -> std::result::Result<f32, String> {
    let x: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    let y = x as f32;
    if !x.is_finite() || !y.is_finite() || (x != 0.0 && y == 0.0) {
        return Err(format!("'{text}' is outside the range of a 32-bit float"));
    }
    Ok(y)
}

/// A value shown as a user typed it: strings bare, an unset option as `not set`.
pub fn show(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "not set".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| show(Some(v)))
            .collect::<Vec<_>>()
            .join(","),
        Some(v) => v.to_string(),
    }
}

/// Range checks for `[check = ...]`, each saying what is wrong and what was expected.
pub mod rule {
    use super::Display;

    type Outcome = std::result::Result<(), String>;

    /// A count of at least one.
    pub fn at_least_one(v: &usize) -> Outcome {
        match *v >= 1 {
            true => Ok(()),
            false => Err(format!("{v}; expected at least 1")),
        }
    }

    /// A fraction in [0, 1).
    pub fn fraction<T: Copy + Into<f64> + Display>(v: &T) -> Outcome {
        match (0.0..1.0).contains(&(*v).into()) {
            true => Ok(()),
            false => Err(format!("{v}; expected a fraction in [0, 1)")),
        }
    }

    /// The rule `f` for a value that may be unset (unset passes).
    pub fn optional<T>(f: impl Fn(&T) -> Outcome) -> impl Fn(&Option<T>) -> Outcome {
        move |v| v.as_ref().map_or(Ok(()), &f)
    }
}

/// Declares a group of settings (see the module's documentation): a struct whose fields are
/// each `pub key: Type` with clap's `#[arg]` and a doc comment, optionally followed by
/// `[check = rule]` (a `Fn(&Type) -> Result<(), String>`, see [`rule`]), `[resume = Role]`
/// (a [`Resume`] other than `Defining`) or `[flatten]` (a nested group, which also carries
/// `#[command(flatten)]` and `#[serde(flatten)]`).
macro_rules! settings {
    (
        $(#[$smeta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty $([$($opt:tt)*])? ,
            )*
        }
    ) => {
        $(#[$smeta])*
        #[derive(clap::Args, Clone, Debug, PartialEq, serde::Serialize)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::settings::Settings for $name {
            fn keys() -> Vec<(&'static str, $crate::settings::Resume)> {
                let keys: Vec<Vec<(&'static str, $crate::settings::Resume)>> = vec![
                    $( $crate::settings::settings!(@key $field $ty [$($($opt)*)?]) ),*
                ];
                keys.concat()
            }

            fn check_ranges(&self) -> $crate::error::Result<()> {
                $( $crate::settings::settings!(@check self $field [$($($opt)*)?]); )*
                Ok(())
            }
        }

        impl Default for $name {
            /// Every setting at its flag's default.
            fn default() -> Self {
                $crate::settings::defaults()
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            /// From the JSON form, each value parsed by its flag's parser and range-checked
            /// ([`$crate::settings::from_map`]); a setting absent takes its default.
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
                $crate::settings::from_map(&map, None).map_err(serde::de::Error::custom)
            }
        }
    };
    (@key $field:ident $ty:ty [flatten]) => {
        <$ty as $crate::settings::Settings>::keys()
    };
    (@key $field:ident $ty:ty [resume = $role:ident]) => {
        vec![(stringify!($field), $crate::settings::Resume::$role)]
    };
    (@key $field:ident $ty:ty [$($other:tt)*]) => {
        vec![(stringify!($field), $crate::settings::Resume::Defining)]
    };
    (@check $s:ident $field:ident [flatten]) => {
        $crate::settings::Settings::check_ranges(&$s.$field)?
    };
    (@check $s:ident $field:ident [check = $rule:expr]) => {
        $crate::settings::check_rule(stringify!($field), &$s.$field, $rule)?
    };
    (@check $s:ident $field:ident [$($other:tt)*]) => {};
}
pub(crate) use settings;
