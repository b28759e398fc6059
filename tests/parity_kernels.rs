//! Each WGSL kernel against its plain-Rust twin in `shaderfit::reference::ops`, on random data
//! at awkward shapes: 1x1x1, sizes that are not multiples of the 4x4 register tile or the
//! workgroup, batch 1, and the largest layer of the presets (784 -> 512); and every shader
//! module's contract against its Rust declaration.
//!
//! Tolerances, and why:
//! - matmul and bias_grad sum K products in f32 in a different order than the twin (which
//!   sums in f64). The standard bound for recursive summation is
//!   |error| <= K·u·Σ|a_k·b_k| with u = 2^-24; we allow twice that (the GPU's four partial
//!   sums and the epilogue add a few roundings) plus 1e-6 absolute for sums near zero
//!   ([`Bound::matmul`]).
//! - elementwise results (gather, softmax, optimizer updates) are a few f32 operations whose
//!   WGSL accuracy is a few ULP (division 2.5 ULP, exp/log/pow/sqrt a few more), so we allow a
//!   relative 1e-5 plus an absolute 1e-6 (1e-7 for gather's x/255).
//! - integer results (labels, correct counts, sample counts) must match exactly.

mod support;

use shaderfit::floor::augment::{Augment, DrawKey};
use shaderfit::floor::Activation;
use shaderfit::gpu::kernels::family::{check_module, ModuleSource};
use shaderfit::gpu::kernels::{
    ActGrad, BiasGradArgs, Block, ConfusionArgs, DenseBackwardArgs, DenseXentArgs, FixedTable,
    Forced, GatherArgs, LossArgs, LossMetric, MatmulArgs, MatmulTile, ModuleKey, OptimizerArgs,
    OptimizerParams, PredictionsArgs, RowStat, Tiling, Tuned, Tuner, View, WeightGradArgs,
    MAX_FUSED_CLASSES, PAD_LABEL, STEP_END_STORAGE,
};
use shaderfit::gpu::{GpuContext, Kernels};
use shaderfit::optim::{Adam, Optimizer};
use shaderfit::reference::ops;
use support::parity::{
    every_optimizer, for_each_case, matmul_variants, split_variants, t64, Bound, Check,
};
use support::{assert_within, gpu, kernels, random_f32, run, ODD_TILING, VEC4_TILING};

/// One product: its transpositions and epilogue, its shape `(m, n, k)`, and the seed of its
/// random operands.
#[derive(Clone, Copy, Debug)]
struct Case {
    trans: (bool, bool),
    bias: bool,
    act: Activation,
    dact: Activation,
    shape: (usize, usize, usize),
    seed: u64,
}

impl Case {
    fn new(shape: (usize, usize, usize), seed: u64) -> Case {
        Case {
            trans: (false, false),
            bias: false,
            act: Activation::Linear,
            dact: Activation::Linear,
            shape,
            seed,
        }
    }

    /// `act(a·b + bias)`.
    fn forward(act: Activation, shape: (usize, usize, usize), seed: u64) -> Case {
        Case {
            bias: true,
            act,
            ..Case::new(shape, seed)
        }
    }

    fn trans(self, a: bool, b: bool) -> Case {
        Case {
            trans: (a, b),
            ..self
        }
    }

    /// `(a·bᵀ) ⊙ act'(aux)`: a dense layer's dx.
    fn dx(dact: Activation, shape: (usize, usize, usize), seed: u64) -> Case {
        Case {
            dact,
            ..Case::new(shape, seed).trans(false, true)
        }
    }
}

/// Runs one product on both paths.
fn check_matmul(ctx: &GpuContext, kernels: &Kernels, c: &Case) -> Vec<Check> {
    let (m, n, k) = c.shape;
    let a = random_f32(m * k, c.seed, -1.0, 1.0);
    let b = random_f32(k * n, c.seed + 1, -1.0, 1.0);
    let bias = random_f32(n, c.seed + 2, -1.0, 1.0);
    // aux is an activation output: relu's is >= 0 with exact zeros, sigmoid's in (0, 1).
    let aux: Vec<f32> = random_f32(m * n, c.seed + 3, -1.0, 1.0)
        .into_iter()
        .map(|x| {
            if c.dact == Activation::Relu {
                x.max(0.0)
            } else {
                0.5 * (x + 1.0)
            }
        })
        .collect();
    let (ga, gb, gbias, gaux) = (
        ctx.storage_init("a", &a),
        ctx.storage_init("b", &b),
        ctx.storage_init("bias", &bias),
        ctx.storage_init("aux", &aux),
    );
    let gc = ctx.storage("c", (m * n * 4) as u64);
    let args = MatmulArgs {
        trans_a: c.trans.0,
        trans_b: c.trans.1,
        bias: c.bias.then(|| View::whole(&gbias)),
        act: c.act,
        act_grad: ActGrad::of(c.dact, View::whole(&gaux)),
        ..MatmulArgs::new(
            "matmul",
            c.shape,
            View::whole(&ga),
            View::whole(&gb),
            View::whole(&gc),
        )
    };
    run(ctx, &kernels.matmul(ctx, &args));

    let (ta, tb) = c.trans;
    let mut want = ops::matmul(&a, &b, c.shape, ta, tb);
    let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<f32>>();
    let mut scale = ops::matmul(&abs(&a), &abs(&b), c.shape, ta, tb);
    if c.bias {
        for (i, (w, s)) in want.iter_mut().zip(scale.iter_mut()).enumerate() {
            *w += bias[i % n];
            *s += bias[i % n].abs();
        }
    }
    ops::activate(&mut want, c.act);
    ops::activation_backward(&mut want, &aux, c.dact);
    let got = ctx.read_f32(&gc, 0, m * n).unwrap();
    vec![Check::new("matmul", got, want, Bound::matmul(k, scale))]
}

/// A dense layer's dW, db and dx in one dispatch (what GPUs run; forced here) against the
/// twins of the two products and of the bias gradient, at shapes with ragged tiles, a batch
/// of 1, the mlp's output layer, and each derivative of the activation below. Each output is
/// a K-term sum: the matmul bound (db's K is the batch, its terms |dy|).
#[test]
fn paired_dense_backward_matches_the_twins() {
    let ctx = gpu();
    // 4 rows of 4 columns per invocation (CPU adapters, big layers) and 1 (GPUs' small ones).
    for rows in [4, 1] {
        let k = kernels(&ctx, Forced::dense_pair(true).with_pair_rows(rows));
        check_paired_dense_backward(&ctx, &k, rows);
    }
}

