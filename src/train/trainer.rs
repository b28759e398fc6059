//! The epoch loop. Per epoch the CPU writes the shuffled sample order and clears the metric
//! accumulators, records every step (submitting in chunks so the GPU starts while later steps
//! are still being recorded), records the validation pass, and reads the metrics back once.
//! Between epochs, [`Trainer::fit`] calls the callbacks (saving, stopping, printing) through a
//! narrow handle ([`FitHandle`]).
//!
//! A trainer is an [`Evaluator`] (the weights, the metrics, the validation and test passes)
//! plus the training step ([`Plan`]): gradients, optimizer state and the step's launches.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::callbacks::{Callback, Checkpointed, Control, FitHandle, FitSummary};
use super::config::TrainConfig;
use super::epoch_report::EpochReport;
use super::live::{LiveMetrics, Phase, Progress, Running};
use super::plan::Plan;
use super::state::TrainingState;
use crate::data::dataset::{epoch_order, split_indices};
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::eval::metrics::{Logs, Pass, PassMetrics};
use crate::eval::samples::{Residency, Samples};
use crate::eval::{Evaluator, Validation, WeightsCopy};
use crate::gpu::kernels::StepRate;
use crate::gpu::{GpuContext, Launch};
use crate::model::{init_params, init_stats, Network, ParamLayout};

pub struct Trainer<'a> {
    eval: Evaluator<'a>,
    plan: Plan,
    cfg: TrainConfig,
    /// Epochs started so far.
    epoch: usize,
    /// Training steps of this epoch the GPU has finished (see [`Trainer::steps_done`]).
    steps_done: Arc<AtomicUsize>,
    /// Steps submitted in the current epoch (the cursor's batch index where the next
    /// submission starts).
    steps_submitted: usize,
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
        cfg: TrainConfig,
    ) -> Result<Self> {
        // Before the initial weights are made: they may be what does not fit.
        cfg.validate()?;
        // Decided once: the check and the upload must agree (free memory moves).
        let residency = Residency::of(ctx, &data.train, cfg.placement());
        super::limits::check(ctx, net, (&cfg, &residency), data)?;
        let layout = ParamLayout::trainable(net, ctx.binding_align_floats());
        let initial = init_params(&layout, cfg.seed);
        Self::build(ctx, net, data, (cfg, residency), &initial)
    }

    /// As [`Trainer::new`], starting from the given per-tensor weights.
    pub fn with_params(
        ctx: &'a GpuContext,
        net: &Network,
        data: &Dataset,
        cfg: TrainConfig,
        initial: &[Vec<f32>],
    ) -> Result<Self> {
        cfg.validate()?;
        let residency = Residency::of(ctx, &data.train, cfg.placement());
        super::limits::check(ctx, net, (&cfg, &residency), data)?;
        Self::build(ctx, net, data, (cfg, residency), initial)
    }

    /// The trainer of settings already checked: the training split uploaded, the evaluator
    /// over the test split (and the held-out validation samples), the step on top; the
    /// training split placed as `residency` says.
    fn build(
        ctx: &'a GpuContext,
        net: &Network,
        data: &Dataset,
        (cfg, residency): (TrainConfig, Residency),
        initial: &[Vec<f32>],
    ) -> Result<Self> {
        check_fit(net, data)?;
        let (train_indices, val_indices) = hold_out(data, cfg.validation_split)?;
        let shape = (cfg.batch_size, cfg.steps_per_submit);
        let split = ("train", &data.train);
        let train = Samples::upload(ctx, split, &train_indices, residency, shape)?;
        let validation = match (val_indices.is_empty(), &train.residency) {
            (true, _) => Validation::OnTest,
            (false, Residency::Whole) => {
                Validation::Resident(train.gather.subset(ctx, "validation", &val_indices))
            }
            // The held-out samples on their own, from the host's copy.
            (false, _) => Validation::HeldOut(subset(&data.train, &val_indices)),
        };
        let stats = init_stats(&ParamLayout::non_trainable(net, ctx.binding_align_floats()));
        let eval_cfg = cfg.eval_config();
        let eval = Evaluator::new(
            ctx,
            net,
            (initial, &stats),
            eval_cfg,
            (&data.test, validation),
        )?;
        let plan = Plan::new(&eval, &cfg, (train, train_indices))?;
        Ok(Trainer {
            live: RefCell::new(LiveMetrics::new(ctx, eval.metrics(), &cfg.metrics)),
            eval,
            plan,
            cfg,
            epoch: 0,
            steps_submitted: 0,
            steps_done: Arc::new(AtomicUsize::new(0)),
            weights_version: 0,
            last_validation: None,
            steps_taken: 0,
            lr_factor: 1.0,
            last_learning_rate: 0.0,
        })
    }

    /// The training step's buffers and launches.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The weights, the metrics and the validation and test passes.
    pub fn evaluator(&self) -> &Evaluator<'a> {
        &self.eval
    }

    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    fn ctx(&self) -> &'a GpuContext {
        self.eval.gpu()
    }

    /// Epochs started so far (finished, between epochs).
    pub fn epochs_done(&self) -> usize {
        self.epoch
    }

    /// Training steps taken in the whole run: the optimizer's step count.
    pub fn steps_taken(&self) -> u64 {
        self.steps_taken
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.plan.steps_per_epoch()
    }

    /// The learning rate of the current (or last) epoch's last step, as Keras's history
    /// records it.
    pub fn learning_rate(&self) -> f64 {
        self.last_learning_rate
    }

    /// The loss and the run's metrics in `pass`'s results, keys prefixed by `prefix` (`val_`,
    /// `test_`).
    pub fn logs(&self, prefix: &str, pass: &PassMetrics) -> Logs {
        self.eval.logs(prefix, pass)
    }

    /// Training steps the GPU has finished in the current epoch, as last reported by the
    /// driver (it lags the truth by up to one submission).
    pub fn steps_done(&self) -> usize {
        self.steps_done.load(Ordering::Relaxed)
    }

    /// The newest running training loss and metrics of the current (or last) epoch, with the
    /// steps they cover, as the progress reports show them.
    pub fn running_metrics(&self) -> Option<Running> {
        self.live.borrow().latest()
    }
}

