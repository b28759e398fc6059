//! The convolution, pooling, dropout and batch-normalisation kernels against their twins in
//! `shaderfit::reference::ops`, at awkward shapes: 5x5 kernels, stride 2, `same` padding,
//! one channel, odd and non-square spatial sizes, overlapping pooling windows, batch 1.
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

use shaderfit::gpu::kernels::{
    BnEntry, BnShape, BnViews, DropoutMode, EpilogueAct, MatmulTile, PoolKind, Tuner, View,
};
use shaderfit::gpu::{GpuContext, Kernels, Launch};
use shaderfit::model::{Activation, Shape, Window};
use shaderfit::reference::ops::{self, PAD_LABEL};
use shaderfit::train::plan::window_geom;
use support::{assert_within, gpu, random_f32, ODD_TILING, VEC4_TILING};

const U: f32 = 1.0 / (1u32 << 24) as f32;

fn run(ctx: &GpuContext, launches: &[Launch]) {
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        for l in launches {
            l.record(&mut pass);
        }
    }
    ctx.submit_and_wait(encoder)
        .expect("kernels ran without GPU errors");
}

/// A window over `input` as shape inference would build it.
fn window(input: Shape, k: [usize; 2], s: [usize; 2], same: bool, out_c: usize) -> Window {
    let (oh, ow, pt, pl) = if same {
        let (oh, ow) = (input.h.div_ceil(s[0]), input.w.div_ceil(s[1]));
        let ph = ((oh - 1) * s[0] + k[0]).saturating_sub(input.h);
        let pw = ((ow - 1) * s[1] + k[1]).saturating_sub(input.w);
        (oh, ow, ph / 2, pw / 2)
    } else {
        (
            (input.h - k[0]) / s[0] + 1,
            (input.w - k[1]) / s[1] + 1,
            0,
            0,
        )
    };
    Window {
        input,
        output: Shape::new(oh, ow, out_c),
        kh: k[0],
        kw: k[1],
        sh: s[0],
        sw: s[1],
        pad_top: pt,
        pad_left: pl,
    }
}

/// An activation output to differentiate through: relu's (>= 0 with exact zeros) or
/// sigmoid's (in (0, 1)).
fn activation_output(n: usize, seed: u64, act: EpilogueAct) -> Vec<f32> {
    random_f32(n, seed, -1.0, 1.0)
        .into_iter()
        .map(|v| match act {
            EpilogueAct::Relu => v.max(0.0),
            _ => 0.5 * (v + 1.0),
        })
        .collect()
}

fn act_of(e: EpilogueAct) -> Activation {
    match e {
        EpilogueAct::None => Activation::Linear,
        EpilogueAct::Relu => Activation::Relu,
        EpilogueAct::Sigmoid => Activation::Sigmoid,
    }
}

/// batch, input [h, w, c], kernel, stride, `same` padding.
type ConvCase = (usize, [usize; 3], [usize; 2], [usize; 2], bool);

/// Channel counts divisible by 4 take the vec4 kernels, the others the f32 ones.
const CONVS: [ConvCase; 7] = [
    // batch, input h w c, kernel, stride, same padding
    (1, [7, 7, 1], [5, 5], [2, 2], true),
    (2, [9, 8, 3], [3, 3], [1, 1], false),
    (3, [11, 11, 2], [3, 2], [2, 1], true),
    (2, [6, 5, 4], [5, 5], [1, 1], true),
    (1, [28, 28, 1], [3, 3], [1, 1], false),
    (2, [9, 7, 8], [3, 3], [2, 2], true),
    (1, [7, 7, 4], [3, 2], [2, 1], false),
];