fn check_paired_dense_backward(ctx: &GpuContext, kernels: &Kernels, rows: u32) {
    let cases = [
        (13, 37, 10, Activation::Relu),
        (5, 3, 33, Activation::Sigmoid),
        (128, 512, 10, Activation::Linear),
        (1, 1, 1, Activation::Relu),
    ];
    for (i, (batch, fan_in, units, dact)) in cases.into_iter().enumerate() {
        let seed = 1200 + 10 * i as u64;
        // x is the activation's output below: >= 0 under relu, in (0, 1) under sigmoid.
        let x: Vec<f32> = random_f32(batch * fan_in, seed, -1.0, 1.0)
            .into_iter()
            .map(|v| match dact {
                Activation::Sigmoid => 0.5 * (v + 1.0),
                _ => v.max(0.0),
            })
            .collect();
        let dy = random_f32(batch * units, seed + 1, -1.0, 1.0);
        let w = random_f32(fan_in * units, seed + 2, -1.0, 1.0);
        let (gx, gdy, gw) = (
            ctx.storage_init("x", &x),
            ctx.storage_init("dy", &dy),
            ctx.storage_init("w", &w),
        );
        let gdw = ctx.storage("dw", (fan_in * units * 4) as u64);
        let gdb = ctx.storage("db", (units * 4) as u64);
        let gdx = ctx.storage("dx", (batch * fan_in * 4) as u64);
        let launches = kernels.dense_backward(
            ctx,
            &DenseBackwardArgs {
                batch,
                fan_in,
                units,
                x: View::whole(&gx),
                dy: View::whole(&gdy),
                w: View::whole(&gw),
                dw: View::whole(&gdw),
                db: View::whole(&gdb),
                dx: Some(View::whole(&gdx)),
                act_grad: ActGrad::of(dact, View::whole(&gx)),
            },
        );
        assert_eq!(launches.len(), 1, "one dispatch");
        run(ctx, &launches);
        let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<f32>>();
        let dw_shape = (fan_in, units, batch);
        let dx_shape = (batch, fan_in, units);
        let mut want_dx = ops::matmul(&dy, &w, dx_shape, false, true);
        ops::activation_backward(&mut want_dx, &x, dact);
        let what = format!("dense backward {batch}x{fan_in}x{units} {dact:?}, {rows} rows");
        let checks = [
            Check::new(
                "dW",
                ctx.read_f32(&gdw, 0, fan_in * units).unwrap(),
                ops::matmul(&x, &dy, dw_shape, true, false),
                Bound::matmul(
                    batch,
                    ops::matmul(&abs(&x), &abs(&dy), dw_shape, true, false),
                ),
            ),
            Check::new(
                "db",
                ctx.read_f32(&gdb, 0, units).unwrap(),
                ops::bias_grad(&dy, batch, units),
                Bound::matmul(batch, ops::bias_grad(&abs(&dy), batch, units)),
            ),
            Check::new(
                "dx",
                ctx.read_f32(&gdx, 0, batch * fan_in).unwrap(),
                want_dx,
                Bound::matmul(
                    units,
                    ops::matmul(&abs(&dy), &abs(&w), dx_shape, false, true),
                ),
            ),
        ];
        for check in checks {
            check.assert(&what);
        }
    }
}

const SHAPES: [(usize, usize, usize); 6] = [
    (1, 1, 1),
    (7, 33, 5),
    (127, 785, 10),
    (1, 512, 784),   // batch 1 through the largest layer
    (128, 512, 784), // the mlp preset's first layer at its recipe's batch
    (13, 10, 3),
];

/// tile4 (GPUs' small products) and tile16 (CPU adapters'): both run on any adapter, so CI on
/// lavapipe checks the one GPUs use too.
fn both_tiles(ctx: &GpuContext) -> Vec<(String, Kernels)> {
    let mut v = matmul_variants(ctx);
    v.truncate(2);
    v
}

/// Split-K: the product over slices of K, then their sum with the epilogue, for tile4 and
/// tile16, with slice counts that do and do not divide K.
#[test]
fn matmul_split_k_matches_the_twin() {
    let ctx = gpu();
    let cases = [
        Case::new((9, 6, 1000), 600).trans(true, false),
        Case::new((54, 16, 333), 601).trans(true, false),
        Case::forward(Activation::Relu, (7, 33, 50), 602),
        Case::dx(Activation::Sigmoid, (20, 9, 64), 603),
    ];
    for splits in [2, 7] {
        let variants: Vec<_> = split_variants(&ctx, splits).into_iter().take(2).collect();
        for_each_case(&variants, &cases, |k, c| check_matmul(&ctx, k, c));
    }
}

#[test]
fn matmul_forward_variants_match_the_twin() {
    let ctx = gpu();
    let mut cases = Vec::new();
    for (i, &shape) in SHAPES.iter().enumerate() {
        for act in [Activation::Linear, Activation::Relu, Activation::Sigmoid] {
            cases.push(Case::forward(act, shape, 100 + i as u64));
        }
        cases.push(Case::new(shape, 200 + i as u64));
    }
    for_each_case(&both_tiles(&ctx), &cases, |k, c| check_matmul(&ctx, k, c));
}

#[test]
fn matmul_transposed_variants_match_the_twin() {
    let ctx = gpu();
    let mut cases = Vec::new();
    for (i, &shape) in SHAPES.iter().enumerate() {
        // dW = xᵀ·dy
        cases.push(Case::new(shape, 300 + i as u64).trans(true, false));
        // dx = (dy·Wᵀ) ⊙ act'(h)
        for dact in [Activation::Linear, Activation::Relu, Activation::Sigmoid] {
            cases.push(Case::dx(dact, shape, 400 + i as u64));
        }
    }
    cases.push(Case::new((7, 33, 5), 500).trans(true, true));
    // Several 128-wide workgroup spans in both directions, with ragged edges.
    cases.push(Case {
        bias: true,
        ..Case::new((300, 259, 17), 501)
    });
    for_each_case(&both_tiles(&ctx), &cases, |k, c| check_matmul(&ctx, k, c));
}

/// Every epilogue and transposition at `shapes`: forward with and without bias and each
/// activation, dx with each derivative, dW, and both transposed.
fn every_variant(shapes: &[(usize, usize, usize)], seed: u64) -> Vec<Case> {
    let mut cases = Vec::new();
    for (i, &shape) in shapes.iter().enumerate() {
        let seed = seed + 10 * i as u64;
        for act in [Activation::Linear, Activation::Relu, Activation::Sigmoid] {
            cases.push(Case {
                bias: act != Activation::Linear,
                ..Case::forward(act, shape, seed)
            });
            cases.push(Case::dx(act, shape, seed + 1));
        }
        cases.push(Case::new(shape, seed + 2).trans(true, false));
        cases.push(Case::new(shape, seed + 2).trans(true, true));
    }
    cases
}

