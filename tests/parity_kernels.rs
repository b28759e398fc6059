//! Each WGSL kernel against its plain-Rust twin in `shaderfit::reference::ops`, on random data
//! at awkward shapes: 1x1x1, sizes that are not multiples of the 4x4 register tile or the
//! workgroup, batch 1, and the largest layer of the presets (784 -> 512).
//!
//! Tolerances, and why:
//! - matmul and bias_grad sum K products in f32 in a different order than the twin (which
//!   sums in f64). The standard bound for recursive summation is
//!   |error| <= K·u·Σ|a_k·b_k| with u = 2^-24; we allow twice that (the GPU's four partial
//!   sums and the epilogue add a few roundings) plus 1e-6 absolute for sums near zero.
//! - elementwise results (gather, softmax, optimizer updates) are a few f32 operations whose
//!   WGSL accuracy is a few ULP (division 2.5 ULP, exp/log/pow/sqrt a few more), so we allow a
//!   relative 1e-5 plus an absolute 1e-6 (1e-7 for gather's x/255).
//! - integer results (labels, correct counts, sample counts) must match exactly.

mod support;

use shaderfit::gpu::kernels::{
    Block, EpilogueAct, MatmulTile, MatmulVariant, OptimizerHyper, OptimizerKind, Tiling, Tuner,
    View, PAD_LABEL,
};
use shaderfit::gpu::{GpuContext, Kernels, Launch};
use shaderfit::model::Activation;
use shaderfit::reference::ops;
use shaderfit::train::Metric;
use support::{assert_within, gpu, random_f32, ODD_TILING, VEC4_TILING};

const U: f32 = 1.0 / (1u32 << 24) as f32;

fn run(ctx: &GpuContext, launches: &[Launch]) {
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        for launch in launches {
            launch.record(&mut pass);
        }
    }
    ctx.submit_and_wait(encoder)
        .expect("kernel ran without GPU errors");
}

fn act_of(e: EpilogueAct) -> Activation {
    match e {
        EpilogueAct::None => Activation::Linear,
        EpilogueAct::Relu => Activation::Relu,
        EpilogueAct::Sigmoid => Activation::Sigmoid,
    }
}

/// Runs one matmul variant at (m, n, k) on both paths and compares.
fn check_matmul(
    ctx: &GpuContext,
    kernels: &Kernels,
    v: MatmulVariant,
    (m, n, k): (usize, usize, usize),
    seed: u64,
) {
    let a = random_f32(m * k, seed, -1.0, 1.0);
    let b = random_f32(k * n, seed + 1, -1.0, 1.0);
    let bias = random_f32(n, seed + 2, -1.0, 1.0);
    // aux is an activation output: relu's is >= 0 with exact zeros, sigmoid's in (0, 1).
    let aux: Vec<f32> = random_f32(m * n, seed + 3, -1.0, 1.0)
        .into_iter()
        .map(|x| {
            if v.dact == EpilogueAct::Relu {
                x.max(0.0)
            } else {
                0.5 * (x + 1.0)
            }
        })
        .collect();

    let ga = ctx.storage_init("a", &a);
    let gb = ctx.storage_init("b", &b);
    let gbias = ctx.storage_init("bias", &bias);
    let gaux = ctx.storage_init("aux", &aux);
    let gc = ctx.storage("c", (m * n * 4) as u64);
    let launch = kernels.matmul(
        ctx,
        "matmul",
        v,
        (m, n, k),
        View::whole(&ga),
        View::whole(&gb),
        v.bias.then(|| View::whole(&gbias)),
        (v.dact != EpilogueAct::None).then(|| View::whole(&gaux)),
        View::whole(&gc),
    );
    run(ctx, &launch);
    let got = ctx.read_f32(&gc, 0, m * n).unwrap();

    let mut want = ops::matmul(&a, &b, (m, n, k), v.trans_a, v.trans_b);
    let abs_a: Vec<f32> = a.iter().map(|x| x.abs()).collect();
    let abs_b: Vec<f32> = b.iter().map(|x| x.abs()).collect();
    let mut scale = ops::matmul(&abs_a, &abs_b, (m, n, k), v.trans_a, v.trans_b);
    if v.bias {
        for r in 0..m {
            for c in 0..n {
                want[r * n + c] += bias[c];
                scale[r * n + c] += bias[c].abs();
            }
        }
    }
    ops::activate(&mut want, act_of(v.act));
    if v.dact != EpilogueAct::None {
        ops::activation_backward(&mut want, &aux, act_of(v.dact));
    }
    assert_within(&format!("matmul {v:?} at {m}x{n}x{k}"), &got, &want, |i| {
        2.0 * (k + 1) as f32 * U * scale[i] + 1e-6
    });
}

