//! Sweeps: one model trained with each combination of optimizer and learning rate (the
//! notebooks' comparison of optimizers), every run from the same seed, ranked by the best
//! validation accuracy. Shards split the combinations over machines; results are JSON, so
//! shards merge.

use serde::{Deserialize, Serialize};

use serde_json::json;

use super::{RunSettings, TrainConfig, Trainer};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::model::Network;
use crate::settings;

/// One run of a sweep: its place in the full list (so shards merge back in order), the
/// optimizer and the learning rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Combination {
    pub index: usize,
    pub optimizer: String,
    pub learning_rate: f32,
}

/// Every optimizer with every learning rate, optimizer by optimizer.
pub fn combinations(optimizers: &[String], learning_rates: &[f32]) -> Vec<Combination> {
    optimizers
        .iter()
        .flat_map(|o| learning_rates.iter().map(move |&lr| (o.clone(), lr)))
        .enumerate()
        .map(|(index, (optimizer, learning_rate))| Combination {
            index,
            optimizer,
            learning_rate,
        })
        .collect()
}

/// Shard `k` of `n` (from 0): every n-th combination starting at the k-th, as a Slurm job
/// array's task or a Kubernetes indexed Job's completion index picks its share.
pub fn shard(all: Vec<Combination>, k: usize, n: usize) -> Vec<Combination> {
    all.into_iter().filter(|c| c.index % n == k).collect()
}

/// How one combination went, per epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    #[serde(flatten)]
    pub combination: Combination,
    pub loss: Vec<f64>,
    pub accuracy: Vec<f64>,
    pub val_loss: Vec<f64>,
    pub val_accuracy: Vec<f64>,
    /// Training time, validation included.
    pub seconds: f64,
    /// The adapter it ran on.
    pub adapter: String,
    /// Why it stopped early when its training diverged (its lists then end at the last good
    /// epoch); a sweep goes on with the other combinations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diverged: Option<String>,
}

impl Outcome {
    /// The best validation accuracy and its epoch (from 1; the first of equals).
    pub fn best(&self) -> (f64, usize) {
        self.val_accuracy
            .iter()
            .enumerate()
            .fold((f64::NEG_INFINITY, 0), |(b, e), (i, &v)| {
                if v > b {
                    (v, i + 1)
                } else {
                    (b, e)
                }
            })
    }

    pub fn final_val_accuracy(&self) -> f64 {
        self.val_accuracy.last().copied().unwrap_or(f64::NAN)
    }
}

/// Best first: by best validation accuracy (a combination with no good epoch last), then
/// final, then the sweep's order.
pub fn rank(outcomes: &mut [Outcome]) {
    let best = |o: &Outcome| match o.val_accuracy.is_empty() {
        true => f64::NEG_INFINITY,
        false => o.best().0,
    };
    outcomes.sort_by(|a, b| {
        best(b)
            .total_cmp(&best(a))
            .then(b.final_val_accuracy().total_cmp(&a.final_val_accuracy()))
            .then(a.combination.index.cmp(&b.combination.index))
    });
}

/// The settings of `combination`: `base` with its axes' values (the `optimizer` and `lr`
/// settings), each checked as its flag is; errors name the axis' flag.
pub fn settings_of(base: &RunSettings, combination: &Combination) -> Result<RunSettings> {
    let mut map = settings::to_map(base);
    map.insert("optimizer".into(), json!(combination.optimizer));
    map.insert("lr".into(), json!(combination.learning_rate));
    let axis = |e: Error| match e {
        Error::Flag { flag, message } if flag == "--lr" => Error::flag("--lrs", message),
        Error::Flag { flag, message } if flag == "--optimizer" => {
            Error::flag("--optimizers", message)
        }
        other => other,
    };
    let run: RunSettings = settings::from_map(&map, None).map_err(axis)?;
    run.check().map_err(axis)?;
    Ok(run)
}

/// Trains `net` with `combination`'s configuration `cfg` for its epochs.
pub fn run(
    ctx: &GpuContext,
    (net, data): (&Network, &Dataset),
    cfg: TrainConfig,
    combination: &Combination,
) -> Result<Outcome> {
    let epochs = cfg.epochs;
    let mut trainer = Trainer::new(ctx, net, data, cfg)?;
    let mut outcome = Outcome {
        combination: combination.clone(),
        loss: Vec::new(),
        accuracy: Vec::new(),
        val_loss: Vec::new(),
        val_accuracy: Vec::new(),
        seconds: 0.0,
        adapter: format!("{} ({:?})", ctx.info.name, ctx.info.backend),
        diverged: None,
    };
    for _ in 0..epochs {
        let report = trainer.fit_epoch()?;
        outcome.seconds += report.seconds;
        if let Some(why) = report.divergence(trainer.learning_rate()) {
            // "training diverged in epoch 2: ...; stopped before saving ..." -> its cause.
            let cause = why.split("; ").next().unwrap_or(&why);
            outcome.diverged = Some(cause.trim_start_matches("training ").to_string());
            break;
        }
        let (train, val) = (report.train.score(), report.validation.map(|v| v.score()));
        outcome.loss.push(train.loss);
        outcome.accuracy.push(train.accuracy);
        outcome.val_loss.push(val.map_or(f64::NAN, |v| v.loss));
        outcome
            .val_accuracy
            .push(val.map_or(f64::NAN, |v| v.accuracy));
    }
    Ok(outcome)
}

