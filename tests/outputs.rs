//! What a run leaves behind and takes in, tried as a careless user would: a history and a
//! report are replaced whole or not at all (a diverged run, a report write stopped midway),
//! a report directory holds one run's files, sizes that the plotting crate cannot draw and
//! files that are not regular are refused before any work, a drawing on a transparent canvas
//! reads as the same drawing on paper, sweeps record a diverged combination and merge only
//! their own shards, and flags that would do nothing are refused.

mod support;

use std::path::Path;

use support::cli::{arg, shaderfit, small_dataset, Run};
use support::TempDir;

/// Every file under `dir`, by name, with its bytes.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    all.sort();
    all
}

fn train(data: &TempDir, extra: &[&str]) -> Run {
    let mut args = vec!["train", "--model", "mlp_small", "--epochs", "1"];
    args.extend_from_slice(extra);
    shaderfit(&args).data(data).run()
}

/// A run that diverges leaves the history it found as it was (the last good run's, whole),
/// where it used to leave it emptied.
#[test]
fn a_diverged_run_leaves_the_history_it_found() {
    let data = small_dataset("divhistory");
    let history = data.path().join("h.json");
    train(&data, &["--history", arg(&history)]).ok();
    let good = std::fs::read(&history).unwrap();
    let diverged = train(
        &data,
        &[
            "--optimizer",
            "sgd",
            "--lr",
            "1e30",
            "--history",
            arg(&history),
        ],
    );
    assert_eq!(diverged.code, Some(3), "{}", diverged.stderr);
    assert_eq!(
        std::fs::read(&history).unwrap(),
        good,
        "the history is intact"
    );
}

/// A report write stopped after its second figure (a failpoint aborts the process there, as a
/// full disk or a kill would end it) leaves the old report complete, byte for byte, beside
/// the staging directory; the next report clears that and replaces the old whole. A
/// directory holding files that are not a report is refused before any training.
#[test]
fn a_report_is_replaced_whole_or_not_at_all() {
    let data = small_dataset("reportwhole");
    let dir = data.path().join("report");
    train(&data, &["--report", arg(&dir)]).ok();
    let before = snapshot(&dir);
    assert!(before.iter().any(|(n, _)| n == "index.html"));
    let stopped = shaderfit(&["train", "--model", "linear", "--epochs", "1"])
        .data(&data)
        .env("SHADERFIT_FAILPOINT", "report-figure@2")
        .args(&["--report", arg(&dir)])
        .run();
    assert_eq!(stopped.code, None, "stopped: {}", stopped.stderr);
    assert_eq!(snapshot(&dir), before, "the old report, untouched");
    train(&data, &["--report", arg(&dir)]).ok();
    let leftovers: Vec<String> = std::fs::read_dir(data.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".report."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Only this run's files: a stray file in the old report is gone.
    std::fs::write(dir.join("stray.txt"), "x").unwrap();
    train(&data, &["--report", arg(&dir)]).ok();
    assert!(!dir.join("stray.txt").exists());

    let mine = data.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("thesis.tex"), "keep me").unwrap();
    let refused = train(&data, &["--report", arg(&mine)]);
    refused.one_line_error(&["--report", "holds files that are not a shaderfit report"]);
    assert!(!refused.stdout.contains("Epoch"), "refused before training");
    assert!(mine.join("thesis.tex").exists());
}

/// Sizes past what a figure can hold are refused before any training, naming the flag and the
/// largest that fits; so is a sample the test split lacks.
#[test]
fn figure_sizes_are_bounded_before_any_work() {
    let data = small_dataset("bounds");
    let dir = data.path().join("r");
    let refused = train(&data, &["--report", arg(&dir), "--gallery", "50000"]);
    refused.one_line_error(&[
        "--gallery: 50000; expected 1 to",
        "figures are at most 8192",
    ]);
    assert!(!refused.stdout.contains("Epoch"), "refused before training");
    train(&data, &["--report", arg(&dir), "--report-sample", "200"])
        .one_line_error(&["--report-sample: 200 is past the test split's 200 samples"]);
    let out = data.path().join("grid.png");
    shaderfit(&["data", "show", "--grid", "50000", "--out", arg(&out)])
        .data(&data)
        .run()
        .one_line_error(&["--grid: 50000; expected 1 to"]);
}

/// A FIFO given where a file is read is refused by name at once (it used to block forever);
/// so is a directory.
#[cfg(unix)]
#[test]
fn fifos_and_directories_are_refused_as_inputs() {
    let data = small_dataset("fifo");
    let fifo = data.path().join("digit.png");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let ckpt = data.path().join("m.safetensors");
    train(&data, &["--save", arg(&ckpt)]).ok();
    // A timeout guards the test itself: a hang is a failure, not a stuck suite.
    let mut child = shaderfit(&["predict", "--checkpoint", arg(&ckpt), arg(&fifo)]).spawn();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("predict on a FIFO hangs");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    shaderfit(&["predict", "--checkpoint", arg(&ckpt), arg(&fifo)])
        .run()
        .one_line_error(&["digit.png: is a FIFO (named pipe), not a regular file"]);
    let model = data.path().join("model.json");
    let made = std::process::Command::new("mkfifo").arg(&model).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    shaderfit(&["train", "--model", arg(&model)])
        .data(&data)
        .run()
        .one_line_error(&["model.json: is a FIFO"]);
    shaderfit(&["evaluate", "--checkpoint", arg(data.path())])
        .run()
        .one_line_error(&["is a directory, not a regular file"]);
}

