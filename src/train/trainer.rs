//! The epoch loop. Per epoch the CPU writes the shuffled sample order and clears the metric
//! accumulators, records every step (submitting in chunks so the GPU starts while later steps
//! are still being recorded), records the validation pass, and reads the metrics back once.
//! Between epochs, [`Trainer::fit`] calls the callbacks (saving, stopping, printing).

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::callbacks::{Callback, Control, FitSummary};
use super::epoch_report::EpochReport;
use super::live::{LiveMetrics, Phase, Progress, Running};
use super::metrics::{Accumulator, Accuracy, Logs, Metric, Pass, PassMetrics, Probabilities};
use super::plan::{EvalPass, Plan};
use super::tta::{self, Tta};
use crate::data::dataset::epoch_order;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::floor::augment::Augment;
use crate::gpu::kernels::StepRate;
use crate::gpu::kernels::{FixedTable, KernelPolicy};
use crate::gpu::{GpuContext, Kernels, Launch};
use crate::model::{init_params, Network, ParamLayout};
use crate::optim::{Adam, Optimizer, Schedule};

#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub batch_size: usize,
    /// The validation and test passes' batch (forward only, so larger batches fit; their
    /// metrics are sums, so the batch changes no count): `None` for the largest the adapter
    /// allows up to 1024 ([`super::limits::eval_batch`]).
    pub eval_batch_size: Option<usize>,
    pub epochs: usize,
    pub optimizer: Arc<dyn Optimizer>,
    pub seed: u64,
    /// Fraction of the training split held out for validation (Keras's `validation_split`:
    /// the last samples); 0 validates on the test split.
    pub validation_split: f64,
    /// Steps recorded into one submission.
    pub steps_per_submit: usize,
    /// Which kernels run (the CLI gives GPUs the tuner; the default is the fixed table).
    pub kernels: Arc<dyn KernelPolicy>,
    /// The metrics besides the loss that every pass reports (`--metrics`), training's
    /// included; the ones with accumulators of their own run them in every pass.
    pub metrics: Vec<Arc<dyn Metric>>,
    /// Accumulators besides the metrics' on the validation and test passes (a report's
    /// confusion matrix, predictions).
    pub accumulators: Vec<Arc<dyn Accumulator>>,
    /// The learning rate per step, as a multiple of the optimizer's.
    pub schedule: Schedule,
    /// Keras's `CategoricalCrossentropy(label_smoothing=s)`: the loss's targets are
    /// `(1 - s) * onehot + s / classes`, in training and evaluation alike; 0 for none.
    pub label_smoothing: f32,
    /// Random affine augmentation of training batches (never of evaluation's).
    pub augment: Option<Augment>,
    /// Test-time augmentation: [`Trainer::test_views`] has the test pass's probabilities for
    /// the plain images and for `copies - 1` augmented copies.
    pub tta: Option<Tta>,
}

impl TrainConfig {
    /// Checks the settings that do not depend on the data or the adapter.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 || self.eval_batch_size == Some(0) {
            return Err(Error::flag("--batch-size", "0; expected at least 1"));
        }
        if self.steps_per_submit == 0 {
            return Err(Error::flag("--steps-per-submit", "0; expected at least 1"));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(Error::flag(
                "--label-smoothing",
                format!("{}; expected a fraction in [0, 1)", self.label_smoothing),
            ));
        }
        if !(0.0..1.0).contains(&self.validation_split) {
            return Err(Error::flag(
                "--validation-split",
                format!("{}; expected a fraction in [0, 1)", self.validation_split),
            ));
        }
        Ok(())
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            batch_size: 128,
            eval_batch_size: None,
            epochs: 5,
            optimizer: Arc::new(Adam::default()),
            seed: 1,
            validation_split: 0.0,
            steps_per_submit: 16,
            kernels: Arc::new(FixedTable),
            metrics: vec![Arc::new(Accuracy)],
            accumulators: Vec::new(),
            schedule: Schedule::default(),
            label_smoothing: 0.0,
            augment: None,
            tta: None,
        }
    }
}

