//! The buffers a pass runs over, each allocated once: the weights and moving statistics, the
//! metric accumulators with their readback copy, and one batch's own input, labels,
//! activations and scratch (an evaluation's forward-only ones, or a training step's with
//! gradients).

use crate::error::{Error, Result};
use crate::eval::metrics::{MetricsLayout, PassMetrics};
use crate::gpu::GpuContext;
use crate::layers::Fusion;
use crate::model::{Network, ParamLayout};

/// The weights on the GPU: `params`, the trainable tensors one after the other as `layout`
/// places them (each at a binding-aligned offset), and `stats`, the moving statistics, as
/// `stats_layout` places them.
pub struct WeightBuffers {
    pub layout: ParamLayout,
    pub stats_layout: ParamLayout,
    pub params: wgpu::Buffer,
    pub stats: wgpu::Buffer,
}

impl WeightBuffers {
    /// `params` and `stats` per tensor, in [`ParamLayout::trainable`] and
    /// [`ParamLayout::non_trainable`] order, uploaded.
    pub fn new(
        ctx: &GpuContext,
        net: &Network,
        (params, stats): (&[Vec<f32>], &[Vec<f32>]),
    ) -> Self {
        let align = ctx.binding_align_floats();
        let layout = ParamLayout::trainable(net, align);
        let stats_layout = ParamLayout::non_trainable(net, align);
        WeightBuffers {
            params: ctx.storage_init("params", &layout.pack(params)),
            stats: ctx.storage_init("moving statistics", &stats_layout.pack(stats)),
            layout,
            stats_layout,
        }
    }

    /// Replaces the weights and moving statistics with these, per tensor (no readback).
    pub fn write(&self, ctx: &GpuContext, params: &[Vec<f32>], stats: &[Vec<f32>]) {
        let q = &ctx.queue;
        q.write_buffer(
            &self.params,
            0,
            bytemuck::cast_slice(&self.layout.pack(params)),
        );
        q.write_buffer(
            &self.stats,
            0,
            bytemuck::cast_slice(&self.stats_layout.pack(stats)),
        );
    }

    /// The trainable weights, one `Vec` per tensor (one readback).
    pub fn read_params(&self, ctx: &GpuContext) -> Result<Vec<Vec<f32>>> {
        let flat = ctx.read_f32(&self.params, 0, self.layout.total)?;
        Ok(self.layout.unpack(&flat))
    }

    /// The moving statistics, one `Vec` per tensor (one readback).
    pub fn read_stats(&self, ctx: &GpuContext) -> Result<Vec<Vec<f32>>> {
        let flat = ctx.read_f32(&self.stats, 0, self.stats_layout.total)?;
        Ok(self.stats_layout.unpack(&flat))
    }

    /// Copies the weights and moving statistics into `into` (allocated on first use), on the
    /// GPU: no readback, nothing waited for.
    pub fn copy_into(&self, ctx: &GpuContext, into: &mut Option<WeightsCopy>) {
        let copy = into.get_or_insert_with(|| WeightsCopy {
            params: ctx.storage("weights copy", self.params.size()),
            stats: ctx.storage("statistics copy", self.stats.size()),
        });
        copy_pairs(
            ctx,
            [(&self.params, &copy.params), (&self.stats, &copy.stats)],
        );
    }

    /// Replaces the weights and moving statistics with a copy.
    pub fn restore(&self, ctx: &GpuContext, from: &WeightsCopy) {
        copy_pairs(
            ctx,
            [(&from.params, &self.params), (&from.stats, &self.stats)],
        );
    }
}

/// Submits whole-buffer copies `(from, to)`.
fn copy_pairs(ctx: &GpuContext, pairs: [(&wgpu::Buffer, &wgpu::Buffer); 2]) {
    let mut encoder = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("copy weights"),
        });
    for (from, to) in pairs {
        encoder.copy_buffer_to_buffer(from, 0, to, 0, from.size());
    }
    ctx.queue.submit([encoder.finish()]);
}

