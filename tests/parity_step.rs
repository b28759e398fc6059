//! Whole training steps: the GPU trainer against the CPU reference model, from the same
//! initial weights and the same shuffled order, with every optimizer; plus the evaluation
//! path and the promise of one readback per epoch.

mod support;

use std::sync::Arc;

use shaderfit::data::dataset::{epoch_order, split_indices};
use shaderfit::data::Dataset;
use shaderfit::eval::metrics::{Accuracy, ConfusionMatrix, MetricValue, Predictions, TopK};
use shaderfit::eval::{tta, Pass, Score, Tta};
use shaderfit::floor::augment::{self, Augment, DrawKey};
use shaderfit::floor::{Activation, Shape};
use shaderfit::gpu::kernels::{Forced, GpuTable, KernelPolicy};
use shaderfit::gpu::profiler::Clock;
use shaderfit::layers::{Dense, Flatten, Layer};
use shaderfit::model::ReferenceModel;
use shaderfit::model::{ModelSpec, Network, ParamLayout};
use shaderfit::optim::schedule::Decay;
use shaderfit::optim::{Adam, AdamW, Optimizer, RmsProp, Schedule, Sgd};
use shaderfit::reference::ops;
use shaderfit::train::{Phase, Progress, StepProfile, TrainConfig, Trainer};
use support::parity::every_optimizer;
use support::{assert_within, gpu, synthetic_dataset};

const BATCH: usize = 16;

/// 7x7 inputs -> 33 relu -> 17 sigmoid -> 10 softmax: both hidden activations, widths that
/// are not multiples of the 4x4 tile.
fn network() -> Network {
    let d = |units, activation| -> Arc<dyn Layer> { Arc::new(Dense::new(units, activation)) };
    ModelSpec {
        name: "parity".into(),
        input: None,
        layers: vec![
            Arc::new(Flatten),
            d(33, Activation::Relu),
            d(17, Activation::Sigmoid),
            d(10, Activation::Softmax),
        ],
    }
    .compile(Shape::new(7, 7, 1), 10)
    .unwrap()
}

fn data() -> Dataset {
    // 40 training samples at batch 16: steps of 16, 16 and a short last one of 8.
    synthetic_dataset(40, 24, 7, 7, 10)
}

/// Runs `steps` CPU reference steps of epoch 0 over `data`'s training split.
fn reference_steps(
    net: &Network,
    data: &Dataset,
    optimizer: Arc<dyn Optimizer>,
    seed: u64,
    steps: usize,
) -> (ReferenceModel, f64, u32) {
    reference_steps_of(
        ReferenceModel::new(net.clone(), optimizer, seed),
        data,
        seed,
        steps,
    )
}

/// Runs `steps` steps of `model` (as [`reference_steps`]).
fn reference_steps_of(
    mut model: ReferenceModel,
    data: &Dataset,
    seed: u64,
    steps: usize,
) -> (ReferenceModel, f64, u32) {
    let (train, _) = split_indices(data.train.len(), 0.0);
    let order = epoch_order(&train, seed, 0);
    let (mut loss, mut correct) = (0.0f64, 0);
    for step in 0..steps {
        let (x, y) = ops::gather(
            &data.train.images,
            &data.train.labels,
            &order,
            step,
            BATCH,
            data.pixels_per_image(),
        );
        let out = model.train_step(&x, &y);
        loss += out.loss_sum as f64;
        correct += out.correct;
    }
    (model, loss, correct)
}

fn config(optimizer: Arc<dyn Optimizer>, seed: u64) -> TrainConfig {
    TrainConfig {
        batch_size: BATCH,
        epochs: 1,
        optimizer,
        seed,
        validation_split: 0.0,
        // Two submissions for three steps: chunking must not change the result.
        steps_per_submit: 2,
        ..Default::default()
    }
}

fn sgd(learning_rate: f32, momentum: f32) -> Arc<dyn Optimizer> {
    Arc::new(Sgd {
        learning_rate,
        momentum,
    })
}

