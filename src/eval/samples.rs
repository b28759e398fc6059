//! Where a split's samples live while a run trains or evaluates on them, chosen before it
//! starts from the split's size, the adapter's limits and the host's free memory
//! ([`Residency::choose`]):
//!
//! - **whole**: one storage buffer, which the gather reads (MNIST's 47 MB);
//! - **split**: a set over one binding's limit but within [`MAX_SHARDS`] of them (and, on a
//!   CPU adapter, within the host's free memory, which is its memory) lies in that many
//!   buffers; at the start of each submission `ring.wgsl` copies the samples its steps read
//!   into a ring of slots ([`crate::data::ring`]), which the gather reads instead;
//! - **streamed** (`--stream`, or a set too large for the rest): the host keeps the set (an
//!   uncompressed file memory-mapped) and fills the same ring itself before each submission,
//!   through wgpu's staging memory, while the GPU runs the submissions before it; at most
//!   [`IN_FLIGHT`] submissions are queued, so staging memory stays a few rings.
//!
//! The ring holds the same bytes whichever fills it, and the gather, its augmentation draws
//! (keyed by step and row, or by position, never by sample) and everything after it are the
//! same kernels: a run's weights and metrics are bit for bit the same in the three placements.

use std::collections::VecDeque;

use std::cell::RefCell;

use super::limits::size;
use super::record::scoped;
use super::split::{upload_images, GpuSplit};
use crate::data::pixels::Pixels;
use crate::data::ring::Ring;
use crate::data::Split;
use crate::error::Result;
use crate::gpu::kernels::{RingArgs, View, MAX_SHARDS};
use crate::gpu::{GpuContext, Kernels, Launch};

/// Submissions a streamed run queues before it waits for the oldest: the one the GPU runs,
/// one ready behind it, one being filled.
pub const IN_FLIGHT: usize = 3;

/// Where the training images live (see the module's notes).
#[derive(Clone, Debug, PartialEq)]
pub enum Residency {
    Whole,
    /// `buffers` buffers of `shard_bytes` each (the last may hold less).
    Split {
        buffers: usize,
        shard_bytes: u64,
    },
    /// Why the set is not resident.
    Streamed {
        why: String,
    },
}

/// What the choice depends on besides the set: the adapter's and the host's.
#[derive(Clone, Copy, Debug)]
pub struct Room {
    /// The most bytes one storage binding (and buffer) may hold.
    pub binding: u64,
    pub storage_buffers_per_stage: u32,
    /// A CPU adapter keeps its buffers in host memory.
    pub cpu_adapter: bool,
    /// The host's free memory, where known.
    pub host_free: Option<u64>,
}

impl Room {
    /// `ctx`'s adapter and this host, the binding capped at `binding_limit` (tests and
    /// benchmarks force small limits with it).
    pub fn of(ctx: &GpuContext, binding_limit: Option<u64>) -> Room {
        let l = &ctx.limits;
        let binding = l.max_storage_buffer_binding_size.min(l.max_buffer_size);
        Room {
            binding: binding.min(binding_limit.unwrap_or(u64::MAX)) & !3,
            storage_buffers_per_stage: l.max_storage_buffers_per_shader_stage,
            cpu_adapter: ctx.info.device_type == wgpu::DeviceType::Cpu,
            host_free: super::limits::available_memory(),
        }
    }
}

/// How a split is to be placed: streamed on request (`--stream`), binding limit forced or not.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Placement {
    pub stream: bool,
    pub binding_limit: Option<u64>,
}

impl Residency {
    /// Where `split`'s images will live on `ctx` as `placement` asks.
    pub fn of(ctx: &GpuContext, split: &Split, placement: Placement) -> Residency {
        let room = Room::of(ctx, placement.binding_limit);
        Residency::choose(split.images.len() as u64, room, placement.stream)
    }

