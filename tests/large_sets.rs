//! Sets of any size: resident in one buffer, split over several (forced here by a small
//! binding limit) and streamed from the host train the same weights and score the same test
//! metrics bit for bit, and the ring kernel that serves a split set matches its CPU twin
//! exactly.

mod support;

use std::sync::Arc;

use shaderfit::data::ring::Ring;
use shaderfit::data::Dataset;
use shaderfit::eval::metrics::{ConfusionMatrix, Predictions};
use shaderfit::eval::samples::{Placement, Residency, Room};
use shaderfit::eval::{EvalConfig, Evaluator, Pass, PassMetrics, Validation};
use shaderfit::floor::{Activation, Augment, Shape};
use shaderfit::gpu::kernels::{Forced, RingArgs, View};
use shaderfit::layers::{Dense, Flatten, Layer};
use shaderfit::model::ModelSpec;
use shaderfit::model::{init_params, init_stats, ParamLayout};
use shaderfit::reference::ops;
use shaderfit::train::{TrainConfig, Trainer};
use support::{gpu, kernels, run, synthetic_images};

/// A small dense network over `input`.
fn small_net(input: Shape) -> shaderfit::model::Network {
    let layers: Vec<Arc<dyn Layer>> = vec![
        Arc::new(Flatten),
        Arc::new(Dense::new(12, Activation::Relu)),
        Arc::new(Dense::new(4, Activation::Softmax)),
    ];
    let spec = ModelSpec {
        name: "small".into(),
        input: None,
        layers,
    };
    spec.compile(input, 4).unwrap()
}

/// What two epochs of `cfg` on `data` end with: the weights and the last epoch's training
/// and validation metrics; and where the training set lived.
type Trained = ((Vec<Vec<f32>>, Vec<PassMetrics>), Residency);

fn weights_after_two_epochs(data: &Dataset, cfg: TrainConfig) -> Trained {
    let ctx = gpu();
    let net = small_net(data.image());
    let residency = Residency::of(&ctx, &data.train, cfg.placement());
    let mut trainer = Trainer::new(&ctx, &net, data, cfg).unwrap();
    trainer.fit_epoch().unwrap();
    let last = trainer.fit_epoch().unwrap();
    let metrics = vec![last.train, last.validation.unwrap()];
    let weights = trainer.evaluator().read_params().unwrap();
    ((weights, metrics), residency)
}

/// Same seed, same adapter: the set in one buffer, split over three (a binding limit of a
/// third of it) and streamed give identical weights after two epochs, bit for bit. The shapes
/// are awkward on purpose: 5x5x1 images (25 bytes, so samples straddle words and a word
/// straddles shards), 203 samples with 10% held out for validation, batches of 6 in
/// submissions of 3 steps (rings that wrap mid-epoch), augmentation on (its draws are keyed
/// by step and row, so they must not see where a sample came from), with the step's end fused
/// and not. The held-out validation samples (uploaded on their own where the set is not one
/// buffer) score the same too. The held-out validation samples (uploaded on their own where the set is not one
/// buffer) score the same too.
#[test]
fn resident_split_and_streamed_train_the_same_weights() {
    let data = synthetic_images(203, 40, Shape::new(5, 5, 1), 4);
    let bytes = data.train.images.len() as u64;
    for fused in [false, true] {
        let base = TrainConfig {
            batch_size: 6,
            steps_per_submit: 3,
            validation_split: 0.1,
            seed: 5,
            augment: Some(Augment {
                shift: 1.0,
                rotate: 10.0,
                ..Augment::default()
            }),
            kernels: Arc::new(Forced {
                step_end: Some(fused),
                ..Forced::default()
            }),
            ..TrainConfig::default()
        };
        let (whole, r) = weights_after_two_epochs(&data, base.clone());
        assert_eq!(r, Residency::Whole);
        let split_cfg = TrainConfig {
            binding_limit: Some(bytes / 3 + 1),
            ..base.clone()
        };
        let (split, r) = weights_after_two_epochs(&data, split_cfg);
        assert!(matches!(r, Residency::Split { buffers: 3, .. }), "{r:?}");
        let stream_cfg = TrainConfig {
            stream: true,
            ..base.clone()
        };
        let (streamed, r) = weights_after_two_epochs(&data, stream_cfg);
        assert!(matches!(r, Residency::Streamed { .. }), "{r:?}");
        let bits =
            |w: &[Vec<f32>]| -> Vec<u32> { w.iter().flatten().map(|v| v.to_bits()).collect() };
        assert_eq!(
            bits(&split.0),
            bits(&whole.0),
            "split vs whole, fused {fused}"
        );
        let streamed_bits = bits(&streamed.0);
        assert_eq!(
            streamed_bits,
            bits(&whole.0),
            "streamed vs whole, fused {fused}"
        );
        assert_eq!(split.1, whole.1, "metrics, split vs whole, fused {fused}");
        assert_eq!(
            streamed.1, whole.1,
            "metrics, streamed vs whole, fused {fused}"
        );
    }
}

