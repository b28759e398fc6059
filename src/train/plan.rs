//! The compiled training step, on top of an [`Evaluator`] (which holds the weights, the
//! metrics and the evaluation passes): the training split, the step's own batch buffers with
//! gradients, the gradients and the optimizer's state, each allocated once, and every launch
//! of a step recorded once, so that a step is a replay of a launch list into a compute pass.
//!
//! What changes from step to step lives on the GPU: the batch index and the step count in a
//! cursor buffer that the loss kernel advances (dropout masks and Adam's t derive from it),
//! the epoch's sample order in an index buffer written once per epoch. Recording an epoch
//! therefore touches no CPU-side state.
//!
//! One step: gather -> each layer's forward -> softmax cross-entropy (loss and accuracy,
//! dlogits, cursor) -> the pass's other metric accumulators -> each layer's backward, last
//! first -> one optimizer launch over the flat parameter buffer. Where the policy fuses the
//! step's end (GPUs), the output layer runs with the loss and the optimizer's launch also sums
//! the batch's loss and gathers the next batch (the epoch's first is gathered as it begins);
//! see `StepBuilder::train_step`. The fusions between neighbours (see
//! [`crate::layers::fusion`]) are decided before any launch.

use super::config::TrainConfig;
use crate::error::Result;
use crate::eval::buffers::BatchBuffers;
use crate::eval::metrics::Pass;
use crate::eval::record::{scoped, Recorder};
use crate::eval::samples::Samples;
use crate::eval::split::GpuSplit;
use crate::eval::Evaluator;
use crate::floor::{augment, Augment};
use crate::gpu::kernels::{
    DeferredSums, OptimizerArgs, OptimizerParams, RowStat, StepEndArgs, StepRate, View,
};
use crate::gpu::{GpuContext, Kernels, Launch};
use crate::layers::{fusion, Io};
use crate::optim::Optimizer;

/// The training step's buffers and launches (see the module's notes).
pub struct Plan {
    pub batch: usize,
    pub n_train: usize,
    /// The gradients, laid out as the evaluator's `params`.
    pub grads: wgpu::Buffer,
    /// The optimizer's state tensors (velocity; m and v; ...), one after the other in one
    /// buffer, each laid out as `params`; none for an optimizer without state.
    pub optimizer_state: Option<wgpu::Buffer>,
    /// How many tensors `optimizer_state` holds.
    pub optimizer_tensors: usize,
    /// `{ step, t }`: the training batch index within the epoch and the optimizer's step count.
    pub train_cursor: wgpu::Buffer,
    /// The training samples, where they live ([`Samples`]); the epoch's sample order is
    /// written to them as it begins.
    pub samples: Samples,
    /// `[steps_per_epoch] StepRate`: each step's learning rate and step size, written with
    /// the order once per epoch (see `optimizer.wgsl`).
    pub step_rates: wgpu::Buffer,
    /// Sample indices (into the training split) used for training, before shuffling.
    pub train_indices: Vec<u32>,
    pub train_step: Vec<Launch>,
    /// Launched once as each epoch begins, before its first step: the first batch's gather
    /// where the step's end is fused (each step's last launch gathers the next batch);
    /// nothing otherwise.
    pub epoch_start: Vec<Launch>,
    /// Launched at the start of every submission of steps (and as each epoch begins, before
    /// `epoch_start`): the ring's fill where the set is split over buffers; nothing otherwise.
    pub submission_start: Vec<Launch>,
    /// Kept alive for the bind groups that reference them.
    _rows: BatchBuffers,
    _buffers: Vec<wgpu::Buffer>,
}

/// What the steps read and write besides the batch's rows: the cursor, each step's learning
/// rate, and the row buffer of a fused step end (where the policy fuses it).
struct StepBuffers {
    train_cursor: wgpu::Buffer,
    step_rates: wgpu::Buffer,
    row_stats: Option<wgpu::Buffer>,
}

impl StepBuffers {
    fn new(ctx: &GpuContext, kernels: &Kernels, batch: usize, steps: usize) -> StepBuffers {
        StepBuffers {
            train_cursor: ctx.storage("train cursor", 8),
            step_rates: ctx.storage("step rates", (steps * size_of::<StepRate>()) as u64),
            row_stats: kernels
                .policy()
                .fuses_step_end(kernels)
                .then(|| ctx.storage("batch rows", (batch * size_of::<RowStat>()) as u64)),
        }
    }
}

/// The gradients and the optimizer's state, each laid out as the parameters.
struct GradBuffers {
    grads: wgpu::Buffer,
    state: Option<wgpu::Buffer>,
}

impl GradBuffers {
    fn new(ctx: &GpuContext, params: &wgpu::Buffer, optimizer: &dyn Optimizer) -> GradBuffers {
        let bytes = params.size();
        GradBuffers {
            grads: ctx.storage("grads", bytes),
            state: match optimizer.state().len() {
                0 => None,
                k => Some(ctx.storage("optimizer state", bytes * k as u64)),
            },
        }
    }
}

/// The training gather's augmentation and its 32-bit seed, where it changes anything.
fn active_augmentation(cfg: &TrainConfig) -> Option<(Augment, u32)> {
    cfg.augment
        .filter(Augment::is_active)
        .map(|a| (a, augment::seed32(cfg.seed)))
}