const SHAPES: [(usize, usize, usize); 6] = [
    (1, 1, 1),
    (7, 33, 5),
    (127, 785, 10),
    (1, 512, 784),   // batch 1 through the largest layer
    (128, 512, 784), // the mlp preset's first layer at its recipe's batch
    (13, 10, 3),
];

/// Both tile shapes run on any adapter, so CI on lavapipe checks the one GPUs use too.
fn both_tiles(ctx: &GpuContext) -> [Kernels; 2] {
    [
        Kernels::new(ctx).with_matmul_tile(MatmulTile::Tile4),
        Kernels::new(ctx).with_matmul_tile(MatmulTile::Tile16),
    ]
}

/// Split-K: the product over slices of K, then their sum with the epilogue, for each tile,
/// with slice counts that do and do not divide K.
#[test]
fn matmul_split_k_matches_the_twin() {
    let ctx = gpu();
    for tile in [MatmulTile::Tile4, MatmulTile::Tile16] {
        for splits in [2, 7] {
            let kernels = Kernels::new(&ctx)
                .with_matmul_tile(tile)
                .with_splits(splits);
            let dw = MatmulVariant {
                trans_a: true,
                ..Default::default()
            };
            check_matmul(&ctx, &kernels, dw, (9, 6, 1000), 600);
            check_matmul(&ctx, &kernels, dw, (54, 16, 333), 601);
            let fwd = MatmulVariant {
                bias: true,
                act: EpilogueAct::Relu,
                ..Default::default()
            };
            check_matmul(&ctx, &kernels, fwd, (7, 33, 50), 602);
            let dx = MatmulVariant {
                trans_b: true,
                dact: EpilogueAct::Sigmoid,
                ..Default::default()
            };
            check_matmul(&ctx, &kernels, dx, (20, 9, 64), 603);
        }
    }
}

#[test]
fn matmul_forward_variants_match_the_twin() {
    let ctx = gpu();
    for kernels in both_tiles(&ctx) {
        matmul_forward_variants(&ctx, &kernels);
    }
}

fn matmul_forward_variants(ctx: &GpuContext, kernels: &Kernels) {
    for (i, &shape) in SHAPES.iter().enumerate() {
        for act in [EpilogueAct::None, EpilogueAct::Relu, EpilogueAct::Sigmoid] {
            let v = MatmulVariant {
                bias: true,
                act,
                ..Default::default()
            };
            check_matmul(ctx, kernels, v, shape, 100 + i as u64);
        }
        check_matmul(
            ctx,
            kernels,
            MatmulVariant::default(),
            shape,
            200 + i as u64,
        );
    }
}

#[test]
fn matmul_transposed_variants_match_the_twin() {
    let ctx = gpu();
    for kernels in both_tiles(&ctx) {
        matmul_transposed_variants(&ctx, &kernels);
    }
}