    /// The rule: `--stream` streams; a set within one binding is whole; within
    /// [`MAX_SHARDS`] bindings it is split, where the adapter binds the ring kernel's eight
    /// storage buffers and (a CPU adapter) the host has the memory free; else streamed.
    pub fn choose(bytes: u64, room: Room, stream: bool) -> Residency {
        if stream {
            return Residency::Streamed {
                why: "--stream".into(),
            };
        }
        if bytes <= room.binding {
            return Residency::Whole;
        }
        let buffers = bytes.div_ceil(room.binding) as usize;
        let why = if buffers > MAX_SHARDS {
            format!(
                "{} would need {buffers} buffers of {}; the kernels bind at most {MAX_SHARDS}",
                size(bytes),
                size(room.binding)
            )
        } else if room.storage_buffers_per_stage < 8 {
            format!(
                "the adapter binds {} storage buffers per stage; splitting the set needs 8",
                room.storage_buffers_per_stage
            )
        } else if let Some(free) = room.host_free.filter(|&f| room.cpu_adapter && f < bytes) {
            format!(
                "a CPU adapter's buffers are host memory, and {} is free for {}",
                size(free),
                size(bytes)
            )
        } else {
            // Shards of equal whole words, so the kernel finds a word's shard by a division.
            let shard_bytes = bytes.div_ceil(buffers as u64).next_multiple_of(4);
            return Residency::Split {
                buffers,
                shard_bytes,
            };
        };
        Residency::Streamed { why }
    }

    /// As the data line says it.
    pub fn describe(&self) -> String {
        match self {
            Residency::Whole => "resident".into(),
            Residency::Split { buffers, .. } => format!("resident in {buffers} buffers"),
            Residency::Streamed { why } => format!("streamed ({why})"),
        }
    }
}

/// A split as the passes read it (see the module's notes).
pub struct Samples {
    pub residency: Residency,
    /// What the gather binds: the set itself (whole), or the ring with each position's
    /// slot as its order.
    pub gather: GpuSplit,
    /// The ring's shape, where there is one.
    pub ring: Option<Ring>,
    /// Split: the set's buffers and labels, and the sample order the ring kernel reads.
    shards: Vec<wgpu::Buffer>,
    labels: Option<wgpu::Buffer>,
    order: Option<wgpu::Buffer>,
    /// Streamed: the host's copy and the queue of submissions.
    stream: Option<RefCell<Streamer>>,
}

impl Samples {
    /// Samples already on the GPU in one buffer (a training set's held-out tail).
    pub fn resident(gather: GpuSplit) -> Samples {
        Samples {
            residency: Residency::Whole,
            gather,
            ring: None,
            shards: Vec::new(),
            labels: None,
            order: None,
            stream: None,
        }
    }

    /// Uploads `split` (`name`d in buffer labels) as `residency` says, to be visited in the
    /// order of `indices` (training rewrites it each epoch: [`Samples::set_order`]), in steps
    /// of `batch` in submissions of up to `steps` (the ring's size).
    pub fn upload(
        ctx: &GpuContext,
        (name, split): (&str, &Split),
        indices: &[u32],
        residency: Residency,
        (batch, steps): (usize, usize),
    ) -> Result<Samples> {
        let shard_bytes = match residency {
            Residency::Whole => {
                return Ok(Samples::resident(GpuSplit::upload(
                    ctx, name, split, indices,
                )?))
            }
            Residency::Split { shard_bytes, .. } => Some(shard_bytes),
            Residency::Streamed { .. } => None,
        };
        let sample_bytes = split.images.len() / split.len().max(1);
        let align = ctx.limits.min_storage_buffer_offset_alignment as usize;
        let ring = Ring::new(sample_bytes, batch, steps, align);
        let buffer = ctx.storage(&format!("{name} ring"), ring.bytes() as u64);
        let slot_order: Vec<u32> = (0..indices.len())
            .map(|p| (p % ring.slots) as u32)
            .collect();
        let mut samples = Samples {
            residency,
            gather: GpuSplit::ring(ctx, &buffer, &slot_order, ring.label_start / 4),
            ring: Some(ring),
            shards: Vec::new(),
            labels: None,
            order: None,
            stream: None,
        };
        match shard_bytes {
            Some(shard) => {
                samples.shards = upload_images(ctx, name, &split.images, shard);
                samples.labels = Some(ctx.storage_u8(&format!("{name} labels"), &split.labels));
                samples.order = Some(ctx.storage_init(&format!("{name} order"), indices));
            }
            None => {
                samples.stream = Some(RefCell::new(Streamer {
                    images: split.images.clone(),
                    labels: split.labels.clone(),
                    order: indices.to_vec(),
                    in_flight: VecDeque::new(),
                }))
            }
        }
        ctx.check_errors()?;
        Ok(samples)
    }

