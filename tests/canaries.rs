//! The proof that kernels may run as trusted modules (no runtime bounds checks): every storage
//! buffer ends with guard words inside its binding (`GpuContext::with_canaries`), and after
//! every launch of a training step, an evaluation pass and the metrics' accumulators, at
//! awkward shapes and with every kind of kernel the policies pick (the CPU adapters' blocked
//! products, the GPUs' tile4, fill-ladder tilings, paired dense backward (4 rows or 1 per
//! invocation) and per-channel pooling, workgroup-memory tilings, implicit-GEMM convolutions,
//! split-K, both kinds of per-channel reduction), no guard word has changed. A kernel that writes one
//! element past its output fails here, naming itself and the buffer.

mod support;

use std::sync::Arc;

use shaderfit::eval::metrics::{Accuracy, ConfusionMatrix, Predictions, TopK};
use shaderfit::eval::Pass;
use shaderfit::floor::Shape;
use shaderfit::gpu::kernels::{FixedTable, Forced, GpuTable, KernelPolicy, MatmulTile, Tiling};
use shaderfit::gpu::{GpuContext, Launch};
use shaderfit::model::{ModelSpec, Network};
use shaderfit::train::{TrainConfig, Trainer};
use support::synthetic_dataset;

/// Runs `launches` one by one, checking every guard after each.
fn run_checked(ctx: &GpuContext, what: &str, launches: &[Launch]) {
    for launch in launches {
        support::run(ctx, std::slice::from_ref(launch));
        ctx.check_canaries().unwrap_or_else(|broken| {
            panic!(
                "{what}: '{}' ({}) wrote past its buffers: {broken}",
                launch.label, launch.scope
            )
        });
    }
}

fn models() -> Vec<(String, Network, (usize, usize))> {
    let every_kind = support::model_of_every_kind(Shape::new(9, 7, 1));
    let flat = ModelSpec::from_json(
        "flat",
        r#"{"layers": [
            {"type": "flatten"},
            {"type": "dense", "units": 13, "activation": "relu"},
            {"type": "batch_norm"},
            {"type": "dropout", "rate": 0.3},
            {"type": "dense", "units": 10, "activation": "softmax"}
        ]}"#,
    )
    .unwrap();
    // The cnn preset at 20x20 (18x18x32, 7x7x64 and 1x1x64 activations): every kernel it
    // uses at full size, at a third of the work.
    let cnn = ModelSpec::preset("cnn", None, 10).unwrap();
    vec![
        (
            "every kind".into(),
            every_kind.compile(Shape::new(9, 7, 1), 10).unwrap(),
            (9, 7),
        ),
        (
            "flat".into(),
            flat.compile(Shape::new(9, 7, 1), 10).unwrap(),
            (9, 7),
        ),
        (
            "cnn".into(),
            cnn.compile(Shape::new(28, 28, 1), 10).unwrap(),
            (28, 28),
        ),
    ]
}

/// One test per kind of kernel choice, each over every model.
macro_rules! policies {
    ($($test:ident: $what:literal => $policy:expr),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                no_kernel_writes_past_its_buffers($what, Arc::new($policy));
            }
        )*
    };
}

policies! {
    no_kernel_of_the_fixed_table_writes_past_its_buffers: "fixed table" => FixedTable,
    no_kernel_of_the_gpu_table_writes_past_its_buffers: "GPU table" => GpuTable,
    no_tiled_implicit_split_kernel_writes_past_its_buffers:
        "tiled, implicit convolutions, split K, fused step end" => Forced {
            matmul: Some(MatmulTile::Tiled(Tiling::T64.pipelined())),
            conv: Some(Some(Tiling::T64.pipelined())),
            splits: Some(3),
            serial_reductions: None,
            // The step's end fused, so the split convolutions' sums are the optimizer's.
            step_end: Some(true),
            ..Forced::default()
        },
    no_workgroup_tree_reduction_writes_past_its_buffers:
        "workgroup-tree reductions" => Forced::serial_reductions(false),
    no_tile16_kernel_writes_past_its_buffers: "tile16" => Forced::matmul(MatmulTile::Tile16),
    no_paired_dense_backward_writes_past_its_buffers:
        "paired dense backward" => Forced::dense_pair(true),
    no_one_row_paired_dense_backward_writes_past_its_buffers:
        "paired dense backward, one row per invocation" => Forced::dense_pair(true).with_pair_rows(1),
    no_per_channel_pooling_writes_past_its_buffers:
        "per-channel pooling" => Forced::pool_per_channel(true),
    no_fused_step_end_writes_past_its_buffers:
        "fused step end" => Forced::step_end(true),
}

fn no_kernel_writes_past_its_buffers(policy: &str, kernels: Arc<dyn KernelPolicy>) {
    let ctx = support::gpu().with_canaries();
    // llvmpipe's GL runs workgroup barriers so slowly that the tiled kernels (which a CPU
    // adapter never gets) take minutes per launch there, even at 13x49x10: on it they are
    // held to their guards on Vulkan only, and the policies that tile only some launches
    // (the GPU table's convolutions, the workgroup-tree reductions) run the dense model.
    let cpu_gl = support::slow_barriers(&ctx);
    let tiles_some = ["GPU table", "workgroup"]
        .iter()
        .any(|p| policy.starts_with(p));
    for (name, net, (rows, cols)) in models() {
        let skip = cpu_gl && (policy.starts_with("tiled") || (tiles_some && name != "flat"));
        if skip {
            println!("{name} with the {policy} kernels: left to Vulkan on llvmpipe's GL");
            continue;
        }
        // 29 training samples at batch 13: two full steps and a short one; 11 test samples.
        let data = synthetic_dataset(29, 11, rows, cols, 10);
        {
            let what = format!("{name} with the {policy} kernels");
            let cfg = TrainConfig {
                batch_size: 13,
                kernels: kernels.clone(),
                metrics: vec![Arc::new(Accuracy), Arc::new(TopK { k: 3 })],
                accumulators: vec![
                    Arc::new(ConfusionMatrix),
                    Arc::new(Predictions { capacity: 11 }),
                ],
                ..Default::default()
            };
            let mut trainer =
                Trainer::new(&ctx, &net, &data, cfg).unwrap_or_else(|e| panic!("{what}: {e}"));
            ctx.check_canaries()
                .unwrap_or_else(|b| panic!("{what}: made broken: {b}"));
            trainer.begin_epoch();
            let plan = trainer.plan();
            for step in 0..plan.steps_per_epoch() {
                run_checked(&ctx, &format!("{what}, step {step}"), &plan.train_step);
            }
            run_checked(
                &ctx,
                &format!("{what}, validation"),
                &trainer.evaluator().pass(Pass::Validation).launches,
            );
            trainer.read_metrics().unwrap();
            ctx.check_canaries()
                .unwrap_or_else(|b| panic!("{what}: metrics copy: {b}"));
        }
    }
}