/// A test split evaluated whole, split over three buffers and streamed scores the same: every
/// count, the loss to the bit, the confusion matrix and every sample's probabilities (10-byte
/// samples, a count that is not a multiple of the batch, submissions of 2 steps).
#[test]
fn a_test_split_scores_the_same_in_every_placement() {
    let ctx = gpu();
    let data = synthetic_images(8, 203, Shape::new(5, 2, 1), 4);
    let net = small_net(data.image());
    let layout = ParamLayout::trainable(&net, ctx.binding_align_floats());
    let params = init_params(&layout, 3);
    let stats = init_stats(&ParamLayout::non_trainable(
        &net,
        ctx.binding_align_floats(),
    ));
    let bytes = data.test.images.len() as u64;
    let score = |placement: Placement| {
        let cfg = EvalConfig {
            batch_size: Some(16),
            steps_per_submit: 2,
            accumulators: vec![
                Arc::new(ConfusionMatrix),
                Arc::new(Predictions { capacity: 203 }),
            ],
            placement,
            ..EvalConfig::default()
        };
        let split = (&data.test, Validation::OnTest);
        let eval = Evaluator::new(&ctx, &net, (&params, &stats), cfg, split).unwrap();
        let residency = Residency::of(&ctx, &data.test, placement);
        (eval.evaluate(Pass::Test).unwrap(), residency)
    };
    let (whole, r) = score(Placement::default());
    assert_eq!(r, Residency::Whole);
    let (split, r) = score(Placement {
        binding_limit: Some(bytes / 3 + 4),
        ..Placement::default()
    });
    assert!(matches!(r, Residency::Split { buffers: 3, .. }), "{r:?}");
    let (streamed, r) = score(Placement {
        stream: true,
        ..Placement::default()
    });
    assert!(matches!(r, Residency::Streamed { .. }), "{r:?}");
    assert_eq!(split, whole);
    assert_eq!(streamed, whole);
    assert!(whole.probabilities().is_some());
}

/// The placement rule: one binding holds it whole; up to four split (where the adapter binds
/// eight storage buffers and a CPU adapter's host has the memory); more, streamed, saying why.
#[test]
fn the_placement_rule_says_why_it_streams() {
    let room = Room {
        binding: 128 << 20,
        storage_buffers_per_stage: 4096,
        cpu_adapter: true,
        host_free: Some(8 << 30),
    };
    let mib = |m: u64| m << 20;
    assert_eq!(Residency::choose(mib(100), room, false), Residency::Whole);
    assert_eq!(
        Residency::choose(mib(179), room, false),
        Residency::Split {
            buffers: 2,
            shard_bytes: mib(179) / 2
        }
    );
    let Residency::Streamed { why } = Residency::choose(mib(748), room, false) else {
        panic!("748 MiB in 128 MiB bindings is streamed");
    };
    assert_eq!(
        why,
        "748.0 MiB would need 6 buffers of 128.0 MiB; the kernels bind at most 4"
    );
    let small_host = Room {
        host_free: Some(mib(150)),
        ..room
    };
    let Residency::Streamed { why } = Residency::choose(mib(179), small_host, false) else {
        panic!("a CPU adapter without the host memory streams");
    };
    assert!(why.contains("150.0 MiB is free"), "{why}");
    let webgpu = Room {
        storage_buffers_per_stage: 6,
        ..room
    };
    assert!(matches!(
        Residency::choose(mib(179), webgpu, false),
        Residency::Streamed { .. }
    ));
    assert_eq!(
        Residency::choose(mib(1), room, true),
        Residency::Streamed {
            why: "--stream".into()
        }
    );
}