/// After three steps (the last one short) the GPU weights match the CPU reference, with every
/// optimizer of the registry.
///
/// Tolerance: each weight may differ by 1e-3 of the learning rate plus 1e-6 relative to its
/// value. The kernel checks bound each operation to a few f32 roundings; three steps compound
/// those through the gradients, and Adam and RMSprop divide by sqrt(v), so a gradient with a
/// relative error of 1e-5 moves a weight by about lr·1e-5 per step. 1e-3·lr leaves a margin
/// of ~30x over that and is still ~1000x smaller than one step's change, so a kernel that is
/// wrong anywhere (a missed row, a wrong derivative, a wrong t) fails it.
#[test]
fn three_steps_match_the_reference_with_every_optimizer() {
    let ctx = gpu();
    let net = network();
    let data = data();
    // Every optimizer of the registry, at Keras's defaults and with each hyperparameter it
    // takes set (AdamW's decay at lr 0.05 is then 5e-3 of each weight per step: 1.5e-2·|w|
    // over three steps, far above the tolerance, so a missed decay fails).
    // Each with dense layers' dW and dx as two dispatches and as one (as the fixed table
    // pairs them where both are tile4's), and the step's end fused (the output layer with the
    // loss, the optimizer with the loss sum and the next batch's gather) and not.
    let runs = every_optimizer()
        .into_iter()
        .enumerate()
        .flat_map(|(i, o)| {
            [(false, true), (true, true), (true, false)]
                .map(|(pairs, end)| (i, o.clone(), pairs, end))
        });
    for (i, optimizer, pairs, fused_end) in runs {
        let seed = 7 + i as u64;
        let cfg = TrainConfig {
            kernels: Arc::new(Forced {
                dense_pair: Some(pairs),
                // Both of the paired kernel's shapes: 4 rows per invocation and 1.
                pair_rows: Some(if fused_end { 1 } else { 4 }),
                step_end: Some(fused_end),
                ..Forced::default()
            }),
            ..config(optimizer.clone(), seed)
        };
        let mut trainer = Trainer::new(&ctx, &net, &data, cfg).unwrap();
        let labels: Vec<_> = trainer.plan().train_step.iter().map(|l| l.label).collect();
        let paired = labels.iter().filter(|l| **l == "dense dW+dx").count();
        assert_eq!(paired, if pairs { 2 } else { 0 }, "dense layers paired");
        let ends = ["dense + softmax_xent", "optimizer + next batch"];
        let fused = ends.iter().filter(|e| labels.contains(e)).count();
        assert_eq!(
            fused,
            if fused_end { 2 } else { 0 },
            "step end fused: {labels:?}"
        );
        assert_eq!(trainer.steps_per_epoch(), 3);
        let initial = trainer.evaluator().read_params().unwrap();
        trainer.begin_epoch();
        trainer.run_steps(3);
        let got = trainer.evaluator().read_params().unwrap();
        let metrics = trainer.read_metrics().unwrap()[0].score();

        let (cpu, loss, correct) = reference_steps(&net, &data, optimizer.clone(), seed, 3);
        let lr = optimizer.learning_rate();
        let what = format!(
            "{}{}{}",
            optimizer.describe(),
            if pairs { ", paired" } else { "" },
            if fused_end { ", fused step end" } else { "" }
        );
        for (t, name) in [
            "dense_0/kernel",
            "dense_0/bias",
            "dense_1/kernel",
            "dense_1/bias",
            "dense_2/kernel",
            "dense_2/bias",
        ]
        .iter()
        .enumerate()
        {
            let want = &cpu.params[t];
            assert_within(&format!("{what}: {name}"), &got[t], want, |k| {
                1e-3 * lr + 1e-6 * want[k].abs()
            });
            // The step moved the weights: the comparison is not of two untouched copies.
            assert_ne!(got[t], initial[t], "{what}: {name} did not change");
        }
        assert_eq!(metrics.samples, 40, "{what}: samples seen");
        assert_eq!(metrics.correct, correct, "{what}: correct predictions");
        assert!(
            (metrics.loss_sum as f64 - loss).abs() <= 1e-4 * loss,
            "{what}: loss sum {} vs {loss}",
            metrics.loss_sum
        );
    }
}

/// Label smoothing (Keras's, 0.2) in training: three steps match the reference trained with
/// the same smoothing, with the tolerances above, and end far from the weights of training
/// without it (so the smoothing is applied, not dropped).
#[test]
fn label_smoothing_steps_match_the_reference() {
    let ctx = gpu();
    let net = network();
    let data = data();
    let optimizer = sgd(0.1, 0.0);
    let seed = 21;
    let cfg = TrainConfig {
        label_smoothing: 0.2,
        ..config(optimizer.clone(), seed)
    };
    let mut trainer = Trainer::new(&ctx, &net, &data, cfg).unwrap();
    trainer.begin_epoch();
    trainer.run_steps(3);
    let got = trainer.evaluator().read_params().unwrap();
    let metrics = trainer.read_metrics().unwrap()[0].score();
    let mut model = ReferenceModel::new(net.clone(), optimizer.clone(), seed);
    model.label_smoothing = 0.2;
    let (cpu, loss, correct) = reference_steps_of(model, &data, seed, 3);
    let (plain, plain_loss, _) = reference_steps(&net, &data, optimizer, seed, 3);
    let bound = |want: &[f32], k: usize| 1e-3 * 0.1 + 1e-6 * want[k].abs();
    for (t, want) in cpu.params.iter().enumerate() {
        assert_within(&format!("tensor {t}"), &got[t], want, |k| bound(want, k));
    }
    let moved = (0..plain.params.len()).any(|t| {
        (0..plain.params[t].len())
            .any(|k| (got[t][k] - plain.params[t][k]).abs() > 10.0 * bound(&plain.params[t], k))
    });
    assert!(
        moved,
        "training with smoothing ended where training without it does"
    );
    assert_eq!(metrics.correct, correct);
    assert!(
        (metrics.loss_sum as f64 - loss).abs() <= 1e-4 * loss && (loss - plain_loss).abs() > 1e-3,
        "loss sum {} vs {loss} (without smoothing {plain_loss})",
        metrics.loss_sum
    );
}

