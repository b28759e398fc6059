//! Benchmarks: square GEMMs and the training steps of presets, timed on one adapter. The
//! `bench` command and `cargo bench` both run these.

use std::sync::Arc;

use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::eval::Pass;
use crate::floor::Shape;
use crate::gpu::kernels::{KernelPolicy, MatmulArgs, View};
use crate::gpu::profiler::{Clock, KernelTimer};
use crate::gpu::{GpuContext, Kernels};
use crate::model::ModelSpec;
use crate::train::profile::gflops;
use crate::train::{StepProfile, TrainConfig, Trainer};

/// One square GEMM: n x n x n in `seconds`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GemmTime {
    pub n: usize,
    pub seconds: f64,
    pub gflops: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BenchReport {
    pub clock: Clock,
    pub gemm: Vec<GemmTime>,
    /// The profile of one training step of each model.
    pub steps: Vec<(String, StepProfile)>,
}

/// FP32 peaks (GFLOP/s, dense, no tensor cores) of adapters we know by name.
pub fn known_peak(adapter: &str) -> Option<f64> {
    let name = adapter.to_lowercase();
    [
        ("h200", 67_000.0),
        ("h100", 67_000.0),
        ("a100", 19_500.0),
        ("l40s", 91_600.0),
        ("rtx 4090", 82_600.0),
    ]
    .iter()
    .find(|(k, _)| name.contains(k))
    .map(|&(_, v)| v)
}

/// Default GEMM sizes: 256 to 4096, up to 1024 on CPU adapters (4096³ takes seconds there).
pub fn default_sizes(ctx: &GpuContext) -> Vec<usize> {
    let cpu = ctx.info.device_type == wgpu::DeviceType::Cpu;
    [256, 512, 1024, 2048, 4096]
        .into_iter()
        .filter(|&s| !cpu || s <= 1024)
        .collect()
}

/// Random-looking u8 images of MNIST's shape, for timing (values do not affect speed).
fn bench_data(samples: usize) -> Dataset {
    let split = |n: usize| Split {
        images: (0..n * 784).map(|p| (p * 31 % 251) as u8).collect(),
        labels: (0..n).map(|s| (s % 10) as u8).collect(),
    };
    Dataset {
        dir: "<bench>".into(),
        rows: 28,
        cols: 28,
        channels: 1,
        classes: 10,
        class_names: Vec::new(),
        note: None,
        train: split(samples),
        test: split(256),
    }
}

/// Times square GEMMs of `sizes` and one training step of each of `models` (presets or JSON
/// files) at `batch`, with the kernels `policy` picks.
pub fn run(
    ctx: &GpuContext,
    (sizes, models): (&[usize], &[String]),
    batch: usize,
    policy: Arc<dyn KernelPolicy>,
) -> Result<BenchReport> {
    let timer = KernelTimer::new(ctx);
    let kernels = Kernels::new(ctx, policy.clone());
    let mut gemm = Vec::new();
    for &n in sizes {
        let bytes = (n * n * 4) as u64;
        if bytes > ctx.limits.max_storage_buffer_binding_size {
            return Err(Error::flag(
                "--sizes",
                format!("{n} needs {bytes}-byte matrices, above the adapter's binding limit"),
            ));
        }
        let (a, b, c) = (
            ctx.storage("a", bytes),
            ctx.storage("b", bytes),
            ctx.storage("c", bytes),
        );
        let (a, b, c) = (View::whole(&a), View::whole(&b), View::whole(&c));
        let launches = kernels.matmul(ctx, &MatmulArgs::new("gemm", (n, n, n), a, b, c));
        let seconds: f64 = timer.time_each(ctx, &launches, 3)?.iter().sum();
        gemm.push(GemmTime {
            n,
            seconds,
            gflops: gflops(2 * (n * n * n) as u64, seconds),
        });
    }
    let data = bench_data(64 * batch);
    let mut steps = Vec::new();
    for model in models {
        let net = ModelSpec::from_arg(model, None, 10)?.compile(Shape::new(28, 28, 1), 10)?;
        let cfg = TrainConfig {
            batch_size: batch,
            kernels: policy.clone(),
            ..Default::default()
        };
        let mut trainer = Trainer::new(ctx, &net, &data, cfg)?;
        steps.push((model.clone(), StepProfile::measure(ctx, &mut trainer)?));
    }
    Ok(BenchReport {
        clock: timer.clock(),
        gemm,
        steps,
    })
}

