//! The compiled training plan: every buffer allocated once (dataset, weights, gradients,
//! optimizer state, activations, metrics, cursors) and every launch recorded once, so that
//! a step is a replay of a launch list into a compute pass.
//!
//! What changes from step to step lives on the GPU: the batch index and Adam's step count in
//! a cursor buffer that the loss kernel advances, the epoch's sample order in an index buffer
//! written once per epoch. Recording an epoch therefore touches no CPU-side state.
//!
//! One step: gather -> dense forward (bias and activation fused) -> softmax cross-entropy
//! (loss, metrics, dlogits, cursor) -> per layer, last first: dW = xᵀ·dy, db = Σ dy,
//! dx = (dy·Wᵀ) ⊙ act'(x) -> one optimizer launch over the flat parameter buffer.

use super::metrics::{Metric, SLOTS, TEST_SLOT, TRAIN_SLOT, VAL_SLOT};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::kernels::{EpilogueAct, MatmulVariant, OptimizerHyper, OptimizerKind, View};
use crate::gpu::{GpuContext, Kernels, Launch};
use crate::model::{Activation, Network, Optimizer, ParamLayout};

fn epilogue(a: Activation) -> EpilogueAct {
    match a {
        Activation::Relu => EpilogueAct::Relu,
        Activation::Sigmoid => EpilogueAct::Sigmoid,
        // Softmax is fused into the loss kernel: the last matmul leaves logits.
        Activation::Linear | Activation::Softmax => EpilogueAct::None,
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
    pub layout: ParamLayout,
    pub batch: usize,
    pub n_train: usize,
    pub params: wgpu::Buffer,
    pub grads: wgpu::Buffer,
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

fn check_binding(ctx: &GpuContext, what: &str, bytes: u64) -> Result<()> {
    let max = ctx.limits.max_storage_buffer_binding_size;
    if bytes > max {
        return Err(Error::Gpu(format!(
            "{what} needs a {bytes}-byte storage binding; the adapter '{}' allows {max} (try a smaller --batch-size)",
            ctx.info.name
        )));
    }
    Ok(())
}

impl Plan {
    /// Compiles `net` for batches of `batch`, uploading `data` once. The last
    /// `validation_split` of the training split is held out for validation (Keras's rule);
    /// with 0, validation runs on the test split, as the reference notebooks do.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: &GpuContext,
        kernels: &Kernels,
        net: &Network,
        optimizer: &Optimizer,
        batch: usize,
        data: &Dataset,
        validation_split: f64,
        initial: &[Vec<f32>],
    ) -> Result<Plan> {
        let sample_bytes = data.pixels_per_image();
        if sample_bytes != net.input || data.classes != net.classes {
            return Err(Error::Config(format!(
                "the model expects {} inputs and {} classes; the data has {} and {}",
                net.input, net.classes, sample_bytes, data.classes
            )));
        }
        let (train_indices, val_indices) =
            crate::data::dataset::split_indices(data.train.len(), validation_split);
        if train_indices.is_empty() {
            return Err(Error::Config(format!(
                "--validation-split {validation_split} leaves no training samples out of {}",
                data.train.len()
            )));
        }
        let layout = ParamLayout::new(net, ctx.binding_align_floats());
        let widest = net
            .dense
            .iter()
            .map(|l| l.units)
            .max()
            .unwrap_or(1)
            .max(net.input);
        check_binding(ctx, "a batch of activations", (batch * widest * 4) as u64)?;
        check_binding(ctx, "the training images", data.train.images.len() as u64)?;

        let upload = |name: &str, split: &crate::data::Split| GpuSplit {
            images: ctx.storage_u8(&format!("{name} images"), &split.images),
            labels: ctx.storage_u8(&format!("{name} labels"), &split.labels),
        };
        let train_data = upload("train", &data.train);
        let test_data = upload("test", &data.test);

        let params = ctx.storage_init("params", &layout.pack(initial));
        let grads = ctx.storage("grads", layout.total as u64 * 4);
        let state: Vec<wgpu::Buffer> = (0..optimizer.state_tensors())
            .map(|i| ctx.storage(&format!("optimizer state {i}"), layout.total as u64 * 4))
            .collect();
        let x = ctx.storage("x", (batch * net.input * 4) as u64);
        let y = ctx.storage("y", (batch * 4) as u64);
        let acts: Vec<wgpu::Buffer> = net
            .dense
            .iter()
            .enumerate()
            .map(|(i, l)| ctx.storage(&format!("dense_{i} out"), (batch * l.units * 4) as u64))
            .collect();
        let dacts: Vec<wgpu::Buffer> = net
            .dense
            .iter()
            .enumerate()
            .map(|(i, l)| ctx.storage(&format!("dense_{i} grad"), (batch * l.units * 4) as u64))
            .collect();
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

        let tensor = |i: usize, buffer| {
            let t = &layout.tensors[i];
            View::range(buffer, t.offset, t.len)
        };
        let gather = |split: &GpuSplit, order: &wgpu::Buffer, n: usize, cursor: &wgpu::Buffer| {
            kernels.gather(
                ctx,
                batch,
                sample_bytes,
                View::whole(&split.images),
                View::whole(&split.labels),
                View::whole(order),
                n,
                View::whole(cursor),
                View::whole(&x),
                View::whole(&y),
            )
        };
        let last = net.dense.len() - 1;
        let loss = |slot: usize, cursor: &wgpu::Buffer| {
            kernels.softmax_xent(
                ctx,
                batch,
                net.classes,
                slot,
                View::whole(&acts[last]),
                View::whole(&y),
                View::whole(&dacts[last]),
                View::whole(&metrics),
                View::whole(cursor),
            )
        };

        let mut forward = Vec::new();
        for (i, l) in net.dense.iter().enumerate() {
            let input = if i == 0 { &x } else { &acts[i - 1] };
            forward.push(kernels.matmul(
                ctx,
                "dense forward",
                MatmulVariant {
                    bias: true,
                    act: epilogue(l.activation),
                    ..Default::default()
                },
                (batch, l.units, l.fan_in),
                View::whole(input),
                tensor(2 * i, &params),
                Some(tensor(2 * i + 1, &params)),
                None,
                View::whole(&acts[i]),
            ));
        }

        let mut train_step = vec![gather(
            &train_data,
            &train_order,
            train_indices.len(),
            &train_cursor,
        )];
        train_step.extend(forward.iter().cloned());
        train_step.push(loss(TRAIN_SLOT, &train_cursor));
        for (i, l) in net.dense.iter().enumerate().rev() {
            let input = if i == 0 { &x } else { &acts[i - 1] };
            train_step.push(kernels.matmul(
                ctx,
                "dense dW",
                MatmulVariant {
                    trans_a: true,
                    ..Default::default()
                },
                (l.fan_in, l.units, batch),
                View::whole(input),
                View::whole(&dacts[i]),
                None,
                None,
                tensor(2 * i, &grads),
            ));
            train_step.push(kernels.bias_grad(
                ctx,
                batch,
                l.units,
                View::whole(&dacts[i]),
                tensor(2 * i + 1, &grads),
            ));
            if i > 0 {
                let prev = epilogue(net.dense[i - 1].activation);
                train_step.push(kernels.matmul(
                    ctx,
                    "dense dx",
                    MatmulVariant {
                        trans_b: true,
                        dact: prev,
                        ..Default::default()
                    },
                    (batch, l.fan_in, l.units),
                    View::whole(&dacts[i]),
                    tensor(2 * i, &params),
                    None,
                    (prev != EpilogueAct::None).then(|| View::whole(&acts[i - 1])),
                    View::whole(&dacts[i - 1]),
                ));
            }
        }
        let (kind, hyper) = optimizer_launch_args(optimizer, layout.total);
        train_step.push(kernels.optimizer(
            ctx,
            kind,
            hyper,
            View::whole(&params),
            View::whole(&grads),
            state.first().map(View::whole),
            state.get(1).map(View::whole),
            View::whole(&train_cursor),
        ));

        let eval_pass = |slot: usize, split: &GpuSplit, order: &wgpu::Buffer, n: usize| {
            let mut launches = vec![gather(split, order, n, &eval_cursor)];
            launches.extend(forward.iter().cloned());
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
        buffers.extend(acts);
        buffers.extend(dacts);
        ctx.check_errors()?;
        Ok(Plan {
            net: net.clone(),
            layout,
            batch,
            n_train: train_indices.len(),
            params,
            grads,
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
        let bytes = ctx.map_and_read(&self.metrics_staging, self.metrics.size())?;
        let metrics: Vec<Metric> = bytemuck::pod_collect_to_vec(&bytes);
        Ok([metrics[0], metrics[1], metrics[2]])
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