/// A schedule is followed step by step across epochs: two epochs (six steps) under a cosine
/// decay after one warm-up step, with SGD with momentum and with AdamW (which reads both the
/// scheduled rate, for its decay, and Adam's step size), match the reference model stepped at
/// the schedule's rate for each step, with the same tolerance as above.
#[test]
fn a_schedule_is_followed_step_by_step_across_epochs() {
    let ctx = gpu();
    let net = network();
    let data = data();
    let schedule = Schedule {
        decay: Decay::Cosine { floor: 0.1 },
        warmup: 1,
        total: 6,
    };
    let adamw: Arc<dyn Optimizer> = Arc::new(AdamW {
        adam: Adam {
            learning_rate: 0.01,
            ..Adam::default()
        },
        ..AdamW::default()
    });
    for (i, optimizer) in [sgd(0.1, 0.9), adamw].into_iter().enumerate() {
        let seed = 20 + i as u64;
        let mut cfg = config(optimizer.clone(), seed);
        cfg.schedule = schedule;
        let mut trainer = Trainer::new(&ctx, &net, &data, cfg).unwrap();
        let mut cpu = ReferenceModel::new(net.clone(), optimizer.clone(), seed);
        let base = optimizer.learning_rate() as f64;
        let (train, _) = split_indices(40, 0.0);
        for epoch in 0..2 {
            trainer.fit_epoch().unwrap();
            let order = epoch_order(&train, seed, epoch);
            for step in 0..3 {
                let (x, y) = ops::gather(
                    &data.train.images,
                    &data.train.labels,
                    &order,
                    step,
                    BATCH,
                    49,
                );
                let global = (epoch * 3 + step) as u64;
                cpu.train_step_at(&x, &y, schedule.learning_rate(base, global));
            }
        }
        let want_last = schedule.learning_rate(base, 5);
        assert_eq!(
            trainer.learning_rate(),
            want_last,
            "the history's lr: the last step's"
        );
        assert!(want_last < base * 0.2, "the schedule decayed: {want_last}");
        let got = trainer.evaluator().read_params().unwrap();
        let what = optimizer.describe();
        for (t, want) in cpu.params.iter().enumerate() {
            assert_within(&format!("{what}: tensor {t}"), &got[t], want, |k| {
                1e-3 * base as f32 + 1e-6 * want[k].abs()
            });
        }
    }
}

/// Evaluation (forward only, through the validation split) matches the reference.
#[test]
fn validation_pass_matches_the_reference() {
    let ctx = gpu();
    let net = network();
    let data = data();
    let optimizer: Arc<dyn Optimizer> = Arc::new(Adam::default());
    let mut cfg = config(optimizer.clone(), 3);
    cfg.validation_split = 0.25; // the last 10 samples
    let mut trainer = Trainer::new(&ctx, &net, &data, cfg).unwrap();
    assert_eq!(trainer.steps_per_epoch(), 2); // 30 samples: 16 + 14
    let report = trainer.fit_epoch().unwrap();
    let params = trainer.evaluator().read_params().unwrap();

    let mut model = ReferenceModel::with_params(net.clone(), params, optimizer, 3);
    let (_, val) = split_indices(40, 0.25);
    let (x, y) = ops::gather(
        &data.train.images,
        &data.train.labels,
        &val,
        0,
        val.len(),
        49,
    );
    let want = model.evaluate(&x, &y);
    let got = report.validation.unwrap().score();
    assert_eq!(got.samples, 10);
    assert_eq!((got.accuracy * 10.0).round() as u32, want.correct);
    let want_loss = want.loss_sum as f64 / 10.0;
    assert!(
        (got.loss - want_loss).abs() <= 1e-5 * want_loss + 1e-6,
        "val loss {} vs {want_loss}",
        got.loss
    );

    let test: Score = trainer.evaluate_test().unwrap().score();
    let (x, y) = ops::gather(
        &data.test.images,
        &data.test.labels,
        &(0..24).collect::<Vec<_>>(),
        0,
        24,
        49,
    );
    let want = model.evaluate(&x, &y);
    assert_eq!(test.samples, 24);
    assert_eq!((test.accuracy * 24.0).round() as u32, want.correct);
}

/// Evaluation of the CNN with batch normalisation (moving statistics, dropout off) after an
/// epoch matches the reference given the same weights and moving statistics.
#[test]
fn evaluation_with_batch_norm_matches_the_reference() {
    let ctx = gpu();
    let net = cnn();
    let data = synthetic_dataset(40, 24, 9, 9, 10);
    let optimizer: Arc<dyn Optimizer> = Arc::new(Adam::default());
    let mut trainer = Trainer::new(&ctx, &net, &data, config(optimizer.clone(), 7)).unwrap();
    trainer.fit_epoch().unwrap();
    trainer.fit_epoch().unwrap();
    let test: Score = trainer.evaluate_test().unwrap().score();

    let mut model = ReferenceModel::with_params(
        net.clone(),
        trainer.evaluator().read_params().unwrap(),
        optimizer,
        7,
    );
    model.stats = trainer.evaluator().read_stats().unwrap();
    let (x, y) = ops::gather(
        &data.test.images,
        &data.test.labels,
        &(0..24).collect::<Vec<_>>(),
        0,
        24,
        81,
    );
    let want = model.evaluate(&x, &y);
    assert_eq!(test.samples, 24);
    assert_eq!((test.accuracy * 24.0).round() as u32, want.correct);
    let want_loss = want.loss_sum as f64 / 24.0;
    assert!(
        (test.loss - want_loss).abs() <= 1e-5 * want_loss + 1e-6,
        "test loss {} vs {want_loss}",
        test.loss
    );
}

/// An epoch waits for a GPU readback exactly once (its metrics), however many steps it has;
/// the running-metric snapshots for the progress bar are mapped asynchronously, never waited
/// for.
#[test]
fn one_readback_per_epoch() {
    let ctx = gpu();
    let net = network();
    let data = synthetic_dataset(200, 24, 7, 7, 10);
    let mut cfg = config(sgd(0.1, 0.0), 1);
    cfg.steps_per_submit = 4;
    let mut trainer = Trainer::new(&ctx, &net, &data, cfg).unwrap();
    assert_eq!(trainer.steps_per_epoch(), 13);
    let before = ctx.readback_count();
    let reports: Vec<_> = (0..3).map(|_| trainer.fit_epoch().unwrap()).collect();
    assert_eq!(ctx.readback_count() - before, 3);
    // And the epochs trained.
    assert!(
        reports[2].train.score().loss < reports[0].train.score().loss,
        "{reports:?}"
    );
}

