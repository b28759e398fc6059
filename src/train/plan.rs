//! The compiled training plan: every buffer allocated once (dataset, weights, gradients,
//! optimizer state, moving statistics, activations, the layers' scratch, metrics, cursors) and
//! every launch recorded once, so that a step is a replay of a launch list into a compute pass.
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
//! see [`Builder::train_step`]. The plan is a loop over the
//! layers; what a layer's launches bind comes from one [`Io`] per node, and the fusions
//! between neighbours (see [`crate::layers::fusion`]) are decided before any launch.

use super::metrics::{BatchIo, MetricsLayout, Pass, PassMetrics};
use super::trainer::TrainConfig;
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::floor::augment::{self, Augment};
use crate::floor::Shape;
use crate::gpu::kernels::{
    DeferredSums, GatherArgs, LossArgs, OptimizerArgs, OptimizerParams, RowStat, StepEndArgs,
    StepRate, View,
};
use crate::gpu::{GpuContext, Kernels, Launch};
use crate::layers::{fusion, FusedPool, Fusion, Io, LossRows, Pool2d};
use crate::model::{init_stats, Network, ParamLayout};
use crate::optim::Optimizer;

/// A split resident on the GPU: u8 pixels and labels, packed 4 per word.
struct GpuSplit {
    images: wgpu::Buffer,
    labels: wgpu::Buffer,
    /// Sample indices in visiting order.
    order: wgpu::Buffer,
    len: usize,
}

/// Launches of one pass over a fixed set of samples (validation or test), forward only.
pub struct EvalPass {
    pub pass: Pass,
    pub steps: usize,
    pub launches: Vec<Launch>,
}

/// The metrics buffer, its readback copy and where each accumulator lives in it.
pub struct Metrics {
    pub buffer: wgpu::Buffer,
    staging: wgpu::Buffer,
    pub layout: MetricsLayout,
}

pub struct Plan {
    pub net: Network,
    /// Trainable tensors, in `params` and `grads`.
    pub layout: ParamLayout,
    /// Non-trainable tensors (moving statistics), in `stats`.
    pub stats_layout: ParamLayout,
    pub batch: usize,
    /// The validation and test passes' batch ([`super::limits::eval_batch`]).
    pub eval_batch: usize,
    pub n_train: usize,
    pub params: wgpu::Buffer,
    pub grads: wgpu::Buffer,
    pub stats: wgpu::Buffer,
    /// The optimizer's state tensors (velocity; m and v; ...), one after the other in one
    /// buffer, each laid out as `params`; none for an optimizer without state.
    pub optimizer_state: Option<wgpu::Buffer>,
    /// How many tensors `optimizer_state` holds.
    pub optimizer_tensors: usize,
    pub metrics: Metrics,
    /// `{ step, t }`: the training batch index within the epoch and the optimizer's step count.
    pub train_cursor: wgpu::Buffer,
    /// `{ step, _ }` of evaluation passes.
    pub eval_cursor: wgpu::Buffer,
    /// The epoch's sample order (indices into the training split).
    pub train_order: wgpu::Buffer,
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
    pub validation: EvalPass,
    pub test: EvalPass,
    /// Test-time augmentation's passes over the test split: one per augmented copy, each
    /// drawing its own transforms (empty without `cfg.tta`).
    pub test_augmented: Vec<EvalPass>,
    /// Whether the validation pass runs on the test split (no validation split): its
    /// results are then the test pass's too.
    pub validation_is_test: bool,
    /// Kept alive for the bind groups that reference them.
    _buffers: Vec<wgpu::Buffer>,
}

/// One batch's own buffers: its input, its labels and every node's activations, for the
/// training step (with gradients) or the evaluation passes (forward only, at their batch).
struct BatchBuffers {
    batch: usize,
    x: wgpu::Buffer,
    y: wgpu::Buffer,
    acts: Activations,
}

impl BatchBuffers {
    fn new(
        ctx: &GpuContext,
        (net, fusions): (&Network, &[Fusion]),
        batch: usize,
        grads: bool,
    ) -> Result<BatchBuffers> {
        let alloc = Alloc { ctx, batch };
        let (input, labels) = match grads {
            true => ("the input batch", "labels"),
            false => ("the evaluation batch", "evaluation labels"),
        };
        let x = alloc.floats(input, batch * net.input.features())?;
        let acts = Activations::new(net, fusions, &alloc, &x, grads)?;
        let y = ctx.storage(labels, (batch * 4) as u64);
        Ok(BatchBuffers { batch, x, y, acts })
    }

