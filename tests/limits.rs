//! Models and batches too big for the adapter are refused before anything is allocated, with
//! an error naming the buffer, its size and the limit.

mod support;

use std::sync::Arc;

use shaderfit::floor::{Activation, Shape};
use shaderfit::gpu::kernels::{variants, FixedTable, Forced, KernelPolicy, MatmulTile, Tiling};
use shaderfit::layers::{Dense, Flatten, Layer};
use shaderfit::model::ModelSpec;
use shaderfit::train::{TrainConfig, Trainer};
use support::{gpu, synthetic_dataset};

/// The error a trainer of `net` at `batch` is refused with.
fn refusal(
    ctx: &shaderfit::gpu::GpuContext,
    net: &shaderfit::model::Network,
    data: &shaderfit::data::Dataset,
    batch: usize,
) -> String {
    let cfg = TrainConfig {
        batch_size: batch,
        ..Default::default()
    };
    Trainer::new(ctx, net, data, cfg)
        .err()
        .expect("refused")
        .to_string()
}

#[test]
fn an_over_limit_model_is_refused_before_allocation() {
    let ctx = gpu();
    let limit = ctx
        .limits
        .max_buffer_size
        .min(ctx.limits.max_storage_buffer_binding_size);
    // A dense layer whose kernel alone is twice the largest buffer the adapter allows.
    let units = (limit / 4 / 49 * 2) as usize;
    let layers: Vec<Arc<dyn Layer>> = vec![
        Arc::new(Flatten),
        Arc::new(Dense::new(units, Activation::Relu)),
        Arc::new(Dense::new(10, Activation::Softmax)),
    ];
    let spec = ModelSpec {
        name: "huge".into(),
        input: None,
        layers,
    };
    let net = spec.compile(Shape::new(7, 7, 1), 10).unwrap();
    let data = synthetic_dataset(40, 10, 7, 7, 10);
    let err = refusal(&ctx, &net, &data, 16);
    assert!(
        err.contains("the parameters")
            && (err.contains("per buffer") || err.contains("host memory")),
        "{err}"
    );
    ctx.check_errors().expect("nothing reached wgpu");

    let small = ModelSpec::from_arg("linear", None, 10)
        .unwrap()
        .compile(Shape::new(7, 7, 1), 10)
        .unwrap();
    let err = refusal(&ctx, &small, &data, 41);
    assert!(
        err.contains("--batch-size: 41 is more than the 40 training samples"),
        "{err}"
    );
}

/// Every preset trains a few steps on a device asked for WebGPU's default limits (8 storage
/// buffers per stage, 16 KiB of workgroup memory, 256 invocations), which every adapter meets:
/// each entry point's layout declares only the bindings it uses (batch norm's family has 11).
/// It does so with the fixed table's kernels (this adapter's) and with the tiled kernels GPUs
/// get (implicit-GEMM convolutions, split K), and every pipeline those runs create is among
/// those the back-end test translates (`variants::all`).
macro_rules! presets_within_default_limits {
    ($($test:ident: $preset:literal),* $(,)?) => {
        /// The presets with a test below: [`every_preset_has_a_default_limits_test`] holds
        /// them to `PRESETS`.
        const TESTED: &[&str] = &[$($preset),*];
        $(
            #[test]
            fn $test() {
                trains_within_webgpu_default_limits($preset);
            }
        )*
    };
}

// A test per preset: all thirteen (of then) in one took 17 minutes on llvmpipe's GL.
presets_within_default_limits! {
    linear_trains_within_webgpu_default_limits: "linear",
    mlp_trains_within_webgpu_default_limits: "mlp",
    mlp2_trains_within_webgpu_default_limits: "mlp2",
    mlp3_trains_within_webgpu_default_limits: "mlp3",
    mlp_small_trains_within_webgpu_default_limits: "mlp_small",
    mlp_dropout_trains_within_webgpu_default_limits: "mlp_dropout",
    mlp_bn_trains_within_webgpu_default_limits: "mlp_bn",
    lenet_trains_within_webgpu_default_limits: "lenet",
    cnn_trains_within_webgpu_default_limits: "cnn",
    cnn_wide_trains_within_webgpu_default_limits: "cnn_wide",
    cnn4_trains_within_webgpu_default_limits: "cnn4",
    cnn_fast_trains_within_webgpu_default_limits: "cnn_fast",
    cnn_fast_bn_trains_within_webgpu_default_limits: "cnn_fast_bn",
    cnn_cifar_trains_within_webgpu_default_limits: "cnn_cifar",
}