/// A small CNN with every layer kind: `same` and strided convolutions, batch normalisation
/// after a convolution and after a dense layer, max and average pooling, dropout (so the masks
/// must agree bit for bit), relu and sigmoid, standalone activations (a sigmoid after a linear
/// convolution, and the softmax after a linear dense layer).
///
/// (Not a linear convolution right before batch normalisation: its bias's gradient is zero in
/// exact arithmetic, so rounding alone picks its sign, and Adam turns either sign into a full
/// step. Keras drops that bias, `use_bias=False`.)
fn cnn() -> Network {
    cnn_of(CNN_JSON)
}

fn cnn_of(json: &str) -> Network {
    ModelSpec::from_json("parity_cnn", json)
        .unwrap()
        .compile(Shape::new(9, 9, 1), 10)
        .unwrap()
}

/// The CNN's output layers, and a dense softmax for them: a step's end fuses only where its
/// output layer is a dense one.
const SOFTMAX_LAST: (&str, &str) = (
    r#"{"type": "dense", "units": 10},
            {"type": "activation", "activation": "softmax"}"#,
    r#"{"type": "dense", "units": 10, "activation": "softmax"}"#,
);

const CNN_JSON: &str = r#"{"input": [9, 9, 1], "layers": [
            {"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same", "activation": "relu"},
            {"type": "batch_norm"},
            {"type": "max_pool", "size": 2},
            {"type": "conv2d", "filters": 5, "kernel": 2, "stride": 2},
            {"type": "activation", "activation": "sigmoid"},
            {"type": "avg_pool", "size": [2, 1], "stride": 1},
            {"type": "dropout", "rate": 0.3},
            {"type": "flatten"},
            {"type": "dense", "units": 7, "activation": "relu"},
            {"type": "batch_norm", "momentum": 0.9},
            {"type": "dropout", "rate": 0.2},
            {"type": "dense", "units": 10},
            {"type": "activation", "activation": "softmax"}
        ]}"#;

/// Three steps of the CNN (the last one short, so batch normalisation must leave padding rows
/// out) match the reference: weights with the tolerance argued above, moving statistics
/// likewise (they are means of activations, so 1e-5 relative), metrics exactly where integer.
#[test]
fn cnn_with_dropout_and_batch_norm_matches_the_reference() {
    let ctx = gpu();
    let net = cnn();
    let data = synthetic_dataset(40, 24, 9, 9, 10);
    let optimizers: [Arc<dyn Optimizer>; 2] = [Arc::new(Adam::default()), sgd(0.05, 0.9)];
    for (i, optimizer) in optimizers.into_iter().enumerate() {
        let seed = 21 + i as u64;
        three_steps_and_evaluation_match(&ctx, &net, &data, optimizer, seed, Forced::default());
    }
    // The step's end fused (what GPUs run), every reduction split in 3: the 4-filter
    // convolution leaves its dW's and db's slices to the optimizer, which sums them where it
    // reads them; the 5-filter one (rows not a whole vec4) and the dense layers keep their sum
    // launches.
    let fused = Forced {
        splits: Some(3),
        step_end: Some(true),
        ..Forced::default()
    };
    let net = cnn_of(&CNN_JSON.replace(SOFTMAX_LAST.0, SOFTMAX_LAST.1));
    let trainer = Trainer::new(&ctx, &net, &data, config(sgd(0.05, 0.9), 23)).unwrap();
    let unfused = trainer
        .plan()
        .train_step
        .iter()
        .filter(|l| l.label == "conv2d dW")
        .count();
    let cfg = TrainConfig {
        kernels: Arc::new(fused),
        ..config(sgd(0.05, 0.9), 23)
    };
    let trainer = Trainer::new(&ctx, &net, &data, cfg).unwrap();
    let dw = trainer
        .plan()
        .train_step
        .iter()
        .filter(|l| l.label == "conv2d dW")
        .count();
    assert_eq!(
        (unfused, dw),
        (2, 3),
        "one convolution's sum deferred, one kept"
    );
    three_steps_and_evaluation_match(&ctx, &net, &data, sgd(0.05, 0.9), 23, fused);
}

/// Every layer kind of the registry, as its example (every field away from its default) in a
/// model around it, trains three steps and evaluates as the reference does, with the checks
/// and tolerances of the CNN above: a new layer kind is held to its twin here without a test
/// of its own being written. The images are RGB (9x9x3), so every kind that can be a first
/// layer reads three channels.
#[test]
fn every_layer_kind_trains_like_the_reference() {
    let ctx = gpu();
    let image = Shape::new(9, 9, 3);
    let data = support::synthetic_images(40, 24, image, 10);
    for (i, kind) in shaderfit::layers::KINDS.iter().enumerate() {
        let mut net = support::model_around(kind, image)
            .compile(image, 10)
            .unwrap();
        net.name = format!("a model around {}", kind.type_name);
        // SGD with momentum: Adam divides by sqrt(v) + 1e-7, so a gradient near zero (batch
        // normalisation of a one-channel input makes some) turns its f32 rounding into a
        // step of a sizeable fraction of the learning rate; SGD scales it by lr only.
        let seed = 31 + i as u64;
        three_steps_and_evaluation_match(
            &ctx,
            &net,
            &data,
            sgd(0.05, 0.9),
            seed,
            Forced::default(),
        );
    }
}

