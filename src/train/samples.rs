//! Where a run's training samples live while it trains, chosen before it starts from the
//! adapter's limits and the host's free memory ([`Residency::choose`]):
//!
//! - **whole**: one storage buffer, which the step's gather reads (MNIST's 47 MB);
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
//! (keyed by step and row, not by sample) and everything after it are the same kernels: a
//! run's weights are bit for bit the same in the three placements.

use std::collections::VecDeque;

use super::config::TrainConfig;
use crate::data::pixels::Pixels;
use crate::data::ring::Ring;
use crate::data::{Dataset, Split};
use crate::error::Result;
use crate::eval::limits::size;
use crate::eval::split::GpuSplit;
use crate::gpu::kernels::MAX_SHARDS;
use crate::gpu::GpuContext;

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
    /// `ctx`'s adapter and this host, the binding capped at `cfg.binding_limit` (tests force
    /// small limits with it).
    pub fn of(ctx: &GpuContext, cfg: &TrainConfig) -> Room {
        let l = &ctx.limits;
        let binding = l.max_storage_buffer_binding_size.min(l.max_buffer_size);
        Room {
            binding: binding.min(cfg.binding_limit.unwrap_or(u64::MAX)) & !3,
            storage_buffers_per_stage: l.max_storage_buffers_per_shader_stage,
            cpu_adapter: ctx.info.device_type == wgpu::DeviceType::Cpu,
            host_free: super::limits::available_memory(),
        }
    }
}

impl Residency {
    /// Where `data`'s training images will live when trained on `ctx` with `cfg`.
    pub fn of(ctx: &GpuContext, data: &Dataset, cfg: &TrainConfig) -> Residency {
        let bytes = data.train.images.len() as u64;
        Residency::choose(bytes, Room::of(ctx, cfg), cfg.stream)
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

/// The training split as the step reads it (see the module's notes).
pub struct TrainSamples {
    pub residency: Residency,
    /// What the step's gather binds: the set itself (whole), or the ring with each
    /// position's slot as its order.
    pub gather: GpuSplit,
    /// The ring's shape, where there is one.
    pub ring: Option<Ring>,
    /// Split: the set's buffers and labels, and the epoch's sample order the ring kernel reads.
    pub shards: Vec<wgpu::Buffer>,
    pub labels: Option<wgpu::Buffer>,
    pub epoch_order: Option<wgpu::Buffer>,
    /// Streamed: the host's copy and the queue of submissions.
    pub stream: Option<Streamer>,
}

impl TrainSamples {
    /// Uploads `split` (visiting `indices`) as `residency` says, for steps of `batch` in
    /// submissions of up to `steps` (the ring's size).
    pub fn upload(
        ctx: &GpuContext,
        split: &Split,
        indices: &[u32],
        residency: Residency,
        (batch, steps): (usize, usize),
    ) -> Result<TrainSamples> {
        let shard_bytes = match residency {
            Residency::Whole => {
                return Ok(TrainSamples {
                    gather: GpuSplit::upload(ctx, "train", split, indices)?,
                    residency,
                    ring: None,
                    shards: Vec::new(),
                    labels: None,
                    epoch_order: None,
                    stream: None,
                })
            }
            Residency::Split { shard_bytes, .. } => Some(shard_bytes),
            Residency::Streamed { .. } => None,
        };
        let sample_bytes = split.images.len() / split.len().max(1);
        let align = ctx.limits.min_storage_buffer_offset_alignment as usize;
        let ring = Ring::new(sample_bytes, batch, steps, align);
        let buffer = ctx.storage("train ring", ring.bytes() as u64);
        let slot_order: Vec<u32> = (0..indices.len())
            .map(|p| (p % ring.slots) as u32)
            .collect();
        let mut samples = TrainSamples {
            gather: GpuSplit::ring(ctx, &buffer, &slot_order, ring.label_start / 4),
            residency,
            ring: Some(ring),
            shards: Vec::new(),
            labels: None,
            epoch_order: None,
            stream: None,
        };
        match shard_bytes {
            Some(shard) => {
                samples.shards = upload_shards(ctx, &split.images, shard);
                samples.labels = Some(ctx.storage_u8("train labels", &split.labels));
                samples.epoch_order = Some(ctx.storage("train order", 4 * indices.len() as u64));
            }
            None => {
                samples.stream = Some(Streamer {
                    images: split.images.clone(),
                    labels: split.labels.clone(),
                    order: Vec::new(),
                    in_flight: VecDeque::new(),
                })
            }
        }
        ctx.check_errors()?;
        Ok(samples)
    }
}

/// `images` in buffers of `shard` bytes, written piece by piece (each piece's staging memory
/// freed before the next, a mapped set's pages dropped behind it): the upload holds one piece
/// on the host, not the set.
fn upload_shards(ctx: &GpuContext, images: &Pixels, shard: u64) -> Vec<wgpu::Buffer> {
    const PIECE: usize = 1 << 24;
    let count = (images.len() as u64).div_ceil(shard) as usize;
    let buffers: Vec<wgpu::Buffer> = (0..count)
        .map(|k| {
            let len = (images.len() as u64 - k as u64 * shard).min(shard);
            ctx.storage(&format!("train images {k}"), len)
        })
        .collect();
    images.sweep(PIECE, |at, piece| {
        // A piece that straddles two shards is written in two parts. Shards and pieces are
        // whole words, so only the set's last part may need padding to one.
        let mut at = at as u64;
        let mut rest = piece;
        while !rest.is_empty() {
            let (k, offset) = ((at / shard) as usize, at % shard);
            let n = rest.len().min((shard - offset) as usize);
            match n % 4 {
                0 => ctx.queue.write_buffer(&buffers[k], offset, &rest[..n]),
                _ => {
                    let mut padded = rest[..n].to_vec();
                    padded.resize(n.next_multiple_of(4), 0);
                    ctx.queue.write_buffer(&buffers[k], offset, &padded);
                }
            }
            (at, rest) = (at + n as u64, &rest[n..]);
        }
        ctx.queue.submit([]);
        let _ = ctx.device.poll(wgpu::PollType::wait_indefinitely());
    });
    buffers
}

/// A streamed set on the host, and the submissions queued on it.
pub struct Streamer {
    pub images: Pixels,
    pub labels: Vec<u8>,
    /// The epoch's sample order.
    pub order: Vec<u32>,
    in_flight: VecDeque<wgpu::SubmissionIndex>,
}

impl Streamer {
    /// Fills the ring for the submission starting at batch `step`, after waiting for the
    /// oldest queued submission if [`IN_FLIGHT`] are queued. The bytes go straight into
    /// wgpu's staging memory and reach the ring before the next submission runs (and after
    /// every earlier one has: the queue orders them).
    pub fn fill(&mut self, ctx: &GpuContext, ring: &Ring, buffer: &wgpu::Buffer, step: usize) {
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

    /// Notes a submission that reads the ring just filled.
    pub fn submitted(&mut self, index: wgpu::SubmissionIndex) {
        self.in_flight.push_back(index);
    }
}
