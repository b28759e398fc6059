//! The compiled training plan: every buffer allocated once (dataset, weights, gradients,
//! optimizer state, moving statistics, activations, im2col scratch, metrics, cursors) and
//! every launch recorded once, so that a step is a replay of a launch list into a compute pass.
//!
//! What changes from step to step lives on the GPU: the batch index and the step count in a
//! cursor buffer that the loss kernel advances (dropout masks and Adam's t derive from it),
//! the epoch's sample order in an index buffer written once per epoch. Recording an epoch
//! therefore touches no CPU-side state.
//!
//! One step: gather -> each layer's forward -> softmax cross-entropy (loss, metrics, dlogits,
//! cursor) -> each layer's backward, last first -> one optimizer launch over the flat
//! parameter buffer. The gradient a layer receives already includes the derivative of its
//! own activation: the layer above multiplies it in, fused into whatever kernel produces
//! that gradient (matmul, col2im, pooling, dropout or batch-norm backward). A pooling between
//! two convolutions has its backward fused with the upper one's col2im: one launch, and the
//! pooled gradient is never stored.

use super::metrics::{Metric, SLOTS, TEST_SLOT, TRAIN_SLOT, VAL_SLOT};
use super::trainer::TrainConfig;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::kernels::{
    pool_fuses_with_col2im, BnEntry, BnShape, BnViews, DropoutMode, EpilogueAct, Geom2d,
    MatmulVariant, OptimizerHyper, OptimizerKind, PoolKind, View,
};
use crate::gpu::{GpuContext, Kernels, Launch};
use crate::model::{
    dropout_seed, init_stats, Activation, Network, Op, Optimizer, ParamLayout, Shape, Window,
};

fn epilogue(a: Activation) -> EpilogueAct {
    match a {
        Activation::Relu => EpilogueAct::Relu,
        Activation::Sigmoid => EpilogueAct::Sigmoid,
        // Softmax is fused into the loss kernel: the last matmul leaves logits.
        Activation::Linear | Activation::Softmax => EpilogueAct::None,
    }
}

/// The kernels' view of a model window over a batch.
pub fn window_geom(w: &Window, batch: usize) -> Geom2d {
    Geom2d {
        batch,
        in_h: w.input.h,
        in_w: w.input.w,
        in_c: w.input.c,
        out_h: w.output.h,
        out_w: w.output.w,
        k_h: w.kh,
        k_w: w.kw,
        stride_h: w.sh,
        stride_w: w.sw,
        pad_top: w.pad_top,
        pad_left: w.pad_left,
    }
}

/// A split resident on the GPU: u8 pixels and labels, packed 4 per word.
struct GpuSplit {
    images: wgpu::Buffer,
    labels: wgpu::Buffer,
}

/// Launches of one pass over a fixed set of samples (validation or test), forward only.
pub struct EvalPass {
    pub slot: usize,
    pub steps: usize,
    pub launches: Vec<Launch>,
}

pub struct Plan {
    pub net: Network,
    /// Trainable tensors, in `params` and `grads`.
    pub layout: ParamLayout,
    /// Non-trainable tensors (moving statistics), in `stats`.
    pub stats_layout: ParamLayout,
    pub batch: usize,
    pub n_train: usize,
    pub params: wgpu::Buffer,
    pub grads: wgpu::Buffer,
    pub stats: wgpu::Buffer,
    pub metrics: wgpu::Buffer,
    metrics_staging: wgpu::Buffer,
    /// `{ step, t }`: the training batch index within the epoch and the optimizer's step count.
    pub train_cursor: wgpu::Buffer,
    /// `{ step, _ }` of evaluation passes.
    pub eval_cursor: wgpu::Buffer,
    /// The epoch's sample order (indices into the training split).
    pub train_order: wgpu::Buffer,
    /// Sample indices (into the training split) used for training, before shuffling.
    pub train_indices: Vec<u32>,
    pub train_step: Vec<Launch>,
    pub validation: EvalPass,
    pub test: EvalPass,
    /// Kept alive for the bind groups that reference them.
    _buffers: Vec<wgpu::Buffer>,
}

