//! The `shaderfit` binary end to end: training on a small generated dataset, the output
//! formats scripts read, and one-line errors with a non-zero exit for bad input.

mod support;

use std::path::Path;

use support::cli::{arg, field, shaderfit, small_dataset, table_without_seconds};
use support::TempDir;

#[test]
fn trains_end_to_end_and_prints_keras_lines() {
    let data = small_dataset("train");
    let run = shaderfit(&[
        "train",
        "--model",
        "mlp_small",
        "--epochs",
        "3",
        "--batch-size",
        "32",
    ])
    .data(&data)
    .run();
    let lines = run.ok().lines();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    for (i, line) in lines[..3].iter().enumerate() {
        assert!(line.starts_with(&format!("Epoch {}/3 - ", i + 1)), "{line}");
        assert!(line.contains("ms/step"), "{line}");
        for name in ["loss", "accuracy", "val_loss", "val_accuracy"] {
            let v = field(line, name);
            assert!(v.is_finite() && v >= 0.0, "{line}");
        }
    }
    assert!(lines[3].starts_with("test_loss: "), "{}", lines[3]);
    // 19 steps per epoch (600 / 32, the last short) learn the separable synthetic classes.
    assert!(run.last_field("test_accuracy") > 0.8, "{}", run.stdout);
    assert!(
        field(lines[2], "loss") < field(lines[0], "loss"),
        "{}",
        run.stdout
    );
}

/// `--verbose` as Keras's: 0 prints the test line alone, 2 the epoch lines without a bar (and
/// piped, 1 prints the same lines as 2: the bar only draws on a terminal).
#[test]
fn verbose_levels() {
    let data = small_dataset("verbose");
    let train = |level: &str| {
        shaderfit(&[
            "train",
            "--model",
            "linear",
            "--epochs",
            "2",
            "--verbose",
            level,
        ])
        .data(&data)
        .run()
    };
    let quiet = train("0");
    assert_eq!(quiet.ok().lines().len(), 1, "{}", quiet.stdout);
    assert!(quiet.stdout.starts_with("test_loss: "), "{}", quiet.stdout);
    assert!(!quiet.stderr.contains("model: "), "{}", quiet.stderr);
    let (lines, piped) = (train("2"), train("1"));
    assert_eq!(lines.ok().lines().len(), 3, "{}", lines.stdout);
    assert!(lines.stderr.contains("model: linear"), "{}", lines.stderr);
    let without_times = |s: &str| {
        s.lines()
            .flat_map(|l| l.split(" - ").filter(|part| !part.contains("ms/step")))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        without_times(&piped.ok().stdout),
        without_times(&lines.stdout)
    );
    assert!(
        !piped.stderr.contains('['),
        "no bar when piped: {}",
        piped.stderr
    );
}

#[test]
fn same_seed_same_run() {
    let data = small_dataset("seed");
    let args = [
        "train",
        "--model",
        "linear",
        "--optimizer",
        "sgd",
        "--lr",
        "0.1",
        "--epochs",
        "1",
        "--seed",
        "9",
    ];
    let strip_time = |stdout: &str| -> Vec<String> {
        stdout
            .lines()
            .map(|l| {
                l.split(" - ")
                    .filter(|p| !p.contains("ms/step"))
                    .collect::<Vec<_>>()
                    .join(" - ")
            })
            .collect()
    };
    let a = strip_time(&shaderfit(&args).data(&data).run().stdout);
    let b = strip_time(&shaderfit(&args).data(&data).run().stdout);
    assert_eq!(a.len(), 2);
    assert_eq!(a, b);
    // naga's runtime checks change no result of kernels that stay within their buffers.
    let checked = shaderfit(&[&args[..], &["--checked-shaders"]].concat())
        .data(&data)
        .run();
    assert!(
        checked.stderr.contains("checked shaders"),
        "{}",
        checked.stderr
    );
    assert_eq!(strip_time(&checked.stdout), a);
}

#[test]
fn validation_split_and_sigmoid_and_rmsprop() {
    let data = small_dataset("split");
    let args = [
        "train",
        "--model",
        "mlp_small",
        "--activation",
        "sigmoid",
        "--optimizer",
        "rmsprop",
        "--epochs",
        "1",
        "--validation-split",
        "0.1",
    ];
    let run = shaderfit(&args).data(&data).run();
    assert!(run.ok().stdout.contains("val_accuracy"));
}

/// Every corrupt-file case through the binary: one line naming the file and the problem,
/// exit code 1, no panic.
#[test]
fn each_corrupt_file_gives_one_line_naming_it() {
    type Corrupt = fn(&Path);
    let cases: [(&str, &str, Corrupt, &[&str]); 6] = [
        (
            "magic",
            "train-images-idx3-ubyte.gz",
            |p| rewrite(p, |b| b[3] = 0x01),
            &["wrong magic number 0x00000801", "expected 0x00000803"],
        ),
        (
            "truncated",
            "t10k-images-idx3-ubyte.gz",
            |p| rewrite(p, |b| b.truncate(b.len() - 100)),
            &["header says 200 images of 12x12", "truncated"],
        ),
        (
            "count",
            "t10k-labels-idx1-ubyte.gz",
            |p| {
                rewrite(p, |b| {
                    b[7] = 10;
                    b.truncate(18)
                })
            },
            &["holds 10 labels but its image file holds 200 images"],
        ),
        (
            "gzip",
            "train-labels-idx1-ubyte.gz",
            |p| {
                let gz = std::fs::read(p).unwrap();
                std::fs::write(p, &gz[..gz.len() - 20]).unwrap()
            },
            &["corrupt gzip data"],
        ),
        (
            "label",
            "t10k-labels-idx1-ubyte.gz",
            |p| rewrite(p, |b| b[8 + 5] = 42),
            &["label 42 at index 5 is not below the class count 10"],
        ),
        (
            "empty",
            "train-labels-idx1-ubyte.gz",
            |p| std::fs::write(p, []).unwrap(),
            &["file is empty"],
        ),
    ];
    for (tag, file, corrupt, expect) in cases {
        let data = small_dataset(tag);
        corrupt(&data.path().join("mnist").join(file));
        let mut want = vec![file];
        want.extend_from_slice(expect);
        shaderfit(&["train", "--epochs", "1"])
            .data(&data)
            .run()
            .one_line_error(&want);
    }
}