/// Three steps of `net` (the last one short, so batch normalisation must leave padding rows
/// out) match the reference: weights with the tolerance argued above, moving statistics
/// likewise (they are means of activations, so 1e-5 relative), metrics exactly where integer;
/// then the evaluation on the test split (dropout off, moving statistics).
fn three_steps_and_evaluation_match(
    ctx: &shaderfit::gpu::GpuContext,
    net: &Network,
    data: &Dataset,
    optimizer: Arc<dyn Optimizer>,
    seed: u64,
    kernels: Forced,
) {
    let cfg = TrainConfig {
        kernels: Arc::new(kernels),
        ..config(optimizer.clone(), seed)
    };
    let mut trainer = Trainer::new(ctx, net, data, cfg).unwrap();
    trainer.begin_epoch();
    trainer.run_steps(3);
    let got = trainer.evaluator().read_params().unwrap();
    let got_stats = trainer.evaluator().read_stats().unwrap();
    let metrics = trainer.read_metrics().unwrap()[0].score();

    let (mut cpu, loss, correct) = reference_steps(net, data, optimizer.clone(), seed, 3);
    let what = format!("{}: {}, {kernels:?}", net.name, optimizer.describe());
    let lr = optimizer.learning_rate();
    let layout = ParamLayout::trainable(net, 1);
    for (t, slot) in layout.tensors.iter().enumerate() {
        let want = &cpu.params[t];
        assert_within(&format!("{what}: {}", slot.spec.name), &got[t], want, |k| {
            1e-3 * lr + 1e-6 * want[k].abs()
        });
    }
    for (t, want) in cpu.stats.iter().enumerate() {
        assert_within(
            &format!("{what}: moving statistics {t}"),
            &got_stats[t],
            want,
            |k| 1e-6 + 1e-5 * want[k].abs(),
        );
        assert!(
            want.iter().any(|&v| v != 0.0 && v != 1.0),
            "statistics moved"
        );
    }
    assert_eq!(metrics.samples, 40, "{what}: samples");
    assert_eq!(metrics.correct, correct, "{what}: correct predictions");
    assert!(
        (metrics.loss_sum as f64 - loss).abs() <= 1e-4 * loss,
        "{what}: loss {} vs {loss}",
        metrics.loss_sum
    );

    // Evaluation (dropout off, moving statistics) on the test split.
    let test = trainer.evaluate_test().unwrap().score();
    let all: Vec<u32> = (0..24).collect();
    let (x, y) = ops::gather(
        &data.test.images,
        &data.test.labels,
        &all,
        0,
        24,
        data.pixels_per_image(),
    );
    let want = cpu.evaluate(&x, &y);
    assert_eq!(
        (test.accuracy * 24.0).round() as u32,
        want.correct,
        "{what}: test accuracy"
    );
    let want_loss = want.loss_sum as f64 / 24.0;
    assert!(
        (test.loss - want_loss).abs() <= 1e-4 * want_loss,
        "{what}: test loss {} vs {want_loss}",
        test.loss
    );
}

/// The `cnn` and `lenet` presets at their real layer sizes (28x28 inputs, 26x26x32 and
/// 13x13x64 activations, split-K gradients): two steps match the reference with the same
/// tolerance as above, so nothing that only shows at full size escapes the small models.
#[test]
fn presets_at_full_size_match_the_reference() {
    let ctx = gpu();
    let data = synthetic_dataset(24, 8, 28, 28, 10);
    // The cnn also with the step's end fused: its convolutions' split-K sums are then the
    // optimizer's; and with every kernel a GPU's fixed table picks (fill-ladder tilings,
    // implicit convolutions, per-channel pooling, the one-row paired dense backward), which
    // llvmpipe's GL leaves to Vulkan (its workgroup barriers take minutes at this size).
    let mut runs: Vec<(&str, Arc<dyn KernelPolicy>)> = vec![
        ("cnn", Arc::new(Forced::step_end(false))),
        ("cnn", Arc::new(Forced::step_end(true))),
        ("lenet", Arc::new(Forced::step_end(false))),
    ];
    if !support::slow_barriers(&ctx) {
        runs.push(("cnn", Arc::new(GpuTable)));
    }
    for (name, kernels) in runs {
        let net = ModelSpec::preset(name, None, 10)
            .unwrap()
            .compile(Shape::new(28, 28, 1), 10)
            .unwrap();
        let optimizer: Arc<dyn Optimizer> = Arc::new(RmsProp::default());
        let seed = 5;
        let cfg = TrainConfig {
            kernels,
            ..config(optimizer.clone(), seed)
        };
        let mut trainer = Trainer::new(&ctx, &net, &data, cfg).unwrap();
        trainer.begin_epoch();
        trainer.run_steps(2);
        let got = trainer.evaluator().read_params().unwrap();

        let (cpu, _, _) = reference_steps(&net, &data, optimizer.clone(), seed, 2);
        let layout = ParamLayout::trainable(&net, 1);
        for (t, slot) in layout.tensors.iter().enumerate() {
            let want = &cpu.params[t];
            assert_within(&format!("{name}: {}", slot.spec.name), &got[t], want, |k| {
                1e-3 * optimizer.learning_rate() + 1e-6 * want[k].abs()
            });
        }
    }
}

