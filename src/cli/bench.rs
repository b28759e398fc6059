//! `shaderfit bench`: kernel and training-step throughput on this adapter.

use clap::Args;

use super::report::profile_table;
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::gpu::kernels::{MatmulVariant, View};
use crate::gpu::profiler::KernelTimer;
use crate::gpu::{GpuContext, Kernels};
use crate::model::{ModelSpec, Shape};
use crate::train::profile::gflops;
use crate::train::{StepProfile, TrainConfig, Trainer};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Presets whose training step to profile (repeatable).
    #[arg(long = "model", default_values_t = ["mlp".to_string(), "cnn".to_string()])]
    pub models: Vec<String>,
    /// Square GEMM sizes (default 256..4096, up to 1024 on CPU adapters).
    #[arg(long, value_delimiter = ',')]
    pub sizes: Vec<usize>,
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// The adapter's FP32 peak in GFLOP/s, to print each kernel's share of it (default: known
    /// for some adapters).
    #[arg(long)]
    pub peak_gflops: Option<f64>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Adapter whose name contains this; see `shaderfit devices`.
    #[arg(long)]
    pub adapter: Option<String>,
}

/// FP32 peaks (GFLOP/s, dense, no tensor cores) of adapters we know by name.
fn known_peak(adapter: &str) -> Option<f64> {
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
        classes: 10,
        train: split(samples),
        test: split(256),
    }
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let ctx = GpuContext::new(args.adapter.as_deref())?;
    let peak = args.peak_gflops.or_else(|| known_peak(&ctx.info.name));
    let timer = KernelTimer::new(&ctx);
    let kernels = Kernels::new(&ctx);
    let cpu = ctx.info.device_type == wgpu::DeviceType::Cpu;
    let sizes = if args.sizes.is_empty() {
        let all = [256, 512, 1024, 2048, 4096];
        all.iter().copied().filter(|&s| !cpu || s <= 1024).collect()
    } else {
        args.sizes.clone()
    };
    let mut gemms = Vec::new();
    for &n in &sizes {
        let bytes = (n * n * 4) as u64;
        if bytes > ctx.limits.max_storage_buffer_binding_size {
            return Err(Error::Config(format!(
                "--sizes: {n} needs {bytes}-byte matrices, above the adapter's binding limit"
            )));
        }
        let (a, b, c) = (
            ctx.storage("a", bytes),
            ctx.storage("b", bytes),
            ctx.storage("c", bytes),
        );
        let launches = kernels.matmul(
            &ctx,
            "gemm",
            MatmulVariant::default(),
            (n, n, n),
            View::whole(&a),
            View::whole(&b),
            None,
            None,
            View::whole(&c),
        );
        let seconds: f64 = timer.time_each(&ctx, &launches, 3)?.iter().sum();
        gemms.push((n, seconds, gflops(2 * (n * n * n) as u64, seconds)));
    }
    let data = bench_data(64 * args.batch_size);
    let mut profiles = Vec::new();
    for model in &args.models {
        let net = ModelSpec::from_arg(model, None, 10)?.compile(Shape::new(28, 28, 1), 10)?;
        let cfg = TrainConfig {
            batch_size: args.batch_size,
            ..Default::default()
        };
        let mut trainer = Trainer::new(&ctx, &net, &data, cfg)?;
        profiles.push((model.clone(), StepProfile::measure(&ctx, &mut trainer)?));
    }
    if args.json {
        let json = serde_json::json!({
            "adapter": ctx.info.name,
            "backend": format!("{:?}", ctx.info.backend),
            "clock": timer.clock().name(),
            "peak_gflops": peak,
            "gemm": gemms.iter().map(|&(n, s, g)| serde_json::json!({"n": n, "ms": s * 1e3, "gflops": g})).collect::<Vec<_>>(),
            "steps": profiles.iter().map(|(m, p)| serde_json::json!({"model": m, "profile": p.to_json()})).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "adapter: {} ({:?}), timing by {}",
        ctx.info.name,
        ctx.info.backend,
        timer.clock().name()
    );
    println!("square f32 GEMM:");
    for (n, s, g) in gemms {
        let share = peak
            .map(|p| format!(", {:.1}% of {p:.0} GFLOP/s peak", 100.0 * g / p))
            .unwrap_or_default();
        println!("  {n:>5}³  {:>10.3} ms  {g:>9.2} GFLOP/s{share}", s * 1e3);
    }
    for (model, p) in profiles {
        println!("\n{model}:");
        print!("{}", profile_table(&p, peak));
    }
    Ok(())
}
