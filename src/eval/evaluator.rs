//! The Evaluator: a network's weights on the GPU and its forward passes over resident samples,
//! with no gradient and no optimizer state. `evaluate` and `predict` run through it, and so do
//! a training run's validation and test passes (a [`crate::train::Trainer`] is an Evaluator
//! plus the training step).
//!
//! Its passes (validation, test, test-time augmentation's copies) are recorded once at its own
//! batch, over its own input, labels and forward scratch; each is replayed in submissions of
//! `steps_per_submit` steps and read back once, with the metric accumulators of every pass in
//! one buffer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::buffers::{BatchBuffers, MetricsBuffer, WeightBuffers, WeightsCopy};
use super::limits;
use super::metrics::{
    Accumulator, Accuracy, Logs, Metric, MetricsLayout, Pass, PassMetrics, Predictions,
    Probabilities,
};
use super::record::Recorder;
use super::samples::{Placement, Residency, Samples};
use super::split::GpuSplit;
use super::tta::{self, Tta, TtaResult};
use crate::data::Split;
use crate::error::{Error, Result};
use crate::floor::augment;
use crate::gpu::kernels::{FixedTable, KernelPolicy};
use crate::gpu::{GpuContext, Kernels, Launch};
use crate::layers::fusion;
use crate::model::Network;

/// How an evaluation runs.
#[derive(Clone, Debug)]
pub struct EvalConfig {
    /// Samples per step: `None` for the largest the adapter allows up to 1024
    /// ([`limits::eval_batch`]); the metrics are sums, so the batch changes no count.
    pub batch_size: Option<usize>,
    /// The chosen batch is never below this (a training batch, whose buffers fit).
    pub min_batch: usize,
    /// The run's seed: test-time augmentation's copies draw from it.
    pub seed: u64,
    /// Keras's `label_smoothing` of the loss's targets; 0 for none.
    pub label_smoothing: f32,
    /// The metrics besides the loss that every pass reports; the ones with accumulators of
    /// their own run them in every pass.
    pub metrics: Vec<Arc<dyn Metric>>,
    /// Accumulators besides the metrics' on the validation and test passes (a confusion
    /// matrix, predictions).
    pub accumulators: Vec<Arc<dyn Accumulator>>,
    /// Test-time augmentation's views of each test image ([`Evaluator::tta`]).
    pub tta: Option<Tta>,
    /// Evaluation steps recorded into one submission (progress is counted per submission).
    pub steps_per_submit: usize,
    /// Which kernels run.
    pub kernels: Arc<dyn KernelPolicy>,
    /// Where the test samples live: resident, split or streamed ([`Samples`]).
    pub placement: Placement,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            batch_size: None,
            min_batch: 1,
            seed: 1,
            label_smoothing: 0.0,
            metrics: vec![Arc::new(Accuracy)],
            accumulators: Vec::new(),
            tta: None,
            steps_per_submit: 16,
            kernels: Arc::new(FixedTable),
            placement: Placement::default(),
        }
    }
}

impl EvalConfig {
    /// Where every pass's accumulators live: the metrics' own in every pass, the
    /// validation and test passes' besides ([`EvalConfig::pass_accumulators`]).
    fn metrics_layout(
        &self,
        net: &Network,
        test_samples: usize,
        ctx: &GpuContext,
    ) -> MetricsLayout {
        let own: Vec<_> = self
            .metrics
            .iter()
            .filter_map(|m| m.accumulator())
            .collect();
        let evaluation = self.pass_accumulators(test_samples);
        MetricsLayout::new(&own, &evaluation, net.classes, ctx.binding_align_floats())
    }

    /// The accumulators of the validation and test passes: with test-time augmentation, a
    /// predictions accumulator as wide as the `test_samples` replaces any other (its views are
    /// averaged from every sample's probabilities).
    fn pass_accumulators(&self, test_samples: usize) -> Vec<Arc<dyn Accumulator>> {
        let mut all = self.accumulators.clone();
        if self.tta.is_some() {
            all.retain(|m| m.name() != "predictions");
            all.push(Arc::new(Predictions {
                capacity: test_samples,
            }));
        }
        all
    }
}