impl Plan {
    /// Compiles the training step of `eval`'s network for batches of `cfg.batch_size` over
    /// `train` (uploaded, visiting `train_indices`), updating `eval`'s weights in place.
    pub fn new(
        eval: &Evaluator,
        cfg: &TrainConfig,
        (samples, train_indices): (Samples, Vec<u32>),
    ) -> Result<Plan> {
        let (ctx, kernels, net) = (eval.gpu(), eval.kernels(), eval.network());
        let fusions = fusion::fuse(&net.layers);
        let rows = BatchBuffers::new(ctx, (net, &fusions), cfg.batch_size, true)?;
        let weights = eval.weights();
        let grads = GradBuffers::new(ctx, &weights.params, cfg.optimizer.as_ref());
        let steps = train_indices.len().div_ceil(cfg.batch_size);
        let step = StepBuffers::new(ctx, kernels, cfg.batch_size, steps);
        let split_sums = DeferredSums::default();
        let builder = StepBuilder {
            rec: Recorder {
                ctx,
                kernels,
                net,
                fusions: &fusions,
                rows: &rows,
                seed: cfg.seed,
                label_smoothing: cfg.label_smoothing,
                weights,
                grads: Some(&grads.grads),
                metrics: eval.metrics(),
                row_stats: step.row_stats.as_ref(),
            },
            augment: active_augmentation(cfg),
            state: grads.state.as_ref(),
            step_rates: &step.step_rates,
            split_sums: &split_sums,
        };
        let (train_step, epoch_start) =
            builder.train_step(&samples.gather, &step.train_cursor, cfg.optimizer.as_ref());
        let submission_start = samples.fill_launches((ctx, kernels), &step.train_cursor);
        ctx.check_errors()?;
        let buffers = step.row_stats.into_iter().collect();
        Ok(Plan {
            batch: cfg.batch_size,
            n_train: train_indices.len(),
            grads: grads.grads,
            optimizer_state: grads.state,
            optimizer_tensors: cfg.optimizer.state().len(),
            train_cursor: step.train_cursor,
            samples,
            step_rates: step.step_rates,
            train_indices,
            train_step,
            epoch_start,
            submission_start,
            _rows: rows,
            _buffers: buffers,
        })
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.n_train.div_ceil(self.batch)
    }
}

/// Records the training step's launches over the plan's buffers and the evaluator's weights.
struct StepBuilder<'a> {
    rec: Recorder<'a>,
    /// The training pass's augmentation and its seed.
    augment: Option<(Augment, u32)>,
    state: Option<&'a wgpu::Buffer>,
    step_rates: &'a wgpu::Buffer,
    /// The split-K sums a fused step's backward leaves to its end.
    split_sums: &'a DeferredSums,
}

impl<'a> StepBuilder<'a> {
    /// The training step's launches, and those that run once as an epoch begins. Where the
    /// output layer has a kernel fused with the loss ([`crate::layers::Layer::forward_with_loss`])
    /// and the policy fuses step ends, the step is: every layer's forward, the last with the
    /// loss; the backward; then one launch of the optimizer, the batch's loss sum and the next
    /// batch's gather (the epoch's first gather runs as it begins). Otherwise: the gather, the
    /// forward, the loss, the backward and the optimizer.
    fn train_step(
        &self,
        split: &'a GpuSplit,
        cursor: &'a wgpu::Buffer,
        optimizer: &dyn Optimizer,
    ) -> (Vec<Launch>, Vec<Launch>) {
        let rec = &self.rec;
        let gather_args = rec.gather_args(Pass::Train, split, cursor, self.augment);
        let gather = scoped("gather", vec![rec.kernels.gather(rec.ctx, &gather_args)]);
        let (forward, fused) = rec.layers_and_loss(Pass::Train, cursor);
        let (mut launches, epoch_start) = match fused {
            Some(_) => (forward, gather),
            None => (gather.into_iter().chain(forward).collect(), Vec::new()),
        };
        launches.extend(self.backward(cursor, fused.is_some()));
        let optimizer = self.optimizer_args(optimizer, cursor);
        let split_sums = self.split_sums.taken();
        let end = match fused {
            Some(rows) => {
                let metric = &rec.metrics.layout.regions(Pass::Train)[0];
                let end = StepEndArgs {
                    optimizer: &optimizer,
                    gather: &gather_args,
                    rows: View::whole(rows),
                    metric: View::range(&rec.metrics.buffer, metric.offset, metric.words),
                    split_sums: &split_sums,
                };
                let launch = rec.kernels.step_end(rec.ctx, &end);
                scoped("optimizer + next batch", vec![launch])
            }
            None => scoped(
                "optimizer",
                vec![rec.kernels.optimizer(rec.ctx, &optimizer)],
            ),
        };
        launches.extend(end);
        (launches, epoch_start)
    }

    /// Every layer's backward, last first; where the step's end is `fused`, a backward may
    /// leave its weight gradient's split-K sum to it.
    fn backward(&self, cursor: &'a wgpu::Buffer, fused: bool) -> Vec<Launch> {
        let mut launches = Vec::new();
        for (i, node) in self.rec.net.layers.iter().enumerate().rev() {
            if self.rec.fusions[i].backward_above {
                continue;
            }
            let io = Io {
                split_sums: fused.then_some(self.split_sums),
                ..self.rec.io(i, cursor)
            };
            let backward = node.layer.backward(node, &io);
            launches.extend(scoped(&format!("{} backward", node.name), backward));
        }
        launches
    }

    fn optimizer_args(
        &self,
        optimizer: &dyn Optimizer,
        cursor: &'a wgpu::Buffer,
    ) -> OptimizerArgs<'a> {
        let w = self.rec.weights;
        let kernel = optimizer.kernel();
        OptimizerArgs {
            entry: kernel.entry,
            params: OptimizerParams {
                n: w.layout.total as u32,
                ..kernel.params
            },
            work: kernel.work,
            weights: View::whole(&w.params),
            grads: View::whole(self.rec.grads.expect("a training step has gradients")),
            state: self.state.map(View::whole),
            cursor: View::whole(cursor),
            rates: View::whole(self.step_rates),
        }
    }
}
