//! `shaderfit bench`: kernel and training-step throughput on this adapter.

use clap::Args;

use super::kernels;
use super::tables::profile_table;
use crate::error::Result;
use crate::gpu::GpuContext;
use crate::train::bench::{self, known_peak};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Presets (or JSON model files) whose training step to profile (repeatable).
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

pub fn run(args: &BenchArgs) -> Result<()> {
    if let Some(&n) = args.sizes.iter().find(|&&n| n == 0) {
        return Err(crate::error::Error::flag(
            "--sizes",
            format!("{n}; expected GEMM sizes of at least 1"),
        ));
    }
    let ctx = GpuContext::new(args.adapter.as_deref())?;
    let peak = args.peak_gflops.or_else(|| known_peak(&ctx.info.name));
    let sizes = if args.sizes.is_empty() {
        bench::default_sizes(&ctx)
    } else {
        args.sizes.clone()
    };
    let policy = kernels::policy(&ctx.info);
    let report = bench::run(&ctx, (&sizes, &args.models), args.batch_size, policy)?;
    if args.json {
        let json = serde_json::json!({
            "adapter": ctx.info.name,
            "backend": format!("{:?}", ctx.info.backend),
            "clock": report.clock.name(),
            "peak_gflops": peak,
            "gemm": report.gemm.iter().map(|g| serde_json::json!({"n": g.n, "ms": g.seconds * 1e3, "gflops": g.gflops})).collect::<Vec<_>>(),
            "steps": report.steps.iter().map(|(m, p)| serde_json::json!({"model": m, "profile": p.to_json()})).collect::<Vec<_>>(),
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
        report.clock.name()
    );
    println!("square f32 GEMM:");
    for g in &report.gemm {
        let share = peak
            .map(|p| format!(", {:.1}% of {p:.0} GFLOP/s peak", 100.0 * g.gflops / p))
            .unwrap_or_default();
        println!(
            "  {:>5}³  {:>10.3} ms  {:>9.2} GFLOP/s{share}",
            g.n,
            g.seconds * 1e3,
            g.gflops
        );
    }
    for (model, p) in &report.steps {
        println!("\n{model}:");
        print!("{}", profile_table(p, peak));
    }
    Ok(())
}