fn matmul_transposed_variants(ctx: &GpuContext, kernels: &Kernels) {
    for (i, &shape) in SHAPES.iter().enumerate() {
        // dW = xᵀ·dy
        let v = MatmulVariant {
            trans_a: true,
            ..Default::default()
        };
        check_matmul(ctx, kernels, v, shape, 300 + i as u64);
        // dx = (dy·Wᵀ) ⊙ act'(h)
        for dact in [EpilogueAct::None, EpilogueAct::Relu, EpilogueAct::Sigmoid] {
            let v = MatmulVariant {
                trans_b: true,
                dact,
                ..Default::default()
            };
            check_matmul(ctx, kernels, v, shape, 400 + i as u64);
        }
    }
    let both = MatmulVariant {
        trans_a: true,
        trans_b: true,
        ..Default::default()
    };
    check_matmul(ctx, kernels, both, (7, 33, 5), 500);
    // Several 128-wide workgroup spans in both directions, with ragged edges.
    let v = MatmulVariant {
        bias: true,
        ..Default::default()
    };
    check_matmul(ctx, kernels, v, (300, 259, 17), 501);
}

/// Every epilogue and transposition of `tile` at `shapes`, and split-K (2 and 7 slices, which
/// do and do not divide K) of a weight gradient at `split_shape`.
fn check_every_variant(
    ctx: &GpuContext,
    tile: MatmulTile,
    shapes: &[(usize, usize, usize)],
    split_shape: (usize, usize, usize),
    seed: u64,
) {
    let kernels = Kernels::new(ctx).with_matmul_tile(tile);
    for (i, &shape) in shapes.iter().enumerate() {
        let seed = seed + 10 * i as u64;
        for act in [EpilogueAct::None, EpilogueAct::Relu, EpilogueAct::Sigmoid] {
            let fwd = MatmulVariant {
                bias: act != EpilogueAct::None,
                act,
                ..Default::default()
            };
            check_matmul(ctx, &kernels, fwd, shape, seed);
            let dx = MatmulVariant {
                trans_b: true,
                dact: act,
                ..Default::default()
            };
            check_matmul(ctx, &kernels, dx, shape, seed + 1);
        }
        for (trans_a, trans_b) in [(true, false), (true, true)] {
            let v = MatmulVariant {
                trans_a,
                trans_b,
                ..Default::default()
            };
            check_matmul(ctx, &kernels, v, shape, seed + 2);
        }
    }
    for splits in [2, 7] {
        let split = Kernels::new(ctx).with_matmul_tile(tile).with_splits(splits);
        let dw = MatmulVariant {
            trans_a: true,
            ..Default::default()
        };
        check_matmul(ctx, &split, dw, split_shape, seed + 90 + splits as u64);
    }
}

/// The blocked kernel of CPU adapters (generated per block shape; any adapter runs it). An
/// 8x8 block takes every code path (each transposition, epilogue and split-K) at shapes that
/// are multiples of 4 but not of the block or of its workgroup's span, where its loads clamp
/// and its stores are cut off. The generator writes every block size alike; the 32x16 and
/// 32x32 blocks that lavapipe runs on big products are checked through whole training steps
/// of the full-size presets in `parity_step.rs`.
#[test]
fn matmul_blocked_matches_the_twin() {
    let ctx = gpu();
    let small = Block { rows: 8, cols: 8 };
    let shapes = [(4, 4, 4), (12, 36, 20), (132, 68, 44), (4, 516, 72)];
    check_every_variant(
        &ctx,
        MatmulTile::Blocked(small),
        &shapes,
        (12, 36, 100),
        700,
    );
}