pub struct Trainer<'a> {
    ctx: &'a GpuContext,
    /// The pipelines the plan was built from (kept for [`Trainer::kernels`]).
    kernels: Kernels,
    plan: Plan,
    cfg: TrainConfig,
    /// Epochs started so far.
    epoch: usize,
    /// Training steps of this epoch the GPU has finished (see [`Trainer::steps_done`]).
    steps_done: Arc<AtomicUsize>,
    /// Steps of the evaluation pass in flight the GPU has finished.
    eval_done: Arc<AtomicUsize>,
    /// Running training metrics for progress reports (borrowed while waiting on the GPU).
    live: RefCell<LiveMetrics>,
    /// Counts changes of the weights (training steps, loaded or restored weights).
    weights_version: u64,
    /// The last validation pass's results and the weights version they were measured on.
    last_validation: Option<(u64, PassMetrics)>,
    /// Training steps taken in the whole run (the optimizer's t before the next step).
    steps_taken: u64,
    /// What the learning rate is multiplied by on top of the schedule (ReduceLROnPlateau).
    lr_factor: f64,
    /// The learning rate of the current epoch's last step.
    last_learning_rate: f64,
}

impl<'a> Trainer<'a> {
    /// Compiles `net` and uploads `data`; weights start from [`init_params`] with the seed.
    pub fn new(
        ctx: &'a GpuContext,
        net: &Network,
        data: &Dataset,
        mut cfg: TrainConfig,
    ) -> Result<Self> {
        // Before the initial weights are made: they may be what does not fit.
        cfg.validate()?;
        tta::keep_probabilities(&mut cfg, data.test.len());
        super::limits::check(ctx, net, &cfg, data)?;
        let layout = ParamLayout::trainable(net, ctx.binding_align_floats());
        let initial = init_params(&layout, cfg.seed);
        Self::build(ctx, net, data, cfg, &initial)
    }

    /// As [`Trainer::new`], starting from the given per-tensor weights.
    pub fn with_params(
        ctx: &'a GpuContext,
        net: &Network,
        data: &Dataset,
        mut cfg: TrainConfig,
        initial: &[Vec<f32>],
    ) -> Result<Self> {
        cfg.validate()?;
        tta::keep_probabilities(&mut cfg, data.test.len());
        super::limits::check(ctx, net, &cfg, data)?;
        Self::build(ctx, net, data, cfg, initial)
    }

