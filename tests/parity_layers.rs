//! The convolution, pooling, dropout, batch-normalisation and activation kernels against their
//! twins in `shaderfit::reference::ops`, at awkward shapes: 5x5 kernels, stride 2, `same` padding,
//! one channel, odd and non-square spatial sizes, overlapping pooling windows, batch 1. The
//! geometry of every case comes from the library's own shape inference ([`Window::new`]).
//!
//! Tolerances, and why:
//! - im2col and dropout copy or scale values: exact (dropout's mask is specified to match
//!   bit for bit, and x·scale is one rounding on both sides).
//! - col2im and pooling backward sum at most kh·kw terms per pixel in a different order than
//!   the f64 twin: the summation bound 2·kh·kw·u·Σ|terms| (u = 2^-24) plus 1e-7 absolute,
//!   plus 1e-6 relative for the activation epilogue's two further roundings.
//! - dropout's backward multiplies by the activation derivative in another association than
//!   the twin: 1e-6 relative.
//! - implicit-GEMM convolution sums a patch's K products like any matmul: the matmul bound of
//!   `parity_kernels.rs`, 2·(K+1)·u·Σ|a·b| plus 1e-6 absolute.
//! - batch normalisation reduces over up to a few hundred rows in f32 (the twin in f64):
//!   1e-5 relative plus 1e-6 absolute; its backward combines three such sums.

mod support;

use shaderfit::floor::{Activation, Padding, Shape, Window};
use shaderfit::gpu::kernels::{
    ActGrad, ActivationBackwardArgs, ActivationForwardArgs, BatchNormArgs, BnLaunch, BnShape,
    Col2imArgs, ConvForwardArgs, ConvWeightGradArgs, DropoutArgs, DropoutMode, FixedTable, Forced,
    Im2colArgs, MatmulTile, PoolBackwardArgs, PoolForwardArgs, PoolGrad, PoolKind, Tiling, Tuned,
    Tuner, View,
};
use shaderfit::gpu::{GpuContext, Kernels};
use shaderfit::reference::ops::{self, PAD_LABEL};
use support::parity::{Bound, Check};
use support::{assert_within, gpu, kernels, random_f32, run, ODD_TILING, VEC4_TILING};

/// A window over `input` as shape inference builds it.
fn window(input: Shape, k: [usize; 2], s: [usize; 2], same: bool, out_c: usize) -> Window {
    let padding = if same { Padding::Same } else { Padding::Valid };
    Window::new(input, k, s, padding, out_c).expect("the test's windows fit")
}

/// An activation output to differentiate through: relu's (>= 0 with exact zeros) or
/// sigmoid's (in (0, 1)).
fn activation_output(n: usize, seed: u64, act: Activation) -> Vec<f32> {
    random_f32(n, seed, -1.0, 1.0)
        .into_iter()
        .map(|v| match act {
            Activation::Relu => v.max(0.0),
            _ => 0.5 * (v + 1.0),
        })
        .collect()
}

fn abs(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| x.abs()).collect()
}

/// The bound of a gather summing up to `terms` values per output (col2im, pooling backward).
fn gather_bound(terms: usize, scale: Vec<f32>) -> Bound {
    Bound::Sum {
        terms,
        scale,
        abs: 1e-7,
        rel: 1e-6,
    }
}

/// batch, input [h, w, c], kernel, stride, `same` padding.
type ConvCase = (usize, [usize; 3], [usize; 2], [usize; 2], bool);

/// Channel counts divisible by 4 take the vec4 kernels, the others the f32 ones.
const CONVS: [ConvCase; 8] = [
    // batch, input h w c, kernel, stride, same padding
    (1, [7, 7, 1], [5, 5], [2, 2], true),
    (2, [9, 8, 3], [3, 3], [1, 1], false),
    (3, [11, 11, 2], [3, 2], [2, 1], true),
    (2, [6, 5, 4], [5, 5], [1, 1], true),
    (1, [28, 28, 1], [3, 3], [1, 1], false),
    (2, [9, 7, 8], [3, 3], [2, 2], true),
    (1, [7, 7, 4], [3, 2], [2, 1], false),
    // A colour image's first layer (CIFAR-10's shape).
    (1, [32, 32, 3], [3, 3], [1, 1], true),
];