/// Split-K of a weight gradient (2 and 7 slices, which do and do not divide K).
fn split_dw(ctx: &GpuContext, variant: usize, shape: (usize, usize, usize), seed: u64) {
    for splits in [2, 7] {
        let v = &split_variants(ctx, splits)[variant..variant + 1];
        let case = Case::new(shape, seed + 90 + splits as u64).trans(true, false);
        for_each_case(v, &[case], |k, c| check_matmul(ctx, k, c));
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
    let shapes = [(4, 4, 4), (12, 36, 20), (132, 68, 44), (4, 516, 72)];
    let blocked = &matmul_variants(&ctx)[2..3];
    for_each_case(blocked, &every_variant(&shapes, 700), |k, c| {
        check_matmul(&ctx, k, c)
    });
    split_dw(&ctx, 2, (12, 36, 100), 700);
}

/// The workgroup-memory kernel of GPUs (any adapter runs it; lavapipe slowly, so shapes stay
/// small): every transposition, epilogue and split-K at an odd tiling with f32 loads and one
/// buffer, and at a small tiling with vec4 loads and two buffers, at shapes where both, one
/// or neither operand loads vec4 (split-K: 7 slices of K = 100 start on multiples of 4 only
/// through K_ALIGN); and the 64x64 tiling the tuner tries first at a shape with ragged tiles.
#[test]
fn matmul_tiled_matches_the_twin() {
    let ctx = gpu();
    let variants = matmul_variants(&ctx);
    let odd = [(1, 1, 1), (7, 33, 5), (13, 10, 23)];
    for_each_case(&variants[3..4], &every_variant(&odd, 900), |k, c| {
        check_matmul(&ctx, k, c)
    });
    split_dw(&ctx, 3, (9, 6, 100), 900);
    let vec4 = [(4, 4, 4), (20, 28, 44), (8, 12, 6), (7, 33, 5)];
    for_each_case(&variants[4..5], &every_variant(&vec4, 930), |k, c| {
        check_matmul(&ctx, k, c)
    });
    split_dw(&ctx, 4, (12, 8, 100), 930);
    // The sweep's split-K product loads along M and N; these load along K.
    let along_k = [
        Case::new((8, 12, 100), 950),
        Case::new((8, 12, 100), 950).trans(false, true),
    ];
    let split = &split_variants(&ctx, 7)[4..5];
    for_each_case(split, &along_k, |k, c| check_matmul(&ctx, k, c));
    let t64 = [("tiled 64x64".to_string(), t64(&ctx))];
    let case = Case::forward(Activation::Relu, (70, 90, 40), 960);
    for_each_case(&t64, &[case], |k, c| check_matmul(&ctx, k, c));
    // The tilings whose sides are multiples of 32 swizzle the tiles stored along K (A
    // untransposed, B transposed): scalar and vec4 loads, BK 16 and 8, ragged and whole tiles.
    if support::slow_barriers(&ctx) {
        return;
    }
    // And GPUs' fill ladder's 32x32 tiles (swizzled too).
    let swizzled: Vec<_> = [Tiling::T64, Tiling::T64.pipelined(), Tiling::T128]
        .into_iter()
        .chain([Tiling::FILL_LADDER[1]])
        .map(|t| {
            let k = kernels(&ctx, Forced::matmul(MatmulTile::Tiled(t)));
            (format!("tiled {}", MatmulTile::Tiled(t).name()), k)
        })
        .collect();
    let cases = [
        Case::forward(Activation::Relu, (70, 90, 40), 970),
        Case::new((68, 96, 48), 971).trans(false, true),
        Case::new((64, 64, 36), 972).trans(true, true),
        Case::new((72, 40, 52), 973).trans(true, false),
    ];
    for_each_case(&swizzled, &cases, |k, c| check_matmul(&ctx, k, c));
    // The ladder's 16x16 and 16x8 tiles (sides under 32: not swizzled), with vec4 loads of A
    // and of B, and ragged edges.
    let small: Vec<_> = Tiling::FILL_LADDER[2..]
        .iter()
        .map(|&t| {
            let k = kernels(&ctx, Forced::matmul(MatmulTile::Tiled(t)));
            (format!("tiled {}", MatmulTile::Tiled(t).name()), k)
        })
        .collect();
    for_each_case(&small, &cases[..2], |k, c| check_matmul(&ctx, k, c));
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
    let tuner = || {
        std::sync::Arc::new(
            Tuner::open(&path, "test adapter")
                .unwrap()
                .with_candidates(candidates.clone()),
        )
    };
    // 2^18 multiply-adds or more: tuned.
    let first = tuner();
    let k = kernels(&ctx, Tuned(first.clone()));
    let cases = [Case::new((128, 64, 64), 970), Case::new((100, 60, 52), 971)]; // one class
    for_each_case(&[("tuned".into(), k)], &cases, |k, c| {
        check_matmul(&ctx, k, c)
    });
    assert_eq!(first.timed(), 1);
    let saved = std::fs::read_to_string(&path).expect("the tuner wrote its choice");
    let json: serde_json::Value = serde_json::from_str(&saved).unwrap();
    let entries = json["adapters"]["test adapter"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{saved}");
    let class = &entries[0]["class"];
    assert_eq!(
        (
            &class["kind"],
            &class["m_log2"],
            &class["n_log2"],
            &class["k_log2"],
            &class["trans_a"]
        ),
        (
            &"matmul".into(),
            &7.into(),
            &6.into(),
            &6.into(),
            &false.into()
        ),
        "{saved}"
    );

    let second = tuner();
    let k = kernels(&ctx, Tuned(second.clone()));
    for_each_case(&[("tuned".into(), k)], &cases[..1], |k, c| {
        check_matmul(&ctx, k, c)
    });
    assert_eq!(second.timed(), 0, "read from {saved}");
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
    let sets: [(Forced, Option<usize>); 6] = [
        (Forced::matmul(MatmulTile::Tile4), Some(1)),
        (Forced::matmul(MatmulTile::Tiled(ODD_TILING)), Some(1)),
        (Forced::matmul(MatmulTile::Tile4).with_splits(3), None),
        (
            Forced::matmul(MatmulTile::Tiled(ODD_TILING)).with_splits(7),
            None,
        ),
        (Forced::matmul(MatmulTile::Tiled(VEC4_TILING)), Some(1)),
        (Forced::matmul(small), None),
    ];
    for (set, (policy, launch_count)) in sets.iter().enumerate() {
        let kernels = kernels(&ctx, *policy);
        let name = format!("{policy:?}");
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
                &WeightGradArgs {
                    label: "dW",
                    m,
                    n,
                    k,
                    x: View::whole(&gx),
                    dy: View::whole(&gdy),
                    dw: View::whole(&gdw),
                    db: View::whole(&gdb),
                    defer: None,
                },
            );
            if let Some(count) = launch_count {
                assert_eq!(launches.len(), *count, "{name}: one launch for both");
            }
            run(&ctx, &launches);
            let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<f32>>();
            let ones = vec![1.0; k];
            let checks = [
                Check::new(
                    "dW",
                    ctx.read_f32(&gdw, 0, m * n).unwrap(),
                    ops::matmul(&x, &dy, (m, n, k), true, false),
                    Bound::matmul(k, ops::matmul(&abs(&x), &abs(&dy), (m, n, k), true, false)),
                ),
                Check::new(
                    "db",
                    ctx.read_f32(&gdb, 0, n).unwrap(),
                    ops::matmul(&ones, &dy, (1, n, k), false, false),
                    Bound::matmul(k, ops::matmul(&ones, &abs(&dy), (1, n, k), false, false)),
                ),
            ];
            for c in checks {
                c.assert(&format!("{name}, {m}x{n}x{k}"));
            }
        }
    }
}