/// The workgroup-memory kernel of GPUs (any adapter runs it; lavapipe slowly, so shapes stay
/// small): every transposition, epilogue and split-K at an odd tiling with f32 loads and one
/// buffer, and at a small tiling with vec4 loads and two buffers, at shapes where both, one
/// or neither operand loads vec4 (split-K: 7 slices of K = 100 start on multiples of 4 only
/// through K_ALIGN); and the 64x64 tiling the tuner tries first at a shape with ragged tiles.
#[test]
fn matmul_tiled_matches_the_twin() {
    let ctx = gpu();
    let shapes = [(1, 1, 1), (7, 33, 5), (13, 10, 23)];
    check_every_variant(
        &ctx,
        MatmulTile::Tiled(ODD_TILING),
        &shapes,
        (9, 6, 100),
        900,
    );
    let vec4_shapes = [(4, 4, 4), (20, 28, 44), (8, 12, 6), (7, 33, 5)];
    check_every_variant(
        &ctx,
        MatmulTile::Tiled(VEC4_TILING),
        &vec4_shapes,
        (12, 8, 100),
        930,
    );
    // The sweep's split-K product loads along M and N; these load along K.
    let split = Kernels::new(&ctx)
        .with_matmul_tile(MatmulTile::Tiled(VEC4_TILING))
        .with_splits(7);
    for trans_b in [false, true] {
        let v = MatmulVariant {
            trans_b,
            ..Default::default()
        };
        check_matmul(&ctx, &split, v, (8, 12, 100), 950);
    }
    let t64 = Kernels::new(&ctx).with_matmul_tile(MatmulTile::Tiled(Tiling::T64));
    let fwd = MatmulVariant {
        bias: true,
        act: EpilogueAct::Relu,
        ..Default::default()
    };
    check_matmul(&ctx, &t64, fwd, (70, 90, 40), 960);
}