/// Per-layer GPU buffers. Flatten aliases its input's buffers (it moves no data).
struct LayerBuffers {
    out: Vec<wgpu::Buffer>,
    dout: Vec<wgpu::Buffer>,
    /// im2col matrix of each convolution, kept from forward for dW.
    cols: Vec<Option<wgpu::Buffer>>,
    /// Window maxima positions of each max pooling.
    argmax: Vec<Option<wgpu::Buffer>>,
    /// Batch mean, inverse deviation and row count of each batch normalisation.
    saved: Vec<Option<wgpu::Buffer>>,
    /// dcols of the convolution being back-propagated (shared: one at a time).
    dcols: Option<wgpu::Buffer>,
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
        let batch = cfg.batch_size;
        let image = Shape::new(data.rows, data.cols, 1);
        if image != net.input || data.classes != net.classes {
            return Err(Error::Config(format!(
                "the model expects {}x{}x{} inputs and {} classes; the data has {}x{}x1 and {}",
                net.input.h,
                net.input.w,
                net.input.c,
                net.classes,
                data.rows,
                data.cols,
                data.classes
            )));
        }
        let (train_indices, val_indices) =
            crate::data::dataset::split_indices(data.train.len(), cfg.validation_split);
        if train_indices.is_empty() {
            return Err(Error::Config(format!(
                "--validation-split {} leaves no training samples out of {}",
                cfg.validation_split,
                data.train.len()
            )));
        }
        let align = ctx.binding_align_floats();
        let layout = ParamLayout::trainable(net, align);
        let stats_layout = ParamLayout::non_trainable(net, align);
        let max_binding = ctx.limits.max_storage_buffer_binding_size;
        let sized = |label: &str, floats: usize| -> Result<wgpu::Buffer> {
            let bytes = floats as u64 * 4;
            if bytes > max_binding {
                return Err(Error::Gpu(format!(
                    "{label} needs a {bytes}-byte storage binding at batch {batch}; the adapter '{}' allows {max_binding} (try a smaller --batch-size)",
                    ctx.info.name
                )));
            }
            Ok(ctx.storage(label, bytes))
        };
        if data.train.images.len() as u64 > max_binding {
            return Err(Error::Gpu(format!(
                "the training images ({} bytes) exceed the adapter's storage binding limit of {max_binding} bytes",
                data.train.images.len()
            )));
        }

        let upload = |name: &str, split: &crate::data::Split| GpuSplit {
            images: ctx.storage_u8(&format!("{name} images"), &split.images),
            labels: ctx.storage_u8(&format!("{name} labels"), &split.labels),
        };
        let train_data = upload("train", &data.train);
        let test_data = upload("test", &data.test);