/// A digit drawn in black ink on a transparent canvas (every transparent pixel black too, as
/// drawing programs save them) is classified as the same digit on white paper: the ink is in
/// the alpha channel, which greying alone would throw away.
#[test]
fn a_drawing_on_a_transparent_canvas_reads_as_on_paper() {
    let data = small_dataset("rgba");
    let ckpt = data.path().join("m.safetensors");
    train(&data, &["--save", arg(&ckpt)]).ok();
    let images =
        shaderfit::data::idx::read_images(&data.path().join("mnist/t10k-images-idx3-ubyte.gz"))
            .unwrap();
    let digit = &images.pixels[..144];
    // On paper: dark ink (255 - level) on white, opaque.
    let paper = image::GrayImage::from_fn(12, 12, |x, y| {
        image::Luma([255 - digit[(y * 12 + x) as usize]])
    });
    // On a transparent canvas: black everywhere, the ink's strength in the alpha channel.
    let canvas = image::RgbaImage::from_fn(12, 12, |x, y| {
        image::Rgba([0, 0, 0, digit[(y * 12 + x) as usize]])
    });
    let (paper_png, canvas_png) = (
        data.path().join("paper.png"),
        data.path().join("canvas.png"),
    );
    paper.save(&paper_png).unwrap();
    canvas.save(&canvas_png).unwrap();
    let predict = |png: &Path| {
        let run = shaderfit(&["predict", "--json", "--checkpoint", arg(&ckpt), arg(png)]).run();
        run.ok().json()[0].clone()
    };
    let (on_paper, on_canvas) = (predict(&paper_png), predict(&canvas_png));
    assert_eq!(on_canvas["class"], on_paper["class"]);
    assert_eq!(on_canvas["probabilities"], on_paper["probabilities"]);
}

/// A sweep goes on past a combination that diverges and records it as diverged (its JSON
/// merges again); shards of sweeps that differ in anything that defines them are refused,
/// naming the difference.
#[test]
fn sweeps_record_divergence_and_merge_only_their_own_shards() {
    let data = small_dataset("sweepmerge");
    let sweep = |extra: &[&str], json: &Path| {
        let mut args = vec![
            "sweep",
            "--model",
            "mlp_small",
            "--epochs",
            "1",
            "--optimizers",
            "sgd",
        ];
        args.extend_from_slice(extra);
        args.extend(["--json", arg(json)]);
        shaderfit(&args).data(&data).run()
    };
    let (a, b, c) = (
        data.path().join("a.json"),
        data.path().join("b.json"),
        data.path().join("c.json"),
    );
    let run = sweep(&["--lrs", "0.1,1e30"], &a);
    assert!(run.ok().stdout.contains("diverged"), "{}", run.stdout);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&a).unwrap()).unwrap();
    assert!(json["outcomes"][1]["diverged"]
        .as_str()
        .unwrap()
        .contains("diverged in epoch 1"));
    let merged = shaderfit(&["sweep", "merge", arg(&a)]).run();
    assert!(merged.ok().stdout.contains("diverged"), "{}", merged.stdout);

    sweep(&["--lrs", "0.1,0.2", "--shard", "0/2"], &b).ok();
    sweep(&["--lrs", "0.1,0.3", "--shard", "1/2"], &c).ok();
    shaderfit(&["sweep", "merge", arg(&b), arg(&c)])
        .run()
        .one_line_error(&[
            "is of another comparison than",
            "its lrs is 0.1,0.3, the other's 0.1,0.2",
        ]);
    // A --json file of another comparison is never extended: the second shard goes elsewhere.
    let d = data.path().join("d.json");
    sweep(
        &["--lrs", "0.1,0.2", "--shard", "1/2", "--batch-size", "64"],
        &d,
    )
    .ok();
    shaderfit(&["sweep", "merge", arg(&b), arg(&d)])
        .run()
        .one_line_error(&["its batch_size is 64, the other's 128"]);
}

/// Flags that would change nothing where they were given are refused with one line naming
/// the flag and why, before any data is read.
#[test]
fn flags_that_do_nothing_are_refused() {
    let data = small_dataset("noop");
    let cases: [(&[&str], &str); 8] = [
        (&["train", "--decay-rate", "0.3"], "--decay-rate: applies to the step and exponential schedules only; the schedule is 'constant'"),
        (&["train", "--lr-schedule", "step", "--lr-floor", "0.1"], "--lr-floor: applies to the cosine schedule only; the schedule is 'step'"),
        (&["train", "--checkpoint-dir", "cd", "--keep", "0"], "--keep: 0 would delete every epoch checkpoint as it is written"),
        (&["train", "--save-best-only"], "--save-best-only: given without --save or --checkpoint-dir"),
        (&["train", "--monitor", "val_accuracy"], "--monitor: given without --save or --checkpoint-dir"),
        (&["train", "--tta-augment", "shift=1"], "--tta-augment: given without --tta"),
        (&["train", "--optimizer", "adam", "--momentum", "0.9"], "--momentum: applies to sgd only"),
        (&["train", "--optimizer", "sgd", "--rho", "0.9"], "--rho: applies to rmsprop only"),
    ];
    for (args, expect) in cases {
        shaderfit(args)
            .data(&data)
            .cwd(data.path())
            .run()
            .one_line_error(&[expect]);
    }
    let png = data.path().join("d.png");
    image::GrayImage::new(12, 12).save(&png).unwrap();
    shaderfit(&[
        "predict",
        "--checkpoint",
        "x.safetensors",
        "--indices",
        "3",
        arg(&png),
    ])
    .run()
    .one_line_error(&["--indices: given with PNG or JPEG inputs only"]);
}
