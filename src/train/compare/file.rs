//! A comparison's results as `--json` writes them, and the merge of its shards.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::outcome::Outcome;
use super::runs::show_values;
use crate::error::{Error, Result};
use crate::settings;

/// A comparison's results as written by `--json`: what was compared and every outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareFile {
    /// What defines the comparison, which its shards must share to merge: every setting the
    /// runs share (`RunSettings`), the axes' values and the data's fingerprint.
    #[serde(default)]
    pub defines: Map<String, Value>,
    pub dataset: String,
    /// The runs of the whole comparison, and the shard this file holds (`k/n`).
    pub runs: usize,
    pub shard: String,
    pub outcomes: Vec<Outcome>,
}

impl CompareFile {
    /// Joins shards of one comparison: they must agree on what was compared; a run present
    /// twice is an error, one missing is reported by the caller from [`CompareFile::missing`].
    pub fn merge(files: Vec<(String, CompareFile)>) -> Result<CompareFile> {
        let mut iter = files.into_iter();
        let (first_name, mut merged) = iter
            .next()
            .ok_or_else(|| Error::flag("FILES", "none given; expected JSON files of shards"))?;
        for (name, file) in iter {
            if let Some(difference) = file.difference(&merged) {
                return Err(Error::Mismatch(format!(
                    "{name} is of another comparison than {first_name}: {difference}"
                )));
            }
            for o in file.outcomes {
                if merged.outcomes.iter().any(|m| m.run.index == o.run.index) {
                    return Err(Error::Mismatch(format!(
                        "{name}: run {} ({}) is in another file too",
                        o.run.index + 1,
                        show_values(&o.run.values)
                    )));
                }
                merged.outcomes.push(o);
            }
        }
        merged.shard = "merged".into();
        Ok(merged)
    }

    /// How `self` is another comparison than `other`, if it is: the first thing that defines
    /// them and differs, with both values.
    pub fn difference(&self, other: &CompareFile) -> Option<String> {
        let facts = |f: &CompareFile| {
            let mut all = f.defines.clone();
            all.insert("runs".into(), f.runs.into());
            all
        };
        let (mine, theirs) = (facts(self), facts(other));
        let keys = mine.keys().chain(theirs.keys());
        keys.into_iter().find_map(|k| {
            let (a, b) = (mine.get(k), theirs.get(k));
            (a != b).then(|| {
                let show = |v: Option<&Value>| settings::show(v);
                format!("its {k} is {}, the other's {}", show(a), show(b))
            })
        })
    }

    /// Indices of runs no outcome covers.
    pub fn missing(&self) -> Vec<usize> {
        (0..self.runs)
            .filter(|i| !self.outcomes.iter().any(|o| o.run.index == *i))
            .collect()
    }
}