#[test]
fn every_preset_has_a_default_limits_test() {
    let mut tested = TESTED.to_vec();
    let mut presets = shaderfit::model::PRESETS.to_vec();
    tested.sort();
    presets.sort();
    assert_eq!(
        tested, presets,
        "add the new preset to presets_within_default_limits!"
    );
}

fn trains_within_webgpu_default_limits(name: &str) {
    let ctx = support::named(
        shaderfit::gpu::GpuContext::with_limits(wgpu::Limits::default()).expect("an adapter"),
    );
    assert_eq!(ctx.limits.max_storage_buffers_per_shader_stage, 8);
    let data = synthetic_dataset(16, 8, 28, 28, 10);
    let tiled = Tiling::T64.pipelined();
    let policies: [(&str, Arc<dyn KernelPolicy>); 2] = [
        ("fixed table", Arc::new(FixedTable)),
        (
            "tiled",
            Arc::new(Forced {
                matmul: Some(MatmulTile::Tiled(tiled)),
                conv: Some(Some(tiled)),
                splits: Some(2),
                ..Forced::default()
            }),
        ),
    ];
    let known = variants::all();
    let net = ModelSpec::from_arg(name, None, 10)
        .unwrap()
        .compile(Shape::new(28, 28, 1), 10)
        .unwrap();
    for (policy, kernels) in &policies {
        // llvmpipe's GL driver runs the 64x64 tilings (which a CPU adapter never gets) so
        // slowly that one preset's step takes minutes there; they are checked on GL at small
        // tilings by parity_kernels, and within these limits on Vulkan.
        if *policy == "tiled" && support::slow_barriers(&ctx) {
            continue;
        }
        let what = format!("{name} with the {policy} kernels");
        let cfg = TrainConfig {
            batch_size: 8,
            kernels: kernels.clone(),
            ..Default::default()
        };
        let mut trainer =
            Trainer::new(&ctx, &net, &data, cfg).unwrap_or_else(|e| panic!("{what}: {e}"));
        trainer.begin_epoch();
        trainer.run_steps(2);
        let metrics = trainer
            .read_metrics()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(metrics[0].score().samples, 16, "{what}");
        ctx.check_errors().unwrap_or_else(|e| panic!("{what}: {e}"));
        for p in trainer.evaluator().kernels().created_pipelines() {
            assert!(
                known.contains(&p),
                "{what} created a pipeline variants::all() lacks: {p:?}"
            );
        }
    }
}

/// A device that allows fewer invocations per workgroup than the kernels use (GLES 3.1
/// guarantees only 128) is refused when the plan is built, naming a kernel, what it needs and
/// what the adapter allows, before any pipeline fails to compile.
#[test]
fn kernels_whose_workgroups_exceed_the_adapter_are_refused_by_name() {
    let limits = wgpu::Limits {
        max_compute_invocations_per_workgroup: 128,
        ..wgpu::Limits::default()
    };
    let ctx = support::named(shaderfit::gpu::GpuContext::with_limits(limits).expect("an adapter"));
    assert_eq!(ctx.limits.max_compute_invocations_per_workgroup, 128);
    let net = ModelSpec::from_arg("mlp", None, 10)
        .unwrap()
        .compile(Shape::new(7, 7, 1), 10)
        .unwrap();
    let data = synthetic_dataset(16, 8, 7, 7, 10);
    let err = refusal(&ctx, &net, &data, 8);
    assert!(
        err.contains("cannot run shaderfit's kernels: kernel")
            && err.contains("needs 256 invocations per workgroup; the adapter allows 128"),
        "{err}"
    );
    ctx.check_errors().expect("nothing reached wgpu");
}