#[test]
fn im2col_and_col2im_match_their_twins() {
    let ctx = gpu();
    let k = Kernels::new(&ctx);
    for (i, &(batch, [h, w, c], kernel, stride, same)) in CONVS.iter().enumerate() {
        let win = window(Shape::new(h, w, c), kernel, stride, same, 1);
        let g = window_geom(&win, batch);
        let what = format!(
            "batch {batch}, {h}x{w}x{c}, kernel {kernel:?}, stride {stride:?}, same {same}"
        );
        let x = random_f32(batch * h * w * c, i as u64, -1.0, 1.0);
        let gx = ctx.storage_init("x", &x);
        let gcols = ctx.storage("cols", (g.rows() * g.patch() * 4) as u64);
        run(
            &ctx,
            &[k.im2col(&ctx, g, View::whole(&gx), View::whole(&gcols))],
        );
        let got = ctx.read_f32(&gcols, 0, g.rows() * g.patch()).unwrap();
        assert_eq!(got, ops::im2col(&x, &win, batch), "im2col, {what}");

        let dcols = random_f32(g.rows() * g.patch(), 100 + i as u64, -1.0, 1.0);
        let gdcols = ctx.storage_init("dcols", &dcols);
        let gdx = ctx.storage("dx", (x.len() * 4) as u64);
        for dact in [EpilogueAct::None, EpilogueAct::Relu, EpilogueAct::Sigmoid] {
            let aux = activation_output(x.len(), 200 + i as u64, dact);
            let gaux = ctx.storage_init("aux", &aux);
            run(
                &ctx,
                &[k.col2im(
                    &ctx,
                    g,
                    View::whole(&gdcols),
                    dact,
                    View::whole(&gaux),
                    View::whole(&gdx),
                )],
            );
            let got = ctx.read_f32(&gdx, 0, x.len()).unwrap();
            let mut want = ops::col2im(&dcols, &win, batch);
            ops::activation_backward(&mut want, &aux, act_of(dact));
            let abs: Vec<f32> = dcols.iter().map(|v| v.abs()).collect();
            let scale = ops::col2im(&abs, &win, batch);
            let terms = (win.kh * win.kw) as f32;
            assert_within(&format!("col2im {dact:?}, {what}"), &got, &want, |j| {
                2.0 * terms * U * scale[j] + 1e-7 + 1e-6 * want[j].abs()
            });
        }
    }
}

/// A convolution's forward (bias and relu) and its weight and bias gradients through
/// `Kernels::conv_forward` and `conv_weight_grads` (implicit or explicit, as `k` decides),
/// against the twin's im2col and products.
fn check_conv(
    ctx: &GpuContext,
    k: &Kernels,
    (batch, [h, w, c], kernel, stride, same): ConvCase,
    filters: usize,
    seed: u64,
    launch_count: Option<usize>,
) {
    let win = window(Shape::new(h, w, c), kernel, stride, same, filters);
    let g = window_geom(&win, batch);
    let what = format!(
        "implicit, batch {batch}, {h}x{w}x{c}, kernel {kernel:?}, stride {stride:?}, same {same}"
    );
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
    let (gdw, gdb) = (
        ctx.storage("dw", (patch * filters * 4) as u64),
        ctx.storage("db", (filters * 4) as u64),
    );
    let mut launches = k.conv_forward(
        ctx,
        g,
        (filters, EpilogueAct::Relu),
        View::whole(&gx),
        View::whole(&gcols),
        (View::whole(&gw), View::whole(&gb)),
        View::whole(&gy),
    );
    launches.extend(k.conv_weight_grads(
        ctx,
        g,
        filters,
        (View::whole(&gx), View::whole(&gcols)),
        View::whole(&gdy),
        View::whole(&gdw),
        View::whole(&gdb),
    ));
    if let Some(count) = launch_count {
        assert_eq!(launches.len(), count, "{what}");
    }
    run(ctx, &launches);

    let cols = ops::im2col(&x, &win, batch);
    let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<f32>>();
    let mut want = ops::matmul(&cols, &wt, (rows, filters, patch), false, false);
    let mut scale = ops::matmul(&abs(&cols), &abs(&wt), (rows, filters, patch), false, false);
    for r in 0..rows {
        for f in 0..filters {
            want[r * filters + f] += b[f];
            scale[r * filters + f] += b[f].abs();
        }
    }
    ops::activate(&mut want, Activation::Relu);
    assert_within(
        &format!("forward, {what}"),
        &ctx.read_f32(&gy, 0, rows * filters).unwrap(),
        &want,
        |j| 2.0 * (patch + 1) as f32 * U * scale[j] + 1e-6,
    );
    let want_dw = ops::matmul(&cols, &dy, (patch, filters, rows), true, false);
    let scale_dw = ops::matmul(&abs(&cols), &abs(&dy), (patch, filters, rows), true, false);
    assert_within(
        &format!("dW, {what}"),
        &ctx.read_f32(&gdw, 0, patch * filters).unwrap(),
        &want_dw,
        |j| 2.0 * (rows + 1) as f32 * U * scale_dw[j] + 1e-6,
    );
    let ones = vec![1.0; rows];
    let want_db = ops::matmul(&ones, &dy, (1, filters, rows), false, false);
    let scale_db = ops::matmul(&ones, &abs(&dy), (1, filters, rows), false, false);
    assert_within(
        &format!("db, {what}"),
        &ctx.read_f32(&gdb, 0, filters).unwrap(),
        &want_db,
        |j| 2.0 * (rows + 1) as f32 * U * scale_db[j] + 1e-6,
    );
}