    fn into_buffers(self) -> impl Iterator<Item = wgpu::Buffer> {
        [self.x, self.y].into_iter().chain(self.acts.into_buffers())
    }
}

/// Per-node GPU buffers. A view (flatten) shares its input's.
struct Activations {
    out: Vec<wgpu::Buffer>,
    dout: Vec<wgpu::Buffer>,
    /// Each node's scratch by name (shared ones are the same buffer in every node).
    scratch: Vec<Vec<(&'static str, wgpu::Buffer)>>,
}

/// Allocates storage buffers, refusing ones over the adapter's binding limit with an error
/// that names the buffer and what to change.
struct Alloc<'a> {
    ctx: &'a GpuContext,
    batch: usize,
}

impl Alloc<'_> {
    fn floats(&self, label: &str, floats: usize) -> Result<wgpu::Buffer> {
        let bytes = floats as u64 * 4;
        let max = self.ctx.limits.max_storage_buffer_binding_size;
        if bytes > max {
            return Err(Error::Gpu(format!(
                "{label} needs a {bytes}-byte storage binding at batch {}; the adapter '{}' allows {max} (try a smaller --batch-size)",
                self.batch, self.ctx.info.name
            )));
        }
        Ok(self.ctx.storage(label, bytes))
    }
}

/// The training gather's augmentation and its 32-bit seed, where it changes anything.
fn active_augmentation(cfg: &TrainConfig) -> Option<(Augment, u32)> {
    cfg.augment
        .filter(Augment::is_active)
        .map(|a| (a, augment::seed32(cfg.seed)))
}

/// What the steps read and write besides the batch's rows: the cursors, each step's learning
/// rate, and the row buffer of a fused step end (where the policy fuses it).
struct StepBuffers {
    train_cursor: wgpu::Buffer,
    eval_cursor: wgpu::Buffer,
    step_rates: wgpu::Buffer,
    row_stats: Option<wgpu::Buffer>,
}

impl StepBuffers {
    fn new(ctx: &GpuContext, kernels: &Kernels, batch: usize, steps: usize) -> StepBuffers {
        StepBuffers {
            train_cursor: ctx.storage("train cursor", 8),
            eval_cursor: ctx.storage("eval cursor", 8),
            step_rates: ctx.storage("step rates", (steps * size_of::<StepRate>()) as u64),
            row_stats: kernels
                .policy()
                .fuses_step_end(kernels)
                .then(|| ctx.storage("batch rows", (batch * size_of::<RowStat>()) as u64)),
        }
    }
}