        let params = ctx.storage_init("params", &layout.pack(initial));
        let grads = ctx.storage("grads", layout.total as u64 * 4);
        let stats = ctx.storage_init(
            "moving statistics",
            &stats_layout.pack(&init_stats(&stats_layout)),
        );
        let state: Vec<wgpu::Buffer> = (0..cfg.optimizer.state_tensors())
            .map(|i| ctx.storage(&format!("optimizer state {i}"), layout.total as u64 * 4))
            .collect();
        let x = sized("the input batch", batch * net.input.features())?;
        let y = ctx.storage("labels", (batch * 4) as u64);
        let bufs = layer_buffers(net, batch, &x, &sized)?;
        let metrics = ctx.storage("metrics", (SLOTS * std::mem::size_of::<Metric>()) as u64);
        let metrics_staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("metrics readback"),
            size: metrics.size(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let train_cursor = ctx.storage("train cursor", 8);
        let eval_cursor = ctx.storage("eval cursor", 8);
        let train_order = ctx.storage_init("train order", &train_indices);
        let val_order = ctx.storage_init("validation order", &val_indices);
        let test_order = ctx.storage_init(
            "test order",
            &(0..data.test.len() as u32).collect::<Vec<_>>(),
        );

        let builder = Builder {
            ctx,
            kernels,
            net,
            batch,
            layout: &layout,
            stats_layout: &stats_layout,
            params: &params,
            grads: &grads,
            stats: &stats,
            x: &x,
            y: &y,
            bufs: &bufs,
            seed: cfg.seed,
        };
        let gather = |split: &GpuSplit, order: &wgpu::Buffer, n: usize, cursor: &wgpu::Buffer| {
            kernels.gather(
                ctx,
                batch,
                net.input.features(),
                View::whole(&split.images),
                View::whole(&split.labels),
                View::whole(order),
                n,
                View::whole(cursor),
                View::whole(&x),
                View::whole(&y),
            )
        };
        let last = net.layers.len() - 1;
        let loss = |slot: usize, cursor: &wgpu::Buffer| {
            kernels.softmax_xent(
                ctx,
                batch,
                net.classes,
                slot,
                View::whole(&bufs.out[last]),
                View::whole(&y),
                View::whole(&bufs.dout[last]),
                View::whole(&metrics),
                View::whole(cursor),
            )
        };

        let mut train_step = scoped(
            "gather",
            vec![gather(
                &train_data,
                &train_order,
                train_indices.len(),
                &train_cursor,
            )],
        );
        for (i, l) in net.layers.iter().enumerate() {
            let forward = builder.forward(i, true, &train_cursor);
            train_step.extend(scoped(&format!("{} forward", l.name), forward));
        }
        train_step.extend(scoped("loss", vec![loss(TRAIN_SLOT, &train_cursor)]));
        for (i, l) in net.layers.iter().enumerate().rev() {
            let backward = builder.backward(i, &train_cursor);
            train_step.extend(scoped(&format!("{} backward", l.name), backward));
        }
        let (kind, hyper) = optimizer_launch_args(&cfg.optimizer, layout.total);
        let optimizer = kernels.optimizer(
            ctx,
            kind,
            hyper,
            View::whole(&params),
            View::whole(&grads),
            state.first().map(View::whole),
            state.get(1).map(View::whole),
            View::whole(&train_cursor),
        );
        train_step.extend(scoped("optimizer", vec![optimizer]));

        let eval_forward: Vec<Launch> = (0..net.layers.len())
            .flat_map(|i| builder.forward(i, false, &eval_cursor))
            .collect();
        let eval_pass = |slot: usize, split: &GpuSplit, order: &wgpu::Buffer, n: usize| {
            let mut launches = vec![gather(split, order, n, &eval_cursor)];
            launches.extend(eval_forward.iter().cloned());
            launches.push(loss(slot, &eval_cursor));
            EvalPass {
                slot,
                steps: n.div_ceil(batch),
                launches,
            }
        };
        let validation = if val_indices.is_empty() {
            eval_pass(VAL_SLOT, &test_data, &test_order, data.test.len())
        } else {
            eval_pass(VAL_SLOT, &train_data, &val_order, val_indices.len())
        };
        let test = eval_pass(TEST_SLOT, &test_data, &test_order, data.test.len());

        let mut buffers = vec![
            train_data.images,
            train_data.labels,
            test_data.images,
            test_data.labels,
            x,
            y,
            val_order,
            test_order,
        ];
        buffers.extend(state);
        let LayerBuffers {
            out,
            dout,
            cols,
            argmax,
            saved,
            dcols,
        } = bufs;
        buffers.extend(out.into_iter().chain(dout));
        buffers.extend(
            cols.into_iter()
                .chain(argmax)
                .chain(saved)
                .chain([dcols])
                .flatten(),
        );
        ctx.check_errors()?;
        Ok(Plan {
            net: net.clone(),
            layout,
            stats_layout,
            batch,
            n_train: train_indices.len(),
            params,
            grads,
            stats,
            metrics,
            metrics_staging,
            train_cursor,
            eval_cursor,
            train_order,
            train_indices,
            train_step,
            validation,
            test,
            _buffers: buffers,
        })
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.n_train.div_ceil(self.batch)
    }