/// `ring.wgsl` against its twin, exactly (bytes): 4-shard sets of 7-byte samples (words
/// straddle samples and shards) and of 12-byte ones (the kernel's whole-word path), orders
/// that skip and repeat samples, fills at cursor positions that wrap the ring and run past
/// the order's end; and the host's fill of a streamed set ([`Ring::fill`]) writes the same
/// bytes.
#[test]
fn the_ring_fill_matches_its_twin_and_the_hosts() {
    let ctx = gpu();
    for sample_bytes in [7, 12] {
        ring_fill_case(&ctx, sample_bytes);
    }
}

fn ring_fill_case(ctx: &shaderfit::gpu::GpuContext, sample_bytes: usize) {
    let k = kernels(ctx, shaderfit::gpu::kernels::FixedTable);
    let (n, batch, steps) = (37usize, 5usize, 2usize);
    let images: Vec<u8> = (0..n * sample_bytes)
        .map(|i| (i * 13 % 251) as u8 + 1)
        .collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 9) as u8 + 1).collect();
    let order: Vec<u32> = (0..45u32).map(|p| (p * 11 + p / 7) % n as u32).collect();
    let ring = Ring::new(sample_bytes, batch, steps, 256);
    // Four shards of equal whole words: the last one shorter.
    let shard_words = (images.len() / 4).div_ceil(4) + 1;
    let padded = {
        let mut v = images.clone();
        v.resize(images.len().next_multiple_of(4), 0);
        v
    };
    let shards: Vec<wgpu::Buffer> = padded
        .chunks(shard_words * 4)
        .map(|c| ctx.storage_u8("shard", c))
        .collect();
    assert_eq!(shards.len(), 4);
    let gl = ctx.storage_u8("labels", &labels);
    let go = ctx.storage_init("order", &order);
    let cursor = ctx.storage("cursor", 8);
    let gring = ctx.storage("ring", ring.bytes() as u64);
    let views: Vec<View> = shards.iter().map(View::whole).collect();
    for step in [0usize, 1, 3, 7, 8] {
        ctx.queue
            .write_buffer(&cursor, 0, bytemuck::cast_slice(&[step as u32, 0]));
        let args = RingArgs {
            sample_bytes,
            batch,
            slots: ring.slots,
            n_order: order.len(),
            shards: &views,
            shard_words,
            labels: View::whole(&gl),
            order: View::whole(&go),
            cursor: View::whole(&cursor),
            ring: View::whole(&gring),
            label_offset: ring.label_start / 4,
        };
        run(ctx, &[k.ring_fill(ctx, &args)]);
        let words = ctx.read_u32(&gring, 0, ring.bytes() / 4).unwrap();
        let got: &[u8] = bytemuck::cast_slice(&words);
        let (want_images, want_labels) = ops::ring_fill(
            (&images, &labels),
            &order,
            (step * batch) & !3,
            (ring.slots, sample_bytes),
        );
        let image_bytes = ring.slots * sample_bytes;
        assert_eq!(
            &got[..image_bytes],
            want_images,
            "images, step {step}, {sample_bytes} bytes"
        );
        assert_eq!(&got[ring.label_start..], want_labels, "labels, step {step}");
        let mut host = vec![0xAAu8; ring.bytes()];
        ring.fill((&images, &labels), &order, step, &mut |at, b| {
            host[at..at + b.len()].copy_from_slice(b)
        });
        assert_eq!(
            &host[..image_bytes],
            want_images,
            "host images, step {step}"
        );
        assert_eq!(
            &host[ring.label_start..],
            want_labels,
            "host labels, step {step}"
        );
    }
}