impl Plan {
    /// Compiles `net` for batches of `cfg.batch_size`, uploading `data` once. The last
    /// `cfg.validation_split` of the training split is held out for validation (Keras's rule);
    /// with 0, validation runs on the test split, as the reference notebooks do.
    pub fn new(
        ctx: &GpuContext,
        kernels: &Kernels,
        net: &Network,
        cfg: &TrainConfig,
        data: &Dataset,
        initial: &[Vec<f32>],
    ) -> Result<Plan> {
        check_fit(net, data)?;
        let (train_indices, val_indices) = hold_out(data, cfg.validation_split)?;
        let align = ctx.binding_align_floats();
        let layout = ParamLayout::trainable(net, align);
        let stats_layout = ParamLayout::non_trainable(net, align);
        let fusions = fusion::fuse(&net.layers);
        let splits = upload(ctx, data, (&train_indices, &val_indices))?;
        let rows = BatchBuffers::new(ctx, (net, &fusions), cfg.batch_size, true)?;
        let longest = splits[1].len.max(splits[2].len);
        let eval_batch = super::limits::eval_batch(ctx, net, cfg, longest);
        let eval_rows = BatchBuffers::new(ctx, (net, &fusions), eval_batch, false)?;
        let weights = ParamBuffers::new(
            ctx,
            (&layout, &stats_layout),
            initial,
            cfg.optimizer.as_ref(),
        );
        let own: Vec<_> = cfg.metrics.iter().filter_map(|m| m.accumulator()).collect();
        let metrics_layout = MetricsLayout::new(&own, &cfg.accumulators, net.classes, align);
        let metrics = Metrics::new(ctx, metrics_layout);
        let steps = train_indices.len().div_ceil(cfg.batch_size);
        let StepBuffers {
            train_cursor,
            eval_cursor,
            step_rates,
            row_stats,
        } = StepBuffers::new(ctx, kernels, cfg.batch_size, steps);
        let split_sums = DeferredSums::default();
        let builder = Builder {
            ctx,
            kernels,
            net,
            fusions: &fusions,
            rows: &rows,
            seed: cfg.seed,
            label_smoothing: cfg.label_smoothing,
            augment: active_augmentation(cfg),
            layouts: (&layout, &stats_layout),
            weights: &weights,
            metrics: &metrics,
            step_rates: &step_rates,
            row_stats: row_stats.as_ref(),
            split_sums: &split_sums,
        };
        let (train_step, epoch_start) =
            builder.train_step(&splits[0], &train_cursor, cfg.optimizer.as_ref());
        let builder = Builder {
            rows: &eval_rows,
            row_stats: None,
            ..builder
        };
        let validation = builder.eval_pass(Pass::Validation, &splits[1], &eval_cursor);
        let test = builder.eval_pass(Pass::Test, &splits[2], &eval_cursor);
        let test_augmented = builder.tta_passes(cfg, &splits[2], &eval_cursor);
        ctx.check_errors()?;
        let [train, ..] = splits;
        let mut buffers = vec![train.images, train.labels];
        buffers.extend(row_stats);
        buffers.extend(rows.into_buffers().chain(eval_rows.into_buffers()));
        Ok(Plan {
            net: net.clone(),
            layout,
            stats_layout,
            batch: cfg.batch_size,
            eval_batch,
            n_train: train_indices.len(),
            params: weights.params,
            grads: weights.grads,
            stats: weights.stats,
            optimizer_state: weights.state,
            optimizer_tensors: cfg.optimizer.state().len(),
            metrics,
            train_cursor,
            eval_cursor,
            train_order: train.order,
            step_rates,
            train_indices,
            train_step,
            epoch_start,
            validation,
            test,
            test_augmented,
            validation_is_test: val_indices.is_empty(),
            _buffers: buffers,
        })
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.n_train.div_ceil(self.batch)
    }

    /// Zeroes the accumulators of `pass`.
    pub fn clear_metrics(&self, encoder: &mut wgpu::CommandEncoder, pass: Pass) {
        let span = self.metrics.layout.span(pass);
        encoder.clear_buffer(
            &self.metrics.buffer,
            span.start as u64 * 4,
            Some((span.end - span.start) as u64 * 4),
        );
    }

    /// Records a copy of the metrics into the staging buffer; [`Plan::read_metrics_with`]
    /// then maps it (one readback).
    pub fn record_metrics_copy(&self, encoder: &mut wgpu::CommandEncoder) {
        let m = &self.metrics;
        encoder.copy_buffer_to_buffer(&m.buffer, 0, &m.staging, 0, m.buffer.size());
    }

    /// Every pass's metrics from the staging buffer, calling `tick` while the GPU is still
    /// busy.
    pub fn read_metrics_with(
        &self,
        ctx: &GpuContext,
        tick: &mut dyn FnMut(),
    ) -> Result<[PassMetrics; 3]> {
        let m = &self.metrics;
        let bytes = ctx.map_and_read_with(&m.staging, m.buffer.size(), tick)?;
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes);
        Ok(m.layout.results(&words))
    }
}

/// The model and the data agree on image shape and classes.
fn check_fit(net: &Network, data: &Dataset) -> Result<()> {
    let image = Shape::new(data.rows, data.cols, 1);
    if image != net.input || data.classes != net.classes {
        return Err(Error::Mismatch(format!(
            "the model expects {}x{}x{} inputs and {} classes; the data has {}x{}x1 and {}",
            net.input.h, net.input.w, net.input.c, net.classes, data.rows, data.cols, data.classes
        )));
    }
    Ok(())
}