/// Running epochs: the steps, the validation pass and the one readback.
impl<'a> Trainer<'a> {
    /// Starts the next epoch: uploads its shuffled order and its steps' rates, zeroes the batch
    /// index and the training and validation accumulators. No readback.
    pub fn begin_epoch(&mut self) {
        let order = epoch_order(&self.plan.train_indices, self.cfg.seed, self.epoch);
        self.epoch += 1;
        self.steps_submitted = 0;
        self.steps_done.store(0, Ordering::Relaxed);
        let ctx = self.ctx();
        self.plan.samples.set_order(ctx, order);
        let rates = self.epoch_rates();
        ctx.queue
            .write_buffer(&self.plan.step_rates, 0, bytemuck::cast_slice(&rates));
        let mut encoder = ctx.encoder("begin epoch");
        self.eval.metrics().clear(&mut encoder, Pass::Train);
        self.eval.metrics().clear(&mut encoder, Pass::Validation);
        encoder.clear_buffer(&self.plan.train_cursor, 0, Some(4));
        // The ring's first fill, then the first batch's gather, where each step's end gathers
        // the next.
        let samples = &self.plan.samples;
        samples.before_submission(ctx, 0);
        Launch::replay(&mut encoder, &self.plan.submission_start, 1);
        Launch::replay(&mut encoder, &self.plan.epoch_start, 1);
        samples.submitted(ctx.queue.submit([encoder.finish()]));
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
        let ctx = self.ctx();
        let mut done = 0;
        for index in 0.. {
            if done >= steps {
                break;
            }
            let n = chunk.min(steps - done);
            let samples = &self.plan.samples;
            samples.before_submission(ctx, self.steps_submitted);
            let mut encoder = ctx.encoder("train steps");
            Launch::replay(&mut encoder, &self.plan.submission_start, 1);
            Launch::replay(&mut encoder, &self.plan.train_step, n);
            samples.submitted(ctx.submit_counted(encoder, &self.steps_done, n));
            self.steps_submitted += n;
            done += n;
            if self.live.get_mut().due(index) {
                self.live.get_mut().snapshot(ctx, self.eval.metrics(), done);
            }
            // Runs the callbacks of finished submissions; never waits.
            let _ = ctx.device.poll(wgpu::PollType::Poll);
            progress(&self.progress(Phase::Training));
        }
    }

