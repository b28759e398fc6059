//! Kernel timing: GPU timestamp queries around each launch where the adapter has them, else
//! wall time around a fenced submission. Used by `shaderfit bench`, `train --profile` and
//! `cargo bench`; never by training itself (it waits on the GPU).

use std::time::Instant;

use super::context::GpuContext;
use super::kernels::Launch;
use crate::error::{Error, Result};

/// How kernel times were measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Timestamps written by the GPU before and after each dispatch of one pass: the launches
    /// as they run in a step, and the gaps between them.
    InPassTimestamps,
    /// Timestamps written by the GPU at the start and end of each launch's pass.
    GpuTimestamps,
    /// Host wall time around a submission that is waited for (includes submission overhead).
    WallClock,
}

impl Clock {
    pub fn name(self) -> &'static str {
        match self {
            Clock::InPassTimestamps => "GPU timestamps inside one pass",
            Clock::GpuTimestamps => "GPU timestamps",
            Clock::WallClock => "wall clock around fenced submissions",
        }
    }
}

pub struct KernelTimer {
    clock: Clock,
    period_ns: f64,
}

impl KernelTimer {
    pub fn new(ctx: &GpuContext) -> KernelTimer {
        let f = ctx.features;
        let clock = if f.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES) {
            Clock::InPassTimestamps
        } else if f.contains(wgpu::Features::TIMESTAMP_QUERY) {
            Clock::GpuTimestamps
        } else {
            Clock::WallClock
        };
        KernelTimer {
            clock,
            period_ns: ctx.queue.get_timestamp_period() as f64,
        }
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Seconds each of `launches` takes on its own: the median of `rounds` measurements, after
    /// one warm-up round (first use of a pipeline compiles it). Launches run in order, so
    /// each sees the buffers its predecessors wrote, as in a real step.
    pub fn time_each(
        &self,
        ctx: &GpuContext,
        launches: &[Launch],
        rounds: usize,
    ) -> Result<Vec<f64>> {
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); launches.len()];
        for round in 0..=rounds.max(1) {
            let times = match self.clock {
                Clock::InPassTimestamps => self.in_pass(ctx, launches)?.kernels,
                Clock::GpuTimestamps => self.timestamps(ctx, launches)?,
                Clock::WallClock => launches
                    .iter()
                    .map(|l| time_wall(ctx, std::slice::from_ref(l), 1))
                    .collect::<Result<Vec<_>>>()?,
            };
            if round > 0 {
                for (s, t) in samples.iter_mut().zip(times) {
                    s.push(t);
                }
            }
        }
        Ok(samples.into_iter().map(median).collect())
    }

    /// Seconds of the whole sequence replayed `reps` times in one pass, per replay: host wall
    /// time around a fenced submission, median of `rounds` after a warm-up.
    pub fn time_sequence(
        &self,
        ctx: &GpuContext,
        launches: &[Launch],
        reps: usize,
        rounds: usize,
    ) -> Result<f64> {
        time_wall(ctx, launches, reps)?;
        let samples = (0..rounds.max(1))
            .map(|_| time_wall(ctx, launches, reps))
            .collect::<Result<Vec<_>>>()?;
        Ok(median(samples))
    }

    /// The launches in one pass as a step runs them, each timed where the GPU has in-pass
    /// timestamps: the median of `rounds` after a warm-up. Kernels and gaps add up to the
    /// step exactly (consecutive timestamps telescope). None without in-pass timestamps.
    pub fn time_in_pass(
        &self,
        ctx: &GpuContext,
        launches: &[Launch],
        rounds: usize,
    ) -> Result<Option<InPass>> {
        if self.clock != Clock::InPassTimestamps {
            return Ok(None);
        }
        self.in_pass(ctx, launches)?;
        let mut runs = (0..rounds.max(1))
            .map(|_| self.in_pass(ctx, launches))
            .collect::<Result<Vec<_>>>()?;
        // The run whose step time is the median: its parts are one measurement, and add up.
        runs.sort_by(|a, b| a.step().total_cmp(&b.step()));
        Ok(Some(runs.swap_remove(runs.len() / 2)))
    }

    fn in_pass(&self, ctx: &GpuContext, launches: &[Launch]) -> Result<InPass> {
        let count = 2 * launches.len() as u32;
        let (queries, resolve) = query_buffers(ctx, count);
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for (i, l) in launches.iter().enumerate() {
                pass.write_timestamp(&queries, 2 * i as u32);
                l.record(&mut pass);
                pass.write_timestamp(&queries, 2 * i as u32 + 1);
            }
        }
        encoder.resolve_query_set(&queries, 0..count, &resolve, 0);
        ctx.submit_and_wait(encoder)?;
        let bytes = ctx.read_bytes(&resolve, 0, count as u64 * 8)?;
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&bytes);
        let secs = |a: u64, b: u64| b.saturating_sub(a) as f64 * self.period_ns * 1e-9;
        Ok(InPass {
            kernels: ticks.chunks(2).map(|t| secs(t[0], t[1])).collect(),
            gaps: ticks[1..]
                .chunks(2)
                .filter(|t| t.len() == 2)
                .map(|t| secs(t[0], t[1]))
                .collect(),
        })
    }

    /// One pass per launch, with timestamps at its start and end.
    fn timestamps(&self, ctx: &GpuContext, launches: &[Launch]) -> Result<Vec<f64>> {
        let count = 2 * launches.len() as u32;
        let (queries, resolve) = query_buffers(ctx, count);
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        for (i, l) in launches.iter().enumerate() {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(l.label),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &queries,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                }),
            });
            l.record(&mut pass);
        }
        encoder.resolve_query_set(&queries, 0..count, &resolve, 0);
        ctx.submit_and_wait(encoder)?;
        let bytes = ctx.read_bytes(&resolve, 0, count as u64 * 8)?;
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&bytes);
        Ok(ticks
            .chunks(2)
            .map(|t| t[1].saturating_sub(t[0]) as f64 * self.period_ns * 1e-9)
            .collect())
    }
}

/// One step's launches timed inside one pass.
#[derive(Clone, Debug, PartialEq)]
pub struct InPass {
    /// Seconds of each launch, from the timestamp before its dispatch to the one after.
    pub kernels: Vec<f64>,
    /// Seconds between one launch's end and the next one's start (barriers, dispatch).
    pub gaps: Vec<f64>,
}

impl InPass {
    /// The whole step: every kernel and every gap.
    pub fn step(&self) -> f64 {
        self.kernels.iter().chain(&self.gaps).sum()
    }
}

fn query_buffers(ctx: &GpuContext, count: u32) -> (wgpu::QuerySet, wgpu::Buffer) {
    let queries = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
        label: Some("kernel timer"),
        ty: wgpu::QueryType::Timestamp,
        count,
    });
    let resolve = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("kernel timer resolve"),
        size: count as u64 * 8,
        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    (queries, resolve)
}

/// Wall seconds per replay of `launches` recorded `reps` times into one pass and waited for.
fn time_wall(ctx: &GpuContext, launches: &[Launch], reps: usize) -> Result<f64> {
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        for _ in 0..reps.max(1) {
            for l in launches {
                l.record(&mut pass);
            }
        }
    }
    let start = Instant::now();
    ctx.submit_and_wait(encoder)
        .map_err(|e| Error::Gpu(format!("timing kernels: {e}")))?;
    Ok(start.elapsed().as_secs_f64() / reps.max(1) as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}