    /// Records a copy of the metrics into the staging buffer; [`Plan::read_metrics`] then
    /// maps it (one readback).
    pub fn record_metrics_copy(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.copy_buffer_to_buffer(
            &self.metrics,
            0,
            &self.metrics_staging,
            0,
            self.metrics.size(),
        );
    }

    pub fn read_metrics(&self, ctx: &GpuContext) -> Result<[Metric; SLOTS]> {
        self.read_metrics_with(ctx, &mut || {})
    }

    /// As [`Plan::read_metrics`], calling `tick` while the GPU is still busy.
    pub fn read_metrics_with(
        &self,
        ctx: &GpuContext,
        tick: &mut dyn FnMut(),
    ) -> Result<[Metric; SLOTS]> {
        let bytes = ctx.map_and_read_with(&self.metrics_staging, self.metrics.size(), tick)?;
        let metrics: Vec<Metric> = bytemuck::pod_collect_to_vec(&bytes);
        Ok([metrics[0], metrics[1], metrics[2]])
    }
}

/// Tags launches with what they belong to, for profiles.
fn scoped(scope: &str, mut launches: Vec<Launch>) -> Vec<Launch> {
    for l in &mut launches {
        l.scope = scope.to_string();
    }
    launches
}

fn layer_buffers(
    net: &Network,
    batch: usize,
    x: &wgpu::Buffer,
    sized: &dyn Fn(&str, usize) -> Result<wgpu::Buffer>,
) -> Result<LayerBuffers> {
    let mut b = LayerBuffers {
        out: Vec::new(),
        dout: Vec::new(),
        cols: Vec::new(),
        argmax: Vec::new(),
        saved: Vec::new(),
        dcols: None,
    };
    let mut dcols_len = 0;
    for (i, l) in net.layers.iter().enumerate() {
        let n = batch * l.output.features();
        if l.op == Op::Flatten {
            let out = if i == 0 {
                x.clone()
            } else {
                b.out[i - 1].clone()
            };
            let dout = if i == 0 {
                sized("flatten grad", n)?
            } else {
                b.dout[i - 1].clone()
            };
            b.out.push(out);
            b.dout.push(dout);
        } else {
            b.out.push(sized(&format!("{} output", l.name), n)?);
            b.dout
                .push(sized(&format!("{} output gradient", l.name), n)?);
        }
        b.cols.push(match l.op {
            Op::Conv2d(w) => {
                let len = batch * w.output.h * w.output.w * w.patch();
                if net.needs_input_grad(i) {
                    dcols_len = dcols_len.max(len);
                }
                Some(sized(&format!("{} im2col", l.name), len)?)
            }
            _ => None,
        });
        b.argmax.push(match l.op {
            Op::MaxPool(_) => Some(sized(&format!("{} argmax", l.name), n)?),
            _ => None,
        });
        b.saved.push(match l.op {
            Op::BatchNorm { channels, .. } => Some(sized(
                &format!("{} batch statistics", l.name),
                2 * channels + 1,
            )?),
            _ => None,
        });
    }
    if dcols_len > 0 {
        b.dcols = Some(sized("im2col gradient", dcols_len)?);
    }
    Ok(b)
}

/// Records the launches of each layer over the plan's buffers.
struct Builder<'a> {
    ctx: &'a GpuContext,
    kernels: &'a Kernels,
    net: &'a Network,
    batch: usize,
    layout: &'a ParamLayout,
    stats_layout: &'a ParamLayout,
    params: &'a wgpu::Buffer,
    grads: &'a wgpu::Buffer,
    stats: &'a wgpu::Buffer,
    x: &'a wgpu::Buffer,
    y: &'a wgpu::Buffer,
    bufs: &'a LayerBuffers,
    seed: u64,
}