/// Launches of one pass over a fixed set of samples (validation or test), forward only.
pub struct EvalPass {
    pub pass: Pass,
    pub steps: usize,
    pub launches: Vec<Launch>,
    /// Whether it reads the test samples (else the held-out ones).
    pub reads_test: bool,
}

/// What an evaluation runs over: its test split, and what its validation pass visits.
pub enum Validation {
    /// The test split itself (no validation split: the reference notebooks' way).
    OnTest,
    /// Samples already on the GPU (the held-out tail of a training split resident in one
    /// buffer).
    Resident(GpuSplit),
    /// Samples to upload as the test split is (the held-out tail of a training split that is
    /// not resident in one buffer).
    HeldOut(Split),
}

/// The weights and forward passes of one network on one adapter (see the module's notes).
pub struct Evaluator<'a> {
    ctx: &'a GpuContext,
    kernels: Kernels,
    net: Network,
    cfg: EvalConfig,
    weights: WeightBuffers,
    metrics: MetricsBuffer,
    /// `{ step, _ }` of the pass in flight.
    cursor: wgpu::Buffer,
    rows: BatchBuffers,
    fusions: Vec<fusion::Fusion>,
    /// The test samples, and what starts each submission of a pass over them (a split set's
    /// ring fill).
    test_samples: Samples,
    test_start: Vec<Launch>,
    validation: EvalPass,
    test: EvalPass,
    /// Test-time augmentation's passes over the test split: one per augmented copy.
    test_augmented: Vec<EvalPass>,
    /// Whether the validation pass runs on the test split.
    validation_is_test: bool,
    /// Steps of the pass in flight the GPU has finished.
    done: Arc<AtomicUsize>,
    /// The held-out validation samples, and what starts each submission over them.
    held: Option<(Samples, Vec<Launch>)>,
}

/// The weights an evaluator starts from: trainable tensors and moving statistics, each a
/// `Vec` per tensor in [`crate::model::ParamLayout`]'s order.
pub type InitialWeights<'w> = (&'w [Vec<f32>], &'w [Vec<f32>]);

impl<'a> Evaluator<'a> {
    /// Compiles `net`'s forward passes over `test` (uploaded once) and `validation`, at the
    /// batch `cfg` asks for or the largest that fits, with these weights.
    pub fn new(
        ctx: &'a GpuContext,
        net: &Network,
        weights: InitialWeights,
        cfg: EvalConfig,
        (test, validation): (&Split, Validation),
    ) -> Result<Evaluator<'a>> {
        let residency = Residency::of(ctx, test, cfg.placement);
        check(ctx, net, &cfg, (test, &residency))?;
        let kernels = Kernels::new(ctx, cfg.kernels.clone());
        let fusions = fusion::fuse(&net.layers);
        let held_len = match &validation {
            Validation::OnTest => 0,
            Validation::Resident(split) => split.len,
            Validation::HeldOut(split) => split.len(),
        };
        let longest = held_len.max(test.len());
        let batch = limits::eval_batch(ctx, net, (cfg.batch_size, cfg.min_batch), longest);
        let shape = (batch, cfg.steps_per_submit);
        let upload = |name: &str, split: &Split, residency: Residency| {
            let order: Vec<u32> = (0..split.len() as u32).collect();
            Samples::upload(ctx, (name, split), &order, residency, shape)
        };
        let test_samples = upload("test", test, residency)?;
        let held = match validation {
            Validation::OnTest => None,
            Validation::Resident(split) => Some(Samples::resident(split)),
            Validation::HeldOut(split) => {
                let residency = Residency::of(ctx, &split, cfg.placement);
                Some(upload("validation", &split, residency)?)
            }
        };
        let rows = BatchBuffers::new(ctx, (net, &fusions), batch, false)?;
        let weights = WeightBuffers::new(ctx, net, weights);
        let metrics = MetricsBuffer::new(ctx, cfg.metrics_layout(net, test.len(), ctx));
        let cursor = ctx.storage("eval cursor", 8);
        let rec = Recorder {
            ctx,
            kernels: &kernels,
            net,
            fusions: &fusions,
            rows: &rows,
            seed: cfg.seed,
            label_smoothing: cfg.label_smoothing,
            weights: &weights,
            grads: None,
            metrics: &metrics,
            row_stats: None,
        };
        let val_samples = held.as_ref().unwrap_or(&test_samples);
        let validation = eval_pass(&rec, Pass::Validation, val_samples, &cursor);
        let validation = EvalPass {
            reads_test: held.is_none(),
            ..validation
        };
        let test = eval_pass(&rec, Pass::Test, &test_samples, &cursor);
        let test_augmented = tta_passes(&rec, &cfg, &test_samples.gather, &cursor);
        let starts = |s: &Samples| s.fill_launches((ctx, &kernels), &cursor);
        let test_start = starts(&test_samples);
        let held = held.map(|h| {
            let start = starts(&h);
            (h, start)
        });
        ctx.check_errors()?;
        Ok(Evaluator {
            ctx,
            kernels,
            net: net.clone(),
            cfg,
            weights,
            metrics,
            cursor,
            rows,
            fusions,
            test_samples,
            test_start,
            validation,
            test,
            test_augmented,
            validation_is_test: held.is_none(),
            done: Arc::new(AtomicUsize::new(0)),
            held,
        })
    }
}