#[test]
fn im2col_and_col2im_match_their_twins() {
    let ctx = gpu();
    let k = kernels(&ctx, FixedTable);
    for (i, &(batch, [h, w, c], kernel, stride, same)) in CONVS.iter().enumerate() {
        let win = window(Shape::new(h, w, c), kernel, stride, same, 1);
        let g = win.geom(batch);
        let what = format!(
            "batch {batch}, {h}x{w}x{c}, kernel {kernel:?}, stride {stride:?}, same {same}"
        );
        let x = random_f32(batch * h * w * c, i as u64, -1.0, 1.0);
        let gx = ctx.storage_init("x", &x);
        let gcols = ctx.storage("cols", (g.rows() * g.patch() * 4) as u64);
        run(
            &ctx,
            &[k.im2col(
                &ctx,
                &Im2colArgs {
                    geom: g,
                    x: View::whole(&gx),
                    cols: View::whole(&gcols),
                },
            )],
        );
        let got = ctx.read_f32(&gcols, 0, g.rows() * g.patch()).unwrap();
        assert_eq!(got, ops::im2col(&x, &win, batch), "im2col, {what}");

        let dcols = random_f32(g.rows() * g.patch(), 100 + i as u64, -1.0, 1.0);
        let gdcols = ctx.storage_init("dcols", &dcols);
        let gdx = ctx.storage("dx", (x.len() * 4) as u64);
        for dact in [Activation::Linear, Activation::Relu, Activation::Sigmoid] {
            let aux = activation_output(x.len(), 200 + i as u64, dact);
            let gaux = ctx.storage_init("aux", &aux);
            run(
                &ctx,
                &[k.col2im(
                    &ctx,
                    &Col2imArgs {
                        geom: g,
                        dcols: View::whole(&gdcols),
                        act_grad: ActGrad::of(dact, View::whole(&gaux)),
                        dx: View::whole(&gdx),
                    },
                )],
            );
            let mut want = ops::col2im(&dcols, &win, batch);
            ops::activation_backward(&mut want, &aux, dact);
            let bound = gather_bound(win.kh * win.kw, ops::col2im(&abs(&dcols), &win, batch));
            Check::new(
                "col2im",
                ctx.read_f32(&gdx, 0, x.len()).unwrap(),
                want,
                bound,
            )
            .assert(&format!("{dact:?}, {what}"));
        }
    }
}

/// A convolution's forward (bias and relu) and its weight and bias gradients through
/// `Kernels::conv_forward` and `conv_weight_grads` (implicit or explicit, as `k`'s policy
/// decides), against the twin's im2col and products.
fn check_conv(
    ctx: &GpuContext,
    k: &Kernels,
    (batch, [h, w, c], kernel, stride, same): ConvCase,
    filters: usize,
    seed: u64,
    launch_count: Option<usize>,
) {
    let win = window(Shape::new(h, w, c), kernel, stride, same, filters);
    let g = win.geom(batch);
    let what =
        format!("batch {batch}, {h}x{w}x{c}, kernel {kernel:?}, stride {stride:?}, same {same}");
    let (rows, patch) = (g.rows(), g.patch());
    let x = random_f32(batch * h * w * c, seed, -1.0, 1.0);
    let wt = random_f32(patch * filters, seed + 1, -1.0, 1.0);
    let b = random_f32(filters, seed + 2, -1.0, 1.0);
    let dy = random_f32(rows * filters, seed + 3, -1.0, 1.0);
    let (gx, gw, gb, gdy) = (
        ctx.storage_init("x", &x),
        ctx.storage_init("w", &wt),
        ctx.storage_init("b", &b),
        ctx.storage_init("dy", &dy),
    );
    let gcols = ctx.storage("cols", (rows * patch * 4) as u64);
    let gy = ctx.storage("y", (rows * filters * 4) as u64);
    let gdw = ctx.storage("dw", (patch * filters * 4) as u64);
    let gdb = ctx.storage("db", (filters * 4) as u64);
    let mut launches = k.conv_forward(
        ctx,
        &ConvForwardArgs {
            geom: g,
            filters,
            act: Activation::Relu,
            x: View::whole(&gx),
            cols: View::whole(&gcols),
            w: View::whole(&gw),
            b: View::whole(&gb),
            y: View::whole(&gy),
        },
    );
    launches.extend(k.conv_weight_grads(
        ctx,
        &ConvWeightGradArgs {
            geom: g,
            filters,
            x: View::whole(&gx),
            cols: View::whole(&gcols),
            dy: View::whole(&gdy),
            dw: View::whole(&gdw),
            db: View::whole(&gdb),
            defer: None,
        },
    ));
    if let Some(count) = launch_count {
        assert_eq!(launches.len(), count, "{what}");
    }
    run(ctx, &launches);

    let cols = ops::im2col(&x, &win, batch);
    let mut want = ops::dense_forward(&cols, &wt, &b, rows, patch, filters, Activation::Linear);
    let mut scale = ops::matmul(&abs(&cols), &abs(&wt), (rows, filters, patch), false, false);
    for (i, s) in scale.iter_mut().enumerate() {
        *s += b[i % filters].abs();
    }
    ops::activate(&mut want, Activation::Relu);
    let ones = vec![1.0; rows];
    let checks = [
        Check::new(
            "forward",
            ctx.read_f32(&gy, 0, rows * filters).unwrap(),
            want,
            Bound::matmul(patch, scale),
        ),
        Check::new(
            "dW",
            ctx.read_f32(&gdw, 0, patch * filters).unwrap(),
            ops::matmul(&cols, &dy, (patch, filters, rows), true, false),
            Bound::matmul(
                rows,
                ops::matmul(&abs(&cols), &abs(&dy), (patch, filters, rows), true, false),
            ),
        ),
        Check::new(
            "db",
            ctx.read_f32(&gdb, 0, filters).unwrap(),
            ops::matmul(&ones, &dy, (1, filters, rows), false, false),
            Bound::matmul(
                rows,
                ops::matmul(&ones, &abs(&dy), (1, filters, rows), false, false),
            ),
        ),
    ];
    for check in checks {
        check.assert(&what);
    }
}

