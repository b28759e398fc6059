//! Running loss and metrics while an epoch trains, for the progress bar, without stalling the
//! GPU: at evenly spaced submissions the training pass's accumulator words are copied into
//! one of a few small staging buffers and mapped asynchronously; whichever snapshots have
//! arrived are read when the loop next polls. Nothing waits for a snapshot, and a snapshot that
//! finds every slot busy is skipped.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use crate::eval::buffers::MetricsBuffer;
use crate::eval::metrics::{Logs, Metric, MetricsLayout, Pass, PassMetrics};
use crate::gpu::GpuContext;

/// Snapshots in flight at most; also about how many an epoch takes.
const SLOTS: usize = 8;

const FREE: u8 = 0;
const PENDING: u8 = 1;
const READY: u8 = 2;

struct Slot {
    buffer: wgpu::Buffer,
    state: Arc<AtomicU8>,
    /// Training steps the snapshot covers.
    steps: usize,
}

/// The staging slots, and the newest snapshot read.
pub struct LiveMetrics {
    slots: Vec<Slot>,
    /// Where the training pass's accumulators are, and the words they span.
    layout: MetricsLayout,
    span: std::ops::Range<usize>,
    /// The run's metrics, read from each snapshot.
    metrics: Vec<Arc<dyn Metric>>,
    /// Submissions between snapshots this epoch.
    every: usize,
    latest: Option<Running>,
}

/// A snapshot of the training pass's metrics mid-epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Running {
    /// Training steps it covers.
    pub steps: usize,
    /// The training pass's accumulators as they stood.
    pub pass: PassMetrics,
    /// The loss and the run's metrics from them, by Keras's keys.
    pub logs: Logs,
}

impl LiveMetrics {
    pub fn new(
        ctx: &GpuContext,
        buffer: &MetricsBuffer,
        metrics: &[Arc<dyn Metric>],
    ) -> LiveMetrics {
        let layout = buffer.layout.clone();
        let span = layout.span(Pass::Train);
        let slots = (0..SLOTS)
            .map(|_| Slot {
                buffer: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("running metrics"),
                    size: span.len() as u64 * 4,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                state: Arc::new(AtomicU8::new(FREE)),
                steps: 0,
            })
            .collect();
        LiveMetrics {
            slots,
            layout,
            span,
            metrics: metrics.to_vec(),
            every: 1,
            latest: None,
        }
    }

    /// Forgets the last epoch's figures; an epoch of `submissions` takes about [`SLOTS`]
    /// snapshots.
    pub fn begin_epoch(&mut self, submissions: usize) {
        self.latest = None;
        self.every = submissions.div_ceil(SLOTS).max(1);
    }

    /// Whether submission `index` (from 0) of the epoch is followed by a snapshot.
    pub fn due(&self, index: usize) -> bool {
        (index + 1).is_multiple_of(self.every)
    }

    /// Records a copy of the running metrics, covering `steps` steps, into a free slot, and
    /// asks for it to be mapped once the GPU gets there. Skipped when every slot is busy.
    pub fn snapshot(&mut self, ctx: &GpuContext, buffer: &MetricsBuffer, steps: usize) {
        self.collect();
        let Some(slot) = self
            .slots
            .iter_mut()
            .find(|s| s.state.load(Ordering::Acquire) == FREE)
        else {
            return;
        };
        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("running metrics"),
            });
        let bytes = self.span.len() as u64 * 4;
        let source = self.span.start as u64 * 4;
        encoder.copy_buffer_to_buffer(&buffer.buffer, source, &slot.buffer, 0, bytes);
        ctx.queue.submit([encoder.finish()]);
        slot.steps = steps;
        slot.state.store(PENDING, Ordering::Release);
        let state = slot.state.clone();
        slot.buffer
            .map_async(wgpu::MapMode::Read, 0..bytes, move |r| {
                // A failed map leaves nothing to read; the slot is simply lost for this run.
                if r.is_ok() {
                    state.store(READY, Ordering::Release);
                }
            });
    }

    /// Reads every snapshot that has arrived (the driver runs map callbacks when polled),
    /// keeps the one covering the most steps, and frees their slots.
    pub fn collect(&mut self) {
        for slot in &mut self.slots {
            if slot.state.load(Ordering::Acquire) != READY {
                continue;
            }
            let words: Option<Vec<u32>> = slot
                .buffer
                .get_mapped_range(0..self.span.len() as u64 * 4)
                .ok()
                .map(|r| bytemuck::pod_collect_to_vec(&r));
            slot.buffer.unmap();
            slot.state.store(FREE, Ordering::Release);
            let newer = self.latest.as_ref().is_none_or(|r| slot.steps > r.steps);
            if let (Some(words), true) = (words, newer) {
                let pass = self
                    .layout
                    .pass_results(Pass::Train, &words, self.span.start);
                self.latest = Some(Running {
                    steps: slot.steps,
                    logs: Logs::of(&self.metrics, "", &pass),
                    pass,
                });
            }
        }
    }

    /// The newest running loss and metrics this epoch.
    pub fn latest(&self) -> Option<Running> {
        self.latest.clone()
    }
}

/// Which part of an epoch is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Training,
    Validating,
}

/// Where an epoch stands, as callbacks see it about every 100 ms.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub phase: Phase,
    /// Steps of this phase the GPU has finished (it lags the truth by up to one submission).
    pub done: usize,
    /// Steps of this phase.
    pub total: usize,
    /// The newest running training loss and metrics, and the steps they cover.
    pub running: Option<Running>,
}
