//! Metrics as accumulators on the GPU. Each pass of a plan (training, validation, test) feeds
//! a list of accumulators; each owns a region of the plan's metrics buffer, adds every batch
//! into it with launches recorded after the loss kernel, and turns its words into one result
//! when the buffer is read back: once per epoch, with one copy, never per step.
//!
//! Loss and accuracy are one accumulator, [`LossAccuracy`]: always first in every pass, and
//! filled by the loss kernel itself, which has each row's loss and argmax at hand (no launch
//! of its own). The metrics users name (`--metrics`, [`Metric`]) read their values from these
//! accumulators. CONTRIBUTING.md says how to add one.

use std::fmt;
use std::sync::Arc;

use crate::gpu::kernels::{Kernels, Launch, View};
use crate::gpu::GpuContext;

mod confusion;
mod loss_accuracy;
mod metric;
mod predictions;
mod top_k;

pub use confusion::ConfusionMatrix;
pub use loss_accuracy::{LossAccuracy, Score};
pub use metric::{monitorable, parse_list, Accuracy, Logs, Loss, Metric, MetricKind, METRICS};
pub use predictions::{Predictions, Probabilities};
pub use top_k::TopK;

pub trait Accumulator: fmt::Debug + Send + Sync {
    /// Its name among a pass's results, e.g. `loss_accuracy`.
    fn name(&self) -> &'static str;
    /// 4-byte words of GPU storage it needs, zeroed at the start of each pass.
    fn words(&self, classes: usize) -> usize;
    /// The launches that add one batch into `region`, recorded after the loss kernel.
    fn record(&self, batch: &BatchIo, region: View) -> Vec<Launch>;
    /// Its result from its words.
    fn result(&self, words: &[u32], classes: usize) -> MetricValue;
}

/// What an accumulator's launches read: the batch's logits and labels.
pub struct BatchIo<'a> {
    pub gpu: &'a GpuContext,
    pub kernels: &'a Kernels,
    pub batch: usize,
    pub classes: usize,
    /// `[batch, classes]`.
    pub logits: View<'a>,
    /// `[batch]`, padding rows `PAD_LABEL`.
    pub labels: View<'a>,
    /// The pass's cursor, advanced past this batch by the loss kernel (see `prelude.wgsl`).
    pub cursor: View<'a>,
}

/// A counting matrix, row-major: a confusion matrix's `counts[true * cols + predicted]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountMatrix {
    pub rows: usize,
    pub cols: usize,
    pub counts: Vec<u32>,
}

impl CountMatrix {
    pub fn at(&self, row: usize, col: usize) -> u32 {
        self.counts[row * self.cols + col]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().map(|&c| c as u64).sum()
    }

    /// The sum of the diagonal (a confusion matrix's correct predictions).
    pub fn trace(&self) -> u64 {
        (0..self.rows.min(self.cols))
            .map(|i| self.at(i, i) as u64)
            .sum()
    }

    /// A confusion matrix's precision, recall, F1 and support per class, as scikit-learn's
    /// `classification_report` computes them (0 where a ratio has no denominator).
    pub fn per_class(&self) -> Vec<ClassScores> {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        (0..self.rows)
            .map(|c| {
                let tp = self.at(c, c) as u64;
                let predicted: u64 = (0..self.rows).map(|r| self.at(r, c) as u64).sum();
                let support: u64 = (0..self.cols).map(|p| self.at(c, p) as u64).sum();
                let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
                let sum = precision + recall;
                ClassScores {
                    precision,
                    recall,
                    f1: if sum == 0.0 {
                        0.0
                    } else {
                        2.0 * precision * recall / sum
                    },
                    support,
                }
            })
            .collect()
    }

    /// The largest off-diagonal counts, as (true, predicted, count), largest first.
    pub fn largest_confusions(&self, n: usize) -> Vec<(usize, usize, u32)> {
        let mut cells: Vec<(usize, usize, u32)> = (0..self.rows)
            .flat_map(|r| (0..self.cols).map(move |c| (r, c)))
            .filter(|&(r, c)| r != c)
            .map(|(r, c)| (r, c, self.at(r, c)))
            .filter(|&(_, _, count)| count > 0)
            .collect();
        cells.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        cells.truncate(n);
        cells
    }
}

/// One class's scores from a confusion matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Samples of the class.
    pub support: u64,
}

