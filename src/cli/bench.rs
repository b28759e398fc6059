//! `shaderfit bench`: kernel and training-step throughput on this adapter.

use clap::Args;

use super::kernels;
use super::tables::profile_table;
use crate::error::Result;
use crate::eval::limits::size;
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
    /// Instead of timing, list every launch of one training step and one evaluation step of
    /// each model: kernel and variant, grid, workgroups, threads, FLOPs, bytes and fill
    /// (workgroups / (SMs x 2)). Runs anywhere: nothing is timed.
    #[arg(long)]
    pub plan: bool,
    /// The GPU's multiprocessors (SMs, compute units) that `--plan`'s fill counts against.
    #[arg(long, default_value_t = 132, value_name = "N", requires = "plan")]
    pub sms: u32,
    /// Which kernel choices `--plan` shows: `gpu`, the fixed table's for a GPU whatever this
    /// adapter is (the structure a GPU runs, on any machine); `this`, this adapter's own
    /// (the tuner's on a GPU).
    #[arg(long, value_enum, default_value = "gpu", requires = "plan")]
    pub kernels_for: KernelsFor,
    /// `--plan` of a run whose training set is streamed from the host (`train --stream`): the
    /// same launches, and the bytes uploaded per step.
    #[arg(long, requires = "plan")]
    pub stream: bool,
}

/// Whose kernel choices `bench --plan` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KernelsFor {
    Gpu,
    This,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if let Some(&n) = args.sizes.iter().find(|&&n| n == 0) {
        return Err(crate::error::Error::flag(
            "--sizes",
            format!("{n}; expected GEMM sizes of at least 1"),
        ));
    }
    let ctx = GpuContext::new(args.adapter.as_deref())?;
    if args.plan {
        return plan(args, &ctx);
    }
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
            "checked_shaders": ctx.shader_checks == crate::gpu::ShaderChecks::Checked,
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
        "adapter: {}, timing by {}",
        super::adapter_label(&ctx),
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

/// `bench --plan`: each model's launches, as a table or JSON.
fn plan(args: &BenchArgs, ctx: &GpuContext) -> Result<()> {
    if args.sms == 0 {
        return Err(crate::error::Error::flag("--sms", "0; expected at least 1"));
    }
    let policy: std::sync::Arc<dyn crate::gpu::kernels::KernelPolicy> = match args.kernels_for {
        KernelsFor::Gpu => std::sync::Arc::new(crate::gpu::kernels::GpuTable),
        KernelsFor::This => kernels::policy(&ctx.info),
    };
    let plans = args
        .models
        .iter()
        .map(|m| {
            let shape = (args.batch_size, args.sms);
            bench::plan(ctx, m, shape, policy.clone(), args.stream)
        })
        .collect::<Result<Vec<_>>>()?;
    if args.json {
        let json = serde_json::json!({
            "adapter": ctx.info.name,
            "kernels_for": format!("{:?}", args.kernels_for).to_lowercase(),
            "plans": plans,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
        return Ok(());
    }
    let whose = match args.kernels_for {
        KernelsFor::Gpu => "the fixed table's for a GPU".to_string(),
        KernelsFor::This => format!("this adapter's ({})", ctx.info.name),
    };
    for p in &plans {
        println!(
            "{} at batch {}: kernels {whose}; fill = workgroups / ({} SMs x 2)",
            p.model, p.batch, p.sms
        );
        let steps = p.steps_per_submit;
        match p.upload_per_step {
            0 => println!("  training set: {}", p.placement),
            bytes => println!(
                "  training set: {}: the host uploads a ring of {} per submission of {steps} steps, {} per step",
                p.placement,
                size(bytes * steps as u64),
                size(bytes)
            ),
        }
        let eval = format!("evaluation step (batch {})", p.eval_batch);
        let submission = format!("once per submission of {steps} steps");
        let tables = [
            ("training step", &p.training),
            ("once per epoch, before its first step", &p.epoch_start),
            (&submission, &p.submission_start),
            (&eval, &p.evaluation),
        ];
        for (name, launches) in tables.into_iter().filter(|t| !t.1.is_empty()) {
            print!("{}", super::tables::plan_table(name, launches));
        }
    }
    Ok(())
}