impl<'a> Builder<'a> {
    /// View of trainable tensor `k` of layer `i` in `buffer` (params or grads).
    fn tensor(&self, i: usize, k: usize, buffer: &'a wgpu::Buffer) -> View<'a> {
        let t = self.layout.of_layer(i)[k];
        View::range(buffer, t.offset, t.len)
    }

    /// View of non-trainable tensor `k` of layer `i`.
    fn stat(&self, i: usize, k: usize) -> View<'a> {
        let t = self.stats_layout.of_layer(i)[k];
        View::range(self.stats, t.offset, t.len)
    }

    /// Layer `j`'s pooling kind and geometry, if it is a pooling.
    fn pooling(&self, j: usize) -> Option<(PoolKind, Geom2d)> {
        match self.net.layers[j].op {
            Op::MaxPool(w) => Some((PoolKind::Max, window_geom(&w, self.batch))),
            Op::AvgPool(w) => Some((PoolKind::Avg, window_geom(&w, self.batch))),
            _ => None,
        }
    }

    /// The pooling below convolution `i` whose backward that convolution's col2im takes on
    /// (see `pool.wgsl`): layer i-1, when it is a pooling whose windows tile its input and
    /// whose input needs a gradient; with its kind and geometry.
    fn fused_pool_below(&self, i: usize) -> Option<(PoolKind, Geom2d)> {
        if i == 0 || !matches!(self.net.layers[i].op, Op::Conv2d(_)) {
            return None;
        }
        self.pooling(i - 1)
            .filter(|(_, g)| self.net.needs_input_grad(i - 1) && pool_fuses_with_col2im(g))
    }

    /// What pooling layer `j`'s backward needs besides its incoming gradient: its argmax (max
    /// pooling), the derivative of the activation below it with that activation's output, and
    /// where its input gradient goes (`j` > 0: a pooling's backward runs only then).
    fn pool_grad_views(&self, j: usize) -> (View<'a>, EpilogueAct, View<'a>, View<'a>) {
        let k = self.kernels;
        let argmax = match &self.bufs.argmax[j] {
            Some(a) => View::whole(a),
            None => k.unused_rw(),
        };
        let dact = epilogue(self.net.input_activation(j));
        let aux = if dact == EpilogueAct::None {
            k.unused()
        } else {
            View::whole(self.input(j))
        };
        (argmax, dact, aux, View::whole(&self.bufs.dout[j - 1]))
    }