#[test]
fn bias_grad_matches_the_twin() {
    let ctx = gpu();
    // (86528, 6): the first convolution of lenet at batch 128 (rows = 128*26*26), where the
    // rows are split into slices on their own.
    let shapes = [
        (0, 1, 1),
        (1, 127, 10),
        (2, 33, 513),
        (3, 1, 784),
        (4, 86528, 6),
    ];
    let variants = [
        ("".to_string(), kernels(&ctx, FixedTable)),
        (
            " in 4 slices".to_string(),
            kernels(&ctx, Forced::default().with_splits(4)),
        ),
    ];
    for_each_case(&variants, &shapes, |k, &(seed, rows, cols)| {
        let dy = random_f32(rows * cols, seed, -1.0, 1.0);
        let gdy = ctx.storage_init("dy", &dy);
        let gdb = ctx.storage("db", (cols * 4) as u64);
        let args = BiasGradArgs {
            rows,
            cols,
            dy: View::whole(&gdy),
            db: View::whole(&gdb),
        };
        run(&ctx, &k.bias_grad(&ctx, &args));
        let abs: Vec<f32> = dy.iter().map(|x| x.abs()).collect();
        let bound = Bound::Sum {
            terms: rows,
            scale: ops::bias_grad(&abs, rows, cols),
            abs: 1e-6,
            rel: 0.0,
        };
        let got = ctx.read_f32(&gdb, 0, cols).unwrap();
        vec![Check::new(
            "bias_grad",
            got,
            ops::bias_grad(&dy, rows, cols),
            bound,
        )]
    });
}