    /// The trainer of settings already checked.
    fn build(
        ctx: &'a GpuContext,
        net: &Network,
        data: &Dataset,
        cfg: TrainConfig,
        initial: &[Vec<f32>],
    ) -> Result<Self> {
        let kernels = Kernels::new(ctx, cfg.kernels.clone());
        let plan = Plan::new(ctx, &kernels, net, &cfg, data, initial)?;
        Ok(Trainer {
            live: RefCell::new(LiveMetrics::new(ctx, &plan, &cfg.metrics)),
            ctx,
            kernels,
            plan,
            cfg,
            epoch: 0,
            steps_done: Arc::new(AtomicUsize::new(0)),
            eval_done: Arc::new(AtomicUsize::new(0)),
            weights_version: 0,
            last_validation: None,
            steps_taken: 0,
            lr_factor: 1.0,
            last_learning_rate: 0.0,
        })
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The kernels the plan runs, e.g. for the pipelines they created.
    pub fn kernels(&self) -> &Kernels {
        &self.kernels
    }

    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    pub fn gpu(&self) -> &GpuContext {
        self.ctx
    }

    /// Epochs started so far (finished, between epochs).
    pub fn epochs_done(&self) -> usize {
        self.epoch
    }

    /// Training steps taken in the whole run: the optimizer's step count.
    pub fn steps_taken(&self) -> u64 {
        self.steps_taken
    }

    /// Continues the counters of a run that finished `epoch` epochs and `steps` steps with
    /// the rate multiplier `lr_factor` (see [`Trainer::restore`]).
    pub(super) fn resume_at(&mut self, epoch: usize, steps: u64, lr_factor: f64) {
        self.epoch = epoch;
        self.steps_taken = steps;
        self.lr_factor = lr_factor;
        self.weights_version += 1;
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.plan.steps_per_epoch()
    }

    /// Starts the next epoch: uploads its shuffled order and its steps' rates, zeroes the batch
    /// index and the training and validation accumulators. No readback.
    pub fn begin_epoch(&mut self) {
        let order = epoch_order(&self.plan.train_indices, self.cfg.seed, self.epoch);
        self.epoch += 1;
        self.steps_done.store(0, Ordering::Relaxed);
        let q = &self.ctx.queue;
        q.write_buffer(&self.plan.train_order, 0, bytemuck::cast_slice(&order));
        let rates = self.epoch_rates();
        q.write_buffer(&self.plan.step_rates, 0, bytemuck::cast_slice(&rates));
        let mut encoder = self.encoder("begin epoch");
        self.plan.clear_metrics(&mut encoder, Pass::Train);
        self.plan.clear_metrics(&mut encoder, Pass::Validation);
        encoder.clear_buffer(&self.plan.train_cursor, 0, Some(4));
        // The first batch's gather, where each step's end gathers the next.
        record_replays(&mut encoder, &self.plan.epoch_start, 1);
        self.ctx.queue.submit([encoder.finish()]);
    }

    /// The rate table of the epoch about to run: each step's scheduled learning rate and the
    /// optimizer's factors for it, in f64 then rounded once.
    fn epoch_rates(&mut self) -> Vec<StepRate> {
        let base = self.cfg.optimizer.learning_rate() as f64;
        let rates: Vec<(f64, StepRate)> = (0..self.steps_per_epoch() as u64)
            .map(|s| {
                let step = self.steps_taken + s;
                let lr = self.cfg.schedule.learning_rate(base, step) * self.lr_factor;
                (lr, self.cfg.optimizer.rate(lr, step + 1))
            })
            .collect();
        self.last_learning_rate = rates.last().map_or(base, |r| r.0);
        rates.into_iter().map(|r| r.1).collect()
    }

    /// The learning rate of the current (or last) epoch's last step, as Keras's history
    /// records it.
    pub fn learning_rate(&self) -> f64 {
        self.last_learning_rate
    }

    /// What the learning rate is multiplied by on top of the schedule.
    pub fn lr_factor(&self) -> f64 {
        self.lr_factor
    }

    /// Sets that multiplier (ReduceLROnPlateau); it applies from the next epoch.
    pub fn set_lr_factor(&mut self, factor: f64) {
        self.lr_factor = factor;
    }

    /// Records and submits `steps` training steps, in chunks of `steps_per_submit`, without
    /// waiting for them. Each finished chunk adds its steps to [`Trainer::steps_done`] (from a
    /// completion callback: no readback).
    pub fn run_steps(&mut self, steps: usize) {
        self.run_steps_with(steps, &mut |_| {});
    }

    /// As [`Trainer::run_steps`], taking running-metrics snapshots and reporting progress
    /// after each submission (some drivers, lavapipe among them, run a submission before
    /// `submit` returns).
    fn run_steps_with(&mut self, steps: usize, progress: &mut dyn FnMut(&Progress)) {
        self.weights_version += 1;
        self.steps_taken += steps as u64;
        let chunk = self.cfg.steps_per_submit.max(1);
        self.live.get_mut().begin_epoch(steps.div_ceil(chunk));
        let mut done = 0;
        for index in 0.. {
            if done >= steps {
                break;
            }
            let n = chunk.min(steps - done);
            let mut encoder = self.encoder("train steps");
            record_replays(&mut encoder, &self.plan.train_step, n);
            self.submit_counted(encoder, &self.steps_done, n);
            done += n;
            if self.live.get_mut().due(index) {
                self.live.get_mut().snapshot(self.ctx, &self.plan, done);
            }
            // Runs the callbacks of finished submissions; never waits.
            let _ = self.ctx.device.poll(wgpu::PollType::Poll);
            progress(&self.progress(Phase::Training));
        }
    }

    /// Submits `encoder`, adding `steps` to `counter` once the GPU has run it.
    fn submit_counted(&self, encoder: wgpu::CommandEncoder, counter: &Arc<AtomicUsize>, n: usize) {
        self.ctx.queue.submit([encoder.finish()]);
        let counter = counter.clone();
        self.ctx.queue.on_submitted_work_done(move || {
            counter.fetch_add(n, Ordering::Relaxed);
        });
    }

    /// Where the epoch stands in `phase`, with the newest running metrics that have arrived.
    fn progress(&self, phase: Phase) -> Progress {
        let mut live = self.live.borrow_mut();
        live.collect();
        let (done, total) = match phase {
            Phase::Training => (self.steps_done(), self.steps_per_epoch()),
            Phase::Validating => (
                self.eval_done.load(Ordering::Relaxed),
                self.plan.validation.steps,
            ),
        };
        Progress {
            phase,
            done,
            total,
            running: live.latest(),
        }
    }

    /// The newest running training loss and metrics of the current (or last) epoch, with the
    /// steps they cover, as the progress reports show them.
    pub fn running_metrics(&self) -> Option<Running> {
        self.live.borrow().latest()
    }

    /// The loss and the run's metrics in `pass`'s results, keys prefixed by `prefix` (`val_`,
    /// `test_`).
    pub fn logs(&self, prefix: &str, pass: &PassMetrics) -> Logs {
        Logs::of(&self.cfg.metrics, prefix, pass)
    }

    /// Training steps the GPU has finished in the current epoch, as last reported by the
    /// driver (it lags the truth by up to one submission).
    pub fn steps_done(&self) -> usize {
        self.steps_done.load(Ordering::Relaxed)
    }

    fn encoder(&self, label: &str) -> wgpu::CommandEncoder {
        self.ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
    }

    /// Records and submits an evaluation pass in chunks of `steps_per_submit` (so progress can
    /// be counted), then the copy of the metrics for the readback.
    fn submit_eval(&self, pass: &EvalPass, clear: Option<Pass>) {
        self.eval_done.store(0, Ordering::Relaxed);
        let chunk = self.cfg.steps_per_submit.max(1);
        let mut encoder = self.encoder("evaluation");
        if let Some(pass) = clear {
            self.plan.clear_metrics(&mut encoder, pass);
        }
        encoder.clear_buffer(&self.plan.eval_cursor, 0, Some(8));
        let mut done = 0;
        while done < pass.steps {
            let n = chunk.min(pass.steps - done);
            record_replays(&mut encoder, &pass.launches, n);
            done += n;
            if done == pass.steps {
                self.plan.record_metrics_copy(&mut encoder);
            }
            self.submit_counted(encoder, &self.eval_done, n);
            encoder = self.encoder("evaluation");
        }
        if pass.steps == 0 {
            self.plan.record_metrics_copy(&mut encoder);
            self.ctx.queue.submit([encoder.finish()]);
        }
    }

    /// One epoch: every training step, then the validation pass; one readback at the end.
    pub fn fit_epoch(&mut self) -> Result<EpochReport> {
        self.fit_epoch_with(&mut |_| {})
    }

    /// As [`Trainer::fit_epoch`], calling `progress` after each submission and about every
    /// 100 ms while the epoch runs.
    pub fn fit_epoch_with(&mut self, progress: &mut dyn FnMut(&Progress)) -> Result<EpochReport> {
        let start = Instant::now();
        self.begin_epoch();
        let steps = self.steps_per_epoch();
        self.run_steps_with(steps, progress);
        self.submit_eval(&self.plan.validation, None);
        let [train, validation, _] = self.read_metrics_ticking(progress)?;
        self.last_validation = Some((self.weights_version, validation.clone()));
        let mut logs = self.logs("", &train);
        logs.extend(self.logs("val_", &validation));
        Ok(EpochReport {
            logs,
            epoch: self.epoch,
            epochs: self.cfg.epochs,
            seconds: start.elapsed().as_secs_f64(),
            steps,
            train,
            validation: Some(validation),
        })
    }

    /// Waits for the metrics copy, reporting progress (training until its steps are done,
    /// then validating) while the GPU is busy.
    fn read_metrics_ticking(
        &self,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<[PassMetrics; 3]> {
        let mut tick = || {
            let phase = if self.steps_done() < self.steps_per_epoch() {
                Phase::Training
            } else {
                Phase::Validating
            };
            progress(&self.progress(phase));
        };
        let metrics = self.plan.read_metrics_with(self.ctx, &mut tick)?;
        self.live.borrow_mut().collect();
        Ok(metrics)
    }

    /// Trains for the configured epochs, calling every callback around each epoch in order;
    /// stops early when one says so (after the others have seen the epoch).
    /// A resumed trainer starts at the epoch after the ones it has done.
    pub fn fit(&mut self, callbacks: &mut [&mut dyn Callback]) -> Result<FitSummary> {
        let mut summary = FitSummary::default();
        let result = self.run_epochs(callbacks, &mut summary);
        for cb in callbacks.iter_mut() {
            if let Some(note) = cb.on_train_end(self)? {
                summary.notes.push(note);
            }
        }
        result.map(|()| summary)
    }

    /// [`Trainer::fit`]'s epochs, until the last or a callback's stop.
    fn run_epochs(
        &mut self,
        callbacks: &mut [&mut dyn Callback],
        summary: &mut FitSummary,
    ) -> Result<()> {
        for epoch in self.epoch + 1..=self.cfg.epochs {
            let steps = self.steps_per_epoch();
            for cb in callbacks.iter_mut() {
                cb.on_epoch_begin(epoch, steps);
            }
            let report = self.fit_epoch_with(&mut |progress| {
                for cb in callbacks.iter_mut() {
                    cb.on_progress(progress);
                }
            })?;
            // Before any callback: nothing is saved or recorded from non-finite weights.
            if let Some(message) = report.divergence(self.learning_rate()) {
                return Err(Error::Diverged(message));
            }
            summary.epochs = epoch;
            summary.seconds += report.seconds;
            let mut notes = Vec::new();
            for cb in callbacks.iter_mut() {
                match cb.on_epoch_end(self, &report)? {
                    Control::Continue => {}
                    Control::Stop(reason) => {
                        summary.stopped.get_or_insert(reason);
                    }
                    Control::Note(note) => notes.push(note),
                }
            }
            for note in &notes {
                for cb in callbacks.iter_mut() {
                    cb.on_note(note);
                }
            }
            summary.last = Some(report);
            if summary.stopped.is_some() {
                break;
            }
        }
        Ok(())
    }

    /// Metrics of the test split with the current weights: one readback, or none when the
    /// last validation pass ran on the test split with these same weights (its results are
    /// the test pass's, bit for bit: same data, order and kernels).
    pub fn evaluate_test(&mut self) -> Result<PassMetrics> {
        if let Some((version, metrics)) = &self.last_validation {
            if self.plan.validation_is_test && *version == self.weights_version {
                return Ok(metrics.clone());
            }
        }
        self.submit_eval(&self.plan.test, Some(Pass::Test));
        let [_, _, test] = self.plan.read_metrics_with(self.ctx, &mut || {})?;
        Ok(test)
    }

    /// The test split's class probabilities under the current weights, one view per TTA copy
    /// (the plain images first), one readback each; empty without `cfg.tta`.
    pub fn test_views(&mut self) -> Result<Vec<Probabilities>> {
        if self.cfg.tta.is_none() {
            return Ok(Vec::new());
        }
        let mut views = Vec::new();
        for pass in std::iter::once(&self.plan.test).chain(&self.plan.test_augmented) {
            self.submit_eval(pass, Some(Pass::Test));
            let [_, _, test] = self.plan.read_metrics_with(self.ctx, &mut || {})?;
            let probabilities = test
                .probabilities()
                .expect("keep_probabilities gave the test pass its predictions");
            views.push(probabilities.clone());
        }
        Ok(views)
    }

    /// Copies the weights and moving statistics into `into` (allocated on first use), on the
    /// GPU: no readback, nothing waited for.
    pub fn copy_weights(&self, into: &mut Option<WeightsCopy>) {
        let plan = &self.plan;
        let copy = into.get_or_insert_with(|| WeightsCopy {
            params: self.ctx.storage("weights copy", plan.params.size()),
            stats: self.ctx.storage("statistics copy", plan.stats.size()),
        });
        let mut encoder = self.encoder("copy weights");
        encoder.copy_buffer_to_buffer(&plan.params, 0, &copy.params, 0, plan.params.size());
        encoder.copy_buffer_to_buffer(&plan.stats, 0, &copy.stats, 0, plan.stats.size());
        self.ctx.queue.submit([encoder.finish()]);
    }

    /// Replaces the weights and moving statistics with a copy. The optimizer state is left
    /// as it is.
    pub fn restore_weights(&mut self, from: &WeightsCopy) {
        self.weights_version += 1;
        let plan = &self.plan;
        let mut encoder = self.encoder("restore weights");
        encoder.copy_buffer_to_buffer(&from.params, 0, &plan.params, 0, plan.params.size());
        encoder.copy_buffer_to_buffer(&from.stats, 0, &plan.stats, 0, plan.stats.size());
        self.ctx.queue.submit([encoder.finish()]);
    }

    /// Every pass's metrics as they stand (one readback): for tests and tools.
    pub fn read_metrics(&self) -> Result<[PassMetrics; 3]> {
        let mut encoder = self.encoder("metrics");
        self.plan.record_metrics_copy(&mut encoder);
        self.ctx.queue.submit([encoder.finish()]);
        self.plan.read_metrics_with(self.ctx, &mut || {})
    }

    /// Current trainable weights, one `Vec` per tensor in [`ParamLayout::trainable`] order.
    pub fn read_params(&self) -> Result<Vec<Vec<f32>>> {
        let flat = self
            .ctx
            .read_f32(&self.plan.params, 0, self.plan.layout.total)?;
        Ok(self.plan.layout.unpack(&flat))
    }

    /// Replaces the weights (and moving statistics) with these, per tensor in the layouts'
    /// order, e.g. from a checkpoint. The optimizer state is left as it is.
    pub fn set_weights(&mut self, params: &[Vec<f32>], stats: &[Vec<f32>]) {
        self.weights_version += 1;
        let q = &self.ctx.queue;
        q.write_buffer(
            &self.plan.params,
            0,
            bytemuck::cast_slice(&self.plan.layout.pack(params)),
        );
        q.write_buffer(
            &self.plan.stats,
            0,
            bytemuck::cast_slice(&self.plan.stats_layout.pack(stats)),
        );
    }

    /// Current moving statistics, one `Vec` per tensor in [`ParamLayout::non_trainable`]
    /// order.
    pub fn read_stats(&self) -> Result<Vec<Vec<f32>>> {
        let flat = self
            .ctx
            .read_f32(&self.plan.stats, 0, self.plan.stats_layout.total)?;
        Ok(self.plan.stats_layout.unpack(&flat))
    }
}

/// The weights and moving statistics of a trainer, copied on the GPU.
pub struct WeightsCopy {
    params: wgpu::Buffer,
    stats: wgpu::Buffer,
}

/// Replays `launches` `times` times in one compute pass.
fn record_replays(encoder: &mut wgpu::CommandEncoder, launches: &[Launch], times: usize) {
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some("replay"),
        timestamp_writes: None,
    });
    for _ in 0..times {
        for launch in launches {
            launch.record(&mut pass);
        }
    }
}