/// One accumulator's result.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricValue {
    Score(Score),
    /// A count of samples (top-k accuracy's hits).
    Count(u32),
    Counts(CountMatrix),
    Probabilities(Probabilities),
}

/// The results of one pass, in its accumulators' order.
#[derive(Clone, Debug, PartialEq)]
pub struct PassMetrics {
    pub values: Vec<(&'static str, MetricValue)>,
}

impl PassMetrics {
    pub fn get(&self, name: &str) -> Option<&MetricValue> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Loss and accuracy, which every pass has.
    pub fn score(&self) -> Score {
        match self.values.first() {
            Some((_, MetricValue::Score(s))) => *s,
            _ => unreachable!("every pass's first accumulator is its loss and accuracy"),
        }
    }

    /// The per-sample probabilities, if the pass has them.
    pub fn probabilities(&self) -> Option<&Probabilities> {
        match self.get("predictions") {
            Some(MetricValue::Probabilities(p)) => Some(p),
            _ => None,
        }
    }

    /// The counts of accumulator `name`, if the pass has it.
    pub fn counts(&self, name: &str) -> Option<&CountMatrix> {
        match self.get(name) {
            Some(MetricValue::Counts(c)) => Some(c),
            _ => None,
        }
    }
}

/// The passes of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    Train,
    Validation,
    Test,
}

impl Pass {
    pub const ALL: [Pass; 3] = [Pass::Train, Pass::Validation, Pass::Test];
}

/// One accumulator's place in the metrics buffer.
#[derive(Clone, Debug)]
pub struct Region {
    pub accumulator: Arc<dyn Accumulator>,
    /// Start and length in words.
    pub offset: usize,
    pub words: usize,
}

/// Where every pass's accumulators live in the metrics buffer. Regions start at multiples of
/// `align` words, as storage bindings at an offset need.
#[derive(Clone, Debug)]
pub struct MetricsLayout {
    pub passes: [Vec<Region>; 3],
    pub total_words: usize,
    classes: usize,
}

impl MetricsLayout {
    /// Loss and accuracy on every pass, then `every` (the metrics' own accumulators) on every
    /// pass, then `evaluation` (a report's confusion matrix, ...) on the validation and test
    /// passes.
    pub fn new(
        every: &[Arc<dyn Accumulator>],
        evaluation: &[Arc<dyn Accumulator>],
        classes: usize,
        align: usize,
    ) -> MetricsLayout {
        let mut offset = 0;
        let mut pass = |evaluating: bool| -> Vec<Region> {
            let first: Arc<dyn Accumulator> = Arc::new(LossAccuracy);
            let extra = evaluation.iter().filter(|_| evaluating);
            let all = std::iter::once(first).chain(every.iter().chain(extra).cloned());
            all.map(|accumulator| {
                let words = accumulator.words(classes);
                let region = Region {
                    accumulator,
                    offset,
                    words,
                };
                offset = (offset + words).div_ceil(align) * align;
                region
            })
            .collect()
        };
        let passes = [pass(false), pass(true), pass(true)];
        MetricsLayout {
            passes,
            total_words: offset.max(align),
            classes,
        }
    }

    pub fn regions(&self, pass: Pass) -> &[Region] {
        &self.passes[pass as usize]
    }

    /// The words of `pass`, as a range to clear.
    pub fn span(&self, pass: Pass) -> std::ops::Range<usize> {
        let r = self.regions(pass);
        let start = r.first().map_or(0, |r| r.offset);
        let end = r.last().map_or(0, |r| r.offset + r.words);
        start..end
    }

    /// Every pass's results from the whole buffer's words.
    pub fn results(&self, words: &[u32]) -> [PassMetrics; 3] {
        Pass::ALL.map(|pass| self.pass_results(pass, words, 0))
    }

    /// The results of `pass` from `words`, a copy of the buffer from word `start` on that
    /// covers the pass's [`MetricsLayout::span`].
    pub fn pass_results(&self, pass: Pass, words: &[u32], start: usize) -> PassMetrics {
        PassMetrics {
            values: self
                .regions(pass)
                .iter()
                .map(|r| {
                    let w = &words[r.offset - start..r.offset - start + r.words];
                    (r.accumulator.name(), r.accumulator.result(w, self.classes))
                })
                .collect(),
        }
    }
}