#[test]
fn gather_matches_the_twin_including_the_short_last_batch() {
    let ctx = gpu();
    let kernels = kernels(&ctx, FixedTable);
    // 37 samples of 13 bytes (not a multiple of 4: samples straddle packed words).
    let (n, bytes, batch) = (37usize, 13usize, 8usize);
    let mut g = shaderfit::floor::rng::SplitMix64::new(5);
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
            &GatherArgs {
                batch,
                sample_bytes: bytes,
                image: (1, bytes, 1),
                augment: None,
                by_position: false,
                images: View::whole(&gimages),
                labels: View::whole(&glabels),
                order: View::whole(&gorder),
                n_order: n,
                cursor: View::whole(&cursor),
                x: View::whole(&gx),
                y: View::whole(&gy),
            },
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

/// Augmentation in the gather: images of 9x7 pixels with 3 channels (RGB, channels-last,
/// samples straddling packed words), each row through its own transform, against the twin at
/// several steps (the draws move with cursor.t) and with a short last batch.
///
/// Tolerance 2e-4 absolute on values in [0, 1]: the twin repeats the kernel's f32 operations in
/// order, but GPU sin/cos/division may differ by a few ulps, which moves a source coordinate
/// (|x| < 10 px) by ~1e-5 px; bilinear sampling is continuous (also across cell edges), with
/// slope at most 1 per pixel here (neighbours differ by at most 255/255), so a value moves by
/// ~1e-5, and fused multiply-adds add a few ulps more. A wrong draw, axis, sign or centre moves
/// values by ~0.1-1 and fails.
#[test]
fn augmented_gather_matches_the_twin() {
    let ctx = gpu();
    let kernels = kernels(&ctx, FixedTable);
    let (n, image, batch) = (21usize, (9usize, 7usize, 3usize), 8usize);
    let bytes = image.0 * image.1 * image.2;
    let mut g = shaderfit::floor::rng::SplitMix64::new(11);
    let images: Vec<u8> = (0..n * bytes).map(|_| g.below(256) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|_| g.below(10) as u8).collect();
    let order: Vec<u32> = (0..n as u32).rev().collect();
    let (gimages, glabels) = (
        ctx.storage_u8("images", &images),
        ctx.storage_u8("labels", &labels),
    );
    let gorder = ctx.storage_init("order", &order);
    let gx = ctx.storage("x", (batch * bytes * 4) as u64);
    let gy = ctx.storage("y", (batch * 4) as u64);
    let affine = Augment::parse("shift=2,rotate=25,zoom=0.2,shear=10").unwrap();
    let elastic = Augment::parse("shift=1,rotate=5,elastic=2").unwrap();
    let seed = 0x5eed;
    let cases = [
        (0usize, 0u32, affine, false),
        (1, 7, affine, false),
        (2, 1000, elastic, false),
        (1, 7, affine, true),
        (2, 1000, elastic, true),
    ];
    for (step, t, augment, by_position) in cases {
        let cursor = ctx.storage_init("cursor", &[step as u32, t]);
        let launch = kernels.gather(
            &ctx,
            &GatherArgs {
                batch,
                sample_bytes: bytes,
                image,
                augment: Some((augment, seed)),
                by_position,
                images: View::whole(&gimages),
                labels: View::whole(&glabels),
                order: View::whole(&gorder),
                n_order: n,
                cursor: View::whole(&cursor),
                x: View::whole(&gx),
                y: View::whole(&gy),
            },
        );
        run(&ctx, &[launch]);
        let x = ctx.read_f32(&gx, 0, batch * bytes).unwrap();
        let (want_x, want_y) = ops::gather_augmented(
            (&images, &labels),
            &order,
            (step, batch),
            image,
            (
                &augment,
                seed,
                match by_position {
                    true => DrawKey::Position,
                    false => DrawKey::Step(t),
                },
            ),
        );
        assert_eq!(
            ctx.read_u32(&gy, 0, batch).unwrap(),
            want_y,
            "labels of step {step}"
        );
        assert_within(
            &format!("augmented gather, step {step}"),
            &x,
            &want_x,
            |_| 2e-4,
        );
        let (plain, _) = ops::gather(&images, &labels, &order, step, batch, bytes);
        let moved = x
            .iter()
            .zip(&plain)
            .filter(|(a, b)| (*a - *b).abs() > 0.05)
            .count();
        assert!(
            moved > x.len() / 4,
            "step {step}: only {moved} values changed"
        );
    }
}

fn check_softmax_xent(
    ctx: &GpuContext,
    kernels: &Kernels,
    (batch, classes, pad_rows): (usize, usize, usize),
    smoothing: f32,
    seed: u64,
) {
    let logits = random_f32(batch * classes, seed, -4.0, 4.0);
    let mut g = shaderfit::floor::rng::SplitMix64::new(seed + 1);
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
    // The accumulator starts from non-zero sums: the kernel must add, not overwrite. It sits
    // at a binding offset between other words, which must stay untouched.
    let align = ctx.binding_align_floats();
    let start = LossMetric {
        loss_sum: 2.5,
        correct: 3,
        count: 7,
        first_bad_step: 0,
    };
    let mut words = vec![0u32; 3 * align];
    words[align..align + 4].copy_from_slice(bytemuck::cast_slice(&[start]));
    let gmetrics = ctx.storage_init("metrics", &words);
    let gcursor = ctx.storage_init("cursor", &[4u32, 9]);
    let launch = kernels.softmax_xent(
        ctx,
        &LossArgs {
            batch,
            classes,
            logits: View::whole(&glogits),
            labels: View::whole(&glabels),
            dlogits: View::whole(&gd),
            metric: View::range(&gmetrics, align, 4),
            cursor: View::whole(&gcursor),
            label_smoothing: smoothing,
        },
    );
    run(ctx, &[launch]);
    let want = ops::softmax_xent(&logits, &labels, classes, smoothing);
    let got = ctx.read_f32(&gd, 0, batch * classes).unwrap();
    let what = format!(
        "softmax_xent {batch}x{classes} ({pad_rows} padding rows, label smoothing {smoothing})"
    );
    assert_within(&what, &got, &want.dlogits, |i| {
        1e-6 + 1e-5 * want.dlogits[i].abs()
    });
    let mut after = ctx.read_u32(&gmetrics, 0, 3 * align).unwrap();
    let m: LossMetric =
        bytemuck::pod_read_unaligned(bytemuck::cast_slice(&after[align..align + 4]));
    assert_eq!(m.count, 7 + want.count, "{what}: count");
    assert_eq!(m.correct, 3 + want.correct, "{what}: correct");
    assert_eq!(
        m.first_bad_step, 0,
        "{what}: finite losses leave the divergence word"
    );
    let want_loss = 2.5 + want.loss_sum;
    assert!(
        (m.loss_sum - want_loss).abs() <= 1e-5 * want_loss.abs() + 1e-5,
        "{what}: loss sum {} vs {want_loss}",
        m.loss_sum
    );
    after[align..align + 4].fill(0);
    assert!(
        after.iter().all(|&w| w == 0),
        "{what}: neighbours untouched"
    );
    assert_eq!(
        ctx.read_u32(&gcursor, 0, 2).unwrap(),
        vec![5, 10],
        "{what}: cursor advanced once"
    );
}

/// The output layer fused with the loss (dense_xent.wgsl) against the twins of its parts:
/// the logits against the product's twin (a K-term sum: the matmul bound); the gradient and
/// each row's loss against softmax cross-entropy's twin on the kernel's own logits (the
/// elementwise 1e-5 relative, as softmax_xent's); the flags exactly; the cursor advanced
/// once. Shapes: ragged K with padding rows, 1x1x1, the mlp's output layer, the most classes
/// it takes with label smoothing, and a batch of padding only.
#[test]
fn dense_xent_matches_the_twins() {
    let ctx = gpu();
    let kernels = kernels(&ctx, FixedTable);
    let cases = [
        (13, 37, 10, 3, 0.0),
        (1, 1, 1, 0, 0.0),
        (128, 512, 10, 0, 0.0),
        (7, 100, MAX_FUSED_CLASSES, 2, 0.1),
        (5, 3, 2, 5, 0.0),
    ];
    for (i, (batch, k, classes, pad_rows, smoothing)) in cases.into_iter().enumerate() {
        let seed = 1300 + 10 * i as u64;
        let x = random_f32(batch * k, seed, -1.0, 1.0);
        let w = random_f32(k * classes, seed + 1, -1.0, 1.0);
        let b = random_f32(classes, seed + 2, -1.0, 1.0);
        let mut g = shaderfit::floor::rng::SplitMix64::new(seed + 3);
        let labels: Vec<u32> = (0..batch)
            .map(|r| match r + pad_rows >= batch {
                true => PAD_LABEL,
                false => g.below(classes) as u32,
            })
            .collect();
        let bufs = [&x, &w, &b].map(|v| ctx.storage_init("input", v));
        let glabels = ctx.storage_init("labels", &labels);
        let out = [batch * classes, batch * classes, 2 * batch]
            .map(|n| ctx.storage("output", (n * 4) as u64));
        let gcursor = ctx.storage_init("cursor", &[4u32, 9]);
        let launch = kernels.dense_xent(
            &ctx,
            &DenseXentArgs {
                batch,
                k,
                classes,
                label_smoothing: smoothing,
                x: View::whole(&bufs[0]),
                w: View::whole(&bufs[1]),
                b: View::whole(&bufs[2]),
                labels: View::whole(&glabels),
                logits: View::whole(&out[0]),
                dlogits: View::whole(&out[1]),
                rows: View::whole(&out[2]),
                cursor: View::whole(&gcursor),
            },
        );
        run(&ctx, &[launch]);
        let what =
            format!("dense_xent {batch}x{k}x{classes} ({pad_rows} padding, smoothing {smoothing})");
        let logits = ctx.read_f32(&out[0], 0, batch * classes).unwrap();
        let shape = (batch, classes, k);
        let mut want = ops::matmul(&x, &w, shape, false, false);
        let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<f32>>();
        let mut scale = ops::matmul(&abs(&x), &abs(&w), shape, false, false);
        for (i, (z, s)) in want.iter_mut().zip(&mut scale).enumerate() {
            *z += b[i % classes];
            *s += b[i % classes].abs();
        }
        Check::new("logits", logits.clone(), want, Bound::matmul(k, scale)).assert(&what);
        let twin = ops::softmax_xent(&logits, &labels, classes, smoothing);
        let got = ctx.read_f32(&out[1], 0, batch * classes).unwrap();
        assert_within(&format!("{what}: dlogits"), &got, &twin.dlogits, |i| {
            1e-6 + 1e-5 * twin.dlogits[i].abs()
        });
        let rows: Vec<RowStat> =
            bytemuck::pod_collect_to_vec(&ctx.read_u32(&out[2], 0, 2 * batch).unwrap());
        for (r, row) in rows.iter().enumerate() {
            let one = &logits[r * classes..(r + 1) * classes];
            let alone = ops::softmax_xent(one, &labels[r..r + 1], classes, smoothing);
            let want_flags = match labels[r] == PAD_LABEL {
                true => 0,
                false => RowStat::VALID | (alone.correct * RowStat::CORRECT),
            };
            assert_eq!(row.flags, want_flags, "{what}: row {r}'s flags");
            let want_loss = alone.loss_sum;
            assert!(
                (row.loss - want_loss).abs() <= 1e-6 + 1e-5 * want_loss.abs(),
                "{what}: row {r}'s loss {} vs {want_loss}",
                row.loss
            );
        }
        assert_eq!(
            ctx.read_u32(&gcursor, 0, 2).unwrap(),
            vec![5, 10],
            "{what}: cursor advanced once"
        );
    }
}

#[test]
fn softmax_xent_matches_the_twin() {
    let ctx = gpu();
    let kernels = kernels(&ctx, FixedTable);
    check_softmax_xent(&ctx, &kernels, (1, 10, 0), 0.0, 1);
    check_softmax_xent(&ctx, &kernels, (7, 10, 2), 0.0, 2);
    check_softmax_xent(&ctx, &kernels, (300, 3, 0), 0.0, 3); // more rows than the workgroup
    check_softmax_xent(&ctx, &kernels, (128, 10, 32), 0.0, 4);
    check_softmax_xent(&ctx, &kernels, (5, 2, 5), 0.0, 5); // all padding: nothing counted
                                                           // Keras's label smoothing: the same tolerances hold, the targets' spread s / classes
                                                           // adding one term of the logits' sum (at most 4 * classes here) per row, well inside the
                                                           // loss sum's 1e-5 relative bound.
    check_softmax_xent(&ctx, &kernels, (7, 10, 2), 0.1, 6);
    check_softmax_xent(&ctx, &kernels, (300, 3, 0), 0.3, 7);
    check_softmax_xent(&ctx, &kernels, (33, 10, 0), 0.999, 8);
}

/// Label smoothing's twin is Keras's formula: the loss of targets `(1 - s) * onehot + s / C`
/// is the cross-entropy against that distribution, written out here in f64 from softmax
/// itself, and its gradient is `p - target` (softmax cross-entropy's, with the smoothed
/// target). Exact maths in f64 against the twin's f64 sums rounded once: 1e-6.
#[test]
fn label_smoothing_twin_is_keras_cross_entropy_against_smoothed_targets() {
    let (classes, s) = (10usize, 0.2f64);
    let logits = random_f32(3 * classes, 70, -5.0, 5.0);
    let labels = [3u32, 0, 9];
    let got = ops::softmax_xent(&logits, &labels, classes, s as f32);
    let mut want_loss = 0.0f64;
    for (row, &label) in labels.iter().enumerate() {
        let z: Vec<f64> = logits[row * classes..(row + 1) * classes]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let total: f64 = z.iter().map(|v| v.exp()).sum();
        for (c, zc) in z.iter().enumerate() {
            let p = zc.exp() / total;
            let target = if c == label as usize { 1.0 - s } else { 0.0 } + s / classes as f64;
            want_loss -= target * p.ln();
            let want_grad = (p - target) / labels.len() as f64;
            let g = got.dlogits[row * classes + c] as f64;
            assert!(
                (g - want_grad).abs() <= 1e-6,
                "row {row} class {c}: {g} vs {want_grad}"
            );
        }
    }
    assert!(
        (got.loss_sum as f64 - want_loss).abs() <= 1e-6 * want_loss,
        "{} vs {want_loss}",
        got.loss_sum
    );
}

/// Each optimizer of the registry (at Keras's defaults and with each of its hyperparameters
/// set: AdamW's decay is then 5e-3 per step, hundreds of times the weights' tolerance, so a
/// decay missed or applied after the Adam step fails) against its twin
/// (`Optimizer::twin_step`), at step t = 3 from random state, reading its factors from row 1
/// of a rate table (the second step of an epoch): weights and state within a relative 1e-5 (a
/// few f32 operations each).
#[test]
fn optimizers_match_their_twins() {
    let ctx = gpu();
    let kernels = kernels(&ctx, FixedTable);
    let n = 1000; // 250 vec4: not a multiple of the 256-wide workgroup
    let t = 3u32;
    let w0 = random_f32(n, 1, -1.0, 1.0);
    let g = random_f32(n, 2, -0.1, 0.1);
    for opt in every_optimizer() {
        // State: a velocity or m in ±0.01, a mean of squares (v) non-negative.
        let mut state: Vec<Vec<f32>> = opt
            .state()
            .iter()
            .enumerate()
            .map(|(s, tensor)| match tensor.non_negative {
                false => random_f32(n, 3 + s as u64, -0.01, 0.01),
                true => random_f32(n, 3 + s as u64, 0.0, 0.01),
            })
            .collect();
        let gw = ctx.storage_init("w", &w0);
        let gg = ctx.storage_init("g", &g);
        // The state tensors one after the other, as the plan keeps them.
        let flat: Vec<f32> = state.concat();
        let gstate = (!flat.is_empty()).then(|| ctx.storage_init("state", &flat));
        // The loss kernel has advanced the cursor to step 2 of the epoch: row 1 is read.
        let gcursor = ctx.storage_init("cursor", &[2u32, t]);
        let rate = opt.rate(opt.learning_rate() as f64 * 0.5, t as u64);
        let decoy = opt.rate(1.0, 1);
        let grates = ctx.storage_init("rates", &[decoy, rate, decoy]);
        let kernel = opt.kernel();
        let launch = kernels.optimizer(
            &ctx,
            &OptimizerArgs {
                entry: kernel.entry,
                params: OptimizerParams {
                    n: n as u32,
                    ..kernel.params
                },
                work: kernel.work,
                weights: View::whole(&gw),
                grads: View::whole(&gg),
                state: gstate.as_ref().map(View::whole),
                cursor: View::whole(&gcursor),
                rates: View::whole(&grates),
            },
        );
        run(&ctx, &[launch]);
        let mut w = w0.clone();
        opt.twin_step(&mut w, &g, &mut state, rate);
        let what = opt.describe();
        let got_w = ctx.read_f32(&gw, 0, n).unwrap();
        assert_within(&format!("{what} weights"), &got_w, &w, |i| {
            1e-6 + 1e-5 * w[i].abs()
        });
        for (s, want) in state.iter().enumerate() {
            let buf = gstate.as_ref().expect("state tensors");
            let got = ctx.read_f32(buf, 0, n * state.len()).unwrap();
            let got = &got[s * n..(s + 1) * n];
            assert_within(&format!("{what} state {s}"), got, want, |i| {
                1e-12 + 1e-5 * want[i].abs()
            });
        }
    }
}

/// Every module the runtime can create (each static kernel family, and the generated matmul
/// tilings and blocks at every load width and transposition) parses and validates with naga,
/// and binds exactly as its family's Rust declaration says: binding names, storage access,
/// and every uniform's fields, offsets, types and size.
#[test]
fn every_module_matches_its_declared_contract() {
    let keys = ModuleKey::all();
    assert!(keys.len() > 30, "{} modules", keys.len());
    for key in keys {
        check_module(&key.source()).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Every WGSL file under `shaders/` is part of some module the runtime creates: a new kernel
/// family cannot be forgotten by the contract check above.
#[test]
fn every_shader_file_is_in_a_module() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".wgsl") && f != "prelude.wgsl")
        .collect();
    files.sort();
    let mut used: Vec<String> = ModuleKey::all()
        .into_iter()
        .flat_map(|k| k.source().files)
        .map(String::from)
        .collect();
    used.sort();
    used.dedup();
    assert_eq!(files, used);
}