/// Implicit-GEMM convolution (GPUs' tiled kernel reading x, no im2col pass), forward with
/// bias and relu and the weight and bias gradients, at every geometry above with a small odd
/// tiling whose tiles divide none of them: one launch each.
#[test]
fn implicit_gemm_convolution_matches_the_twin() {
    let ctx = gpu();
    let k = Kernels::new(&ctx).with_implicit_conv(Some(ODD_TILING));
    for (i, &case) in CONVS.iter().enumerate() {
        check_conv(&ctx, &k, case, 5, 500 + 10 * i as u64, Some(2));
    }
    // vec4 loads of x where its channels allow (4 and 8 here), and of W and dy with 8 filters.
    let k = Kernels::new(&ctx).with_implicit_conv(Some(VEC4_TILING));
    for (i, &case) in CONVS.iter().enumerate() {
        check_conv(&ctx, &k, case, 8, 600 + 10 * i as u64, Some(2));
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
    let tuner = Tuner::new(Some(path.clone()), "test adapter")
        .with_candidates(vec![MatmulTile::Tile4, MatmulTile::Tiled(ODD_TILING)]);
    let k = Kernels::new(&ctx).with_tuner(Some(tuner));
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
    assert!(
        saved.contains("conv 2x12x12x8 kernel 3x3 stride 1x1 pad 1x1 filters 32"),
        "{saved}"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn pooling_matches_its_twins() {
    let ctx = gpu();
    let k = Kernels::new(&ctx);
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
        let g = window_geom(&win, batch);
        let what = format!("batch {batch}, {h}x{w}x{c}, pool {size:?}, stride {stride:?}");
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
            let argmax = if kind == PoolKind::Max {
                View::whole(&gargmax)
            } else {
                k.unused_rw()
            };
            run(
                &ctx,
                &[k.pool_forward(&ctx, kind, g, View::whole(&gx), argmax, View::whole(&gy))],
            );
            let got = ctx.read_f32(&gy, 0, n_out).unwrap();
            let (want, want_argmax) = match kind {
                PoolKind::Max => {
                    let (y, a) = ops::max_pool_forward(&x, &win, batch);
                    (y, Some(a))
                }
                PoolKind::Avg => (ops::avg_pool_forward(&x, &win, batch), None),
            };
            assert_within(&format!("{kind:?} forward, {what}"), &got, &want, |j| {
                1e-7 + 1e-6 * want[j].abs()
            });
            if let Some(a) = &want_argmax {
                assert_eq!(
                    &ctx.read_u32(&gargmax, 0, n_out).unwrap(),
                    a,
                    "argmax, {what}"
                );
            }
            for dact in [EpilogueAct::None, EpilogueAct::Relu, EpilogueAct::Sigmoid] {
                let aux = activation_output(n_in, 500 + i as u64, dact);
                let gaux = ctx.storage_init("aux", &aux);
                run(
                    &ctx,
                    &[k.pool_backward(
                        &ctx,
                        kind,
                        g,
                        View::whole(&gdy),
                        argmax,
                        dact,
                        View::whole(&gaux),
                        View::whole(&gdx),
                    )],
                );
                let got = ctx.read_f32(&gdx, 0, n_in).unwrap();
                let mut want = match &want_argmax {
                    Some(a) => ops::max_pool_backward(&dy, a, &win, batch),
                    None => ops::avg_pool_backward(&dy, &win, batch),
                };
                ops::activation_backward(&mut want, &aux, act_of(dact));
                let abs: Vec<f32> = dy.iter().map(|v| v.abs()).collect();
                let scale = match &want_argmax {
                    Some(a) => ops::max_pool_backward(&abs, a, &win, batch),
                    None => ops::avg_pool_backward(&abs, &win, batch),
                };
                let terms = (win.kh * win.kw) as f32;
                assert_within(
                    &format!("{kind:?} backward {dact:?}, {what}"),
                    &got,
                    &want,
                    |j| 2.0 * terms * U * scale[j] + 1e-7 + 1e-6 * want[j].abs(),
                );
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
    let k = Kernels::new(&ctx);
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
        let (pg, cg) = (window_geom(&pool, batch), window_geom(&conv, batch));
        let what = format!("batch {batch}, {h}x{w}x{c}, pool {size:?}, conv {kernel:?}/{stride:?}");
        let n_in = batch * h * w * c;
        let n_cols = cg.rows() * cg.patch();
        let dcols = random_f32(n_cols, 700 + i as u64, -1.0, 1.0);
        let gdcols = ctx.storage_init("dcols", &dcols);
        // Filled with garbage: every element, the uncovered tail's too, must be written.
        let gdx = ctx.storage_init("dx", &vec![7.0f32; n_in]);
        let abs: Vec<f32> = dcols.iter().map(|v| v.abs()).collect();
        for kind in [PoolKind::Max, PoolKind::Avg] {
            for dact in [EpilogueAct::None, EpilogueAct::Relu, EpilogueAct::Sigmoid] {
                let aux = activation_output(n_in, 800 + i as u64, dact);
                let (_, argmax) = ops::max_pool_forward(&aux, &pool, batch);
                let (gaux, gargmax) = (
                    ctx.storage_init("aux", &aux),
                    ctx.storage_init("argmax", &argmax),
                );
                let argmax_view = match kind {
                    PoolKind::Max => View::whole(&gargmax),
                    PoolKind::Avg => k.unused_rw(),
                };
                let launch = k.pool_backward_from_cols(
                    &ctx,
                    kind,
                    pg,
                    cg,
                    View::whole(&gdcols),
                    argmax_view,
                    dact,
                    View::whole(&gaux),
                    View::whole(&gdx),
                );
                run(&ctx, &[launch]);
                let twins = |d: &[f32]| {
                    let dy = ops::col2im(d, &conv, batch);
                    match kind {
                        PoolKind::Max => ops::max_pool_backward(&dy, &argmax, &pool, batch),
                        PoolKind::Avg => ops::avg_pool_backward(&dy, &pool, batch),
                    }
                };
                let mut want = twins(&dcols);
                ops::activation_backward(&mut want, &aux, act_of(dact));
                let scale = twins(&abs);
                let terms = (conv.kh * conv.kw) as f32;
                assert_within(
                    &format!("{kind:?} {dact:?}, {what}"),
                    &ctx.read_f32(&gdx, 0, n_in).unwrap(),
                    &want,
                    |j| 2.0 * terms * U * scale[j] + 1e-7 + 1e-6 * want[j].abs(),
                );
            }
        }
    }
}

#[test]
fn dropout_mask_matches_bit_for_bit() {
    let ctx = gpu();
    let k = Kernels::new(&ctx);
    let n = 1000;
    let x = random_f32(n, 1, -1.0, 1.0);
    let gx = ctx.storage_init("x", &x);
    let gy = ctx.storage("y", (n * 4) as u64);
    for (rate, seed, t) in [(0.5f32, 7u32, 0u32), (0.2, 12345, 41), (0.9, 3, 1_000_000)] {
        let cursor = ctx.storage_init("cursor", &[0u32, t]);
        run(
            &ctx,
            &[k.dropout(
                &ctx,
                DropoutMode::Forward,
                n,
                rate,
                seed,
                View::whole(&gx),
                EpilogueAct::None,
                k.unused(),
                View::whole(&cursor),
                View::whole(&gy),
            )],
        );
        let got = ctx.read_f32(&gy, 0, n).unwrap();
        let want = ops::dropout(&x, rate, seed, t);
        assert_eq!(got, want, "forward, rate {rate}");
        let kept = got.iter().filter(|v| **v != 0.0).count() as f32 / n as f32;
        assert!(
            (kept - (1.0 - rate)).abs() < 0.06,
            "rate {rate}: kept {kept}"
        );

        // Backward runs after the loss kernel advanced t: it must redraw the same mask.
        let cursor = ctx.storage_init("cursor", &[0u32, t + 1]);
        let aux = activation_output(n, 9, EpilogueAct::Sigmoid);
        let gaux = ctx.storage_init("aux", &aux);
        run(
            &ctx,
            &[k.dropout(
                &ctx,
                DropoutMode::Backward,
                n,
                rate,
                seed,
                View::whole(&gx),
                EpilogueAct::Sigmoid,
                View::whole(&gaux),
                View::whole(&cursor),
                View::whole(&gy),
            )],
        );
        let got = ctx.read_f32(&gy, 0, n).unwrap();
        let mut want = ops::dropout(&x, rate, seed, t);
        ops::activation_backward(&mut want, &aux, Activation::Sigmoid);
        assert_within(&format!("backward, rate {rate}"), &got, &want, |j| {
            1e-6 * want[j].abs()
        });

        run(
            &ctx,
            &[k.dropout(
                &ctx,
                DropoutMode::Identity,
                n,
                rate,
                seed,
                View::whole(&gx),
                EpilogueAct::None,
                k.unused(),
                View::whole(&cursor),
                View::whole(&gy),
            )],
        );
        assert_eq!(ctx.read_f32(&gy, 0, n).unwrap(), x, "evaluation copies");
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
        check_batch_norm(
            &ctx,
            &Kernels::new(&ctx).with_serial_reductions(serial),
            &format!("serial reductions {serial}"),
            &cases,
        );
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
        &Kernels::new(&ctx),
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
        let what =
            format!("batch {batch}, spatial {spatial}, channels {channels}, {pad} padding samples, {variant}");
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
        let vy = BnViews {
            x: View::whole(&gx),
            labels: View::whole(&glabels),
            saved: View::whole(&gsaved),
            moving_mean: View::whole(&gmm),
            moving_var: View::whole(&gmv),
            gamma: View::whole(&ggamma),
            beta: View::whole(&gbeta),
            dy: View::whole(&gdy),
            dgamma: View::whole(&gdgamma),
            dbeta: View::whole(&gdbeta),
            dst: View::whole(&gy),
        };
        let vdx = BnViews {
            dst: View::whole(&gdx),
            ..vy
        };
        let shape = BnShape {
            rows,
            channels,
            spatial,
            momentum,
            epsilon,
        };
        let none = EpilogueAct::None;
        run(
            ctx,
            &[
                k.batchnorm(ctx, BnEntry::Stats, shape, none, vy),
                k.batchnorm(ctx, BnEntry::ApplyTrain, shape, none, vy),
                k.batchnorm(ctx, BnEntry::GradSums, shape, none, vy),
                k.batchnorm(ctx, BnEntry::Backward, shape, EpilogueAct::Relu, vdx),
            ],
        );
        let (mean, var, inv_std, valid) =
            ops::batchnorm_stats(&x, &labels, channels, spatial, epsilon);
        let close = |what: &str, got: &[f32], want: &[f32]| {
            // Each invocation of the tree sums rows / 256 terms in sequence, so the f32
            // rounding grows with the rows: 1e-5 up to 25600 rows, proportionally above.
            let rel = 1e-5 * (1.0 + (batch * spatial) as f32 / 25600.0);
            assert_within(what, got, want, |j| 1e-6 + rel * want[j].abs())
        };
        let saved = ctx.read_f32(&gsaved, 0, 2 * channels + 1).unwrap();
        close(&format!("mean, {what}"), &saved[..channels], &mean);
        close(
            &format!("inv_std, {what}"),
            &saved[channels..2 * channels],
            &inv_std,
        );
        assert_eq!(saved[2 * channels] as usize, valid, "valid rows, {what}");
        for c in 0..channels {
            mm[c] = mm[c] * momentum + mean[c] * (1.0 - momentum);
            mv[c] = mv[c] * momentum + var[c] * (1.0 - momentum);
        }
        close(
            &format!("moving mean, {what}"),
            &ctx.read_f32(&gmm, 0, channels).unwrap(),
            &mm,
        );
        close(
            &format!("moving variance, {what}"),
            &ctx.read_f32(&gmv, 0, channels).unwrap(),
            &mv,
        );
        let y = ops::batchnorm_apply(&x, &mean, &inv_std, &gamma, &beta);
        close(
            &format!("y (training), {what}"),
            &ctx.read_f32(&gy, 0, n).unwrap(),
            &y,
        );
        let (dgamma, dbeta, mut dx) =
            ops::batchnorm_backward(&x, &dy, &labels, spatial, &mean, &inv_std, &gamma, valid);
        close(
            &format!("dgamma, {what}"),
            &ctx.read_f32(&gdgamma, 0, channels).unwrap(),
            &dgamma,
        );
        close(
            &format!("dbeta, {what}"),
            &ctx.read_f32(&gdbeta, 0, channels).unwrap(),
            &dbeta,
        );
        ops::activation_backward(&mut dx, &x, Activation::Relu);
        close(
            &format!("dx, {what}"),
            &ctx.read_f32(&gdx, 0, n).unwrap(),
            &dx,
        );

        run(
            ctx,
            &[k.batchnorm(ctx, BnEntry::ApplyEval, shape, none, vy)],
        );
        let inv: Vec<f32> = mv.iter().map(|v| 1.0 / (v + epsilon).sqrt()).collect();
        let y = ops::batchnorm_apply(&x, &mm, &inv, &gamma, &beta);
        close(
            &format!("y (evaluation), {what}"),
            &ctx.read_f32(&gy, 0, n).unwrap(),
            &y,
        );
    }
}
