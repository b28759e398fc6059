//! Recording a forward pass over the plan's buffers: the gather of a batch, every layer's
//! forward, the loss and the pass's other accumulators. An evaluation records its passes with
//! it, and a training step its forward half (the training plan adds the backward and the
//! optimizer); what a layer's launches bind comes from one [`Io`] per node.

use super::buffers::{BatchBuffers, MetricsBuffer, WeightBuffers};
use super::metrics::{BatchIo, Pass, Region};
use super::split::GpuSplit;
use crate::floor::Augment;
use crate::gpu::kernels::{GatherArgs, LossArgs, View};
use crate::gpu::{GpuContext, Kernels, Launch};
use crate::layers::{FusedPool, Fusion, Io, LossRows, Pool2d};
use crate::model::{Network, ParamLayout};

/// Records launches over one batch's buffers (an evaluation's or a training step's).
#[derive(Clone, Copy)]
pub struct Recorder<'a> {
    pub ctx: &'a GpuContext,
    pub kernels: &'a Kernels,
    pub net: &'a Network,
    pub fusions: &'a [Fusion],
    /// The batch's own buffers.
    pub rows: &'a BatchBuffers,
    /// The run's seed (dropout masks derive from it).
    pub seed: u64,
    pub label_smoothing: f32,
    pub weights: &'a WeightBuffers,
    /// The weights' gradients, laid out as `weights.params`: a training step's only.
    pub grads: Option<&'a wgpu::Buffer>,
    pub metrics: &'a MetricsBuffer,
    /// `[batch]` RowStat, where a training step's end may be fused with the output layer's
    /// forward and loss; none for evaluations.
    pub row_stats: Option<&'a wgpu::Buffer>,
}

/// Tags launches with what they belong to, for profiles.
pub fn scoped(scope: &str, mut launches: Vec<Launch>) -> Vec<Launch> {
    for l in &mut launches {
        l.scope = scope.to_string();
    }
    launches
}

impl<'a> Recorder<'a> {
    /// Gather (augmenting by `augment`'s draws, if given), every layer's forward, the loss,
    /// and the pass's other accumulators.
    pub fn forward_pass(
        &self,
        pass: Pass,
        split: &'a GpuSplit,
        cursor: &'a wgpu::Buffer,
        augment: Option<(Augment, u32)>,
    ) -> Vec<Launch> {
        let mut launches = self.gather(pass, split, cursor, augment);
        launches.extend(self.layers_and_loss(pass, cursor).0);
        launches
    }

    /// The gather of `pass`'s next batch of `split` into the batch's `x` and `y`.
    pub fn gather(
        &self,
        pass: Pass,
        split: &'a GpuSplit,
        cursor: &'a wgpu::Buffer,
        augment: Option<(Augment, u32)>,
    ) -> Vec<Launch> {
        let args = self.gather_args(pass, split, cursor, augment);
        scoped("gather", vec![self.kernels.gather(self.ctx, &args)])
    }

    /// The gather of the first batch of `split` and every layer's forward, without the loss
    /// or any accumulator: each node's output for inspection.
    pub fn forward_only(&self, split: &'a GpuSplit, cursor: &'a wgpu::Buffer) -> Vec<Launch> {
        let mut launches = self.gather(Pass::Test, split, cursor, None);
        launches.extend(self.forwards(Pass::Test, cursor).0);
        launches
    }