/// One launch of a step, as `bench --plan` lists it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PlannedLaunch {
    /// What it belongs to: `dense_1 backward`, `loss`, ...
    pub scope: String,
    pub kernel: String,
    pub variant: String,
    pub grid: [u32; 3],
    pub workgroups: u64,
    pub threads_per_workgroup: u32,
    pub threads: u64,
    pub flops: u64,
    /// Bytes read and written, as a perfect cache would move them.
    pub bytes: u64,
    /// Workgroups per two per SM: 1 fills a GPU of the plan's SMs at two resident workgroups
    /// each.
    pub fill: f64,
}

/// The launches of one training step and one evaluation step of a model at a batch.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StepPlan {
    pub model: String,
    pub batch: usize,
    /// The evaluation step's batch, as chosen for MNIST's 10,000 test images.
    pub eval_batch: usize,
    pub sms: u32,
    pub training: Vec<PlannedLaunch>,
    /// What runs once as each epoch begins, before its first step (the first batch's gather
    /// where each step's end gathers the next).
    pub epoch_start: Vec<PlannedLaunch>,
    /// What runs at the start of every submission of steps (a split set's ring fill).
    pub submission_start: Vec<PlannedLaunch>,
    pub evaluation: Vec<PlannedLaunch>,
    /// Where the training set lives, as the data line says it.
    pub placement: String,
    /// Steps per submission.
    pub steps_per_submit: usize,
    /// Bytes the host uploads per training step (a streamed set's ring, per submission, over
    /// its steps); 0 for a resident set.
    pub upload_per_step: u64,
}

/// The plan of `model` at `batch` with the kernels `policy` picks: what a step runs, launch by
/// launch, and how much of a GPU of `sms` multiprocessors each launch could fill; with
/// `stream`, the set streamed and what the host uploads per step. Nothing is run but the
/// plan's building (its buffers and pipelines).
pub fn plan(
    ctx: &GpuContext,
    model: &str,
    (batch, sms): (usize, u32),
    policy: Arc<dyn KernelPolicy>,
    stream: bool,
) -> Result<StepPlan> {
    let net = ModelSpec::from_arg(model, None, 10)?.compile(Shape::new(28, 28, 1), 10)?;
    let mut cfg = TrainConfig {
        batch_size: batch,
        kernels: policy,
        stream,
        ..Default::default()
    };
    let batches = (None, cfg.batch_size);
    cfg.eval_batch_size = Some(crate::eval::limits::eval_batch(ctx, &net, batches, 10_000));
    let trainer = Trainer::new(ctx, &net, &bench_data(2 * batch), cfg)?;
    let planned = |launches: &[crate::gpu::Launch]| {
        launches
            .iter()
            .map(|l| {
                let workgroups = l.workgroups.iter().map(|&w| w as u64).product::<u64>();
                PlannedLaunch {
                    scope: l.scope.clone(),
                    kernel: l.label.to_string(),
                    variant: l.variant.clone(),
                    grid: l.workgroups,
                    workgroups,
                    threads_per_workgroup: l.threads,
                    threads: workgroups * l.threads as u64,
                    flops: l.flops,
                    bytes: l.bytes,
                    fill: workgroups as f64 / (2.0 * sms as f64),
                }
            })
            .collect()
    };
    let (p, eval) = (trainer.plan(), trainer.evaluator());
    let steps = trainer.config().steps_per_submit;
    let upload = p.samples.upload_per_step();
    Ok(StepPlan {
        model: model.to_string(),
        batch,
        eval_batch: eval.batch(),
        sms,
        training: planned(&p.train_step),
        epoch_start: planned(&p.epoch_start),
        submission_start: planned(&p.submission_start),
        evaluation: planned(&eval.pass(Pass::Validation).launches),
        placement: p.samples.residency.describe(),
        steps_per_submit: steps,
        upload_per_step: upload,
    })
}