/// The buffers an evaluation makes whatever its batch fit the adapter: the parameters and the
/// test images where they are one buffer (its batch is chosen to fit, or checked as it is
/// allocated; a split or streamed set's ring is as small as the batch's).
fn check(
    ctx: &GpuContext,
    net: &Network,
    cfg: &EvalConfig,
    (test, residency): (&Split, &Residency),
) -> Result<()> {
    if cfg.batch_size == Some(0) {
        return Err(Error::flag("--batch-size", "0; expected at least 1"));
    }
    if cfg.steps_per_submit == 0 {
        return Err(Error::flag("--steps-per-submit", "0; expected at least 1"));
    }
    let mut needs = vec![limits::params_need(limits::param_bytes(ctx, net))];
    if *residency == Residency::Whole {
        needs.push(limits::images_need("test", test.images.len() as u64));
    }
    limits::check_needs(ctx, &needs)
}

/// One pass of `pass`'s accumulators over the test `samples`, forward only.
fn eval_pass<'a>(
    rec: &Recorder<'a>,
    pass: Pass,
    samples: &'a Samples,
    cursor: &'a wgpu::Buffer,
) -> EvalPass {
    let split = &samples.gather;
    EvalPass {
        pass,
        steps: split.len.div_ceil(rec.rows.batch),
        launches: rec.forward_pass(pass, split, cursor, None),
        reads_test: true,
    }
}

/// Test-time augmentation's test passes: one per extra view of `cfg.tta`, each over copies
/// of the split's images augmented with the view's own seed.
fn tta_passes<'a>(
    rec: &Recorder<'a>,
    cfg: &EvalConfig,
    split: &'a GpuSplit,
    cursor: &'a wgpu::Buffer,
) -> Vec<EvalPass> {
    let Some(tta) = cfg.tta else {
        return Vec::new();
    };
    (1..tta.copies)
        .map(|copy| {
            let draws = (tta.augment, augment::tta_seed32(cfg.seed, copy));
            EvalPass {
                pass: Pass::Test,
                steps: split.len.div_ceil(rec.rows.batch),
                launches: rec.forward_pass(Pass::Test, split, cursor, Some(draws)),
                reads_test: true,
            }
        })
        .collect()
}

impl<'a> Evaluator<'a> {
    /// Samples per evaluation step.
    pub fn batch(&self) -> usize {
        self.rows.batch
    }

    pub fn network(&self) -> &Network {
        &self.net
    }

    pub fn config(&self) -> &EvalConfig {
        &self.cfg
    }