/// A confusion matrix on the validation and test passes: counted on the GPU and read back with
/// the epoch's other metrics (still one readback per epoch), its counts sum to the samples
/// evaluated and its diagonal to the correct predictions, exactly.
#[test]
fn confusion_matrix_counts_every_evaluated_sample() {
    let ctx = gpu();
    let net = network();
    let data = data();
    let mut cfg = config(sgd(0.1, 0.0), 2);
    cfg.validation_split = 0.25;
    cfg.accumulators = vec![Arc::new(ConfusionMatrix)];
    let mut trainer = Trainer::new(&ctx, &net, &data, cfg).unwrap();
    let before = ctx.readback_count();
    let report = trainer.fit_epoch().unwrap();
    assert_eq!(ctx.readback_count() - before, 1, "one readback per epoch");
    let test = trainer.evaluate_test().unwrap();
    for (what, pass, samples) in [
        ("validation", report.validation.unwrap(), 10),
        ("test", test, 24),
    ] {
        let score = pass.score();
        let counts = pass
            .counts("confusion_matrix")
            .expect("the pass has a confusion matrix");
        assert_eq!((counts.rows, counts.cols), (10, 10), "{what}");
        assert_eq!(counts.total(), samples, "{what}: every sample counted once");
        assert_eq!(score.samples as u64, samples, "{what}");
        assert_eq!(
            counts.trace(),
            score.correct as u64,
            "{what}: the diagonal is the correct count"
        );
    }
    assert!(
        report.train.counts("confusion_matrix").is_none(),
        "training passes keep loss and accuracy only"
    );
}

/// The evaluation passes run at their own batch (by default the largest the adapter allows,
/// here the whole 24-sample test split in one step): at batch 5 (four full steps and a short
/// one) the same weights give the same counts, exactly, and the same loss to within the
/// rounding of summing 24 f32 losses in another grouping (24 x 2^-24 relative, so 1e-5).
#[test]
fn the_evaluation_batch_changes_no_count() {
    let ctx = gpu();
    let (net, data) = (network(), data());
    let scores = [None, Some(5)].map(|eval_batch_size| {
        let cfg = TrainConfig {
            eval_batch_size,
            accumulators: vec![Arc::new(ConfusionMatrix)],
            ..config(sgd(0.1, 0.0), 3)
        };
        let mut trainer = Trainer::new(&ctx, &net, &data, cfg).unwrap();
        let eval = trainer.evaluator();
        assert_eq!(eval.batch(), eval_batch_size.unwrap_or(24));
        assert_eq!(eval.pass(Pass::Test).steps, 24_usize.div_ceil(eval.batch()));
        trainer.fit_epoch().unwrap();
        trainer.evaluate_test().unwrap()
    });
    let [whole, fives] = scores.map(|s| (s.score(), s.counts("confusion_matrix").cloned()));
    assert_eq!(whole.0.samples, 24);
    assert_eq!(
        (whole.0.samples, whole.0.correct),
        (fives.0.samples, fives.0.correct)
    );
    assert_eq!(whole.1, fives.1, "the confusion matrices");
    let (a, b) = (whole.0.loss, fives.0.loss);
    assert!(
        (a - b).abs() <= 1e-5 * a.abs(),
        "test loss {a} at batch 24, {b} at 5"
    );
}

/// Top-k accuracy through a trainer: counted in every pass (training's included, as Keras
/// computes metrics on training batches), read back with the epoch's other metrics (still one
/// readback), its test count equal to the twin's over the GPU's own probabilities of the same
/// samples exactly (softmax keeps the order of the logits), at least the correct count, and
/// every sample at k = classes. Its logs carry Keras's keys.
#[test]
fn top_k_accuracy_is_counted_in_every_pass_and_matches_its_twin() {
    let ctx = gpu();
    let net = network();
    let data = data();
    for top in [3, 10] {
        let mut cfg = config(sgd(0.1, 0.0), 4);
        cfg.metrics = vec![Arc::new(Accuracy), Arc::new(TopK { k: top })];
        cfg.accumulators = vec![Arc::new(Predictions { capacity: 24 })];
        let mut trainer = Trainer::new(&ctx, &net, &data, cfg).unwrap();
        let before = ctx.readback_count();
        let report = trainer.fit_epoch().unwrap();
        assert_eq!(ctx.readback_count() - before, 1, "one readback per epoch");
        let keys: Vec<&str> = report.logs.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "loss",
                "accuracy",
                "top_k_accuracy",
                "val_loss",
                "val_accuracy",
                "val_top_k_accuracy"
            ]
        );
        for prefix in ["", "val_"] {
            let accuracy = report.logs.get(&format!("{prefix}accuracy")).unwrap();
            let top_k = report.logs.get(&format!("{prefix}top_k_accuracy")).unwrap();
            assert!(
                top_k >= accuracy && top_k <= 1.0,
                "{prefix}: {top_k} vs {accuracy}"
            );
            if top == 10 {
                assert_eq!(top_k, 1.0, "{prefix}: k = classes holds every sample");
            }
        }
        let test = trainer.evaluate_test().unwrap();
        let probs = test.probabilities().expect("the pass has predictions");
        let labels: Vec<u32> = data.test.labels.iter().map(|&l| l as u32).collect();
        let twin = ops::top_k(&probs.values, &labels, 10, top);
        assert_eq!(
            test.get("top_k_accuracy"),
            Some(&MetricValue::Count(twin)),
            "top {top}"
        );
        let logs = trainer.logs("test_", &test);
        assert_eq!(logs.get("test_top_k_accuracy"), Some(twin as f64 / 24.0));
    }
}