/// Decompresses an IDX .gz file, edits its bytes and writes them back raw (the reader
/// detects gzip from the content, not the name).
fn rewrite(path: &Path, edit: impl Fn(&mut Vec<u8>)) {
    let mut bytes = shaderfit::data::idx::read_bytes(path).unwrap();
    edit(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn missing_data_lists_the_places_searched() {
    let empty = TempDir::new("empty");
    let run = shaderfit(&["train", "--data", arg(empty.path())]).run();
    run.one_line_error(&["no mnist dataset found", "looked in", "--data"]);
}

/// `--until-accuracy` stops after the first epoch that reaches it and says so.
#[test]
fn until_accuracy_stops_at_the_first_epoch_that_reaches_it() {
    let data = small_dataset("until");
    let args = [
        "train",
        "--model",
        "linear",
        "--epochs",
        "5",
        "--until-accuracy",
        "0.01",
    ];
    let run = shaderfit(&args).data(&data).run();
    let lines = run.ok().lines();
    assert_eq!(
        lines.len(),
        2,
        "one epoch and the test line: {}",
        run.stdout
    );
    assert!(lines[0].starts_with("Epoch 1/5 - "), "{}", run.stdout);
    assert!(lines[1].starts_with("test_loss: "), "{}", run.stdout);
    assert!(
        run.stderr.contains(">= 0.01 after 1 epoch(s): ") && run.stderr.contains("s of training"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_flags_are_named() {
    let data = small_dataset("flags");
    let cases: [(&[&str], &str); 11] = [
        (
            &["train", "--model", "resnet"],
            "--model: unknown model 'resnet'",
        ),
        (
            &["train", "--optimizer", "lamb"],
            "--optimizer: unknown optimizer 'lamb'",
        ),
        (&["train", "--lr=-1"], "--lr: -1 is not a learning rate"),
        (&["train", "--batch-size", "0"], "--batch-size"),
        (
            &["train", "--until-accuracy", "99"],
            "--until-accuracy: 99 is not an accuracy; expected a number in (0, 1]",
        ),
        (
            &["train", "--adapter", "no-such-gpu-anywhere"],
            "--adapter: no adapter name contains 'no-such-gpu-anywhere'; adapters found:",
        ),
        (
            &["train", "--optimizer", "adam", "--momentum", "0.9"],
            "--momentum: applies to sgd only; the optimizer is 'adam'",
        ),
        (
            &["train", "--optimizer", "adam", "--weight-decay", "0.1"],
            "--weight-decay: applies to adamw only; the optimizer is 'adam'",
        ),
        (
            &["train", "--optimizer", "adamw", "--weight-decay=-1"],
            "--weight-decay: -1 is not a weight decay; expected a number >= 0",
        ),
        (
            &["train", "--early-stopping", "val_acc"],
            "--early-stopping: unknown metric 'val_acc'; expected one of loss, accuracy, val_loss, val_accuracy",
        ),
        (
            &["train", "--history", "run.txt"],
            "--history: run.txt: expected a .json or .csv file",
        ),
    ];
    for (args, expect) in cases {
        shaderfit(args).data(&data).run().one_line_error(&[expect]);
    }
}

/// README's Training section names every flag `train --help` lists: flags come from the
/// settings' declarations, and a new one cannot go undocumented.
#[test]
fn readme_documents_every_train_flag() {
    let help = shaderfit(&["train", "--help"]).run();
    let readme = include_str!("../README.md");
    let start = readme
        .find("## Training")
        .expect("README has a Training section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let flags: Vec<&str> = help
        .ok()
        .stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .filter_map(|l| l.split([' ', ',', '<']).next())
        .collect();
    assert!(flags.len() > 40, "{flags:?}");
    let missing: Vec<&&str> = flags
        .iter()
        .filter(|f| !section.contains(&format!("`--{f}")))
        .collect();
    assert!(
        missing.is_empty(),
        "README's Training section lacks {missing:?}"
    );
}

#[test]
fn devices_lists_an_adapter() {
    let run = shaderfit(&["devices"]).run();
    let stdout = &run.ok().stdout;
    assert!(stdout.starts_with("[0] "), "{stdout}");
    assert!(
        stdout.contains("backend:")
            && stdout.contains("timestamp queries:")
            && stdout.contains("matmul kernels:"),
        "{stdout}"
    );
}

#[test]
fn summary_prints_the_notebook_counts() {
    for (model, total) in [
        ("lenet", "63,302"),
        ("cnn", "356,298"),
        ("mlp2", "648,010"),
        ("mlp3", "932,362"),
    ] {
        let run = shaderfit(&["summary", "--model", model]).run();
        let stdout = &run.ok().stdout;
        assert!(
            stdout.contains(&format!(" Total params: {total} (")),
            "{model}: {stdout}"
        );
    }
    let run = shaderfit(&["summary", "--model", "mlp_bn"]).run();
    let stdout = &run.ok().stdout;
    assert!(
        stdout.contains(" Total params: 246,442 (")
            && stdout.contains(" Non-trainable params: 960 ("),
        "{stdout}"
    );
}

/// `summary --diagram` draws the model as plot_model(show_shapes=True) does: an SVG (or PNG)
/// with a box per layer, its name and class, its shapes and its parameters; any other
/// extension is refused in one line naming the flag, and nothing is written.
#[test]
fn summary_draws_the_model_diagram() {
    let dir = TempDir::new("diagram");
    let svg = dir.path().join("lenet.svg");
    let run = shaderfit(&["summary", "--model", "lenet", "--diagram", arg(&svg)]).run();
    assert!(
        run.ok().stdout.contains(" Total params: 63,302 ("),
        "{}",
        run.stdout
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"));
    for expected in [
        "input_layer (InputLayer)",
        "conv2d (Conv2D)",
        "Output shape: (None, 10)",
        "Params: 0",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    // One box per layer and the input: a filled and an outlined rectangle each.
    let boxes = text.matches("<rect").count() - 1;
    assert_eq!(boxes % 2, 0);
    let png = dir.path().join("lenet.png");
    shaderfit(&["summary", "--model", "lenet", "--diagram", arg(&png)])
        .run()
        .ok();
    let image = image::open(&png).unwrap();
    assert!(image.height() > image.width(), "boxes stack downwards");
    let bad = dir.path().join("lenet.txt");
    let run = shaderfit(&["summary", "--model", "lenet", "--diagram", arg(&bad)]).run();
    run.one_line_error(&["--diagram", "expected a .svg or .png file"]);
    assert!(!bad.exists());
}

/// `model show` prints JSON that `--model` takes back: train from it end to end.
#[test]
fn model_show_round_trips_into_train() {
    let run = shaderfit(&["model", "show", "lenet"]).run();
    let json = &run.ok().stdout;
    assert!(
        json.trim_start().starts_with('{') && json.contains("\"type\": \"conv2d\""),
        "{json}"
    );
    // A smaller model of the same form, on 12x12 images (batch norm with a short memory: the
    // run is 38 steps, too few for Keras's default momentum of 0.99 to settle).
    let dir = small_dataset("json");
    let model = dir.path().join("small.json");
    std::fs::write(
        &model,
        r#"{"input": [12, 12, 1], "layers": [
            {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "relu"},
            {"type": "max_pool", "size": 2},
            {"type": "batch_norm", "momentum": 0.5},
            {"type": "dropout", "rate": 0.1},
            {"type": "flatten"},
            {"type": "dense", "units": 10, "activation": "softmax"}]}"#,
    )
    .unwrap();
    let args = [
        "train",
        "--model",
        arg(&model),
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--seed",
        "3",
        "--lr",
        "0.01",
    ];
    let run = shaderfit(&args).data(&dir).run();
    assert!(run.ok().last_field("test_accuracy") > 0.5, "{}", run.stdout);
}

#[test]
fn bad_model_file_is_named_with_layer_and_field() {
    let dir = TempDir::new("badmodel");
    let model = dir.path().join("bad.json");
    std::fs::write(
        &model,
        r#"{"layers": [{"type": "flatten"}, {"type": "dense", "units": -4}]}"#,
    )
    .unwrap();
    shaderfit(&["summary", "--model", arg(&model)])
        .run()
        .one_line_error(&[
            "bad.json",
            "layer 1: (dense): field 'units' is -4; expected a positive integer",
        ]);
}

/// `bench --plan` lists every launch of a training step and an evaluation step without timing
/// anything: each launch's grid, workgroups, threads (workgroups times the workgroup's
/// invocations), work and fill (workgroups over two per SM), consistently; the evaluation
/// step is the training step's forward half, at its own batch.
#[test]
fn bench_plan_lists_every_launch_of_a_step() {
    let args = [
        "bench", "--plan", "--model", "mlp", "--sms", "100", "--json",
    ];
    let json = shaderfit(&args).run().ok().json();
    let plan = &json["plans"][0];
    assert_eq!(
        (plan["model"].as_str(), plan["batch"].as_u64()),
        (Some("mlp"), Some(128))
    );
    let training = plan["training"].as_array().unwrap();
    let evaluation = plan["evaluation"].as_array().unwrap();
    assert!(training.len() > evaluation.len() && !evaluation.is_empty());
    // The step's end is fused: the output layer with the loss, the optimizer with the next
    // batch's gather; the epoch's first gather runs as it begins.
    let kernels: Vec<_> = training
        .iter()
        .map(|l| l["kernel"].as_str().unwrap())
        .collect();
    assert_eq!(
        kernels,
        [
            "dense forward",
            "dense + softmax_xent",
            "dense dW+dx",
            "dense dW",
            "optimizer + next batch"
        ]
    );
    let epoch_start = plan["epoch_start"].as_array().unwrap();
    assert_eq!(epoch_start.len(), 1);
    assert_eq!(epoch_start[0]["kernel"], "gather");
    assert_eq!(evaluation[0]["kernel"], "gather");
    for l in training.iter().chain(evaluation).chain(epoch_start) {
        let grid: u64 = l["grid"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_u64().unwrap())
            .product();
        let workgroups = l["workgroups"].as_u64().unwrap();
        assert_eq!(grid, workgroups, "{l}");
        let per = l["threads_per_workgroup"].as_u64().unwrap();
        assert!(per >= 1, "{l}");
        assert_eq!(l["threads"].as_u64().unwrap(), workgroups * per, "{l}");
        let fill = l["fill"].as_f64().unwrap();
        assert!((fill - workgroups as f64 / 200.0).abs() < 1e-12, "{l}");
    }
    let flops =
        |ls: &[serde_json::Value]| ls.iter().map(|l| l["flops"].as_u64().unwrap()).sum::<u64>();
    // The evaluation step runs at its own batch (1024 for mlp on MNIST's 10,000 images).
    let eval_batch = plan["eval_batch"].as_u64().unwrap();
    assert_eq!(eval_batch, 1024);
    let per_sample = |ls, batch| flops(ls) as f64 / batch as f64;
    assert!(
        per_sample(training, 128) > 1.9 * per_sample(evaluation, eval_batch),
        "backward ~2x forward"
    );
    let text = shaderfit(&["bench", "--plan", "--model", "linear"]).run();
    assert!(
        text.ok().stdout.contains("training step: "),
        "{}",
        text.stdout
    );
    let without_plan = shaderfit(&["bench", "--sms", "8"]).run();
    assert_eq!(
        without_plan.code,
        Some(2),
        "--sms needs --plan: {}",
        without_plan.stderr
    );
}

/// Issue 21's structural targets, as `bench --plan` shows them for a 132-SM GPU at batch 128:
/// mlp's training step in at most 5 dispatches and cnn's in at most 17, and every launch at
/// fill >= 1 but the output layer fused with the loss, which runs one workgroup per row by
/// construction (its softmax needs the row whole), so its workgroups are the batch's rows.
#[test]
fn bench_plan_meets_the_dispatch_and_fill_targets() {
    let args = [
        "bench", "--plan", "--model", "mlp", "--model", "cnn", "--json",
    ];
    let json = shaderfit(&args).run().ok().json();
    for (plan, most) in json["plans"].as_array().unwrap().iter().zip([5, 17]) {
        let model = plan["model"].as_str().unwrap();
        let training = plan["training"].as_array().unwrap();
        assert!(
            training.len() <= most,
            "{model}: {} dispatches",
            training.len()
        );
        for l in training {
            if l["kernel"] == "dense + softmax_xent" {
                assert_eq!(l["workgroups"].as_u64(), Some(128), "{model}: {l}");
            } else {
                assert!(l["fill"].as_f64().unwrap() >= 1.0, "{model}: {l}");
            }
        }
    }
}

#[test]
fn bench_json_reports_gemm_and_step_kernels() {
    let args = [
        "bench",
        "--sizes",
        "64,100",
        "--model",
        "linear",
        "--batch-size",
        "16",
        "--json",
    ];
    let run = shaderfit(&args).run();
    let json = run.ok().json();
    let gemm = json["gemm"].as_array().unwrap();
    assert_eq!(gemm.len(), 2);
    assert_eq!(gemm[1]["n"], 100);
    assert!(gemm[1]["gflops"].as_f64().unwrap() > 0.0);
    let profile = &json["steps"][0]["profile"];
    // linear on a CPU adapter (which runs the step's end unfused): gather, forward, loss, dW
    // with db folded in (tile4 at this size), optimizer (no split-K: the reductions are
    // short).
    assert_eq!(profile["dispatches"], 5, "{profile}");
    let kernels: Vec<&str> = profile["launches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kernel"].as_str().unwrap())
        .collect();
    assert_eq!(
        kernels,
        [
            "gather",
            "dense forward",
            "softmax_xent",
            "dense dW",
            "optimizer"
        ]
    );
}

/// A pooling between two convolutions has its backward fused with the upper one's col2im; a
/// pooling followed by anything else keeps its own launch (lenet has one of each).
#[test]
fn pooling_between_convolutions_fuses_with_col2im() {
    let args = [
        "bench",
        "--sizes",
        "16",
        "--model",
        "lenet",
        "--batch-size",
        "2",
        "--json",
    ];
    let json = shaderfit(&args).run().ok().json();
    let launches = json["steps"][0]["profile"]["launches"]
        .as_array()
        .unwrap()
        .clone();
    let count = |kernel: &str| launches.iter().filter(|l| l["kernel"] == kernel).count();
    assert_eq!(count("pool_backward_cols"), 1, "{launches:?}");
    assert_eq!(count("pool_backward"), 1, "{launches:?}");
    assert_eq!(count("col2im"), 0, "{launches:?}");
}

#[test]
fn train_profile_prints_the_step_breakdown() {
    let data = small_dataset("profile");
    let args = [
        "train",
        "--model",
        "mlp_small",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--profile",
    ];
    let run = shaderfit(&args).data(&data).run();
    let stdout = &run.ok().stdout;
    assert!(
        // The output layer's dW, db and dx run as one launch (both products tile4's); the
        // hidden layer's db, whose dW runs the blocked kernel of CPU adapters, is a launch of
        // its own.
        stdout.starts_with("Profile of one training step (batch 32, 12 dispatches,"),
        "{stdout}"
    );
    assert!(
        stdout.contains("dense_1 backward") && stdout.contains("of the step outside kernels"),
        "{stdout}"
    );
    // The profile runs on its own copy of the model: training output is unchanged.
    assert!(
        stdout.lines().last().unwrap().starts_with("test_loss: "),
        "{stdout}"
    );
}

/// --save writes a checkpoint after every epoch; --load starts from it: evaluating the loaded
/// weights (0 epochs) gives exactly the saved epoch's validation score (validation runs on
/// the test set here). Loading into another model names the missing tensor.
#[test]
fn checkpoints_save_and_load() {
    let data = small_dataset("ckpt");
    let ckpt = data.path().join("model.safetensors");
    let args = [
        "train",
        "--model",
        "mlp_bn",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--save",
        arg(&ckpt),
    ];
    let run = shaderfit(&args).data(&data).run();
    let last_epoch = run
        .ok()
        .lines()
        .into_iter()
        .find(|l| l.starts_with("Epoch 2/2"))
        .unwrap()
        .to_string();
    assert!(ckpt.is_file());

    let args = [
        "train",
        "--model",
        "mlp_bn",
        "--epochs",
        "0",
        "--batch-size",
        "32",
        "--load",
        arg(&ckpt),
    ];
    let test = shaderfit(&args).data(&data).run();
    test.ok();
    assert_eq!(
        test.last_field("test_accuracy"),
        field(&last_epoch, "val_accuracy"),
        "{} vs {last_epoch}",
        test.stdout
    );
    assert_eq!(
        test.last_field("test_loss"),
        field(&last_epoch, "val_loss"),
        "{} vs {last_epoch}",
        test.stdout
    );

    let args = [
        "train",
        "--model",
        "mlp",
        "--epochs",
        "1",
        "--load",
        arg(&ckpt),
    ];
    // The checkpoint's spec says what it is: the first difference is named.
    shaderfit(&args)
        .data(&data)
        .run()
        .one_line_error(&["model.safetensors", "14 layers in the checkpoint, 3 asked"]);
}

/// `--history` writes Keras's `history.history` as JSON (with `epoch` from 0 and the run's
/// settings) or CSVLogger's columns, the values those the epoch lines print.
/// `--metrics` end to end: top-k accuracy in every epoch line (training and validation), in
/// the test line, in the history under Keras's keys, and watched by early stopping; it is at
/// least the accuracy. A metric early stopping watches must be one the run computes.
#[test]
fn metrics_by_name_reach_the_lines_the_history_and_early_stopping() {
    let data = small_dataset("metrics");
    let path = data.path().join("h.json");
    let args = [
        "train",
        "--model",
        "mlp_small",
        "--metrics",
        "accuracy,top_k_accuracy:3",
        "--history",
        arg(&path),
        "--early-stopping",
        "val_top_k_accuracy",
        "--patience",
        "1",
        "--epochs",
        "3",
    ];
    let run = shaderfit(&args).data(&data).run();
    let lines = run.ok().lines();
    let epochs: Vec<&&str> = lines.iter().filter(|l| l.starts_with("Epoch ")).collect();
    assert!(!epochs.is_empty() && epochs.len() <= 3, "{}", run.stdout);
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (i, line) in epochs.iter().enumerate() {
        for key in ["top_k_accuracy", "val_top_k_accuracy"] {
            let recorded = history[key][i].as_f64().unwrap();
            assert_eq!(
                format!("{recorded:.4}"),
                format!("{:.4}", field(line, key)),
                "{key}"
            );
        }
        assert!(
            field(line, "top_k_accuracy") >= field(line, "accuracy"),
            "{line}"
        );
        assert!(
            field(line, "val_top_k_accuracy") >= field(line, "val_accuracy"),
            "{line}"
        );
    }
    assert_eq!(
        history["top_k_accuracy"].as_array().unwrap().len(),
        epochs.len()
    );
    let test = lines.last().unwrap();
    assert!(
        field(test, "test_top_k_accuracy") >= field(test, "test_accuracy"),
        "{test}"
    );

    shaderfit(&["train", "--early-stopping", "val_top_k_accuracy"])
        .data(&data)
        .run()
        .one_line_error(&["--early-stopping: unknown metric 'val_top_k_accuracy' (add top_k_accuracy to --metrics)"]);
    shaderfit(&["train", "--metrics", "top_k_accuracy:0"])
        .data(&data)
        .run()
        .one_line_error(&["--metrics: top_k_accuracy:0; expected K >= 1"]);
}

#[test]
fn history_is_written_as_json_or_csv() {
    let data = small_dataset("history");
    let json_path = data.path().join("run.json");
    let args = [
        "train",
        "--model",
        "linear",
        "--epochs",
        "2",
        "--history",
        arg(&json_path),
    ];
    let run = shaderfit(&args).data(&data).run();
    let lines = run.ok().lines();
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(history["epoch"], serde_json::json!([0, 1]));
    assert_eq!(history["settings"]["model"], "linear");
    assert_eq!(history["settings"]["model_spec"]["name"], "linear");
    for (i, line) in lines[..2].iter().enumerate() {
        for name in ["loss", "accuracy", "val_loss", "val_accuracy"] {
            let recorded = history[name][i].as_f64().unwrap();
            assert_eq!(
                format!("{recorded:.4}"),
                format!("{:.4}", field(line, name)),
                "{name}"
            );
        }
    }
    assert_eq!(
        history["learning_rate"],
        serde_json::json!([0.0010000000474974513, 0.0010000000474974513])
    );

    let csv_path = data.path().join("run.csv");
    let args = [
        "train",
        "--model",
        "linear",
        "--epochs",
        "2",
        "--history",
        arg(&csv_path),
    ];
    shaderfit(&args).data(&data).run().ok();
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "epoch,accuracy,learning_rate,loss,seconds,val_accuracy,val_loss"
    );
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows[2].starts_with("1,"), "{csv}");
}

/// Keras's EarlyStopping: with a min_delta no later epoch can beat, epoch 1 stays the best, the
/// run stops once patience (2) is spent, at epoch 3, and restoring the best weights makes the
/// final test score epoch 1's validation score exactly (validation runs on the test set).
#[test]
fn early_stopping_stops_and_restores_the_best_epoch() {
    let data = small_dataset("early");
    let args = [
        "train",
        "--model",
        "linear",
        "--optimizer",
        "sgd",
        "--lr",
        "0.1",
        "--epochs",
        "6",
        "--early-stopping",
        "val_loss",
        "--min-delta",
        "10",
        "--patience",
        "2",
        "--restore-best-weights",
    ];
    let run = shaderfit(&args).data(&data).run();
    let lines = run.ok().lines();
    assert_eq!(
        lines.len(),
        4,
        "three epochs and the test line: {}",
        run.stdout
    );
    assert!(
        run.stderr.contains("Epoch 3: early stopping"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("Restoring model weights from the end of the best epoch: 1."),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.last_field("test_loss"),
        field(lines[0], "val_loss"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.last_field("test_accuracy"),
        field(lines[0], "val_accuracy")
    );
    assert_ne!(
        field(lines[2], "val_loss"),
        field(lines[0], "val_loss"),
        "the epochs trained"
    );
}

/// `evaluate` takes the model from a checkpoint and prints the test score the training run
/// ended with, the confusion matrix (summing to the test samples, its diagonal to the correct
/// ones) and scikit-learn's report; a file that is no checkpoint is named in one line.
#[test]
fn evaluate_scores_a_checkpoint_with_its_confusion_matrix() {
    let data = small_dataset("evaluate");
    let ckpt = data.path().join("cnn.safetensors");
    let json = data.path().join("small.json");
    std::fs::write(&json, r#"{"layers": [{"type": "conv2d", "filters": 4, "kernel": 3, "activation": "relu"},
        {"type": "max_pool"}, {"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}]}"#).unwrap();
    let args = [
        "train",
        "--model",
        arg(&json),
        "--epochs",
        "1",
        "--save",
        arg(&ckpt),
    ];
    let trained = shaderfit(&args).data(&data).run();
    let run = shaderfit(&["evaluate", "--checkpoint", arg(&ckpt)])
        .data(&data)
        .run();
    let lines = run.ok().lines();
    assert_eq!(
        lines[0],
        trained.ok().lines().last().unwrap().to_string(),
        "{}",
        run.stdout
    );
    let rows: Vec<Vec<u64>> = lines
        .iter()
        .skip_while(|l| !l.starts_with("Confusion matrix"))
        .skip(2)
        .take(10)
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .map(|c| c.parse().unwrap())
                .collect()
        })
        .collect();
    let total: u64 = rows.iter().flatten().sum();
    let diagonal: u64 = (0..10).map(|i| rows[i][i]).sum();
    assert_eq!(total, 200, "{}", run.stdout);
    assert_eq!(
        diagonal as f64 / 200.0,
        field(lines[0], "test_accuracy"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("   macro avg ") && run.stdout.contains("weighted avg "),
        "{}",
        run.stdout
    );

    shaderfit(&["evaluate", "--checkpoint", arg(&json)])
        .data(&data)
        .run()
        .one_line_error(&["small.json", "not a safetensors checkpoint"]);
}

/// `predict` gives an image file the same probabilities as the same pixels read from an IDX
/// file, inverts a dark-on-light copy back, says when it resized, and names a file it cannot
/// read. (Auto inversion and MNIST-style fitting have unit tests in `data/picture.rs`.)
#[test]
fn predict_reads_pngs_and_idx_files_alike() {
    let data = small_dataset("predict");
    let ckpt = data.path().join("linear.safetensors");
    shaderfit(&[
        "train",
        "--model",
        "linear",
        "--epochs",
        "2",
        "--save",
        arg(&ckpt),
    ])
    .data(&data)
    .run()
    .ok();
    let test_images = data.path().join("mnist/t10k-images-idx3-ubyte.gz");
    let images = shaderfit::data::idx::read_images(&test_images).unwrap();
    let (light, dark, big) = (
        data.path().join("light"),
        data.path().join("dark"),
        data.path().join("big.png"),
    );
    let mut light_pngs = Vec::new();
    let mut dark_pngs = Vec::new();
    for i in 0..3 {
        let pixels = &images.pixels[i * 144..(i + 1) * 144];
        let img = image::GrayImage::from_raw(12, 12, pixels.to_vec()).unwrap();
        let mut inverted = img.clone();
        image::imageops::invert(&mut inverted);
        light_pngs.push(light.with_extension(format!("{i}.png")));
        dark_pngs.push(dark.with_extension(format!("{i}.png")));
        img.save(&light_pngs[i]).unwrap();
        inverted.save(&dark_pngs[i]).unwrap();
        if i == 0 {
            image::imageops::resize(&img, 36, 36, image::imageops::FilterType::Nearest)
                .save(&big)
                .unwrap();
        }
    }
    let predict = |extra: &[&str], files: &[&std::path::Path]| {
        let mut args = vec!["predict", "--json", "--checkpoint", arg(&ckpt)];
        args.extend_from_slice(extra);
        args.extend(files.iter().map(|f| arg(f)));
        shaderfit(&args).run()
    };
    let probabilities = |run: &support::cli::Run| -> Vec<serde_json::Value> {
        let json = run.ok().json();
        json.as_array()
            .unwrap()
            .iter()
            .map(|v| v["probabilities"].clone())
            .collect()
    };
    let from_idx = predict(&["--indices", "0,1,2"], &[&test_images]);
    let light: Vec<&std::path::Path> = light_pngs.iter().map(|p| p.as_path()).collect();
    let dark: Vec<&std::path::Path> = dark_pngs.iter().map(|p| p.as_path()).collect();
    let want = probabilities(&from_idx);
    assert_eq!(want.len(), 3);
    assert_eq!(probabilities(&predict(&["--invert", "no"], &light)), want);
    assert_eq!(probabilities(&predict(&["--invert", "yes"], &dark)), want);
    let json = from_idx.json();
    let class = json[0]["class"].as_u64().unwrap() as usize;
    let best = json[0]["probabilities"].as_array().unwrap()[class]
        .as_f64()
        .unwrap();
    assert_eq!(best, json[0]["probability"].as_f64().unwrap());

    let resized = predict(&[], &[&big]).ok().json();
    assert!(
        resized[0]["notes"][0]
            .as_str()
            .unwrap()
            .contains("resized from 36x36 to 12x12"),
        "{resized}"
    );
    let text = shaderfit(&["predict", "--checkpoint", arg(&ckpt), arg(&big)]).run();
    assert_eq!(
        text.ok().lines().len(),
        12,
        "name, a note and 10 bars: {}",
        text.stdout
    );

    let junk = data.path().join("junk.png");
    std::fs::write(&junk, b"not a png").unwrap();
    predict(&[], &[&junk]).one_line_error(&["junk.png", "expected a PNG or JPEG"]);
    shaderfit(&[
        "evaluate",
        "--dataset",
        "fashion-mnist",
        "--checkpoint",
        arg(&ckpt),
    ])
    .data(&data)
    .run()
    .one_line_error(&[
        "linear.safetensors",
        "trained on mnist, given fashion-mnist",
    ]);
}

/// `train --report` writes every figure as PNG and SVG and an `index.html` whose every link and
/// image is a file of the report; the mistakes gallery holds as many images as the test pass
/// got wrong (up to 2x2 here), and `evaluate --report` writes the same without the curves.
#[test]
fn reports_write_figures_and_a_page_that_references_them() {
    let data = small_dataset("report");
    let dir = data.path().join("report");
    let ckpt = data.path().join("linear.safetensors");
    let args = [
        "train",
        "--model",
        "linear",
        "--epochs",
        "2",
        "--gallery",
        "2",
        "--report",
        arg(&dir),
        "--save",
        arg(&ckpt),
    ];
    let run = shaderfit(&args).data(&data).run();
    let wrong = 200 - (run.ok().last_field("test_accuracy") * 200.0).round() as usize;
    let names = [
        "curves",
        "confusion",
        "correct",
        "incorrect",
        "probabilities",
        "per_class",
        "model",
    ];
    for name in names {
        let png = image::open(dir.join(format!("{name}.png")))
            .unwrap_or_else(|e| panic!("{name}: {e}; {}", run.stderr));
        let size = (png.width(), png.height());
        assert!(size.0 >= 300 && size.1 >= 150, "{name}: {size:?}");
        let svg = std::fs::read_to_string(dir.join(format!("{name}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{name}"
        );
    }
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    let mut referenced = 0;
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            let target = &part[..part.find('"').unwrap()];
            assert!(dir.join(target).is_file(), "index.html references {target}");
            referenced += 1;
        }
    }
    assert_eq!(
        referenced,
        3 * names.len(),
        "an image, its link and the SVG link each"
    );
    let shown = wrong.min(4);
    assert!(
        html.contains(&format!("The {shown} most confident mistakes")),
        "{wrong} wrong: {html}"
    );
    assert!(html.contains("<td>val_accuracy</td>") || html.contains("<th>val_accuracy</th>"));
    let svg = std::fs::read_to_string(dir.join("incorrect.svg")).unwrap();
    assert_eq!(
        svg.matches("Predicted ").count(),
        shown,
        "titled as the notebooks"
    );

    let dir = data.path().join("evaluated");
    shaderfit(&[
        "evaluate",
        "--checkpoint",
        arg(&ckpt),
        "--report",
        arg(&dir),
    ])
    .data(&data)
    .run()
    .ok();
    assert!(dir.join("confusion.svg").is_file() && !dir.join("curves.png").exists());
}

/// `data show` counts every sample of each split once per its class (checked against the
/// labels) and draws the grid of samples; a non-PNG output is named.
#[test]
fn data_show_counts_classes_and_draws_samples() {
    let data = small_dataset("datashow");
    let out = data.path().join("grid.png");
    let run = shaderfit(&["data", "show", "--grid", "3", "--out", arg(&out)])
        .data(&data)
        .run();
    let lines = run.ok().lines();
    let labels =
        shaderfit::data::idx::read_labels(&data.path().join("mnist/train-labels-idx1-ubyte.gz"))
            .unwrap();
    for class in 0..10 {
        let row = lines
            .iter()
            .find(|l| l.trim_start().starts_with(&format!("{class} ")))
            .expect("a row per class");
        let count: usize = row.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert_eq!(
            count,
            labels.iter().filter(|&&l| l == class).count(),
            "{row}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().eq(["total", "600", "200"])),
        "{}",
        run.stdout
    );
    let grid = image::open(&out).unwrap();
    assert!(grid.width() > 3 * 100 && grid.height() > 3 * 100);
    assert!(out.with_extension("svg").is_file());
    shaderfit(&["data", "show", "--out", "grid.jpg"])
        .data(&data)
        .run()
        .one_line_error(&["--out", "grid.jpg", "expected a .png file"]);
}

/// `--lr-schedule step` halves the rate every epoch, and the history records each epoch's
/// last rate (Keras's `learning_rate`); ReduceLROnPlateau refuses to share the run with a
/// schedule, as Keras does.
#[test]
fn learning_rate_schedules_reach_the_history() {
    let data = small_dataset("schedule");
    let history = data.path().join("h.json");
    let args = [
        "train",
        "--model",
        "linear",
        "--epochs",
        "3",
        "--optimizer",
        "sgd",
        "--lr",
        "0.2",
        "--lr-schedule",
        "step",
        "--decay-rate",
        "0.5",
        "--history",
        arg(&history),
    ];
    shaderfit(&args).data(&data).run().ok();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&history).unwrap()).unwrap();
    let lrs: Vec<f64> = json["learning_rate"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    // f32's 0.2 in f64, times 0.5 per epoch.
    let base = 0.2f32 as f64;
    assert_eq!(lrs, [base, base / 2.0, base / 4.0]);
    assert_eq!(json["settings"]["lr_schedule"], "step");
    assert!(json["settings"]["lr_schedule_config"]
        .as_str()
        .unwrap()
        .starts_with("step(rate=0.5"));

    let args = [
        "train",
        "--lr-schedule",
        "cosine",
        "--reduce-lr-on-plateau",
        "val_loss",
    ];
    shaderfit(&args)
        .data(&data)
        .run()
        .one_line_error(&["--reduce-lr-on-plateau", "schedule"]);
    shaderfit(&["train", "--lr-schedule", "linear"])
        .data(&data)
        .run()
        .one_line_error(&["--lr-schedule", "unknown schedule 'linear'", "cosine"]);
}

/// `sweep` trains every combination and prints them best first; shards run disjoint shares
/// whose JSON merges into the whole sweep's table, identical to the unsharded one (same seed,
/// same runs); a shard outside its count is named.
#[test]
fn sweeps_rank_combinations_and_shards_merge() {
    let data = small_dataset("sweep");
    let out = |name: &str| data.path().join(name);
    let sweep = |extra: &[&str]| {
        let mut args = vec![
            "sweep",
            "--model",
            "linear",
            "--optimizers",
            "sgd,adam",
            "--lrs",
            "0.001,0.1",
            "--epochs",
            "2",
        ];
        args.extend_from_slice(extra);
        shaderfit(&args).data(&data).run()
    };
    let whole = sweep(&["--json", arg(&out("all.json"))]);
    let rows: Vec<Vec<&str>> = whole.ok().lines()[1..]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 4, "{}", whole.stdout);
    // rank, model, optimizer, lr, params, val_accuracy, best, ...
    let best: Vec<f64> = rows.iter().map(|r| r[6].parse().unwrap()).collect();
    assert!(
        best.windows(2).all(|w| w[0] >= w[1]),
        "best first: {}",
        whole.stdout
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out("all.json")).unwrap()).unwrap();
    assert_eq!(json["outcomes"].as_array().unwrap().len(), 4);
    assert_eq!(
        json["outcomes"][0]["history"]["val_accuracy"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    sweep(&["--shard", "0/2", "--json", arg(&out("s0.json"))]).ok();
    let one = sweep(&["--shard", "1/2", "--json", arg(&out("s1.json"))]);
    assert_eq!(
        one.ok().lines().len(),
        3,
        "half the combinations: {}",
        one.stdout
    );
    let merged = shaderfit(&["sweep", "merge", arg(&out("s0.json")), arg(&out("s1.json"))]).run();
    let without_seconds = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| l.split_whitespace().take(10).collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(
        without_seconds(&merged.ok().stdout),
        without_seconds(&whole.stdout)
    );
    sweep(&["--shard", "2/2"]).one_line_error(&["--shard", "'2/2'", "0 <= K < N"]);
    shaderfit(&["sweep", "merge", arg(&out("s0.json")), arg(&out("s0.json"))])
        .run()
        .one_line_error(&["s0.json", "is in another file too"]);
}

/// `compare` trains one run per model and prints them best first with test results; its
/// report holds every figure the issue lists; shards merge into the unsharded table; and a
/// sweep is the comparison over optimizers and learning rates, figure for figure.
#[test]
fn compare_trains_models_side_by_side_and_shards_merge() {
    let data = small_dataset("compare");
    let out = |name: &str| data.path().join(name);
    let compare = |extra: &[&str]| {
        let mut args = vec!["compare", "--models", "linear,mlp_small", "--epochs", "2"];
        args.extend_from_slice(extra);
        shaderfit(&args).data(&data).run()
    };
    let report = out("report");
    let whole = compare(&["--json", arg(&out("all.json")), "--report", arg(&report)]);
    let lines = whole.ok().lines();
    assert_eq!(lines.len(), 3, "{}", whole.stdout);
    assert!(
        lines[0].starts_with("rank  model      params  val_accuracy    best  epoch  test_loss  test_accuracy  seconds  s/epoch"),
        "{}",
        whole.stdout
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out("all.json")).unwrap()).unwrap();
    let test = &json["outcomes"][0]["test"];
    assert_eq!(test["predicted"].as_array().unwrap().len(), 200);
    let counted: u64 = test["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(
        counted, 200,
        "the confusion matrix counts every test image once"
    );
    for figure in [
        "validation",
        "training",
        "run-1",
        "run-2",
        "confusion-1",
        "confusion-2",
        "f1",
        "only-1-wrong",
        "only-2-wrong",
        "model-1",
        "model-2",
    ] {
        assert!(
            report.join(format!("{figure}.png")).is_file(),
            "{figure}.png"
        );
        let page = std::fs::read_to_string(report.join("index.html")).unwrap();
        assert!(
            page.contains(&format!("src=\"{figure}.png\"")),
            "{figure} on the page"
        );
    }

    compare(&["--shard", "0/2", "--json", arg(&out("s0.json"))]).ok();
    compare(&["--shard", "1/2", "--json", arg(&out("s1.json"))]).ok();
    let merged = shaderfit(&[
        "compare",
        "merge",
        arg(&out("s0.json")),
        arg(&out("s1.json")),
    ])
    .run();
    assert_eq!(
        table_without_seconds(&merged.ok().stdout),
        table_without_seconds(&whole.stdout)
    );

    let axes = [
        "--optimizers",
        "sgd,adam",
        "--lrs",
        "0.01,0.1",
        "--epochs",
        "1",
    ];
    let sweep = shaderfit(&[&["sweep", "--model", "linear"][..], &axes].concat())
        .data(&data)
        .run();
    let same = shaderfit(&[&["compare", "--models", "linear"][..], &axes].concat())
        .data(&data)
        .run();
    assert_eq!(sweep.ok().lines().len(), 5, "{}", sweep.stdout);
    assert_eq!(
        table_without_seconds(&sweep.stdout),
        table_without_seconds(&same.ok().stdout)
    );
}

/// `compare a.json b.json` reads finished runs' histories: its per-run curves are drawn
/// exactly as each run's own report draws them (the same SVG, byte for byte).
#[test]
fn compare_reads_finished_runs_and_draws_their_own_curves() {
    let data = small_dataset("comparefinished");
    let out = |name: &str| data.path().join(name);
    for model in ["linear", "mlp_small"] {
        let history = out(&format!("{model}.json"));
        let report = out(&format!("{model}-report"));
        shaderfit(&[
            "train",
            "--model",
            model,
            "--epochs",
            "2",
            "--history",
            arg(&history),
            "--report",
            arg(&report),
        ])
        .data(&data)
        .run()
        .ok();
    }
    let report = out("compared");
    let run = shaderfit(&[
        "compare",
        arg(&out("linear.json")),
        arg(&out("mlp_small.json")),
        "--report",
        arg(&report),
    ])
    .run();
    let lines = run.ok().lines();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    for (rank, line) in lines[1..].iter().enumerate() {
        let model = line.split_whitespace().nth(1).unwrap();
        let own = std::fs::read(out(&format!("{model}-report")).join("curves.svg")).unwrap();
        let drawn = std::fs::read(report.join(format!("run-{}.svg", rank + 1))).unwrap();
        assert!(
            own == drawn,
            "{model}: the comparison's curves differ from its own report's"
        );
        assert!(line.contains(" - "), "no test results in a history: {line}");
    }
}

/// Bad axes and runs are refused before anything trains, each in one line naming the flag or
/// file, what was found and what was expected.
#[test]
fn compare_refuses_bad_axes_in_one_line() {
    let data = small_dataset("comparebad");
    let runs = data.path().join("runs.json");
    std::fs::write(&runs, r#"[{"model": "linear"}, {"modle": "mlp"}]"#).unwrap();
    let history = data.path().join("h.json");
    std::fs::write(&history, r#"{"loss": [1.0]}"#).unwrap();
    let cases: [(&[&str], &[&str]); 8] = [
        (
            &["--grid", "optimiser=sgd"],
            &[
                "--grid: unknown setting 'optimiser'",
                "did you mean 'optimizer'",
            ],
        ),
        (&["--lrs", "0.1,-1"], &["--lrs: -1 is not a learning rate"]),
        (
            &["--activations", "relu,tanh"],
            &["--activations: invalid value 'tanh'", "possible values"],
        ),
        (
            &["--lrs", "0.1,0.1"],
            &["--lrs: runs 1 (lr 0.1) and 2 (lr 0.1) train the same settings"],
        ),
        (
            &["--models", "mlp", "--grid", "model=linear"],
            &["--grid: 'model=linear': model is already an axis (--models)"],
        ),
        (
            &["--runs", arg(&runs)],
            &["runs.json: run 2: unknown setting 'modle'"],
        ),
        (
            &[arg(&history)],
            &["h.json: no 'settings' object", "train --history"],
        ),
        (
            &[arg(&history), "--epochs", "3"],
            &["--epochs: given with history files"],
        ),
    ];
    for (args, expect) in cases {
        shaderfit(&[&["compare"][..], args].concat())
            .data(&data)
            .run()
            .one_line_error(expect);
    }
}

/// With no data anywhere, `train` uses the MNIST compiled into the binary and says so: the
/// one real-data run of the suite (`linear`, one epoch, as the notebook's first epoch).
#[test]
fn bundled_mnist_trains_out_of_the_box() {
    let empty = TempDir::new("nodata");
    let home = arg(empty.path());
    let run = shaderfit(&["train", "--model", "linear", "--epochs", "1"])
        .cwd(empty.path())
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home)
        .run();
    assert!(
        run.ok()
            .stderr
            .contains("data: bundled MNIST (60000 train, 10000 test"),
        "{}",
        run.stderr
    );
    let accuracy = run.last_field("test_accuracy");
    assert!(accuracy >= 0.90, "{}", run.stdout);
    // A directory named by --data is never replaced by the bundled copy.
    shaderfit(&["train", "--data", home])
        .run()
        .one_line_error(&["no mnist dataset found", "--data"]);
}

/// Output paths are checked before any data is read or any epoch trained: a missing
/// directory, a directory given as a file, an unwritable history; a symlink is written
/// through, not replaced.
#[test]
fn outputs_are_checked_before_training_and_links_are_followed() {
    let data = small_dataset("outputs");
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "--model", "linear"];
        args.extend_from_slice(extra);
        shaderfit(&args).data(&data).run()
    };
    let missing = data.path().join("no/such/dir/x.safetensors");
    let run = train(&["--save", arg(&missing)]);
    run.one_line_error(&["--save", "no/such/dir", "does not exist"]);
    assert!(run.stdout.is_empty());
    train(&["--save", arg(data.path())]).one_line_error(&["--save", "exists and is a directory"]);
    train(&["--history", arg(&missing.with_extension("csv"))])
        .one_line_error(&["--history", "does not exist"]);

    let real = data.path().join("real.safetensors");
    let link = data.path().join("link.safetensors");
    train(&["--save", arg(&real), "--epochs", "1"]).ok();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    train(&["--save", arg(&link), "--epochs", "2"]).ok();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "still a link"
    );
    let epoch = |p: &std::path::Path| shaderfit::model::checkpoint::load_info(p).unwrap().epoch;
    assert_eq!(epoch(&real), Some(2), "the link's target was written");
}

/// A recipe sets the run's settings; flags given as well win. `mlp2` is SGD at lr 0.01, batch
/// 32, 30 epochs with 10% held out: here for 1 epoch at batch 64. `shaderfit recipes` lists
/// every recipe, and an unknown one is a one-line error naming the nearest.
#[test]
fn recipes_set_the_run_and_flags_override_them() {
    let data = small_dataset("recipe");
    let run = shaderfit(&[
        "train",
        "--recipe",
        "mlp2",
        "--epochs",
        "1",
        "--batch-size",
        "64",
    ])
    .data(&data)
    .run();
    run.ok();
    assert!(run.stderr.contains("recipe: mlp2"), "{}", run.stderr);
    assert!(
        run.stderr.contains("model: mlp2")
            && run.stderr.contains("sgd(learning_rate=0.01")
            && run.stderr.contains("batch 64"),
        "{}",
        run.stderr
    );
    let epochs: Vec<&str> = run
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("Epoch "))
        .collect();
    assert_eq!(epochs.len(), 1, "{}", run.stdout);
    assert!(epochs[0].starts_with("Epoch 1/1") && epochs[0].contains("val_accuracy"));

    let list = shaderfit(&["recipes"]).run();
    for name in ["fast99", "cnn", "mlp_dropout", "fashion_mlp_small"] {
        assert!(
            list.ok().stdout.lines().any(|l| l == name),
            "{name}: {}",
            list.stdout
        );
    }
    shaderfit(&["train", "--recipe", "fast9"])
        .data(&data)
        .run()
        .one_line_error(&["--recipe", "unknown recipe 'fast9'", "fast99"]);
}

/// `--augment` trains on transformed samples (the training loss moves; the same seed repeats
/// it exactly) and says so; a bad spec is a one-line error naming the flag.
#[test]
fn augmentation_changes_training_and_repeats_with_the_seed() {
    let data = small_dataset("augment");
    let base = [
        "train",
        "--model",
        "mlp_small",
        "--epochs",
        "1",
        "--batch-size",
        "32",
    ];
    let plain = shaderfit(&base).data(&data).run();
    let with = |spec: &str| {
        let mut args = base.to_vec();
        args.extend(["--augment", spec]);
        shaderfit(&args).data(&data).run()
    };
    let a = with("shift=2,rotate=10,zoom=0.1");
    let b = with("shift=2,rotate=10,zoom=0.1");
    assert!(
        a.ok()
            .stderr
            .contains("augmentation: shift=2 px, rotate=10°, zoom=0.1"),
        "{}",
        a.stderr
    );
    let loss = |r: &support::cli::Run| {
        field(
            r.lines()
                .into_iter()
                .find(|l| l.starts_with("Epoch 1/1"))
                .unwrap(),
            "loss",
        )
    };
    assert_ne!(loss(&a), loss(plain.ok()), "augmentation changed nothing");
    assert_eq!(
        loss(&a),
        loss(b.ok()),
        "the same seed draws the same transforms"
    );
    with("rotat=3").one_line_error(&["--augment", "did you mean 'rotate'"]);
}

/// `--tta N` adds a test line scored on the mean of N views; `evaluate --tta` on the saved
/// checkpoint draws the same copies (same seed, batch and, by default, the augmentation the
/// checkpoint records) and prints the same line; bad settings are one-line errors naming the
/// flag.
#[test]
fn test_time_augmentation_scores_the_mean_of_views() {
    let data = small_dataset("tta");
    let ckpt = data.path().join("tta.safetensors");
    let spec = "shift=1,rotate=10";
    let base = ["train", "--model", "mlp_small", "--epochs", "1"];
    let mut args = base.to_vec();
    args.extend(["--augment", spec, "--tta", "3", "--save", arg(&ckpt)]);
    let trained = shaderfit(&args).data(&data).run();
    let lines = trained.ok().lines();
    assert!(
        trained
            .stderr
            .contains("test-time augmentation: 3 views, shift=1 px, rotate=10°"),
        "{}",
        trained.stderr
    );
    let tta = lines.last().unwrap().to_string();
    assert!(tta.starts_with("tta 3 views - test_loss: "), "{tta}");
    let accuracy = field(&tta, "test_accuracy");
    assert!((0.0..=1.0).contains(&accuracy), "{tta}");
    // The checkpoint records the training augmentation, which --tta-augment defaults to.
    let evaluate = |extra: &[&str]| {
        let mut args = vec!["evaluate", "--checkpoint", arg(&ckpt), "--tta", "3"];
        args.extend_from_slice(extra);
        shaderfit(&args).data(&data).run()
    };
    for extra in [&[][..], &["--tta-augment", spec]] {
        let evaluated = evaluate(extra);
        assert_eq!(evaluated.ok().lines()[1], tta, "{}", evaluated.stdout);
    }
    let other = evaluate(&["--tta-augment", "shift=2"]);
    assert_ne!(other.ok().lines()[1], tta, "other transforms, other copies");

    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        shaderfit(&args).data(&data).run()
    };
    with(&["--tta", "4"]).one_line_error(&["--tta", "--tta-augment"]);
    with(&["--tta", "0", "--augment", spec]).one_line_error(&["--tta", "expected 1 to 64"]);
    with(&["--tta-augment", spec]).one_line_error(&["--tta-augment", "without --tta"]);
    with(&["--tta", "2", "--tta-augment", "spin=3"]).one_line_error(&["--tta-augment", "spin"]);
}