/// The contract check fails, naming the shader, binding and field, when either side changes
/// alone: a renamed binding, a storage binding made read-only, a uniform field renamed or
/// retyped in the WGSL.
#[test]
fn the_contract_check_names_a_one_sided_change() {
    let gather = ModuleKey::Gather.source();
    let edited = |edits: &[(&str, &str)]| {
        let mut source = gather.source.clone();
        for (from, to) in edits {
            assert!(source.contains(from), "{from}");
            source = source.replace(from, to);
        }
        ModuleSource {
            source,
            ..gather.clone()
        }
    };
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("> order: array<u32>;", "> sample_order: array<u32>;"), ("order[pos]", "sample_order[pos]")],
            "gather: binding 3 ('order', storage, read): the shader names it 'sample_order'",
        ),
        (
            &[("var<storage, read_write> y: array<u32>;", "var<storage, read> y: array<u32>;"), ("y[row] = PAD;", ""), ("y[row] = (labels", "let unused = (labels")],
            "gather: binding 6 ('y', storage, read_write): the shader declares it as storage, read",
        ),
        (
            &[("    n_order: u32,", "    n_samples: u32,"), ("params.n_order", "params.n_samples")],
            "gather: binding 0 ('params', uniform GatherParams): field 2 is 'n_order' u32 at offset 8 in Rust (GatherParams), 'n_samples' u32 at offset 8 in the shader",
        ),
        (
            &[("    sample_bytes: u32,", "    sample_bytes: f32,"), ("params.sample_bytes", "u32(params.sample_bytes)")],
            "field 1 is 'sample_bytes' u32 at offset 4 in Rust (GatherParams), 'sample_bytes' f32 at offset 4 in the shader",
        ),
    ];
    check_module(&gather).unwrap();
    for (edits, want) in cases {
        let err = check_module(&edited(edits)).unwrap_err();
        assert!(err.contains(want), "{err}\n  wanted: {want}");
    }
}