    pub fn gpu(&self) -> &'a GpuContext {
        self.ctx
    }

    /// The kernels the passes run, e.g. for the pipelines they created.
    pub fn kernels(&self) -> &Kernels {
        &self.kernels
    }

    /// The weights' buffers, which a training step updates in place.
    pub fn weights(&self) -> &WeightBuffers {
        &self.weights
    }

    /// The metric accumulators of every pass, a training step's included.
    pub fn metrics(&self) -> &MetricsBuffer {
        &self.metrics
    }

    /// The validation or the test pass.
    pub fn pass(&self, pass: Pass) -> &EvalPass {
        match pass {
            Pass::Validation => &self.validation,
            Pass::Test => &self.test,
            Pass::Train => panic!("the training pass is the training plan's, not an evaluation"),
        }
    }

    /// Whether the validation pass runs on the test split (its results are then the test
    /// pass's, bit for bit: same data, order and kernels).
    pub fn validation_is_test(&self) -> bool {
        self.validation_is_test
    }

    /// Steps of the pass in flight the GPU has finished, and its steps.
    pub fn progress(&self, pass: Pass) -> (usize, usize) {
        (self.done.load(Ordering::Relaxed), self.pass(pass).steps)
    }

    /// The loss and the configured metrics in `pass`'s results, keys prefixed by `prefix`
    /// (`val_`, `test_`).
    pub fn logs(&self, prefix: &str, pass: &PassMetrics) -> Logs {
        Logs::of(&self.cfg.metrics, prefix, pass)
    }

    /// Records and submits `pass` in submissions of `steps_per_submit` steps (so progress
    /// can be counted), its accumulators zeroed first where `clear`, then the copy of the
    /// metrics for [`Evaluator::read_metrics_with`]. Nothing is waited for.
    pub fn submit(&self, pass: Pass, clear: bool) {
        self.submit_launches(self.pass(pass), clear);
    }

    fn submit_launches(&self, pass: &EvalPass, clear: bool) {
        self.done.store(0, Ordering::Relaxed);
        let chunk = self.cfg.steps_per_submit.max(1);
        let mut encoder = self.ctx.encoder("evaluation");
        if clear {
            self.metrics.clear(&mut encoder, pass.pass);
        }
        encoder.clear_buffer(&self.cursor, 0, Some(8));
        let (samples, start) = match (&self.held, pass.reads_test) {
            (Some((held, start)), false) => (held, start),
            _ => (&self.test_samples, &self.test_start),
        };
        let mut done = 0;
        while done < pass.steps {
            let n = chunk.min(pass.steps - done);
            samples.before_submission(self.ctx, done);
            Launch::replay(&mut encoder, start, 1);
            Launch::replay(&mut encoder, &pass.launches, n);
            done += n;
            if done == pass.steps {
                self.metrics.record_copy(&mut encoder);
            }
            samples.submitted(self.ctx.submit_counted(encoder, &self.done, n));
            encoder = self.ctx.encoder("evaluation");
        }
        if pass.steps == 0 {
            self.metrics.record_copy(&mut encoder);
            self.ctx.queue.submit([encoder.finish()]);
        }
    }

    /// Every pass's metrics as the last submission left them (one readback), calling `tick`
    /// about every 100 ms while the GPU is busy.
    pub fn read_metrics_with(&self, tick: &mut dyn FnMut()) -> Result<[PassMetrics; 3]> {
        self.metrics.read_with(self.ctx, tick)
    }

    /// Every pass's metrics as they stand (a copy and one readback): for tests and tools.
    pub fn read_metrics(&self) -> Result<[PassMetrics; 3]> {
        let mut encoder = self.ctx.encoder("metrics");
        self.metrics.record_copy(&mut encoder);
        self.ctx.queue.submit([encoder.finish()]);
        self.read_metrics_with(&mut || {})
    }

    /// `pass`'s metrics under the current weights: one pass, one readback.
    pub fn evaluate(&self, pass: Pass) -> Result<PassMetrics> {
        self.submit(pass, true);
        let [_, validation, test] = self.read_metrics_with(&mut || {})?;
        Ok(match pass {
            Pass::Validation => validation,
            _ => test,
        })
    }

    /// The test split's class probabilities, one view per test-time augmentation copy (the
    /// plain images first), one readback each; empty without `cfg.tta`.
    pub fn test_views(&self) -> Result<Vec<Probabilities>> {
        if self.cfg.tta.is_none() {
            return Ok(Vec::new());
        }
        let mut views = Vec::new();
        for pass in std::iter::once(&self.test).chain(&self.test_augmented) {
            self.submit_launches(pass, true);
            let [_, _, test] = self.read_metrics_with(&mut || {})?;
            let probabilities = test
                .probabilities()
                .expect("pass_accumulators gave the test pass its predictions");
            views.push(probabilities.clone());
        }
        Ok(views)
    }

    /// The test split (`labels`: its labels) scored by the mean of its test-time augmentation
    /// views; `None` without `cfg.tta`.
    pub fn tta(&self, labels: &[u8]) -> Result<Option<TtaResult>> {
        let views = self.test_views()?;
        if views.is_empty() {
            return Ok(None);
        }
        let probabilities = tta::mean(&views);
        let (score, confusion) = tta::score(&probabilities, labels, self.cfg.label_smoothing);
        Ok(Some(TtaResult {
            copies: views.len(),
            probabilities,
            score,
            confusion,
        }))
    }

    /// Replaces the weights and moving statistics with these, per tensor in the layouts'
    /// order (a checkpoint's).
    pub fn set_weights(&self, params: &[Vec<f32>], stats: &[Vec<f32>]) {
        self.weights.write(self.ctx, params, stats);
    }

    /// Current trainable weights, one `Vec` per tensor in [`crate::model::ParamLayout::trainable`]
    /// order (one readback).
    pub fn read_params(&self) -> Result<Vec<Vec<f32>>> {
        self.weights.read_params(self.ctx)
    }

    /// Current moving statistics, one `Vec` per tensor (one readback).
    pub fn read_stats(&self) -> Result<Vec<Vec<f32>>> {
        self.weights.read_stats(self.ctx)
    }

    /// Copies the weights into `into` on the GPU (no readback).
    pub fn copy_weights(&self, into: &mut Option<WeightsCopy>) {
        self.weights.copy_into(self.ctx, into);
    }

    /// Replaces the weights with a copy.
    pub fn restore_weights(&self, from: &WeightsCopy) {
        self.weights.restore(self.ctx, from);
    }

    /// Every node's output for `images` (`[n, features]` u8, at most a batch): one `Vec` per
    /// node, `[n, node's output features]` row-major (NHWC), as the evaluation forward
    /// computes it. For inspecting a few samples: one pass, one readback per node; the
    /// metrics are left as they were.
    pub fn layer_outputs(&self, images: &[u8]) -> Result<Vec<Vec<f32>>> {
        let features = self.net.input.features();
        let n = images.len() / features;
        if n == 0 || n > self.batch() || !images.len().is_multiple_of(features) {
            return Err(Error::Mismatch(format!(
                "{} bytes are not 1 to {} images of {features} bytes (the evaluation batch)",
                images.len(),
                self.batch()
            )));
        }
        let split = Split {
            images: images.to_vec().into(),
            labels: vec![0; n],
        };
        let samples = GpuSplit::upload_all(self.ctx, "inspected", &split)?;
        let launches = self.recorder().forward_only(&samples, &self.cursor);
        let mut encoder = self.ctx.encoder("layer outputs");
        encoder.clear_buffer(&self.cursor, 0, Some(8));
        Launch::replay(&mut encoder, &launches, 1);
        self.ctx.submit_and_wait(encoder)?;
        let outputs = self.rows.acts.out.iter().zip(&self.net.layers);
        outputs
            .map(|(buffer, node)| self.ctx.read_f32(buffer, 0, n * node.output.features()))
            .collect()
    }

    /// A recorder over this evaluator's buffers.
    fn recorder(&self) -> Recorder<'_> {
        Recorder {
            ctx: self.ctx,
            kernels: &self.kernels,
            net: &self.net,
            fusions: &self.fusions,
            rows: &self.rows,
            seed: self.cfg.seed,
            label_smoothing: self.cfg.label_smoothing,
            weights: &self.weights,
            grads: None,
            metrics: &self.metrics,
            row_stats: None,
        }
    }
}