    /// The order the next passes visit the samples in (a training epoch's shuffle).
    pub fn set_order(&self, ctx: &GpuContext, order: Vec<u32>) {
        match (&self.order, &self.stream) {
            (_, Some(stream)) => stream.borrow_mut().order = order,
            (Some(buffer), None) => ctx
                .queue
                .write_buffer(buffer, 0, bytemuck::cast_slice(&order)),
            (None, None) => {
                let buffer = &self.gather.order;
                ctx.queue
                    .write_buffer(buffer, 0, bytemuck::cast_slice(&order))
            }
        }
    }

    /// What runs at the start of every submission of steps whose pass steps `cursor`: a split
    /// set's ring fill; nothing for a set in one buffer or streamed.
    pub fn fill_launches(
        &self,
        (ctx, kernels): (&GpuContext, &Kernels),
        cursor: &wgpu::Buffer,
    ) -> Vec<Launch> {
        let (Some(ring), Some(labels), Some(order)) = (&self.ring, &self.labels, &self.order)
        else {
            return Vec::new();
        };
        let Residency::Split { shard_bytes, .. } = self.residency else {
            return Vec::new();
        };
        let shards: Vec<View> = self.shards.iter().map(View::whole).collect();
        let args = RingArgs {
            sample_bytes: ring.sample_bytes,
            batch: ring.batch,
            slots: ring.slots,
            n_order: self.gather.len,
            shards: &shards,
            shard_words: (shard_bytes / 4) as usize,
            labels: View::whole(labels),
            order: View::whole(order),
            cursor: View::whole(cursor),
            ring: View::whole(&self.gather.images),
            label_offset: ring.label_start / 4,
        };
        scoped("ring fill", vec![kernels.ring_fill(ctx, &args)])
    }

    /// Before a submission that starts at batch `step`: a streamed set's ring filled on the
    /// host (a split set's is filled on the GPU by [`Samples::fill_launches`]).
    pub fn before_submission(&self, ctx: &GpuContext, step: usize) {
        if let (Some(stream), Some(ring)) = (&self.stream, &self.ring) {
            stream
                .borrow_mut()
                .fill(ctx, ring, &self.gather.images, step);
        }
    }

    /// After that submission: a streamed set notes it, to wait for it when too many are
    /// queued.
    pub fn submitted(&self, index: wgpu::SubmissionIndex) {
        if let Some(stream) = &self.stream {
            stream.borrow_mut().in_flight.push_back(index);
        }
    }

    /// Bytes the host uploads per step: a streamed set's ring over the steps of a
    /// submission; 0 for a resident one.
    pub fn upload_per_step(&self) -> u64 {
        match (&self.stream, &self.ring) {
            (Some(_), Some(ring)) => ring.bytes() as u64 / ring.steps as u64,
            _ => 0,
        }
    }
}

/// A streamed set on the host, and the submissions queued on it.
struct Streamer {
    images: Pixels,
    labels: Vec<u8>,
    /// The order the passes visit the samples in.
    order: Vec<u32>,
    in_flight: VecDeque<wgpu::SubmissionIndex>,
}

impl Streamer {
    /// Fills the ring for the submission starting at batch `step`, after waiting for the
    /// oldest queued submission if [`IN_FLIGHT`] are queued. The bytes go straight into
    /// wgpu's staging memory and reach the ring before the next submission runs (and after
    /// every earlier one has: the queue orders them).
    fn fill(&mut self, ctx: &GpuContext, ring: &Ring, buffer: &wgpu::Buffer, step: usize) {
        if self.in_flight.len() >= IN_FLIGHT {
            let oldest = self.in_flight.pop_front();
            let _ = ctx.device.poll(wgpu::PollType::Wait {
                submission_index: oldest,
                timeout: None,
            });
        }
        let size = wgpu::BufferSize::new(ring.bytes().next_multiple_of(4) as u64)
            .expect("a ring holds at least 4 slots");
        let mut view = ctx
            .queue
            .write_buffer_with(buffer, 0, size)
            .expect("the ring is a storage buffer that can be copied to");
        ring.fill(
            (&self.images, &self.labels),
            &self.order,
            step,
            &mut |at, bytes| view.slice(at..at + bytes.len()).copy_from_slice(bytes),
        );
    }
}