    /// Where the epoch stands in `phase`, with the newest running metrics that have arrived.
    fn progress(&self, phase: Phase) -> Progress {
        let mut live = self.live.borrow_mut();
        live.collect();
        let (done, total) = match phase {
            Phase::Training => (self.steps_done(), self.steps_per_epoch()),
            Phase::Validating => self.eval.progress(Pass::Validation),
        };
        Progress {
            phase,
            done,
            total,
            running: live.latest(),
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
        self.eval.submit(Pass::Validation, false);
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
        let metrics = self.eval.read_metrics_with(&mut tick)?;
        self.live.borrow_mut().collect();
        Ok(metrics)
    }

    /// Metrics of the test split with the current weights: one readback, or none when the
    /// last validation pass ran on the test split with these same weights (its results are
    /// the test pass's, bit for bit: same data, order and kernels).
    pub fn evaluate_test(&mut self) -> Result<PassMetrics> {
        if let Some((version, metrics)) = &self.last_validation {
            if self.eval.validation_is_test() && *version == self.weights_version {
                return Ok(metrics.clone());
            }
        }
        self.eval.evaluate(Pass::Test)
    }

    /// Every pass's metrics as they stand (one readback): for tests and tools.
    pub fn read_metrics(&self) -> Result<[PassMetrics; 3]> {
        self.eval.read_metrics()
    }
}

/// The run as a whole: the epochs with their callbacks, and what a checkpoint holds.
impl<'a> Trainer<'a> {
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
            self.end_epoch(callbacks, &report, summary)?;
            summary.last = Some(report);
            if summary.stopped.is_some() {
                break;
            }
        }
        Ok(())
    }

    /// Every callback's end of the epoch, then the notes they made, to every callback.
    fn end_epoch(
        &mut self,
        callbacks: &mut [&mut dyn Callback],
        report: &EpochReport,
        summary: &mut FitSummary,
    ) -> Result<()> {
        let mut notes = Vec::new();
        for cb in callbacks.iter_mut() {
            match cb.on_epoch_end(self, report)? {
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
        Ok(())
    }

    /// Replaces the weights (and moving statistics) with these, per tensor in the layouts'
    /// order, e.g. from a checkpoint. The optimizer state is left as it is.
    pub fn set_weights(&mut self, params: &[Vec<f32>], stats: &[Vec<f32>]) {
        self.weights_version += 1;
        self.eval.set_weights(params, stats);
    }

    /// The state after the last finished epoch (reads the optimizer's state back).
    pub fn training_state(&self, run: serde_json::Value) -> Result<TrainingState> {
        let layout = &self.eval.weights().layout;
        let n = layout.total;
        let optimizer = match &self.plan.optimizer_state {
            None => Vec::new(),
            Some(buffer) => {
                let flat = self
                    .ctx()
                    .read_f32(buffer, 0, n * self.plan.optimizer_tensors)?;
                flat.chunks(n).map(|t| layout.unpack(t)).collect()
            }
        };
        Ok(TrainingState {
            epoch: self.epoch,
            steps: self.steps_taken,
            lr_factor: self.lr_factor,
            optimizer,
            run,
            save: None,
        })
    }

    /// Continues from `state`: the optimizer's tensors, its step count (on the GPU's cursor
    /// too, for Adam and dropout), the epochs done and the rate multiplier. The weights are
    /// set separately ([`Trainer::set_weights`]).
    pub fn restore(&mut self, state: &TrainingState) -> Result<()> {
        let plan = &self.plan;
        if state.optimizer.len() != plan.optimizer_tensors {
            return Err(Error::Mismatch(format!(
                "the training state holds {} optimizer tensors per weight; the optimizer keeps {}",
                state.optimizer.len(),
                plan.optimizer_tensors
            )));
        }
        let queue = &self.ctx().queue;
        if let Some(buffer) = &plan.optimizer_state {
            let layout = &self.eval.weights().layout;
            let packed: Vec<f32> = state
                .optimizer
                .iter()
                .flat_map(|v| layout.pack(v))
                .collect();
            queue.write_buffer(buffer, 0, bytemuck::cast_slice(&packed));
        }
        let t = u32::try_from(state.steps).map_err(|_| {
            Error::Mismatch(format!(
                "{} steps do not fit the GPU's counter",
                state.steps
            ))
        })?;
        queue.write_buffer(&plan.train_cursor, 0, bytemuck::cast_slice(&[0u32, t]));
        self.epoch = state.epoch;
        self.steps_taken = state.steps;
        self.lr_factor = state.lr_factor;
        self.weights_version += 1;
        Ok(())
    }
}

/// What callbacks see of the trainer between epochs.
impl FitHandle for Trainer<'_> {
    fn learning_rate(&self) -> f64 {
        self.last_learning_rate
    }

    fn lr_factor(&self) -> f64 {
        self.lr_factor
    }

    fn set_lr_factor(&mut self, factor: f64) {
        self.lr_factor = factor;
    }

    fn epochs_done(&self) -> usize {
        self.epoch
    }

    fn copy_weights(&self, into: &mut Option<WeightsCopy>) {
        self.eval.copy_weights(into);
    }

    fn restore_weights(&mut self, from: &WeightsCopy) {
        self.weights_version += 1;
        self.eval.restore_weights(from);
    }

    fn checkpoint(&self, run: serde_json::Value) -> Result<Checkpointed> {
        Ok(Checkpointed {
            state: self.training_state(run)?,
            params: self.eval.read_params()?,
            stats: self.eval.read_stats()?,
        })
    }
}