/// The tuner times its candidates once per shape class, its choice computes the right
/// product, and a second tuner reads the choice from the file instead of timing again.
#[test]
fn matmul_tuner_times_once_and_remembers() {
    let ctx = gpu();
    let path =
        std::env::temp_dir().join(format!("shaderfit-tuning-test-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let candidates = vec![MatmulTile::Tile4, MatmulTile::Tiled(ODD_TILING)];
    let tuner =
        || Tuner::new(Some(path.clone()), "test adapter").with_candidates(candidates.clone());
    let v = MatmulVariant::default();
    // 2^18 multiply-adds or more: tuned.
    let shape = (128, 64, 64);

    let first = Kernels::new(&ctx).with_tuner(Some(tuner()));
    check_matmul(&ctx, &first, v, shape, 970);
    check_matmul(&ctx, &first, v, (100, 60, 52), 971); // same class
    assert_eq!(first.tuner().unwrap().timed(), 1);
    let saved = std::fs::read_to_string(&path).expect("the tuner wrote its choice");
    assert!(saved.contains("test adapter") && saved.contains("m2^7 n2^6 k2^6 trans 00"));

    let second = Kernels::new(&ctx).with_tuner(Some(tuner()));
    check_matmul(&ctx, &second, v, shape, 972);
    assert_eq!(second.tuner().unwrap().timed(), 0, "read from {saved}");
    let _ = std::fs::remove_file(&path);
}

/// Weight and bias gradients, `dw = xᵀ·dy` and `db = Σ dy`: in one launch with tile4 and the
/// tiled kernels (a row of ones appended to xᵀ; with split-K, its partial sums reduced with
/// the others), in separate launches with the CPU adapters' blocked kernel. Same tolerance as
/// the products above, with the sums' own scale.
#[test]
fn weight_grads_match_the_twins() {
    let ctx = gpu();
    let small = MatmulTile::Blocked(Block { rows: 8, cols: 8 });
    let sets = [
        (
            Kernels::new(&ctx).with_matmul_tile(MatmulTile::Tile4),
            Some(1),
        ),
        (
            Kernels::new(&ctx).with_matmul_tile(MatmulTile::Tiled(ODD_TILING)),
            Some(1),
        ),
        (
            Kernels::new(&ctx)
                .with_matmul_tile(MatmulTile::Tile4)
                .with_splits(3),
            None,
        ),
        (
            Kernels::new(&ctx)
                .with_matmul_tile(MatmulTile::Tiled(ODD_TILING))
                .with_splits(7),
            None,
        ),
        (
            Kernels::new(&ctx).with_matmul_tile(MatmulTile::Tiled(VEC4_TILING)),
            Some(1),
        ),
        (Kernels::new(&ctx).with_matmul_tile(small), None),
    ];
    for (set, (kernels, launch_count)) in sets.iter().enumerate() {
        for (i, &(m, n, k)) in [(1, 1, 1), (9, 6, 100), (12, 36, 20), (33, 7, 5)]
            .iter()
            .enumerate()
        {
            let seed = 1000 + 10 * (set * 4 + i) as u64;
            let x = random_f32(k * m, seed, -1.0, 1.0);
            let dy = random_f32(k * n, seed + 1, -1.0, 1.0);
            let (gx, gdy) = (ctx.storage_init("x", &x), ctx.storage_init("dy", &dy));
            let gdw = ctx.storage("dw", (m * n * 4) as u64);
            let gdb = ctx.storage("db", (n * 4) as u64);
            let launches = kernels.weight_grads(
                &ctx,
                "dW",
                (m, n, k),
                View::whole(&gx),
                View::whole(&gdy),
                View::whole(&gdw),
                View::whole(&gdb),
            );
            if let Some(count) = launch_count {
                assert_eq!(launches.len(), *count, "set {set}: one launch for both");
            }
            run(&ctx, &launches);
            let what = format!("set {set}, dW {m}x{n}x{k}");
            let want = ops::matmul(&x, &dy, (m, n, k), true, false);
            let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<f32>>();
            let scale = ops::matmul(&abs(&x), &abs(&dy), (m, n, k), true, false);
            assert_within(&what, &ctx.read_f32(&gdw, 0, m * n).unwrap(), &want, |j| {
                2.0 * (k + 1) as f32 * U * scale[j] + 1e-6
            });
            let ones = vec![1.0; k];
            let want_db = ops::matmul(&ones, &dy, (1, n, k), false, false);
            let scale_db = ops::matmul(&ones, &abs(&dy), (1, n, k), false, false);
            assert_within(&what, &ctx.read_f32(&gdb, 0, n).unwrap(), &want_db, |j| {
                2.0 * (k + 1) as f32 * U * scale_db[j] + 1e-6
            });
        }
    }
}

#[test]
fn bias_grad_matches_the_twin() {
    let ctx = gpu();
    // (86528, 6): the first convolution of lenet at batch 128 (rows = 128*26*26), where the
    // rows are split into slices on their own.
    let shapes = [(1, 1), (127, 10), (33, 513), (1, 784), (86528, 6)];
    for (seed, (rows, cols)) in shapes.into_iter().enumerate() {
        let dy = random_f32(rows * cols, seed as u64, -1.0, 1.0);
        let gdy = ctx.storage_init("dy", &dy);
        let gdb = ctx.storage("db", (cols * 4) as u64);
        let want = ops::bias_grad(&dy, rows, cols);
        let abs: Vec<f32> = dy.iter().map(|x| x.abs()).collect();
        let scale = ops::bias_grad(&abs, rows, cols);
        let variants = [
            ("", Kernels::new(&ctx)),
            (" in 4 slices", Kernels::new(&ctx).with_splits(4)),
        ];
        for (what, k) in variants {
            run(
                &ctx,
                &k.bias_grad(&ctx, rows, cols, View::whole(&gdy), View::whole(&gdb)),
            );
            let got = ctx.read_f32(&gdb, 0, cols).unwrap();
            assert_within(
                &format!("bias_grad {rows}x{cols}{what}"),
                &got,
                &want,
                |i| 2.0 * rows as f32 * U * scale[i] + 1e-6,
            );
        }
    }
}

#[test]
fn gather_matches_the_twin_including_the_short_last_batch() {
    let ctx = gpu();
    let kernels = Kernels::new(&ctx);
    // 37 samples of 13 bytes (not a multiple of 4: samples straddle packed words).
    let (n, bytes, batch) = (37usize, 13usize, 8usize);
    let mut g = shaderfit::rng::SplitMix64::new(5);
    let images: Vec<u8> = (0..n * bytes).map(|_| g.below(256) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|_| g.below(10) as u8).collect();
    let mut order: Vec<u32> = (0..n as u32).collect();
    g.shuffle(&mut order);
    let gimages = ctx.storage_u8("images", &images);
    let glabels = ctx.storage_u8("labels", &labels);
    let gorder = ctx.storage_init("order", &order);
    let gx = ctx.storage("x", (batch * bytes * 4) as u64);
    let gy = ctx.storage("y", (batch * 4) as u64);
    // Steps 0..4 are full, step 4 holds 5 samples and 3 padding rows.
    for step in [0usize, 2, 4] {
        let cursor = ctx.storage_init("cursor", &[step as u32, 0]);
        let launch = kernels.gather(
            &ctx,
            batch,
            bytes,
            View::whole(&gimages),
            View::whole(&glabels),
            View::whole(&gorder),
            n,
            View::whole(&cursor),
            View::whole(&gx),
            View::whole(&gy),
        );
        run(&ctx, &[launch]);
        let x = ctx.read_f32(&gx, 0, batch * bytes).unwrap();
        let y = ctx.read_u32(&gy, 0, batch).unwrap();
        let (want_x, want_y) = ops::gather(&images, &labels, &order, step, batch, bytes);
        assert_eq!(y, want_y, "labels of step {step}");
        assert_within(&format!("gather x, step {step}"), &x, &want_x, |i| {
            1e-7 + 1e-6 * want_x[i]
        });
    }
    assert_eq!(PAD_LABEL, ops::PAD_LABEL);
}

fn check_softmax_xent(
    ctx: &GpuContext,
    kernels: &Kernels,
    batch: usize,
    classes: usize,
    pad_rows: usize,
    seed: u64,
) {
    let logits = random_f32(batch * classes, seed, -4.0, 4.0);
    let mut g = shaderfit::rng::SplitMix64::new(seed + 1);
    let labels: Vec<u32> = (0..batch)
        .map(|r| {
            if r + pad_rows >= batch {
                PAD_LABEL
            } else {
                g.below(classes) as u32
            }
        })
        .collect();
    let glogits = ctx.storage_init("logits", &logits);
    let glabels = ctx.storage_init("labels", &labels);
    let gd = ctx.storage("dlogits", (batch * classes * 4) as u64);
    // Slot 1 starts from non-zero sums: the kernel must add, not overwrite.
    let start = Metric {
        loss_sum: 2.5,
        correct: 3,
        count: 7,
        _pad: 0,
    };
    let gmetrics = ctx.storage_init("metrics", &[Metric::default(), start, Metric::default()]);
    let gcursor = ctx.storage_init("cursor", &[4u32, 9]);
    let launch = kernels.softmax_xent(
        ctx,
        batch,
        classes,
        1,
        View::whole(&glogits),
        View::whole(&glabels),
        View::whole(&gd),
        View::whole(&gmetrics),
        View::whole(&gcursor),
    );
    run(ctx, &[launch]);
    let want = ops::softmax_xent(&logits, &labels, classes);
    let got = ctx.read_f32(&gd, 0, batch * classes).unwrap();
    let what = format!("softmax_xent {batch}x{classes} ({pad_rows} padding rows)");
    assert_within(&what, &got, &want.dlogits, |i| {
        1e-6 + 1e-5 * want.dlogits[i].abs()
    });
    let m: Vec<Metric> = bytemuck::pod_collect_to_vec(&ctx.read_bytes(&gmetrics, 0, 48).unwrap());
    assert_eq!(m[1].count, 7 + want.count, "{what}: count");
    assert_eq!(m[1].correct, 3 + want.correct, "{what}: correct");
    let want_loss = 2.5 + want.loss_sum;
    assert!(
        (m[1].loss_sum - want_loss).abs() <= 1e-5 * want_loss.abs() + 1e-5,
        "{what}: loss sum {} vs {want_loss}",
        m[1].loss_sum
    );
    assert_eq!(
        (m[0], m[2]),
        (Metric::default(), Metric::default()),
        "{what}: other slots untouched"
    );
    assert_eq!(
        ctx.read_u32(&gcursor, 0, 2).unwrap(),
        vec![5, 10],
        "{what}: cursor advanced once"
    );
}

#[test]
fn softmax_xent_matches_the_twin() {
    let ctx = gpu();
    let kernels = Kernels::new(&ctx);
    check_softmax_xent(&ctx, &kernels, 1, 10, 0, 1);
    check_softmax_xent(&ctx, &kernels, 7, 10, 2, 2);
    check_softmax_xent(&ctx, &kernels, 300, 3, 0, 3); // more rows than the workgroup
    check_softmax_xent(&ctx, &kernels, 128, 10, 32, 4);
    check_softmax_xent(&ctx, &kernels, 5, 2, 5, 5); // all padding: nothing counted
}

#[test]
fn optimizers_match_their_twins() {
    let ctx = gpu();
    let kernels = Kernels::new(&ctx);
    let n = 1000; // 250 vec4: not a multiple of the 256-wide workgroup
    let t = 3u32;
    let w0 = random_f32(n, 1, -1.0, 1.0);
    let g = random_f32(n, 2, -0.1, 0.1);
    let s1_0 = random_f32(n, 3, -0.01, 0.01);
    let s2_0 = random_f32(n, 4, 0.0, 0.01);
    let cases = [
        (OptimizerKind::Sgd, 0.1, 0.0, 0.0, 0.0),
        (OptimizerKind::SgdMomentum, 0.05, 0.9, 0.0, 0.0),
        (OptimizerKind::Adam, 0.001, 0.9, 0.999, 1e-7),
        (OptimizerKind::RmsProp, 0.001, 0.9, 0.0, 1e-7),
    ];
    for (kind, lr, beta1, beta2, eps) in cases {
        let (mut w, mut s1, mut s2) = (w0.clone(), s1_0.clone(), s2_0.clone());
        // RMSprop's state is a mean of squares: keep it non-negative.
        if kind == OptimizerKind::RmsProp {
            s1 = s2_0.clone();
        }
        let gw = ctx.storage_init("w", &w);
        let gg = ctx.storage_init("g", &g);
        let gs1 = ctx.storage_init("s1", &s1);
        let gs2 = ctx.storage_init("s2", &s2);
        let gcursor = ctx.storage_init("cursor", &[0u32, t]);
        let hyper = OptimizerHyper {
            lr,
            beta1,
            beta2,
            eps,
            n: n as u32,
            grid_width: 0,
            _pad: [0; 2],
        };
        run(
            &ctx,
            &[kernels.optimizer(
                &ctx,
                kind,
                hyper,
                View::whole(&gw),
                View::whole(&gg),
                Some(View::whole(&gs1)),
                Some(View::whole(&gs2)),
                View::whole(&gcursor),
            )],
        );
        match kind {
            OptimizerKind::Sgd => ops::sgd(&mut w, &g, lr),
            OptimizerKind::SgdMomentum => ops::sgd_momentum(&mut w, &g, &mut s1, lr, beta1),
            OptimizerKind::Adam => {
                ops::adam(&mut w, &g, &mut s1, &mut s2, t, lr, beta1, beta2, eps)
            }
            OptimizerKind::RmsProp => ops::rmsprop(&mut w, &g, &mut s1, lr, beta1, eps),
        }
        let what = format!("{kind:?}");
        let got_w = ctx.read_f32(&gw, 0, n).unwrap();
        assert_within(&format!("{what} weights"), &got_w, &w, |i| {
            1e-6 + 1e-5 * w[i].abs()
        });
        let got_s1 = ctx.read_f32(&gs1, 0, n).unwrap();
        if kind != OptimizerKind::Sgd {
            assert_within(&format!("{what} state 1"), &got_s1, &s1, |i| {
                1e-9 + 1e-5 * s1[i].abs()
            });
        }
        if kind == OptimizerKind::Adam {
            let got_s2 = ctx.read_f32(&gs2, 0, n).unwrap();
            assert_within(&format!("{what} state 2"), &got_s2, &s2, |i| {
                1e-12 + 1e-5 * s2[i].abs()
            });
        }
    }
}

#[test]
fn every_shader_validates_with_naga() {
    for (name, source) in shaderfit::gpu::kernels::SHADERS {
        let module = naga::front::wgsl::parse_str(source)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    }
}