/// A sweep's results as written by `--json`: what was swept and every outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepFile {
    /// What defines the sweep, which its shards must share to merge: every setting of the
    /// runs (`RunSettings`), the axes' values and the data's fingerprint.
    #[serde(default)]
    pub defines: serde_json::Map<String, serde_json::Value>,
    pub model: String,
    pub dataset: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    /// The combinations of the whole sweep, and the shard this file holds (`k/n`).
    pub combinations: usize,
    pub shard: String,
    pub outcomes: Vec<Outcome>,
}

impl SweepFile {
    /// Joins shards of one sweep: they must agree on what was swept; a combination present
    /// twice is an error, one missing is reported by the caller from [`SweepFile::missing`].
    pub fn merge(files: Vec<(String, SweepFile)>) -> Result<SweepFile> {
        let mut iter = files.into_iter();
        let (first_name, mut merged) = iter
            .next()
            .ok_or_else(|| Error::flag("FILES", "none given; expected sweep JSON files"))?;
        for (name, file) in iter {
            if let Some(difference) = file.difference(&merged) {
                return Err(Error::Mismatch(format!(
                    "{name} is of another sweep than {first_name}: {difference}"
                )));
            }
            for o in file.outcomes {
                if merged
                    .outcomes
                    .iter()
                    .any(|m| m.combination.index == o.combination.index)
                {
                    return Err(Error::Mismatch(format!(
                        "{name}: combination {} ({} lr {}) is in another file too",
                        o.combination.index, o.combination.optimizer, o.combination.learning_rate
                    )));
                }
                merged.outcomes.push(o);
            }
        }
        merged.shard = "merged".into();
        Ok(merged)
    }

    /// How `self` is another sweep than `other`, if it is: the first thing that defines them
    /// and differs, with both values.
    fn difference(&self, other: &SweepFile) -> Option<String> {
        let facts = |f: &SweepFile| {
            let mut all = f.defines.clone();
            all.insert("model".into(), f.model.clone().into());
            all.insert("combinations".into(), f.combinations.into());
            all
        };
        let (mine, theirs) = (facts(self), facts(other));
        let keys = mine.keys().chain(theirs.keys());
        keys.into_iter().find_map(|k| {
            let (a, b) = (mine.get(k), theirs.get(k));
            (a != b).then(|| {
                let show = |v: Option<&serde_json::Value>| crate::settings::show(v);
                format!("its {k} is {}, the other's {}", show(a), show(b))
            })
        })
    }

    /// Indices of combinations no outcome covers.
    pub fn missing(&self) -> Vec<usize> {
        (0..self.combinations)
            .filter(|i| !self.outcomes.iter().any(|o| o.combination.index == *i))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_combinations() {
        let all = combinations(&["sgd".into(), "adam".into()], &[0.1, 0.01, 0.001]);
        assert_eq!(all.len(), 6);
        assert_eq!(
            (all[4].optimizer.as_str(), all[4].learning_rate),
            ("adam", 0.01)
        );
        let mut seen: Vec<usize> = (0..4)
            .flat_map(|k| shard(all.clone(), k, 4).into_iter().map(|c| c.index))
            .collect();
        seen.sort();
        assert_eq!(seen, [0, 1, 2, 3, 4, 5]);
        assert_eq!(
            shard(all, 1, 4).iter().map(|c| c.index).collect::<Vec<_>>(),
            [1, 5]
        );
    }

    #[test]
    fn ranking_is_by_best_validation_accuracy() {
        let outcome = |index, val_accuracy: Vec<f64>| Outcome {
            combination: Combination {
                index,
                optimizer: "sgd".into(),
                learning_rate: 0.1,
            },
            loss: vec![],
            accuracy: vec![],
            val_loss: vec![],
            val_accuracy,
            seconds: 1.0,
            adapter: String::new(),
            diverged: None,
        };
        let mut all = vec![
            outcome(0, vec![0.5, 0.8, 0.7]),
            outcome(1, vec![0.9, 0.6]),
            outcome(2, vec![0.8, 0.8]),
        ];
        rank(&mut all);
        assert_eq!(
            all.iter().map(|o| o.combination.index).collect::<Vec<_>>(),
            [1, 2, 0]
        );
        assert_eq!(all[2].best(), (0.8, 2));
    }
}