/// Implicit-GEMM convolution (GPUs' tiled kernel reading x, no im2col pass), forward with
/// bias and relu and the weight and bias gradients, at every geometry above with a small odd
/// tiling whose tiles divide none of them: one launch each.
#[test]
fn implicit_gemm_convolution_matches_the_twin() {
    let ctx = gpu();
    let k = kernels(&ctx, Forced::conv(Some(ODD_TILING)));
    for (i, &case) in CONVS.iter().enumerate() {
        check_conv(&ctx, &k, case, 5, 500 + 10 * i as u64, Some(2));
    }
    // vec4 loads of x where its channels allow (4 and 8 here), and of W and dy with 8 filters.
    let k = kernels(&ctx, Forced::conv(Some(VEC4_TILING)));
    for (i, &case) in CONVS.iter().enumerate() {
        check_conv(&ctx, &k, case, 8, 600 + 10 * i as u64, Some(2));
    }
    // The tilings a GPU's fixed table runs (its fill ladder), the 64x64 and 32x32 ones with
    // their swizzled tiles.
    if support::slow_barriers(&ctx) {
        return;
    }
    for (j, tiling) in Tiling::FILL_LADDER.into_iter().enumerate() {
        let k = kernels(&ctx, Forced::conv(Some(tiling)));
        for (i, &case) in [CONVS[4], CONVS[5]].iter().enumerate() {
            check_conv(&ctx, &k, case, 8, 700 + 10 * (i + 2 * j) as u64, Some(2));
        }
    }
}