/// The confusion matrix's kernel against its twin, exactly (integer counts): batches with
/// padding rows, more rows than a workgroup, ties in the logits (the first maximum wins, as
/// for accuracy), and counts added onto what the region already held.
#[test]
fn confusion_matrix_matches_its_twin() {
    let ctx = gpu();
    let k = kernels(&ctx, FixedTable);
    for (batch, classes, pad) in [(1, 10, 0), (7, 3, 2), (150, 10, 20)] {
        // Logits from a few values, so that rows tie often.
        let logits: Vec<f32> = random_f32(batch * classes, batch as u64, 0.0, 4.0)
            .into_iter()
            .map(f32::floor)
            .collect();
        let mut g = shaderfit::floor::rng::SplitMix64::new(classes as u64);
        let labels: Vec<u32> = (0..batch)
            .map(|r| {
                if r + pad >= batch {
                    PAD_LABEL
                } else {
                    g.below(classes) as u32
                }
            })
            .collect();
        let start: Vec<u32> = (0..classes * classes).map(|i| (i % 5) as u32).collect();
        let (glogits, glabels) = (
            ctx.storage_init("logits", &logits),
            ctx.storage_init("labels", &labels),
        );
        let gcounts = ctx.storage_init("counts", &start);
        run(
            &ctx,
            &[k.confusion(
                &ctx,
                &ConfusionArgs {
                    batch,
                    classes,
                    logits: View::whole(&glogits),
                    labels: View::whole(&glabels),
                    counts: View::whole(&gcounts),
                },
            )],
        );
        let twin = ops::confusion(&logits, &labels, classes);
        let want: Vec<u32> = start.iter().zip(&twin).map(|(s, t)| s + t).collect();
        assert_eq!(
            ctx.read_u32(&gcounts, 0, classes * classes).unwrap(),
            want,
            "batch {batch}, {classes} classes"
        );
        let counted: u32 = twin.iter().sum();
        assert_eq!(
            counted as usize,
            batch - pad,
            "every valid row counted once"
        );
    }
}

/// Top-k accuracy's count against its twin, exactly (an integer): logits from a few values so
/// that ties at the k-th place are common (they count as in, TensorFlow's rule), padding rows
/// left out, k from 1 to past the class count, added to what the word held.
#[test]
fn top_k_counts_match_their_twin() {
    let ctx = gpu();
    let k = kernels(&ctx, FixedTable);
    for (batch, classes, pad, top) in [(1, 10, 0, 1), (7, 3, 2, 2), (150, 10, 20, 3), (33, 5, 1, 7)]
    {
        let logits: Vec<f32> = random_f32(batch * classes, 11 + batch as u64, 0.0, 4.0)
            .into_iter()
            .map(f32::floor)
            .collect();
        let mut g = shaderfit::floor::rng::SplitMix64::new(classes as u64 + 5);
        let labels: Vec<u32> = (0..batch)
            .map(|r| match r + pad >= batch {
                true => PAD_LABEL,
                false => g.below(classes) as u32,
            })
            .collect();
        let (glogits, glabels) = (
            ctx.storage_init("logits", &logits),
            ctx.storage_init("labels", &labels),
        );
        let gcount = ctx.storage_init("count", &[4u32]);
        let args = ConfusionArgs {
            batch,
            classes,
            logits: View::whole(&glogits),
            labels: View::whole(&glabels),
            counts: View::whole(&gcount),
        };
        run(&ctx, &[k.top_k(&ctx, top, &args)]);
        let twin = ops::top_k(&logits, &labels, classes, top);
        let what = format!("batch {batch}, {classes} classes, top {top}");
        assert_eq!(ctx.read_u32(&gcount, 0, 1).unwrap(), [4 + twin], "{what}");
        let argmax_hits = ops::confusion(&logits, &labels, classes)
            .chunks(classes)
            .enumerate()
            .map(|(c, row)| row[c])
            .sum::<u32>();
        assert!(twin >= argmax_hits, "{what}: top-k holds every argmax hit");
        if top as usize >= classes {
            assert_eq!(twin as usize, batch - pad, "{what}: every valid row");
        }
    }
}