    /// What the gather of `pass` over `split` binds.
    pub fn gather_args(
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
            labels: split.labels_view(),
            order: View::whole(&split.order),
            n_order: split.len,
            cursor: View::whole(cursor),
            x: View::whole(&self.rows.x),
            y: View::whole(&self.rows.y),
        }
    }

    /// Every layer's forward, the loss, and the pass's other accumulators; the last layer's
    /// forward runs with the loss where `row_stats` is given and the layer can (then the row
    /// buffer it wrote is returned).
    pub fn layers_and_loss(
        &self,
        pass: Pass,
        cursor: &'a wgpu::Buffer,
    ) -> (Vec<Launch>, Option<&'a wgpu::Buffer>) {
        let (mut launches, fused) = self.forwards(pass, cursor);
        let last = self.net.layers.len() - 1;
        let (logits, labels) = (
            View::whole(&self.rows.acts.out[last]),
            View::whole(&self.rows.y),
        );
        let regions = self.metrics.layout.regions(pass);
        if fused.is_none() {
            let loss = self.kernels.softmax_xent(
                self.ctx,
                &LossArgs {
                    batch: self.rows.batch,
                    classes: self.net.classes,
                    logits,
                    labels,
                    dlogits: View::whole(&self.rows.acts.dout[last]),
                    metric: self.region(&regions[0]),
                    cursor: View::whole(cursor),
                    label_smoothing: self.label_smoothing,
                },
            );
            launches.extend(scoped("loss", vec![loss]));
        }
        let io = BatchIo {
            gpu: self.ctx,
            kernels: self.kernels,
            batch: self.rows.batch,
            classes: self.net.classes,
            logits,
            labels,
            cursor: View::whole(cursor),
        };
        for r in &regions[1..] {
            launches.extend(scoped("metrics", r.accumulator.record(&io, self.region(r))));
        }
        (launches, fused)
    }

    /// Every layer's forward, the last with the loss where it can be fused (then the row
    /// buffer it wrote is returned).
    fn forwards(
        &self,
        pass: Pass,
        cursor: &'a wgpu::Buffer,
    ) -> (Vec<Launch>, Option<&'a wgpu::Buffer>) {
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
                let scope = format!("{} forward + loss", node.name);
                launches.extend(scoped(&scope, vec![launch]));
                fused = self.row_stats;
                continue;
            }
            let forward = node.layer.forward(node, &io, pass == Pass::Train);
            launches.extend(scoped(&format!("{} forward", node.name), forward));
        }
        (launches, fused)
    }

    /// A metric accumulator's words in the metrics buffer.
    fn region(&self, r: &Region) -> View<'a> {
        View::range(&self.metrics.buffer, r.offset, r.words)
    }

    /// What node `i`'s launches bind, and for a convolution that runs the pooling below it,
    /// what that pooling's do.
    pub fn io(&self, i: usize, cursor: &'a wgpu::Buffer) -> Io<'a> {
        let w = self.weights;
        let named = |layout: &'a ParamLayout, buffer: &'a wgpu::Buffer| {
            layout
                .of_layer(i)
                .map(|(_, t)| (t.spec.short_name(), View::range(buffer, t.offset, t.len)))
                .collect()
        };
        let f = self.fusions[i];
        let acts = &self.rows.acts;
        let input = if i == 0 {
            &self.rows.x
        } else {
            &acts.out[i - 1]
        };
        Io {
            gpu: self.ctx,
            kernels: self.kernels,
            batch: self.rows.batch,
            index: i,
            seed: self.seed,
            x: View::whole(input),
            y: View::whole(&acts.out[i]),
            dy: View::whole(&acts.dout[i]),
            dx: (f.input_grad && i > 0).then(|| View::whole(&acts.dout[i - 1])),
            input_act: f.input_act,
            labels: View::whole(&self.rows.y),
            cursor: View::whole(cursor),
            params: named(&w.layout, &w.params),
            grads: self.grads.map_or(Vec::new(), |g| named(&w.layout, g)),
            stats: named(&w.stats_layout, &w.stats),
            scratch: acts.scratch[i]
                .iter()
                .map(|(n, b)| (*n, View::whole(b)))
                .collect(),
            pool_below: f.pool_below.then(|| self.pool_below(i, cursor)),
            split_sums: None,
        }
    }

    /// The pooling below node `i`, whose backward node `i`'s runs.
    fn pool_below(&self, i: usize, cursor: &'a wgpu::Buffer) -> Box<FusedPool<'a>> {
        let node = &self.net.layers[i - 1];
        Box::new(FusedPool {
            pool: node
                .downcast_ref::<Pool2d>()
                .expect("the fusion pass found a pooling"),
            node,
            io: self.io(i - 1, cursor),
        })
    }
}