/// A copy of the weights and moving statistics, made on the GPU (early stopping's best).
pub struct WeightsCopy {
    params: wgpu::Buffer,
    stats: wgpu::Buffer,
}

/// The metrics buffer, its readback copy and where each accumulator lives in it.
pub struct MetricsBuffer {
    pub buffer: wgpu::Buffer,
    staging: wgpu::Buffer,
    pub layout: MetricsLayout,
}

impl MetricsBuffer {
    pub fn new(ctx: &GpuContext, layout: MetricsLayout) -> MetricsBuffer {
        let buffer = ctx.storage("metrics", layout.total_words as u64 * 4);
        let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("metrics readback"),
            size: buffer.size(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        MetricsBuffer {
            buffer,
            staging,
            layout,
        }
    }

    /// Zeroes the accumulators of `pass`.
    pub fn clear(&self, encoder: &mut wgpu::CommandEncoder, pass: crate::eval::metrics::Pass) {
        let span = self.layout.span(pass);
        encoder.clear_buffer(
            &self.buffer,
            span.start as u64 * 4,
            Some((span.end - span.start) as u64 * 4),
        );
    }

    /// Records a copy of the metrics into the staging buffer; [`MetricsBuffer::read_with`]
    /// then maps it (one readback).
    pub fn record_copy(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.copy_buffer_to_buffer(&self.buffer, 0, &self.staging, 0, self.buffer.size());
    }

    /// Every pass's metrics from the staging buffer, calling `tick` while the GPU is still
    /// busy.
    pub fn read_with(&self, ctx: &GpuContext, tick: &mut dyn FnMut()) -> Result<[PassMetrics; 3]> {
        let bytes = ctx.map_and_read_with(&self.staging, self.buffer.size(), tick)?;
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes);
        Ok(self.layout.results(&words))
    }
}

/// One batch's own buffers: its input `x: [batch, input features]`, its labels `y: [batch]`
/// u32 and every node's activations, for a training step (with gradients) or an evaluation
/// pass (forward only, at its batch).
pub struct BatchBuffers {
    pub batch: usize,
    pub x: wgpu::Buffer,
    pub y: wgpu::Buffer,
    pub acts: Activations,
}

impl BatchBuffers {
    pub fn new(
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
}

/// Per-node buffers, `[batch, features]` row-major. A view (flatten) shares its input's.
pub struct Activations {
    pub out: Vec<wgpu::Buffer>,
    pub dout: Vec<wgpu::Buffer>,
    /// Each node's scratch by name (shared ones are the same buffer in every node).
    pub scratch: Vec<Vec<(&'static str, wgpu::Buffer)>>,
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

impl Activations {
    /// Every node's output and output gradient, and the scratch its layer asks for; shared
    /// scratch once, at the largest size asked. Without `grads` (an evaluation, forward only),
    /// one output gradient, the last node's (the loss writes its dlogits in every pass),
    /// stands for every node's, which no forward launch binds; and only the forward's scratch.
    fn new(
        net: &Network,
        fusions: &[Fusion],
        alloc: &Alloc,
        x: &wgpu::Buffer,
        grads: bool,
    ) -> Result<Activations> {
        let (out, dout) = Self::outputs(net, alloc, x, grads)?;
        let wants: Vec<_> = net
            .layers
            .iter()
            .zip(fusions)
            .map(|(node, f)| node.layer.scratch(node, alloc.batch, grads && f.input_grad))
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

    /// Each node's output and output gradient (shared with its input's for a view).
    #[allow(clippy::type_complexity)]
    fn outputs(
        net: &Network,
        alloc: &Alloc,
        x: &wgpu::Buffer,
        grads: bool,
    ) -> Result<(Vec<wgpu::Buffer>, Vec<wgpu::Buffer>)> {
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
        Ok((out, dout))
    }
}
