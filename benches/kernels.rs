//! `cargo bench`: wall time of the kernels at the shapes of a real training step of the `mlp`
//! preset (batch 128, 784 -> 512 -> 10), and of whole training steps, on the default adapter.
//! Each figure is the median over repeats of a fenced submission of `REPS` back-to-back
//! launches in one compute pass, divided by `REPS`, so per-submission overhead is amortised
//! the way the trainer amortises it.

use std::time::Instant;

use shaderfit::data::{Dataset, Split};
use shaderfit::gpu::kernels::{EpilogueAct, MatmulVariant, View};
use shaderfit::gpu::{GpuContext, Kernels, Launch};
use shaderfit::model::{ModelSpec, Optimizer, Shape};
use shaderfit::train::{TrainConfig, Trainer};

const REPS: usize = 20;
const ROUNDS: usize = 5;

fn time_launch(ctx: &GpuContext, launches: &[Launch]) -> f64 {
    let mut samples = Vec::new();
    for round in 0..=ROUNDS {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for _ in 0..REPS {
                for l in launches {
                    l.record(&mut pass);
                }
            }
        }
        let start = Instant::now();
        ctx.submit_and_wait(encoder).expect("bench ran");
        if round > 0 {
            // round 0 warms up the pipelines (shader JIT)
            samples.push(start.elapsed().as_secs_f64() / REPS as f64);
        }
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

fn main() {
    let ctx = GpuContext::new(None).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    // `cargo bench -- MODEL`: time each launch of one training step of a preset.
    if let Some(model) = std::env::args().skip(1).find(|a| !a.starts_with('-')) {
        profile_step(&ctx, &model);
        return;
    }
    println!("adapter: {} ({:?})", ctx.info.name, ctx.info.backend);
    let kernels = Kernels::new(&ctx);
    let (b, i, h) = (128usize, 784usize, 512usize);
    let buf = |n: usize| ctx.storage("bench", (n * 4) as u64);
    let (x, w, bias, y, dy, dw) = (
        buf(b * i),
        buf(i * h),
        buf(h),
        buf(b * h),
        buf(b * h),
        buf(i * h),
    );
    let cases = [
        (
            "forward x·W+b relu",
            MatmulVariant {
                bias: true,
                act: EpilogueAct::Relu,
                ..Default::default()
            },
            (b, h, i),
            (&x, &w, Some(&bias), &y),
        ),
        (
            "dW = xᵀ·dy",
            MatmulVariant {
                trans_a: true,
                ..Default::default()
            },
            (i, h, b),
            (&x, &dy, None, &dw),
        ),
        (
            "dx = dy·Wᵀ",
            MatmulVariant {
                trans_b: true,
                ..Default::default()
            },
            (b, i, h),
            (&dy, &w, None, &x),
        ),
    ];
    println!(
        "{:<24} {:>14} {:>10} {:>10}",
        "kernel (m x n x k)", "shape", "ms", "GFLOP/s"
    );
    for (name, v, (m, n, k), (a, bb, bias, c)) in cases {
        let launch = kernels.matmul(
            &ctx,
            "bench",
            v,
            (m, n, k),
            View::whole(a),
            View::whole(bb),
            bias.map(View::whole),
            None,
            View::whole(c),
        );
        let s = time_launch(&ctx, &launch);
        let flops = 2.0 * (m * n * k) as f64;
        println!(
            "{name:<24} {:>14} {:>10.3} {:>10.2}",
            format!("{m}x{n}x{k}"),
            s * 1e3,
            flops / s / 1e9
        );
    }
    for size in [256usize, 512, 1024] {
        let (a, bb, c) = (buf(size * size), buf(size * size), buf(size * size));
        let launch = kernels.matmul(
            &ctx,
            "bench",
            MatmulVariant::default(),
            (size, size, size),
            View::whole(&a),
            View::whole(&bb),
            None,
            None,
            View::whole(&c),
        );
        let s = time_launch(&ctx, &launch);
        let flops = 2.0 * (size * size * size) as f64;
        println!(
            "{:<24} {:>14} {:>10.3} {:>10.2}",
            "square GEMM",
            format!("{size}³"),
            s * 1e3,
            flops / s / 1e9
        );
    }

    // Whole training steps of the presets on random data of MNIST's shape.
    let n = 4096;
    let split = |n: usize| Split {
        images: (0..n * i).map(|p| (p * 31 % 251) as u8).collect(),
        labels: (0..n).map(|s| (s % 10) as u8).collect(),
    };
    let data = Dataset {
        dir: "<bench>".into(),
        rows: 28,
        cols: 28,
        classes: 10,
        train: split(n),
        test: split(512),
    };
    println!("{:<24} {:>14} {:>10}", "training step", "batch", "ms/step");
    for model in ["linear", "mlp", "mlp2", "mlp_bn", "lenet", "cnn"] {
        let net = ModelSpec::preset(model, None, 10)
            .unwrap()
            .compile(Shape::new(28, 28, 1), 10)
            .unwrap();
        let cfg = TrainConfig {
            batch_size: b,
            optimizer: Optimizer::from_name("adam", None, 0.0).unwrap(),
            ..Default::default()
        };
        let trainer = Trainer::new(&ctx, &net, &data, cfg).unwrap();
        let s = time_launch(&ctx, &trainer.plan().train_step);
        println!("{model:<24} {b:>14} {:>10.3}", s * 1e3);
    }
}

/// Times every launch of one training step of `model` (batch 128, MNIST's shape) on its own.
fn profile_step(ctx: &GpuContext, model: &str) {
    let i = 784;
    let n = 1024;
    let split = |n: usize| Split {
        images: (0..n * i).map(|p| (p * 31 % 251) as u8).collect(),
        labels: (0..n).map(|s| (s % 10) as u8).collect(),
    };
    let data = Dataset {
        dir: "<bench>".into(),
        rows: 28,
        cols: 28,
        classes: 10,
        train: split(n),
        test: split(128),
    };
    let net = ModelSpec::preset(model, None, 10)
        .unwrap()
        .compile(Shape::new(28, 28, 1), 10)
        .unwrap();
    let trainer = Trainer::new(ctx, &net, &data, TrainConfig::default()).unwrap();
    let mut total = 0.0;
    for launch in &trainer.plan().train_step {
        let s = time_launch(ctx, std::slice::from_ref(launch));
        total += s;
        println!(
            "{:<20} {:?} {:>10.3} ms",
            launch.label,
            launch.workgroups,
            s * 1e3
        );
    }
    println!("total {:.3} ms", total * 1e3);
}
