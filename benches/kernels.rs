//! `cargo bench`: square GEMMs and one training step of the presets on the default adapter,
//! as `shaderfit bench` times them (GPU timestamps where the adapter has them). `cargo bench
//! -- MODEL...` profiles only those presets (or JSON model files).

use shaderfit::gpu::GpuContext;
use shaderfit::train::bench;

fn main() {
    let ctx = GpuContext::new(None).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    let mut models: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let sizes = if models.is_empty() {
        models = ["linear", "mlp", "mlp2", "mlp_bn", "lenet", "cnn"]
            .map(String::from)
            .to_vec();
        bench::default_sizes(&ctx)
    } else {
        Vec::new()
    };
    // Kernels as `shaderfit bench` picks them (the tuner on GPUs, the fixed table on CPUs).
    let policy = shaderfit::cli::kernels::policy(&ctx.info);
    let report = bench::run(&ctx, (&sizes, &models), 128, policy).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    println!(
        "adapter: {} ({:?}), timing by {}",
        ctx.info.name,
        ctx.info.backend,
        report.clock.name()
    );
    for g in &report.gemm {
        println!(
            "gemm {:>5}³ {:>10.3} ms {:>9.2} GFLOP/s",
            g.n,
            g.seconds * 1e3,
            g.gflops
        );
    }
    for (model, p) in &report.steps {
        println!(
            "\n{model}: {:.3} ms per step, {} dispatches",
            p.step_seconds * 1e3,
            p.launches.len()
        );
        for l in &p.launches {
            println!(
                "  {:<28} {:<16} {:>9.3} ms",
                l.scope,
                l.kernel,
                l.seconds * 1e3
            );
        }
    }
}
