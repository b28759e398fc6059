//! Metrics by name: what `--metrics` asks for, each declared once with Keras's key and the
//! direction that counts as better. A metric reads its value from a pass's accumulators; the
//! ones that need an accumulator of their own ask for it, and the plan runs it in every pass
//! (training batches included, as Keras computes its metrics), read back with the epoch's
//! other metrics. Everything that shows or watches a metric (the epoch line, the progress
//! bar, the history, the report, `--monitor`, early stopping, ReduceLROnPlateau) works from
//! the run's [`Logs`], so a new metric is its file and its line in [`METRICS`].

use std::fmt;
use std::sync::Arc;

use super::{Accumulator, PassMetrics};
use crate::error::{Error, Result};

pub trait Metric: fmt::Debug + Send + Sync {
    /// Its key in the logs and the history, Keras's: `accuracy`, `top_k_accuracy` (a
    /// validation pass's get `val_`, the test pass's `test_`).
    fn key(&self) -> &'static str;
    /// As `--metrics` names it: `top_k_accuracy:3`.
    fn spec(&self) -> String;
    /// Whether larger values are better (Keras's `mode="auto"`: accuracies up, losses down).
    fn higher_is_better(&self) -> bool;
    /// The accumulator it needs, if loss and accuracy's is not enough.
    fn accumulator(&self) -> Option<Arc<dyn Accumulator>>;
    /// Its value from a pass's results.
    fn value(&self, pass: &PassMetrics) -> f64;
}

/// A metric as `--metrics` names it: `name`, or `name:ARG`.
pub struct MetricKind {
    pub name: &'static str,
    /// How it is written in `--metrics`, e.g. `top_k_accuracy:K`.
    pub usage: &'static str,
    /// The metric, from the text after `name:` (none without a colon); errors say what was
    /// wrong with it.
    pub parse: ParseMetric,
}

/// [`MetricKind::parse`].
pub type ParseMetric = fn(Option<&str>) -> std::result::Result<Arc<dyn Metric>, String>;

/// Every metric `--metrics` knows: the registry a new metric adds one line to.
pub const METRICS: [&MetricKind; 2] = [&ACCURACY_KIND, &super::top_k::KIND];

/// The loss, always the first of a pass's logs.
#[derive(Clone, Copy, Debug)]
pub struct Loss;

impl Metric for Loss {
    fn key(&self) -> &'static str {
        "loss"
    }
    fn spec(&self) -> String {
        "loss".into()
    }
    fn higher_is_better(&self) -> bool {
        false
    }
    fn accumulator(&self) -> Option<Arc<dyn Accumulator>> {
        None
    }
    fn value(&self, pass: &PassMetrics) -> f64 {
        pass.score().loss
    }
}

/// Keras's `accuracy`: the first argmax equals the label. The loss kernel counts it.
#[derive(Clone, Copy, Debug)]
pub struct Accuracy;

const ACCURACY_KIND: MetricKind = MetricKind {
    name: "accuracy",
    usage: "accuracy",
    parse: |arg| match arg {
        None => Ok(Arc::new(Accuracy)),
        Some(a) => Err(format!("accuracy takes no argument, given '{a}'")),
    },
};

impl Metric for Accuracy {
    fn key(&self) -> &'static str {
        "accuracy"
    }
    fn spec(&self) -> String {
        "accuracy".into()
    }
    fn higher_is_better(&self) -> bool {
        true
    }
    fn accumulator(&self) -> Option<Arc<dyn Accumulator>> {
        None
    }
    fn value(&self, pass: &PassMetrics) -> f64 {
        pass.score().accuracy
    }
}

