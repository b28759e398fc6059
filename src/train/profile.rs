//! The profile of one training step: every launch's time, work and throughput, grouped by
//! layer, and the share of the step spent outside kernels.

use super::trainer::Trainer;
use crate::error::Result;
use crate::gpu::profiler::{Clock, KernelTimer};
use crate::gpu::GpuContext;

#[derive(Clone, Debug, PartialEq)]
pub struct LaunchTime {
    /// What it belongs to: `gather`, `conv2d_1 forward`, `loss`, `optimizer`, ...
    pub scope: String,
    pub kernel: &'static str,
    /// The kernel's variant where its family has several, e.g. `blocked 32x16`.
    pub variant: String,
    pub seconds: f64,
    pub flops: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StepProfile {
    pub clock: Clock,
    pub batch: usize,
    pub launches: Vec<LaunchTime>,
    /// One whole step: with in-pass timestamps, its launches and the gaps between them as
    /// measured in one pass (they add up to it); otherwise the wall time of the step replayed
    /// in one pass (median), against launches timed each on their own.
    pub step_seconds: f64,
    /// The time between launches inside the step (barriers, dispatch), where the clock can
    /// see it.
    pub gap_seconds: Option<f64>,
}

impl StepProfile {
    /// Times one training step of `trainer` (it trains a few steps of the current epoch's
    /// order while doing so: profile after training, or on a trainer of its own).
    pub fn measure(ctx: &GpuContext, trainer: &mut Trainer) -> Result<StepProfile> {
        let timer = KernelTimer::new(ctx);
        trainer.begin_epoch();
        let launches = &trainer.plan().train_step;
        let (times, step_seconds, gap_seconds) = match timer.time_in_pass(ctx, launches, 3)? {
            Some(run) => {
                let gaps = run.gaps.iter().sum();
                let step = run.step();
                (run.kernels, step, Some(gaps))
            }
            None => (
                timer.time_each(ctx, launches, 3)?,
                timer.time_sequence(ctx, launches, 2, 3)?,
                None,
            ),
        };
        Ok(StepProfile {
            clock: timer.clock(),
            batch: trainer.plan().batch,
            launches: launches
                .iter()
                .zip(times)
                .map(|(l, seconds)| LaunchTime {
                    scope: l.scope.clone(),
                    kernel: l.label,
                    variant: l.variant.clone(),
                    seconds,
                    flops: l.flops,
                    bytes: l.bytes,
                })
                .collect(),
            step_seconds,
            gap_seconds,
        })
    }

    pub fn kernel_seconds(&self) -> f64 {
        self.launches.iter().map(|l| l.seconds).sum()
    }

    /// Share of the step not spent inside kernels (barriers, dispatch, submission): the
    /// measured gaps where the clock sees them; otherwise the step's wall time less the
    /// kernels' separately measured times, in [0, 1] (those need not add up).
    pub fn outside_share(&self) -> f64 {
        if self.step_seconds <= 0.0 {
            return 0.0;
        }
        match self.gap_seconds {
            Some(gaps) => gaps / self.step_seconds,
            None => {
                ((self.step_seconds - self.kernel_seconds()) / self.step_seconds).clamp(0.0, 1.0)
            }
        }
    }

    /// Seconds per layer (the scope without its `forward`/`backward` suffix), in step order.
    pub fn per_layer(&self) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = Vec::new();
        for l in &self.launches {
            let layer = l
                .scope
                .trim_end_matches(" forward")
                .trim_end_matches(" backward")
                .to_string();
            match out.iter_mut().find(|(name, _)| *name == layer) {
                Some((_, s)) => *s += l.seconds,
                None => out.push((layer, l.seconds)),
            }
        }
        out
    }

    /// The profile as JSON, for scripts.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "clock": self.clock.name(),
            "batch": self.batch,
            "dispatches": self.launches.len(),
            "step_ms": self.step_seconds * 1e3,
            "kernels_ms": self.kernel_seconds() * 1e3,
            "gaps_ms": self.gap_seconds.map(|g| g * 1e3),
            "outside_share": self.outside_share(),
            "launches": self.launches.iter().map(|l| serde_json::json!({
                "scope": l.scope,
                "kernel": l.kernel,
                "variant": l.variant,
                "ms": l.seconds * 1e3,
                "gflops": gflops(l.flops, l.seconds),
                "gbs": l.bytes as f64 / l.seconds.max(1e-12) / 1e9,
            })).collect::<Vec<_>>(),
        })
    }
}

/// GFLOP/s of `flops` in `seconds` (0 for launches that do no arithmetic).
pub fn gflops(flops: u64, seconds: f64) -> f64 {
    flops as f64 / seconds.max(1e-12) / 1e9
}