/// Per-sample predictions of the test pass, written on the GPU at each sample's place over two
/// batches (16 and a short 8), match the reference model's probabilities, and their argmaxes
/// agree with the pass's correct count exactly.
///
/// Tolerance: 2e-5 absolute. The logits carry the forward's f32 roundings (the layer checks
/// bound them to ~1e-6 relative, logits here are below ~10) and a softmax moves by at most
/// 0.25 per unit of logit, so 1e-5 covers them twice over; a row at the wrong place or a wrong
/// softmax is off by far more.
#[test]
fn predictions_match_the_reference_sample_by_sample() {
    let ctx = gpu();
    let net = network();
    let data = data();
    let mut cfg = config(sgd(0.1, 0.0), 5);
    cfg.accumulators = vec![Arc::new(Predictions { capacity: 24 })];
    let mut trainer = Trainer::new(&ctx, &net, &data, cfg).unwrap();
    trainer.fit_epoch().unwrap();
    let test = trainer.evaluate_test().unwrap();
    let probs = test.probabilities().expect("the pass has predictions");
    assert_eq!((probs.samples(), probs.classes), (24, 10));
    let mut model = ReferenceModel::with_params(
        net.clone(),
        trainer.evaluator().read_params().unwrap(),
        sgd(0.1, 0.0),
        5,
    );
    let all: Vec<u32> = (0..24).collect();
    let (x, y) = ops::gather(&data.test.images, &data.test.labels, &all, 0, 24, 49);
    let want = model.predict(&x, &y);
    assert_within("test predictions", &probs.values, &want, |_| 2e-5);
    let correct = (0..24)
        .filter(|&i| probs.predicted(i).0 == data.test.labels[i] as usize)
        .count();
    assert_eq!(correct as u32, test.score().correct);
}

/// Test-time augmentation: each GPU view (the plain test pass, then two augmented copies, over
/// batches of 16 and a short 8) matches the reference model's probabilities of the same
/// copies drawn by the CPU twin of the gather kernel, and the averaged prediction is scored
/// exactly as its argmaxes say.
///
/// Tolerance: 2e-4 absolute, ten times the plain view's 2e-5 (see above), for the augmented
/// inputs: a bilinear sample's source coordinate comes from the kernel's sin and cos, which may
/// differ from Rust's by a few ulps, moving the sample by ~1e-6 of a pixel's range; 49 such
/// inputs through weights below 0.3 and a softmax that moves at most 0.25 per unit of logit
/// stay well under 1e-4 (lavapipe: under 1e-6 in every view). A copy drawn with another seed
/// or step differs by whole percent.
#[test]
fn test_time_augmentation_matches_the_reference_view_by_view() {
    let ctx = gpu();
    let net = network();
    let data = data();
    let augment = Augment::parse("shift=1,rotate=15,zoom=0.1").unwrap();
    let seed = 5;
    let mut cfg = config(sgd(0.1, 0.0), seed);
    cfg.tta = Some(Tta::new(3, Some(augment)).unwrap());
    let mut trainer = Trainer::new(&ctx, &net, &data, cfg).unwrap();
    trainer.fit_epoch().unwrap();
    let views = trainer.evaluator().test_views().unwrap();
    assert_eq!(views.len(), 3);
    let mut model = ReferenceModel::with_params(
        net.clone(),
        trainer.evaluator().read_params().unwrap(),
        sgd(0.1, 0.0),
        5,
    );
    let all: Vec<u32> = (0..24).collect();
    for (copy, view) in views.iter().enumerate() {
        let mut want = Vec::new();
        for step in 0..2 {
            let (x, y) = match copy {
                0 => ops::gather(&data.test.images, &data.test.labels, &all, step, BATCH, 49),
                _ => ops::gather_augmented(
                    (&data.test.images, &data.test.labels),
                    &all,
                    (step, BATCH),
                    (7, 7, 1),
                    (&augment, augment::tta_seed32(seed, copy), DrawKey::Position),
                ),
            };
            let rows = (24 - step * BATCH).min(BATCH);
            want.extend_from_slice(&model.predict(&x, &y)[..rows * 10]);
        }
        assert_within(&format!("view {copy}"), &view.values, &want, |_| 2e-4);
    }
    let moved = views[0]
        .values
        .iter()
        .zip(&views[1].values)
        .any(|(a, b)| (a - b).abs() > 1e-2);
    assert!(moved, "the augmented view is the plain one");
    let result = trainer.evaluator().tta(&data.test.labels).unwrap().unwrap();
    assert_eq!(result.probabilities, tta::mean(&views));
    let correct = (0..24)
        .filter(|&i| result.probabilities.predicted(i).0 == data.test.labels[i] as usize)
        .count();
    assert_eq!(result.score.correct as usize, correct);
    assert_eq!(result.confusion.trace() as usize, correct);
}

/// Without a validation split the validation pass runs on the test split, so the test metrics
/// after an epoch are that pass's, reused with no second pass and no readback; once the
/// weights change, the test pass runs again.
#[test]
fn the_test_pass_is_not_run_twice() {
    let ctx = gpu();
    let net = network();
    let data = data();
    let mut trainer = Trainer::new(&ctx, &net, &data, config(sgd(0.1, 0.0), 4)).unwrap();
    let report = trainer.fit_epoch().unwrap();
    let before = ctx.readback_count();
    let test = trainer.evaluate_test().unwrap();
    assert_eq!(ctx.readback_count(), before, "no second pass");
    assert_eq!(Some(&test), report.validation.as_ref());
    let (params, stats) = (
        trainer.evaluator().read_params().unwrap(),
        trainer.evaluator().read_stats().unwrap(),
    );
    trainer.set_weights(&params, &stats);
    let before = ctx.readback_count();
    assert_eq!(
        trainer.evaluate_test().unwrap(),
        test,
        "the same weights score the same"
    );
    assert_eq!(
        ctx.readback_count(),
        before + 1,
        "new weights: the pass runs"
    );
}