/// The training and validation sample indices: the last `fraction` of the training split is
/// held out (Keras's rule), refusing a fraction that leaves nothing to train on.
fn hold_out(data: &Dataset, fraction: f64) -> Result<(Vec<u32>, Vec<u32>)> {
    let (train, validation) = crate::data::dataset::split_indices(data.train.len(), fraction);
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

/// The training, validation and test splits on the GPU, each with its visiting order. The
/// validation split is the training data's tail, or the test split when there is none.
fn upload(
    ctx: &GpuContext,
    data: &Dataset,
    (train_indices, val_indices): (&[u32], &[u32]),
) -> Result<[GpuSplit; 3]> {
    let max = ctx.limits.max_storage_buffer_binding_size;
    if data.train.images.len() as u64 > max {
        return Err(Error::Gpu(format!(
            "the training images ({} bytes) exceed the adapter's storage binding limit of {max} bytes",
            data.train.images.len()
        )));
    }
    let split = |name: &str, s: &Split, order: &[u32]| GpuSplit {
        images: ctx.storage_u8(&format!("{name} images"), &s.images),
        labels: ctx.storage_u8(&format!("{name} labels"), &s.labels),
        order: ctx.storage_init(&format!("{name} order"), order),
        len: order.len(),
    };
    let test_order: Vec<u32> = (0..data.test.len() as u32).collect();
    let train = split("train", &data.train, train_indices);
    let test = split("test", &data.test, &test_order);
    let validation = if val_indices.is_empty() {
        GpuSplit {
            images: test.images.clone(),
            labels: test.labels.clone(),
            order: test.order.clone(),
            len: test.len,
        }
    } else {
        GpuSplit {
            images: train.images.clone(),
            labels: train.labels.clone(),
            order: ctx.storage_init("validation order", val_indices),
            len: val_indices.len(),
        }
    };
    Ok([train, validation, test])
}

impl Metrics {
    fn new(ctx: &GpuContext, layout: MetricsLayout) -> Metrics {
        let buffer = ctx.storage("metrics", layout.total_words as u64 * 4);
        let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("metrics readback"),
            size: buffer.size(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Metrics {
            buffer,
            staging,
            layout,
        }
    }
}

/// Parameters, their gradients, the optimizer's state and the moving statistics.
struct ParamBuffers {
    params: wgpu::Buffer,
    grads: wgpu::Buffer,
    stats: wgpu::Buffer,
    state: Option<wgpu::Buffer>,
}

impl ParamBuffers {
    fn new(
        ctx: &GpuContext,
        (layout, stats_layout): (&ParamLayout, &ParamLayout),
        initial: &[Vec<f32>],
        optimizer: &dyn Optimizer,
    ) -> ParamBuffers {
        let bytes = layout.total as u64 * 4;
        ParamBuffers {
            params: ctx.storage_init("params", &layout.pack(initial)),
            grads: ctx.storage("grads", bytes),
            stats: ctx.storage_init(
                "moving statistics",
                &stats_layout.pack(&init_stats(stats_layout)),
            ),
            state: match optimizer.state().len() {
                0 => None,
                k => Some(ctx.storage("optimizer state", bytes * k as u64)),
            },
        }
    }
}

impl Activations {
    fn into_buffers(self) -> impl Iterator<Item = wgpu::Buffer> {
        let scratch = self.scratch.into_iter().flatten().map(|(_, b)| b);
        self.out.into_iter().chain(self.dout).chain(scratch)
    }

    /// Every node's output and output gradient (`[batch, features]`), and the scratch its
    /// layer asks for; shared scratch once, at the largest size asked. Without `grads` (the
    /// evaluation passes, forward only), one output gradient, the last node's (the loss
    /// writes its dlogits in every pass), stands for every node's, which no forward launch
    /// binds; and only the forward's scratch.
    fn new(
        net: &Network,
        fusions: &[Fusion],
        alloc: &Alloc,
        x: &wgpu::Buffer,
        grads: bool,
    ) -> Result<Activations> {
        let batch = alloc.batch;
        let last = net.layers.last().expect("a network has layers");
        let dlogits = match grads {
            true => None,
            false => Some(alloc.floats("evaluation dlogits", batch * last.output.features())?),
        };
        let (mut out, mut dout) = (Vec::<wgpu::Buffer>::new(), Vec::<wgpu::Buffer>::new());
        for (i, node) in net.layers.iter().enumerate() {
            let n = batch * node.output.features();
            if node.layer.is_view() && i > 0 {
                out.push(out[i - 1].clone());
                dout.push(dout[i - 1].clone());
                continue;
            }
            out.push(match node.layer.is_view() {
                true => x.clone(),
                false => alloc.floats(&format!("{} output", node.name), n)?,
            });
            dout.push(match &dlogits {
                Some(d) => d.clone(),
                None => alloc.floats(&format!("{} output gradient", node.name), n)?,
            });
        }
        let wants: Vec<_> = net
            .layers
            .iter()
            .zip(fusions)
            .map(|(node, f)| node.layer.scratch(node, batch, grads && f.input_grad))
            .collect();
        let mut shared: Vec<(&'static str, wgpu::Buffer)> = Vec::new();
        for s in wants.iter().flatten().filter(|s| s.shared) {
            if shared.iter().all(|(name, _)| *name != s.name) {
                let floats = wants
                    .iter()
                    .flatten()
                    .filter(|t| t.shared && t.name == s.name)
                    .map(|t| t.floats)
                    .max();
                shared.push((s.name, alloc.floats(s.name, floats.unwrap_or(s.floats))?));
            }
        }
        let mut scratch = Vec::new();
        for (node, wants) in net.layers.iter().zip(&wants) {
            let mut mine = Vec::new();
            for s in wants {
                let buffer = match shared.iter().find(|(name, _)| s.shared && *name == s.name) {
                    Some((_, b)) => b.clone(),
                    None => alloc.floats(&format!("{} {}", node.name, s.name), s.floats)?,
                };
                mine.push((s.name, buffer));
            }
            scratch.push(mine);
        }
        Ok(Activations { out, dout, scratch })
    }
}

/// Records the launches of each pass over the plan's buffers: the training step's at the
/// training batch, the evaluation passes' at theirs, over their own `x`, `y` and activations.
#[derive(Clone, Copy)]
struct Builder<'a> {
    ctx: &'a GpuContext,
    kernels: &'a Kernels,
    net: &'a Network,
    fusions: &'a [Fusion],
    /// The batch's own buffers: the training step's or the evaluation passes'.
    rows: &'a BatchBuffers,
    seed: u64,
    label_smoothing: f32,
    /// The training pass's augmentation and its seed.
    augment: Option<(Augment, u32)>,
    layouts: (&'a ParamLayout, &'a ParamLayout),
    weights: &'a ParamBuffers,
    metrics: &'a Metrics,
    step_rates: &'a wgpu::Buffer,
    /// `[batch]` RowStat, where the training step's end may be fused (see
    /// [`Builder::train_step`]); none for the evaluation passes.
    row_stats: Option<&'a wgpu::Buffer>,
    /// The split-K sums a fused step's backward leaves to its end.
    split_sums: &'a DeferredSums,
}

/// Tags launches with what they belong to, for profiles.
fn scoped(scope: &str, mut launches: Vec<Launch>) -> Vec<Launch> {
    for l in &mut launches {
        l.scope = scope.to_string();
    }
    launches
}

impl<'a> Builder<'a> {
    /// The training step's launches, and those that run once as an epoch begins. Where the
    /// output layer has a kernel fused with the loss ([`crate::layers::Layer::forward_with_loss`])
    /// and the policy fuses step ends, the step is: every layer's forward, the last with the
    /// loss; the backward; then one launch of the optimizer, the batch's loss sum and the next
    /// batch's gather (the epoch's first gather runs as it begins). Otherwise: the gather, the
    /// forward, the loss, the backward and the optimizer.
    fn train_step(
        &self,
        split: &GpuSplit,
        cursor: &'a wgpu::Buffer,
        optimizer: &dyn Optimizer,
    ) -> (Vec<Launch>, Vec<Launch>) {
        let gather_args = self.gather_args(Pass::Train, split, cursor, self.augment);
        let gather = scoped("gather", vec![self.kernels.gather(self.ctx, &gather_args)]);
        let (forward, fused) = self.layers_and_loss(Pass::Train, cursor);
        let (mut launches, epoch_start) = match fused {
            Some(_) => (forward, gather),
            None => (gather.into_iter().chain(forward).collect(), Vec::new()),
        };
        for (i, node) in self.net.layers.iter().enumerate().rev() {
            if self.fusions[i].backward_above {
                continue;
            }
            let io = Io {
                split_sums: fused.map(|_| self.split_sums),
                ..self.io(i, cursor)
            };
            let backward = node.layer.backward(node, &io);
            launches.extend(scoped(&format!("{} backward", node.name), backward));
        }
        let optimizer = self.optimizer_args(optimizer, cursor);
        let split_sums = self.split_sums.taken();
        let end = match fused {
            Some(rows) => {
                let metric = &self.metrics.layout.regions(Pass::Train)[0];
                let end = StepEndArgs {
                    optimizer: &optimizer,
                    gather: &gather_args,
                    rows: View::whole(rows),
                    metric: View::range(&self.metrics.buffer, metric.offset, metric.words),
                    split_sums: &split_sums,
                };
                scoped(
                    "optimizer + next batch",
                    vec![self.kernels.step_end(self.ctx, &end)],
                )
            }
            None => scoped(
                "optimizer",
                vec![self.kernels.optimizer(self.ctx, &optimizer)],
            ),
        };
        launches.extend(end);
        (launches, epoch_start)
    }

    fn eval_pass(&self, pass: Pass, split: &GpuSplit, cursor: &'a wgpu::Buffer) -> EvalPass {
        EvalPass {
            pass,
            steps: split.len.div_ceil(self.rows.batch),
            launches: self.forward_pass(pass, split, cursor, None),
        }
    }

    /// Test-time augmentation's test passes: one per extra view of `cfg.tta`, each over
    /// copies of the split's images augmented with the view's own seed.
    fn tta_passes(
        &self,
        cfg: &TrainConfig,
        split: &GpuSplit,
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
                    steps: split.len.div_ceil(self.rows.batch),
                    launches: self.forward_pass(Pass::Test, split, cursor, Some(draws)),
                }
            })
            .collect()
    }

    /// Gather (augmenting by `augment`'s draws, if given), every layer's forward, the loss,
    /// and the pass's other accumulators.
    fn forward_pass(
        &self,
        pass: Pass,
        split: &GpuSplit,
        cursor: &'a wgpu::Buffer,
        augment: Option<(Augment, u32)>,
    ) -> Vec<Launch> {
        let gather = self.gather_args(pass, split, cursor, augment);
        let mut launches = scoped("gather", vec![self.kernels.gather(self.ctx, &gather)]);
        launches.extend(self.layers_and_loss(pass, cursor).0);
        launches
    }

    /// What the gather of `pass` over `split` binds.
    fn gather_args(
        &self,
        pass: Pass,
        split: &'a GpuSplit,
        cursor: &'a wgpu::Buffer,
        augment: Option<(Augment, u32)>,
    ) -> GatherArgs<'a> {
        let input = self.net.input;
        GatherArgs {
            batch: self.rows.batch,
            sample_bytes: input.features(),
            image: (input.h, input.w, input.c),
            augment,
            // Training draws anew each step; test-time augmentation's views are keyed by
            // position, the same at any evaluation batch.
            by_position: pass != Pass::Train,
            images: View::whole(&split.images),
            labels: View::whole(&split.labels),
            order: View::whole(&split.order),
            n_order: split.len,
            cursor: View::whole(cursor),
            x: View::whole(&self.rows.x),
            y: View::whole(&self.rows.y),
        }
    }

    /// Every layer's forward, the loss, and the pass's other accumulators; the last layer's
    /// forward runs with the loss where `row_stats` is given and the layer can (then `true`).
    fn layers_and_loss(
        &self,
        pass: Pass,
        cursor: &'a wgpu::Buffer,
    ) -> (Vec<Launch>, Option<&'a wgpu::Buffer>) {
        let training = pass == Pass::Train;
        let (ctx, k, batch) = (self.ctx, self.kernels, self.rows.batch);
        let last = self.net.layers.len() - 1;
        let mut launches = Vec::new();
        let mut fused = None;
        for (i, node) in self.net.layers.iter().enumerate() {
            let io = self.io(i, cursor);
            let with_loss = self.row_stats.filter(|_| i == last).and_then(|rows| {
                let loss = LossRows {
                    rows: View::whole(rows),
                    label_smoothing: self.label_smoothing,
                };
                node.layer.forward_with_loss(node, &io, &loss)
            });
            if let Some(launch) = with_loss {
                launches.extend(scoped(
                    &format!("{} forward + loss", node.name),
                    vec![launch],
                ));
                fused = self.row_stats;
                continue;
            }
            let forward = node.layer.forward(node, &io, training);
            launches.extend(scoped(&format!("{} forward", node.name), forward));
        }
        let (logits, labels) = (
            View::whole(&self.rows.acts.out[last]),
            View::whole(&self.rows.y),
        );
        let regions = self.metrics.layout.regions(pass);
        let region = |r: &crate::train::metrics::Region| {
            View::range(&self.metrics.buffer, r.offset, r.words)
        };
        if fused.is_none() {
            let loss = k.softmax_xent(
                ctx,
                &LossArgs {
                    batch,
                    classes: self.net.classes,
                    logits,
                    labels,
                    dlogits: View::whole(&self.rows.acts.dout[last]),
                    metric: region(&regions[0]),
                    cursor: View::whole(cursor),
                    label_smoothing: self.label_smoothing,
                },
            );
            launches.extend(scoped("loss", vec![loss]));
        }
        let io = BatchIo {
            gpu: ctx,
            kernels: k,
            batch,
            classes: self.net.classes,
            logits,
            labels,
            cursor: View::whole(cursor),
        };
        for r in &regions[1..] {
            launches.extend(scoped("metrics", r.accumulator.record(&io, region(r))));
        }
        (launches, fused)
    }

    /// What node `i`'s launches bind, and for a convolution that runs the pooling below it,
    /// what that pooling's do.
    fn io(&self, i: usize, cursor: &'a wgpu::Buffer) -> Io<'a> {
        let (layout, stats_layout) = self.layouts;
        let w = self.weights;
        let named = |layout: &'a ParamLayout, buffer: &'a wgpu::Buffer| {
            layout
                .of_layer(i)
                .map(|(_, t)| (t.spec.short_name(), View::range(buffer, t.offset, t.len)))
                .collect()
        };
        let f = self.fusions[i];
        let input = if i == 0 {
            &self.rows.x
        } else {
            &self.rows.acts.out[i - 1]
        };
        Io {
            gpu: self.ctx,
            kernels: self.kernels,
            batch: self.rows.batch,
            index: i,
            seed: self.seed,
            x: View::whole(input),
            y: View::whole(&self.rows.acts.out[i]),
            dy: View::whole(&self.rows.acts.dout[i]),
            dx: (f.input_grad && i > 0).then(|| View::whole(&self.rows.acts.dout[i - 1])),
            input_act: f.input_act,
            labels: View::whole(&self.rows.y),
            cursor: View::whole(cursor),
            params: named(layout, &w.params),
            grads: named(layout, &w.grads),
            stats: named(stats_layout, &w.stats),
            scratch: self.rows.acts.scratch[i]
                .iter()
                .map(|(n, b)| (*n, View::whole(b)))
                .collect(),
            pool_below: f.pool_below.then(|| {
                let node = &self.net.layers[i - 1];
                Box::new(FusedPool {
                    pool: node
                        .downcast_ref::<Pool2d>()
                        .expect("the fusion pass found a pooling"),
                    node,
                    io: self.io(i - 1, cursor),
                })
            }),
            split_sums: None,
        }
    }

    fn optimizer_args(
        &self,
        optimizer: &dyn Optimizer,
        cursor: &'a wgpu::Buffer,
    ) -> OptimizerArgs<'a> {
        let w = self.weights;
        let kernel = optimizer.kernel();
        OptimizerArgs {
            entry: kernel.entry,
            params: OptimizerParams {
                n: self.layouts.0.total as u32,
                ..kernel.params
            },
            work: kernel.work,
            weights: View::whole(&w.params),
            grads: View::whole(&w.grads),
            state: w.state.as_ref().map(View::whole),
            cursor: View::whole(cursor),
            rates: View::whole(self.step_rates),
        }
    }
}