/// `flag`'s list of metrics (`accuracy,top_k_accuracy:3`), each known and named once.
pub fn parse_list(flag: &'static str, specs: &[String]) -> Result<Vec<Arc<dyn Metric>>> {
    let mut metrics: Vec<Arc<dyn Metric>> = Vec::new();
    for spec in specs {
        let (name, arg) = match spec.split_once(':') {
            Some((name, arg)) => (name.trim(), Some(arg.trim())),
            None => (spec.trim(), None),
        };
        let names: Vec<&str> = METRICS.iter().map(|k| k.name).collect();
        let usages: Vec<&str> = METRICS.iter().map(|k| k.usage).collect();
        let kind = METRICS.iter().find(|k| k.name == name).ok_or_else(|| {
            Error::flag(
                flag,
                format!(
                    "unknown metric '{name}'{}; expected one of {}",
                    crate::floor::did_you_mean(name, &names),
                    usages.join(", ")
                ),
            )
        })?;
        let metric = (kind.parse)(arg).map_err(|e| Error::flag(flag, e))?;
        if metrics.iter().any(|m| m.key() == metric.key()) {
            return Err(Error::flag(
                flag,
                format!(
                    "'{}' is given twice; expected each metric once",
                    metric.key()
                ),
            ));
        }
        metrics.push(metric);
    }
    Ok(metrics)
}

/// Named values of an epoch or a pass, in Keras's order (`loss`, the metrics, then `val_`'s),
/// as Keras's callbacks get them in `logs`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Logs(pub Vec<(String, f64)>);

impl Logs {
    /// The loss and `metrics` of `pass`, each key prefixed by `prefix` (`val_`, `test_`).
    pub fn of(metrics: &[Arc<dyn Metric>], prefix: &str, pass: &PassMetrics) -> Logs {
        let all = std::iter::once(&Loss as &dyn Metric).chain(metrics.iter().map(|m| &**m));
        Logs(
            all.map(|m| (format!("{prefix}{}", m.key()), m.value(pass)))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    pub fn extend(&mut self, other: Logs) {
        self.0.extend(other.0);
    }

    /// As Keras prints them: `loss: 0.0712 - accuracy: 0.9781`.
    pub fn line(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}: {v:.4}")).collect();
        parts.join(" - ")
    }
}

/// The keys an epoch's logs have for a run of `metrics`, with whether larger is better:
/// what `--monitor`, `--early-stopping` and `--reduce-lr-on-plateau` can watch.
pub fn monitorable(metrics: &[Arc<dyn Metric>]) -> Vec<(String, bool)> {
    let all: Vec<&dyn Metric> = std::iter::once(&Loss as &dyn Metric)
        .chain(metrics.iter().map(|m| &**m))
        .collect();
    ["", "val_"]
        .iter()
        .flat_map(|prefix| {
            all.iter()
                .map(move |m| (format!("{prefix}{}", m.key()), m.higher_is_better()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lists_are_checked_by_name() {
        let specs = |s: &str| s.split(',').map(String::from).collect::<Vec<_>>();
        let metrics = parse_list("--metrics", &specs("accuracy,top_k_accuracy:3")).unwrap();
        let keys: Vec<&str> = metrics.iter().map(|m| m.key()).collect();
        assert_eq!(keys, ["accuracy", "top_k_accuracy"]);
        assert_eq!(metrics[1].spec(), "top_k_accuracy:3");
        for (bad, expect) in [
            ("acuracy", "--metrics: unknown metric 'acuracy' (did you mean 'accuracy'?); expected one of accuracy, top_k_accuracy:K"),
            ("top_k_accuracy", "--metrics: top_k_accuracy needs K, the number of top scores: top_k_accuracy:K with K >= 1, e.g. top_k_accuracy:5"),
            ("top_k_accuracy:0", "--metrics: top_k_accuracy:0; expected K >= 1"),
            ("accuracy,accuracy", "--metrics: 'accuracy' is given twice; expected each metric once"),
        ] {
            let err = parse_list("--metrics", &specs(bad)).unwrap_err().to_string();
            assert_eq!(err, expect);
        }
        let keys: Vec<String> = monitorable(&metrics).into_iter().map(|k| k.0).collect();
        assert_eq!(
            keys,
            [
                "loss",
                "accuracy",
                "top_k_accuracy",
                "val_loss",
                "val_accuracy",
                "val_top_k_accuracy"
            ]
        );
    }

    #[test]
    fn every_registered_metric_parses_its_usage() {
        for kind in METRICS {
            let spec = kind.usage.replace('K', "2");
            let metric = parse_list("--metrics", std::slice::from_ref(&spec)).unwrap();
            assert_eq!(metric[0].spec(), spec, "{}", kind.name);
        }
    }
}