    fn input(&self, i: usize) -> &'a wgpu::Buffer {
        if i == 0 {
            self.x
        } else {
            &self.bufs.out[i - 1]
        }
    }

    fn bn_views(&self, i: usize, dst: View<'a>) -> BnViews<'a> {
        let unused = self.kernels.unused();
        let unused_rw = self.kernels.unused_rw();
        BnViews {
            x: View::whole(self.input(i)),
            labels: View::whole(self.y),
            saved: View::whole(
                self.bufs.saved[i]
                    .as_ref()
                    .expect("batch norm has saved statistics"),
            ),
            moving_mean: unused_rw,
            moving_var: unused_rw,
            gamma: self.tensor(i, 0, self.params),
            beta: self.tensor(i, 1, self.params),
            dy: unused,
            dgamma: unused_rw,
            dbeta: unused_rw,
            dst,
        }
    }

    fn forward(&self, i: usize, training: bool, cursor: &'a wgpu::Buffer) -> Vec<Launch> {
        let (ctx, k) = (self.ctx, self.kernels);
        let l = &self.net.layers[i];
        let input = View::whole(self.input(i));
        let out = View::whole(&self.bufs.out[i]);
        let batch = self.batch;
        match l.op {
            Op::Conv2d(w) => {
                let g = window_geom(&w, batch);
                let cols = View::whole(self.bufs.cols[i].as_ref().expect("conv has cols"));
                k.conv_forward(
                    ctx,
                    g,
                    (w.output.c, epilogue(l.activation)),
                    input,
                    cols,
                    (
                        self.tensor(i, 0, self.params),
                        self.tensor(i, 1, self.params),
                    ),
                    out,
                )
            }
            Op::MaxPool(w) | Op::AvgPool(w) => {
                let (kind, argmax) = match (&l.op, &self.bufs.argmax[i]) {
                    (Op::MaxPool(_), Some(a)) => (PoolKind::Max, View::whole(a)),
                    _ => (PoolKind::Avg, k.unused_rw()),
                };
                vec![k.pool_forward(ctx, kind, window_geom(&w, batch), input, argmax, out)]
            }
            Op::Flatten => Vec::new(),
            Op::Dense { fan_in, units } => k.matmul(
                ctx,
                "dense forward",
                MatmulVariant {
                    bias: true,
                    act: epilogue(l.activation),
                    ..Default::default()
                },
                (batch, units, fan_in),
                input,
                self.tensor(i, 0, self.params),
                Some(self.tensor(i, 1, self.params)),
                None,
                out,
            ),
            Op::Dropout { rate } => vec![k.dropout(
                ctx,
                if training {
                    DropoutMode::Forward
                } else {
                    DropoutMode::Identity
                },
                batch * l.output.features(),
                rate,
                dropout_seed(self.seed, i),
                input,
                EpilogueAct::None,
                k.unused(),
                View::whole(cursor),
                out,
            )],
            Op::BatchNorm {
                channels,
                spatial,
                momentum,
                epsilon,
            } => {
                let shape = BnShape {
                    rows: batch * spatial,
                    channels,
                    spatial,
                    momentum,
                    epsilon,
                };
                let mut views = self.bn_views(i, out);
                if training {
                    let mut stats_views = self.bn_views(i, k.unused_rw());
                    stats_views.moving_mean = self.stat(i, 0);
                    stats_views.moving_var = self.stat(i, 1);
                    vec![
                        k.batchnorm(ctx, BnEntry::Stats, shape, EpilogueAct::None, stats_views),
                        k.batchnorm(ctx, BnEntry::ApplyTrain, shape, EpilogueAct::None, views),
                    ]
                } else {
                    views.moving_mean = self.stat(i, 0);
                    views.moving_var = self.stat(i, 1);
                    vec![k.batchnorm(ctx, BnEntry::ApplyEval, shape, EpilogueAct::None, views)]
                }
            }
        }
    }

    fn backward(&self, i: usize, cursor: &'a wgpu::Buffer) -> Vec<Launch> {
        let (ctx, k) = (self.ctx, self.kernels);
        let l = &self.net.layers[i];
        let batch = self.batch;
        let input = View::whole(self.input(i));
        let dout = View::whole(&self.bufs.dout[i]);
        let need_dx = self.net.needs_input_grad(i);
        let dact = epilogue(self.net.input_activation(i));
        // The layer's input gradient; for layer 0 it is never written (need_dx is false).
        let dx = if i > 0 {
            View::whole(&self.bufs.dout[i - 1])
        } else {
            k.unused_rw()
        };
        let aux = if dact == EpilogueAct::None {
            None
        } else {
            Some(input)
        };
        let mut launches = Vec::new();
        match l.op {
            Op::Conv2d(w) => {
                let g = window_geom(&w, batch);
                let cols = View::whole(self.bufs.cols[i].as_ref().expect("conv has cols"));
                launches.extend(k.conv_weight_grads(
                    ctx,
                    g,
                    w.output.c,
                    (input, cols),
                    dout,
                    self.tensor(i, 0, self.grads),
                    self.tensor(i, 1, self.grads),
                ));
                if need_dx {
                    let dcols = View::whole(self.bufs.dcols.as_ref().expect("dcols scratch"));
                    launches.extend(k.matmul(
                        ctx,
                        "conv2d dcols",
                        MatmulVariant {
                            trans_b: true,
                            ..Default::default()
                        },
                        (g.rows(), g.patch(), w.output.c),
                        dout,
                        self.tensor(i, 0, self.params),
                        None,
                        None,
                        dcols,
                    ));
                    match self.fused_pool_below(i) {
                        // dcols straight to the gradient of the pooling's input.
                        Some((kind, pool)) => {
                            let (argmax, pool_dact, pool_aux, pool_dx) =
                                self.pool_grad_views(i - 1);
                            launches.push(k.pool_backward_from_cols(
                                ctx, kind, pool, g, dcols, argmax, pool_dact, pool_aux, pool_dx,
                            ));
                        }
                        None => launches.push(k.col2im(
                            ctx,
                            g,
                            dcols,
                            dact,
                            aux.unwrap_or(k.unused()),
                            dx,
                        )),
                    }
                }
            }
            // Already done by the convolution above, fused with its col2im.
            Op::MaxPool(_) | Op::AvgPool(_)
                if i + 1 < self.net.layers.len() && self.fused_pool_below(i + 1).is_some() => {}
            Op::MaxPool(_) | Op::AvgPool(_) => {
                if let (true, Some((kind, g))) = (need_dx, self.pooling(i)) {
                    let (argmax, dact, aux, dx) = self.pool_grad_views(i);
                    launches.push(k.pool_backward(ctx, kind, g, dout, argmax, dact, aux, dx));
                }
            }
            // Aliased buffers: the gradient is already where the layer below reads it.
            Op::Flatten => {}
            Op::Dense { fan_in, units } => {
                launches.extend(k.weight_grads(
                    ctx,
                    "dense dW",
                    (fan_in, units, batch),
                    input,
                    dout,
                    self.tensor(i, 0, self.grads),
                    self.tensor(i, 1, self.grads),
                ));
                if need_dx {
                    launches.extend(k.matmul(
                        ctx,
                        "dense dx",
                        MatmulVariant {
                            trans_b: true,
                            dact,
                            ..Default::default()
                        },
                        (batch, fan_in, units),
                        dout,
                        self.tensor(i, 0, self.params),
                        None,
                        aux,
                        dx,
                    ));
                }
            }
            Op::Dropout { rate } => {
                if need_dx {
                    launches.push(k.dropout(
                        ctx,
                        DropoutMode::Backward,
                        batch * l.output.features(),
                        rate,
                        dropout_seed(self.seed, i),
                        dout,
                        dact,
                        aux.unwrap_or(k.unused()),
                        View::whole(cursor),
                        dx,
                    ));
                }
            }
            Op::BatchNorm {
                channels,
                spatial,
                momentum,
                epsilon,
            } => {
                let shape = BnShape {
                    rows: batch * spatial,
                    channels,
                    spatial,
                    momentum,
                    epsilon,
                };
                let mut sums = self.bn_views(i, k.unused_rw());
                sums.dy = dout;
                sums.dgamma = self.tensor(i, 0, self.grads);
                sums.dbeta = self.tensor(i, 1, self.grads);
                launches.push(k.batchnorm(ctx, BnEntry::GradSums, shape, EpilogueAct::None, sums));
                if need_dx {
                    let mut views = self.bn_views(i, dx);
                    views.dy = dout;
                    views.dgamma = self.tensor(i, 0, self.grads);
                    views.dbeta = self.tensor(i, 1, self.grads);
                    launches.push(k.batchnorm(ctx, BnEntry::Backward, shape, dact, views));
                }
            }
        }
        launches
    }
}

fn optimizer_launch_args(opt: &Optimizer, n: usize) -> (OptimizerKind, OptimizerHyper) {
    let hyper = |lr, beta1, beta2, eps| OptimizerHyper {
        lr,
        beta1,
        beta2,
        eps,
        n: n as u32,
        grid_width: 0,
        _pad: [0; 2],
    };
    match *opt {
        Optimizer::Sgd { lr, momentum: 0.0 } => (OptimizerKind::Sgd, hyper(lr, 0.0, 0.0, 0.0)),
        Optimizer::Sgd { lr, momentum } => {
            (OptimizerKind::SgdMomentum, hyper(lr, momentum, 0.0, 0.0))
        }
        Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
        } => (OptimizerKind::Adam, hyper(lr, beta1, beta2, eps)),
        Optimizer::RmsProp { lr, rho, eps } => (OptimizerKind::RmsProp, hyper(lr, rho, 0.0, eps)),
    }
}