/// With a tuner, a convolution times explicit im2col against the implicit tilings once per
/// geometry, records the choice in the file, and computes the right result either way.
#[test]
fn convolution_tuning_records_its_choice() {
    let ctx = gpu();
    let path = std::env::temp_dir().join(format!(
        "shaderfit-conv-tuning-test-{}.json",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let tuner = Tuner::open(&path, "test adapter")
        .unwrap()
        .with_candidates(vec![MatmulTile::Tile4, MatmulTile::Tiled(ODD_TILING)]);
    let k = kernels(&ctx, Tuned(std::sync::Arc::new(tuner)));
    // 288 rows x 72 x 32 filters: over the tuner's 2^18 multiply-adds.
    check_conv(
        &ctx,
        &k,
        (2, [12, 12, 8], [3, 3], [1, 1], true),
        32,
        900,
        None,
    );
    let saved = std::fs::read_to_string(&path).expect("the tuner wrote its choice");
    let json: serde_json::Value = serde_json::from_str(&saved).unwrap();
    let conv = json["adapters"]["test adapter"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["class"])
        .find(|c| c["kind"] == "conv")
        .unwrap_or_else(|| panic!("no convolution recorded: {saved}"));
    let fields = [
        "batch", "in_h", "in_w", "in_c", "k_h", "k_w", "stride_h", "pad_top", "filters",
    ];
    let got: Vec<u64> = fields.iter().map(|f| conv[*f].as_u64().unwrap()).collect();
    assert_eq!(got, [2, 12, 12, 8, 3, 3, 1, 1, 32], "{saved}");
    let _ = std::fs::remove_file(&path);
}

/// One invocation per pixel (CPU adapters) and per pixel and channel group (GPUs).
#[test]
fn pooling_matches_its_twins() {
    let ctx = gpu();
    for per_channel in [false, true] {
        let k = kernels(&ctx, Forced::pool_per_channel(per_channel));
        check_pooling(&ctx, &k, per_channel);
    }
}

fn check_pooling(ctx: &GpuContext, k: &Kernels, per_channel: bool) {
    // batch, input [h, w, c], window, stride.
    type PoolCase = (usize, [usize; 3], [usize; 2], [usize; 2]);
    // Channel counts divisible by 4 take the vec4 kernels, the others the f32 ones.
    let cases: [PoolCase; 6] = [
        (2, [11, 11, 3], [2, 2], [2, 2]), // Keras's floor: 5x5, last row and column unused
        (1, [7, 7, 2], [3, 3], [2, 2]),   // overlapping windows
        (3, [6, 9, 1], [2, 3], [1, 2]),   // non-square, one channel
        (1, [26, 26, 32], [2, 2], [2, 2]),
        (2, [7, 9, 4], [3, 3], [2, 2]), // vec4: overlapping windows, Keras's floor
        (1, [5, 6, 8], [2, 3], [1, 2]), // vec4: non-square, overlapping
    ];
    for (i, &(batch, [h, w, c], size, stride)) in cases.iter().enumerate() {
        let win = window(Shape::new(h, w, c), size, stride, false, c);
        let g = win.geom(batch);
        let what = format!(
            "batch {batch}, {h}x{w}x{c}, pool {size:?}, stride {stride:?}, per channel {per_channel}"
        );
        let (n_in, n_out) = (batch * h * w * c, batch * win.output.features());
        let x = random_f32(n_in, 300 + i as u64, -1.0, 1.0);
        let dy = random_f32(n_out, 400 + i as u64, -1.0, 1.0);
        let (gx, gdy) = (ctx.storage_init("x", &x), ctx.storage_init("dy", &dy));
        let (gy, gdx) = (
            ctx.storage("y", (n_out * 4) as u64),
            ctx.storage("dx", (n_in * 4) as u64),
        );
        let gargmax = ctx.storage("argmax", (n_out * 4) as u64);
        for kind in [PoolKind::Max, PoolKind::Avg] {
            let argmax = (kind == PoolKind::Max).then(|| View::whole(&gargmax));
            run(
                ctx,
                &[k.pool_forward(
                    ctx,
                    &PoolForwardArgs {
                        kind,
                        geom: g,
                        x: View::whole(&gx),
                        argmax,
                        y: View::whole(&gy),
                    },
                )],
            );
            let (want, want_argmax) = match kind {
                PoolKind::Max => {
                    let (y, a) = ops::max_pool_forward(&x, &win, batch);
                    (y, Some(a))
                }
                PoolKind::Avg => (ops::avg_pool_forward(&x, &win, batch), None),
            };
            let forward = ctx.read_f32(&gy, 0, n_out).unwrap();
            Check::new(
                "forward",
                forward,
                want,
                Bound::Relative {
                    rel: 1e-6,
                    abs: 1e-7,
                },
            )
            .assert(&format!("{kind:?}, {what}"));
            if let Some(a) = &want_argmax {
                assert_eq!(
                    &ctx.read_u32(&gargmax, 0, n_out).unwrap(),
                    a,
                    "argmax, {what}"
                );
            }
            let twin = |d: &[f32]| match &want_argmax {
                Some(a) => ops::max_pool_backward(d, a, &win, batch),
                None => ops::avg_pool_backward(d, &win, batch),
            };
            for dact in [Activation::Linear, Activation::Relu, Activation::Sigmoid] {
                let aux = activation_output(n_in, 500 + i as u64, dact);
                let gaux = ctx.storage_init("aux", &aux);
                run(
                    ctx,
                    &[k.pool_backward(
                        ctx,
                        &PoolBackwardArgs {
                            kind,
                            geom: g,
                            dy: PoolGrad::Pooled(View::whole(&gdy)),
                            argmax,
                            act_grad: ActGrad::of(dact, View::whole(&gaux)),
                            dx: View::whole(&gdx),
                        },
                    )],
                );
                let mut want = twin(&dy);
                ops::activation_backward(&mut want, &aux, dact);
                let bound = gather_bound(win.kh * win.kw, twin(&abs(&dy)));
                Check::new(
                    "backward",
                    ctx.read_f32(&gdx, 0, n_in).unwrap(),
                    want,
                    bound,
                )
                .assert(&format!("{kind:?} {dact:?}, {what}"));
            }
        }
    }
}

/// Pooling's backward fused with the col2im of the convolution that reads the pooled output
/// (one launch, the pooled gradient never stored) against the twins run in turn: col2im,
/// then the pooling's backward, then the activation's derivative. Windows that tile the
/// input, with and without an uncovered tail (Keras's floor), f32 and vec4 channels, same and
/// strided convolutions. Tolerance: col2im's sums of up to k_h·k_w terms, as in the test of
/// col2im, on the magnitudes' scale; the pooling adds one rounding (avg's 1/area) at most.
#[test]
fn pooling_fused_with_col2im_matches_its_twins() {
    let ctx = gpu();
    for per_channel in [false, true] {
        let k = kernels(&ctx, Forced::pool_per_channel(per_channel));
        check_fused_pooling(&ctx, &k, per_channel);
    }
}

fn check_fused_pooling(ctx: &GpuContext, k: &Kernels, per_channel: bool) {
    // batch, pooling input [h, w, c], pool window (= stride), conv kernel, conv stride, same.
    type FusedCase = (usize, [usize; 3], [usize; 2], [usize; 2], [usize; 2], bool);
    let cases: [FusedCase; 4] = [
        (2, [11, 11, 3], [2, 2], [3, 3], [1, 1], false),
        (1, [26, 26, 8], [2, 2], [3, 3], [1, 1], true),
        (3, [9, 7, 4], [3, 2], [2, 2], [2, 1], true),
        (2, [6, 6, 1], [2, 2], [3, 3], [2, 2], false),
    ];
    for (i, &(batch, [h, w, c], size, kernel, stride, same)) in cases.iter().enumerate() {
        let pool = window(Shape::new(h, w, c), size, size, false, c);
        let conv = window(pool.output, kernel, stride, same, 5);
        let (pg, cg) = (pool.geom(batch), conv.geom(batch));
        let what = format!(
            "batch {batch}, {h}x{w}x{c}, pool {size:?}, conv {kernel:?}/{stride:?}, per channel {per_channel}"
        );
        let n_in = batch * h * w * c;
        let dcols = random_f32(cg.rows() * cg.patch(), 700 + i as u64, -1.0, 1.0);
        let gdcols = ctx.storage_init("dcols", &dcols);
        // Filled with garbage: every element, the uncovered tail's too, must be written.
        let gdx = ctx.storage_init("dx", &vec![7.0f32; n_in]);
        for kind in [PoolKind::Max, PoolKind::Avg] {
            for dact in [Activation::Linear, Activation::Relu, Activation::Sigmoid] {
                let aux = activation_output(n_in, 800 + i as u64, dact);
                let (_, argmax) = ops::max_pool_forward(&aux, &pool, batch);
                let (gaux, gargmax) = (
                    ctx.storage_init("aux", &aux),
                    ctx.storage_init("argmax", &argmax),
                );
                run(
                    ctx,
                    &[k.pool_backward(
                        ctx,
                        &PoolBackwardArgs {
                            kind,
                            geom: pg,
                            dy: PoolGrad::Cols {
                                conv: cg,
                                dcols: View::whole(&gdcols),
                            },
                            argmax: (kind == PoolKind::Max).then(|| View::whole(&gargmax)),
                            act_grad: ActGrad::of(dact, View::whole(&gaux)),
                            dx: View::whole(&gdx),
                        },
                    )],
                );
                let twins = |d: &[f32]| {
                    let dy = ops::col2im(d, &conv, batch);
                    match kind {
                        PoolKind::Max => ops::max_pool_backward(&dy, &argmax, &pool, batch),
                        PoolKind::Avg => ops::avg_pool_backward(&dy, &pool, batch),
                    }
                };
                let mut want = twins(&dcols);
                ops::activation_backward(&mut want, &aux, dact);
                let bound = gather_bound(conv.kh * conv.kw, twins(&abs(&dcols)));
                Check::new(
                    "fused backward",
                    ctx.read_f32(&gdx, 0, n_in).unwrap(),
                    want,
                    bound,
                )
                .assert(&format!("{kind:?} {dact:?}, {what}"));
            }
        }
    }
}

#[test]
fn dropout_mask_matches_bit_for_bit() {
    let ctx = gpu();
    let k = kernels(&ctx, FixedTable);
    let n = 1000;
    let x = random_f32(n, 1, -1.0, 1.0);
    let gx = ctx.storage_init("x", &x);
    let gy = ctx.storage("y", (n * 4) as u64);
    for (rate, seed, t) in [(0.5f32, 7u32, 0u32), (0.2, 12345, 41), (0.9, 3, 1_000_000)] {
        let dropout = |mode, cursor: &wgpu::Buffer, act_grad| {
            run(
                &ctx,
                &[k.dropout(
                    &ctx,
                    &DropoutArgs {
                        mode,
                        n,
                        rate,
                        seed,
                        src: View::whole(&gx),
                        act_grad,
                        cursor: View::whole(cursor),
                        dst: View::whole(&gy),
                    },
                )],
            );
            ctx.read_f32(&gy, 0, n).unwrap()
        };
        let got = dropout(
            DropoutMode::Forward,
            &ctx.storage_init("cursor", &[0u32, t]),
            None,
        );
        let want = ops::dropout(&x, rate, seed, t);
        assert_eq!(got, want, "forward, rate {rate}");
        let kept = got.iter().filter(|v| **v != 0.0).count() as f32 / n as f32;
        assert!(
            (kept - (1.0 - rate)).abs() < 0.06,
            "rate {rate}: kept {kept}"
        );

        // Backward runs after the loss kernel advanced t: it must redraw the same mask.
        let cursor = ctx.storage_init("cursor", &[0u32, t + 1]);
        let aux = activation_output(n, 9, Activation::Sigmoid);
        let gaux = ctx.storage_init("aux", &aux);
        let got = dropout(
            DropoutMode::Backward,
            &cursor,
            ActGrad::of(Activation::Sigmoid, View::whole(&gaux)),
        );
        let mut want = ops::dropout(&x, rate, seed, t);
        ops::activation_backward(&mut want, &aux, Activation::Sigmoid);
        assert_within(&format!("backward, rate {rate}"), &got, &want, |j| {
            1e-6 * want[j].abs()
        });

        assert_eq!(
            dropout(DropoutMode::Identity, &cursor, None),
            x,
            "evaluation copies"
        );
    }
}

#[test]
fn batch_norm_matches_its_twins() {
    let ctx = gpu();
    // Both reduction variants run on any adapter: workgroup trees (GPUs) and per-channel
    // loops (CPU adapters).
    // (batch, spatial, channels, padding samples): after a dense layer, after a convolution,
    // and batch 1.
    let cases = [(16, 1, 5, 3), (4, 6, 7, 1), (1, 9, 3, 0), (300, 1, 2, 0)];
    for serial in [false, true] {
        let k = kernels(&ctx, Forced::serial_reductions(serial));
        check_batch_norm(&ctx, &k, &format!("serial reductions {serial}"), &cases);
    }
}

/// A convolution's full batch (128 x 28 x 28 rows, the last 3 samples padding) with the
/// variant each adapter picks. On a CPU adapter that must be the workgroup tree: llvmpipe
/// stops an invocation's loops after 65535 iterations, and a loop per channel over 100k rows
/// read only part of them (variance 0: batch norm after a convolution trained badly).
#[test]
fn batch_norm_over_a_full_convolution_batch_matches_its_twin() {
    let ctx = gpu();
    check_batch_norm(
        &ctx,
        &kernels(&ctx, FixedTable),
        "default variant",
        &[(128, 784, 8, 3)],
    );
}

fn check_batch_norm(
    ctx: &GpuContext,
    k: &Kernels,
    variant: &str,
    cases: &[(usize, usize, usize, usize)],
) {
    for (case, &(batch, spatial, channels, pad)) in cases.iter().enumerate() {
        let what = format!("batch {batch}, spatial {spatial}, channels {channels}, {pad} padding samples, {variant}");
        let rows = batch * spatial;
        let n = rows * channels;
        let labels: Vec<u32> = (0..batch)
            .map(|b| {
                if b + pad >= batch {
                    PAD_LABEL
                } else {
                    (b % 10) as u32
                }
            })
            .collect();
        let x = random_f32(n, 10 + case as u64, -2.0, 3.0);
        let dy = random_f32(n, 20 + case as u64, -1.0, 1.0);
        let gamma = random_f32(channels, 30 + case as u64, 0.5, 1.5);
        let beta = random_f32(channels, 40 + case as u64, -0.5, 0.5);
        let (momentum, epsilon) = (0.9f32, 1e-3f32);
        let mut mm = random_f32(channels, 50, -0.1, 0.1);
        let mut mv = random_f32(channels, 51, 0.9, 1.1);

        let buf = |v: &[f32]| ctx.storage_init("bn", v);
        let (gx, gdy, glabels) = (buf(&x), buf(&dy), ctx.storage_init("labels", &labels));
        let (ggamma, gbeta, gmm, gmv) = (buf(&gamma), buf(&beta), buf(&mm), buf(&mv));
        let gsaved = ctx.storage("saved", ((2 * channels + 1) * 4) as u64);
        let (gdgamma, gdbeta) = (
            ctx.storage("dgamma", (channels * 4) as u64),
            ctx.storage("dbeta", (channels * 4) as u64),
        );
        let (gy, gdx) = (
            ctx.storage("y", (n * 4) as u64),
            ctx.storage("dx", (n * 4) as u64),
        );
        let v = View::whole;
        let (x_, labels_, saved) = (v(&gx), v(&glabels), v(&gsaved));
        let (gamma_, beta_, dy_, dgamma, dbeta) =
            (v(&ggamma), v(&gbeta), v(&gdy), v(&gdgamma), v(&gdbeta));
        let (moving_mean, moving_var) = (v(&gmm), v(&gmv));
        let shape = BnShape {
            rows,
            channels,
            spatial,
            momentum,
            epsilon,
        };
        let launch = |launch| k.batchnorm(ctx, &BatchNormArgs { shape, launch });
        run(
            ctx,
            &[
                launch(BnLaunch::Stats {
                    x: x_,
                    labels: labels_,
                    saved,
                    moving_mean,
                    moving_var,
                }),
                launch(BnLaunch::ApplyTrain {
                    x: x_,
                    saved,
                    gamma: gamma_,
                    beta: beta_,
                    y: v(&gy),
                }),
                launch(BnLaunch::GradSums {
                    x: x_,
                    labels: labels_,
                    saved,
                    dy: dy_,
                    dgamma,
                    dbeta,
                }),
                launch(BnLaunch::Backward {
                    x: x_,
                    labels: labels_,
                    saved,
                    gamma: gamma_,
                    dy: dy_,
                    dgamma,
                    dbeta,
                    dact: Activation::Relu,
                    dx: v(&gdx),
                }),
            ],
        );
        let (mean, var, inv_std, valid) =
            ops::batchnorm_stats(&x, &labels, channels, spatial, epsilon);
        // Each invocation of the tree sums rows / 256 terms in sequence, so the f32 rounding
        // grows with the rows: 1e-5 up to 25600 rows, proportionally above.
        let rel = 1e-5 * (1.0 + (batch * spatial) as f32 / 25600.0);
        let close = |what: &str, got: Vec<f32>, want: Vec<f32>| {
            Check::new(what, got, want, Bound::Relative { rel, abs: 1e-6 }).assert("");
        };
        let read = |b: &wgpu::Buffer, len: usize| ctx.read_f32(b, 0, len).unwrap();
        let saved_v = read(&gsaved, 2 * channels + 1);
        close(
            &format!("mean, {what}"),
            saved_v[..channels].to_vec(),
            mean.clone(),
        );
        close(
            &format!("inv_std, {what}"),
            saved_v[channels..2 * channels].to_vec(),
            inv_std.clone(),
        );
        assert_eq!(saved_v[2 * channels] as usize, valid, "valid rows, {what}");
        for c in 0..channels {
            mm[c] = mm[c] * momentum + mean[c] * (1.0 - momentum);
            mv[c] = mv[c] * momentum + var[c] * (1.0 - momentum);
        }
        close(
            &format!("moving mean, {what}"),
            read(&gmm, channels),
            mm.clone(),
        );
        close(
            &format!("moving variance, {what}"),
            read(&gmv, channels),
            mv.clone(),
        );
        let y = ops::batchnorm_apply(&x, &mean, &inv_std, &gamma, &beta);
        close(&format!("y (training), {what}"), read(&gy, n), y);
        let (dgamma_w, dbeta_w, mut dx) =
            ops::batchnorm_backward(&x, &dy, &labels, spatial, &mean, &inv_std, &gamma, valid);
        close(
            &format!("dgamma, {what}"),
            read(&gdgamma, channels),
            dgamma_w,
        );
        close(&format!("dbeta, {what}"), read(&gdbeta, channels), dbeta_w);
        ops::activation_backward(&mut dx, &x, Activation::Relu);
        close(&format!("dx, {what}"), read(&gdx, n), dx);

        run(
            ctx,
            &[launch(BnLaunch::ApplyEval {
                x: x_,
                moving_mean,
                moving_var,
                gamma: gamma_,
                beta: beta_,
                y: v(&gy),
            })],
        );
        let inv: Vec<f32> = mv.iter().map(|v| 1.0 / (v + epsilon).sqrt()).collect();
        let y = ops::batchnorm_apply(&x, &mm, &inv, &gamma, &beta);
        close(&format!("y (evaluation), {what}"), read(&gy, n), y);
    }
}

/// The standalone activation's forward (each activation, a few ULP for sigmoid's exp and
/// division, exact otherwise) and backward (the gradient passed on, times each derivative
/// below: one rounding, 1e-6 relative), at a size that is not a multiple of the workgroup.
#[test]
fn activation_matches_its_twins() {
    let ctx = gpu();
    let k = kernels(&ctx, FixedTable);
    let n = 1031;
    let x = random_f32(n, 61, -3.0, 3.0);
    let dy = random_f32(n, 62, -1.0, 1.0);
    let (gx, gdy, gy) = (
        ctx.storage_init("x", &x),
        ctx.storage_init("dy", &dy),
        ctx.storage("y", (n * 4) as u64),
    );
    for act in [Activation::Linear, Activation::Relu, Activation::Sigmoid] {
        run(
            &ctx,
            &[k.activation_forward(
                &ctx,
                &ActivationForwardArgs {
                    n,
                    act,
                    x: View::whole(&gx),
                    y: View::whole(&gy),
                },
            )],
        );
        let mut want = x.clone();
        ops::activate(&mut want, act);
        let bound = match act {
            Activation::Sigmoid => Bound::Relative {
                rel: 1e-6,
                abs: 1e-7,
            },
            _ => Bound::Exact,
        };
        Check::new("forward", ctx.read_f32(&gy, 0, n).unwrap(), want, bound)
            .assert(&format!("{act:?}"));

        let aux = activation_output(n, 63, act);
        let gaux = ctx.storage_init("aux", &aux);
        run(
            &ctx,
            &[k.activation_backward(
                &ctx,
                &ActivationBackwardArgs {
                    n,
                    dy: View::whole(&gdy),
                    act_grad: ActGrad::of(act, View::whole(&gaux)),
                    dx: View::whole(&gy),
                },
            )],
        );
        let mut want = dy.clone();
        ops::activation_backward(&mut want, &aux, act);
        let bound = Bound::Relative {
            rel: 1e-6,
            abs: 0.0,
        };
        Check::new("backward", ctx.read_f32(&gy, 0, n).unwrap(), want, bound)
            .assert(&format!("{act:?}"));
    }
}