/// Progress reports carry running training metrics from asynchronous snapshots: each covers a
/// whole number of steps (its sample count is exact), they only move forward, the validation
/// phase is reported with its own step count, and a snapshot after the last step is the
/// epoch's training score, word for word.
#[test]
fn progress_reports_running_metrics_and_the_validation_phase() {
    let ctx = gpu();
    let net = network();
    let data = synthetic_dataset(200, 40, 7, 7, 10);
    let mut cfg = config(sgd(0.1, 0.0), 1);
    cfg.steps_per_submit = 1;
    let mut trainer = Trainer::new(&ctx, &net, &data, cfg).unwrap();
    let mut seen: Vec<Progress> = Vec::new();
    let report = trainer
        .fit_epoch_with(&mut |p| seen.push(p.clone()))
        .unwrap();
    let last = trainer
        .running_metrics()
        .expect("snapshots arrive by the epoch's end");
    assert_eq!(
        last.pass.score().samples as usize,
        (last.steps * BATCH).min(200)
    );
    let mut covered = 0;
    for p in &seen {
        if let Some(running) = &p.running {
            let (steps, score) = (running.steps, running.pass.score());
            assert!(steps >= covered, "snapshots go forward: {seen:?}");
            assert_eq!(running.logs.get("loss"), Some(score.loss));
            assert_eq!(score.samples as usize, (steps * BATCH).min(200));
            assert!(score.correct <= score.samples && score.loss > 0.0);
            covered = steps;
        }
        assert!(p.done <= p.total);
        if p.phase == Phase::Validating {
            assert_eq!(p.total, 40usize.div_ceil(BATCH));
        }
    }
    assert!(seen.len() >= 13, "reported after each submission");

    // One submission for the whole epoch: its snapshot covers every step.
    let mut cfg = config(sgd(0.1, 0.0), 1);
    cfg.steps_per_submit = 13;
    let mut trainer = Trainer::new(&ctx, &net, &data, cfg).unwrap();
    let report2 = trainer.fit_epoch().unwrap();
    let last = trainer.running_metrics().expect("a snapshot");
    assert_eq!(
        (last.steps, last.pass.score()),
        (13, report2.train.score()),
        "the last snapshot is the epoch's score"
    );
    assert_eq!(
        last.logs,
        trainer.logs("", &report2.train),
        "and its logs the epoch's training logs"
    );
    assert_eq!(
        report.train.score(),
        report2.train.score(),
        "chunking changes nothing"
    );
}

/// Determinism, as README promises it: the same seed on the same adapter gives bit-identical
/// weights, moving statistics and metrics after two epochs of the CNN with dropout and batch
/// normalisation (every reduction is fixed-order; no float atomics), whether the steps are
/// submitted one at a time or 16 at a time; another seed gives other weights.
#[test]
fn the_same_seed_gives_bit_identical_runs() {
    let ctx = gpu();
    let net = cnn();
    let data = synthetic_dataset(40, 24, 9, 9, 10);
    let run = |seed: u64, steps_per_submit: usize| {
        let mut cfg = config(Arc::new(Adam::default()), seed);
        cfg.steps_per_submit = steps_per_submit;
        let mut trainer = Trainer::new(&ctx, &net, &data, cfg).unwrap();
        // The epochs' metrics (not their wall-clock seconds).
        let reports: Vec<_> = (0..2)
            .map(|_| trainer.fit_epoch().unwrap())
            .map(|r| (r.train, r.validation))
            .collect();
        let bits =
            |v: Vec<Vec<f32>>| -> Vec<u32> { v.iter().flatten().map(|x| x.to_bits()).collect() };
        (
            bits(trainer.evaluator().read_params().unwrap()),
            bits(trainer.evaluator().read_stats().unwrap()),
            reports,
        )
    };
    let first = run(5, 1);
    assert_eq!(first, run(5, 1), "same seed, same run");
    assert_eq!(first, run(5, 16), "submission chunking changes nothing");
    assert_ne!(first.0, run(6, 1).0, "another seed, other weights");
}

/// A step's profile adds up: with in-pass timestamps (lavapipe has them) the launches and the
/// gaps between them, each from one pass's timestamps, sum to the step within the clock's
/// resolution; without, the clock says so and no gaps are claimed.
#[test]
fn profile_parts_add_up_to_the_step() {
    let ctx = gpu();
    let net = network();
    let data = data();
    let mut trainer = Trainer::new(&ctx, &net, &data, config(sgd(0.1, 0.0), 1)).unwrap();
    let profile = StepProfile::measure(&ctx, &mut trainer).unwrap();
    assert_eq!(profile.launches.len(), trainer.plan().train_step.len());
    match profile.gap_seconds {
        Some(gaps) => {
            assert_eq!(profile.clock, Clock::InPassTimestamps);
            let tick = ctx.queue.get_timestamp_period() as f64 * 1e-9;
            let parts = profile.kernel_seconds() + gaps;
            assert!(
                (parts - profile.step_seconds).abs() <= 2.0 * tick,
                "{parts} vs {}",
                profile.step_seconds
            );
            assert!(gaps >= 0.0 && profile.outside_share() < 1.0);
        }
        None => assert_ne!(profile.clock, Clock::InPassTimestamps),
    }
}