/// The predictions kernel against its twin: batch `step` of a pass lands at rows
/// `step * batch ..`, padding rows and rows past the buffer are left as they were, and each
/// row's probabilities match.
///
/// Tolerance: 4 ULP relative (4.8e-7·p) plus 1e-7. Both sides compute exp(z - max) in f32 and
/// divide by the same 10-term sum; exp differs by at most ~2 ULP between WGSL and Rust's libm,
/// and the sum's order is the same. Values are at most 1.
#[test]
fn predictions_match_their_twin() {
    let ctx = gpu();
    let k = kernels(&ctx, FixedTable);
    // (batch, classes, padding rows, step, capacity): the last case's batch runs past the end.
    for (batch, classes, pad, step, capacity) in
        [(5, 10, 0, 0, 5), (70, 3, 4, 2, 300), (8, 10, 3, 1, 13)]
    {
        let logits = random_f32(batch * classes, step as u64 + 3, -8.0, 8.0);
        let labels: Vec<u32> = (0..batch)
            .map(|r| {
                if r + pad >= batch {
                    PAD_LABEL
                } else {
                    (r % classes) as u32
                }
            })
            .collect();
        let start = vec![-1.0f32; capacity * classes];
        let (glogits, glabels, gprobs) = (
            ctx.storage_init("logits", &logits),
            ctx.storage_init("labels", &labels),
            ctx.storage_init("probs", &start),
        );
        // The loss kernel has advanced the cursor past this batch.
        let cursor = ctx.storage_init("cursor", &[step as u32 + 1, 0]);
        run(
            &ctx,
            &[k.predictions(
                &ctx,
                &PredictionsArgs {
                    batch,
                    classes,
                    logits: View::whole(&glogits),
                    labels: View::whole(&glabels),
                    cursor: View::whole(&cursor),
                    probs: View::whole(&gprobs),
                    capacity,
                },
            )],
        );
        let mut twin = start.clone();
        ops::predictions(&logits, &labels, classes, step, &mut twin);
        let got = ctx.read_f32(&gprobs, 0, capacity * classes).unwrap();
        let what = format!("predictions, batch {batch}, {classes} classes, step {step}");
        assert_within(&what, &got, &twin, |i| 4.8e-7 * twin[i].abs() + 1e-7);
        let written = twin.iter().filter(|&&p| p >= 0.0).count() / classes;
        assert_eq!(
            written,
            (batch - pad).min(capacity.saturating_sub(step * batch)),
            "{what}"
        );
    }
}

/// Adam's bias-corrected step size as the GPU applies it, against Keras's formula in f64, at
/// t = 1, 2, 10, 1000 and 100000: within 2 f32 ulps.
///
/// With m = v = g = 1 the moments stay exactly 1 (`m + (g - m)(1 - b1)`), so the update is
/// `-alpha / (sqrt(1) + eps)`: the table's f32 alpha (0.5 ulp from the f64 value) times one
/// exact multiplication and one rounded division (0.5 ulp), with `1 + eps` rounded as the
/// kernel rounds it. Before the rate table, f32 `pow` on the GPU left the step 6.6e-5 off at
/// t = 1 (issue 12), about 1000 ulps.
#[test]
fn adam_step_size_matches_keras_in_f64() {
    let ctx = gpu();
    let kernels = kernels(&ctx, FixedTable);
    let adam = Adam::default();
    for t in [1u64, 2, 10, 1000, 100_000] {
        let n = 4;
        let (gw, gg) = (
            ctx.storage_init("w", &[0f32; 4]),
            ctx.storage_init("g", &[1f32; 4]),
        );
        // m then v, each [4]: both 1.
        let gstate = ctx.storage_init("m and v", &[1f32; 8]);
        let gcursor = ctx.storage_init("cursor", &[1u32, t as u32]);
        let rate = adam.rate(adam.learning_rate as f64, t);
        let grates = ctx.storage_init("rates", &[rate]);
        let kernel = adam.kernel();
        let launch = kernels.optimizer(
            &ctx,
            &OptimizerArgs {
                entry: kernel.entry,
                params: OptimizerParams {
                    n: n as u32,
                    ..kernel.params
                },
                work: kernel.work,
                weights: View::whole(&gw),
                grads: View::whole(&gg),
                state: Some(View::whole(&gstate)),
                cursor: View::whole(&gcursor),
                rates: View::whole(&grates),
            },
        );
        run(&ctx, &[launch]);
        let got = ctx.read_f32(&gw, 0, n).unwrap()[0] as f64;
        let (b1, b2, lr) = (0.9f32 as f64, 0.999f32 as f64, 0.001f32 as f64);
        let alpha = lr * (1.0 - b2.powi(t as i32)).sqrt() / (1.0 - b1.powi(t as i32));
        let want = -alpha / (1.0f32 + 1e-7f32) as f64;
        let ulp = (want.abs() as f32).to_bits();
        let ulps = (f32::from_bits(ulp + 1) - f32::from_bits(ulp)) as f64;
        assert!(
            (got - want).abs() <= 2.0 * ulps,
            "t = {t}: {got:e} vs {want:e} ({:.2} ulps)",
            (got - want).abs() / ulps
        );
    }
}

/// What every module's workgroups and entry points need, read from the WGSL itself: the static
/// families fit WebGPU's default limits (16 KiB of workgroup memory, 256 invocations, 8 storage
/// buffers per entry point), which every adapter meets; a tiled matmul declares exactly the workgroup memory its `Tiling` computes, which
/// the tuner compares with the adapter's limit before timing it (`Tiling::fits`), so a variant
/// too big for an adapter is never chosen there.
#[test]
fn workgroups_fit_the_limits_they_are_chosen_by() {
    let defaults = wgpu::Limits::default();
    for key in ModuleKey::all() {
        let source = key.source();
        let (bytes, invocations) =
            shaderfit::gpu::kernels::family::workgroup_needs(&source).unwrap();
        // Each entry point's layout holds only the bindings it uses: within WebGPU's default of
        // 8 storage buffers per stage (batch norm's family declares 11). The fused step end
        // alone needs more, exactly what the policies check the adapter for before choosing
        // it (`fuses_step_end`).
        let per_entry = shaderfit::gpu::kernels::family::storage_buffers_per_entry(&source);
        assert!(!per_entry.is_empty(), "{}", source.name);
        for (entry, &storage) in &per_entry {
            let most = match key {
                ModuleKey::StepEnd => STEP_END_STORAGE,
                _ => defaults.max_storage_buffers_per_shader_stage,
            };
            assert!(
                storage <= most as usize,
                "{} {entry}: {storage} storage buffers",
                source.name
            );
        }
        if key == ModuleKey::StepEnd {
            let most = per_entry.values().max().copied();
            assert_eq!(
                most,
                Some(STEP_END_STORAGE as usize),
                "the gate is step_end's count"
            );
        }
        match key {
            ModuleKey::Tiled(t, _) => assert_eq!(bytes, t.workgroup_bytes(), "{}", source.name),
            _ => {
                assert!(
                    bytes <= defaults.max_compute_workgroup_storage_size,
                    "{}: {bytes} B",
                    source.name
                );
                assert!(
                    invocations <= defaults.max_compute_invocations_per_workgroup,
                    "{}: {invocations} invocations",
                    source.name
                );
            }
        }
    }
}
