//! Top-k accuracy (`--metrics top_k_accuracy:K`): the share of samples whose label is among
//! the K highest scores, as Keras's `SparseTopKCategoricalAccuracy` (TensorFlow's `in_top_k`
//! rule: the label is in the top K when fewer than K classes score strictly higher, so ties
//! at the boundary count as in). Counted on the GPU with an integer atomic (exact) by the
//! `top_k` entry point of `confusion.wgsl`.

use std::sync::Arc;

use super::{Accumulator, BatchIo, Metric, MetricKind, MetricValue, PassMetrics};
use crate::gpu::kernels::{ConfusionArgs, Launch, View};

/// Keras's key for it, whatever K.
const KEY: &str = "top_k_accuracy";

pub(super) const KIND: MetricKind = MetricKind {
    name: KEY,
    usage: "top_k_accuracy:K",
    parse: |arg| {
        let Some(arg) = arg else {
            return Err(
                "top_k_accuracy needs K, the number of top scores: top_k_accuracy:K with K >= 1, e.g. top_k_accuracy:5"
                    .into(),
            );
        };
        match arg.parse::<u32>() {
            Ok(k) if k >= 1 => Ok(Arc::new(TopK { k })),
            _ => Err(format!("top_k_accuracy:{arg}; expected K >= 1")),
        }
    },
};

/// The metric and its accumulator: one word, the count of samples whose label is in the top K.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopK {
    pub k: u32,
}

impl Metric for TopK {
    fn key(&self) -> &'static str {
        KEY
    }

    fn spec(&self) -> String {
        format!("{KEY}:{}", self.k)
    }

    fn higher_is_better(&self) -> bool {
        true
    }

    fn accumulator(&self) -> Option<Arc<dyn Accumulator>> {
        Some(Arc::new(*self))
    }

    fn value(&self, pass: &PassMetrics) -> f64 {
        let samples = pass.score().samples.max(1) as f64;
        match pass.get(KEY) {
            Some(MetricValue::Count(n)) => *n as f64 / samples,
            _ => f64::NAN,
        }
    }
}

impl Accumulator for TopK {
    fn name(&self) -> &'static str {
        KEY
    }

    fn words(&self, _classes: usize) -> usize {
        1
    }

    fn record(&self, b: &BatchIo, region: View) -> Vec<Launch> {
        vec![b.kernels.top_k(
            b.gpu,
            self.k,
            &ConfusionArgs {
                batch: b.batch,
                classes: b.classes,
                logits: b.logits,
                labels: b.labels,
                counts: region,
            },
        )]
    }

    fn result(&self, words: &[u32], _classes: usize) -> MetricValue {
        MetricValue::Count(words[0])
    }
}