/// The model and the data agree on image shape and classes.
fn check_fit(net: &Network, data: &Dataset) -> Result<()> {
    if data.image() != net.input || data.classes != net.classes {
        return Err(Error::Mismatch(format!(
            "the model expects {}x{}x{} inputs and {} classes; the data has {}x{}x{} and {}",
            net.input.h,
            net.input.w,
            net.input.c,
            net.classes,
            data.rows,
            data.cols,
            data.channels,
            data.classes
        )));
    }
    Ok(())
}

/// The samples `indices` of `split`, copied out (a held-out validation set of a training set
/// that is not resident whole).
fn subset(split: &Split, indices: &[u32]) -> Split {
    let size = split.images.len() / split.len().max(1);
    let images = indices
        .iter()
        .flat_map(|&i| &split.images[i as usize * size..][..size])
        .copied()
        .collect();
    let labels = indices.iter().map(|&i| split.labels[i as usize]).collect();
    Split { images, labels }
}

/// The training and validation sample indices: the last `fraction` of the training split is
/// held out (Keras's rule), refusing a fraction that leaves nothing to train on.
fn hold_out(data: &Dataset, fraction: f64) -> Result<(Vec<u32>, Vec<u32>)> {
    let (train, validation) = split_indices(data.train.len(), fraction);
    if train.is_empty() {
        return Err(Error::flag(
            "--validation-split",
            format!(
                "{fraction} leaves no training samples out of {}",
                data.train.len()
            ),
        ));
    }
    Ok((train, validation))
}
