//! Resuming: a run killed with SIGKILL mid-epoch and resumed from its last checkpoint ends
//! with exactly the weights of a run never interrupted; a checkpoint directory keeps the last
//! epochs and the best; resuming refuses flags that would change the run.

mod support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use safetensors::SafeTensors;
use support::cli::{arg, shaderfit};
use support::{synthetic_dataset, write_dataset, TempDir};

/// 4000 MNIST-sized samples: an epoch of `mlp_dropout` at batch 32 takes long enough on a
/// software adapter (125 steps) to be killed in the middle of.
fn dataset(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    write_dataset(
        &dir.path().join("mnist"),
        &synthetic_dataset(4000, 100, 28, 28, 10),
        true,
    );
    dir
}

/// The epoch a checkpoint's metadata records, if the file is there.
fn saved_epoch(path: &Path) -> Option<usize> {
    let bytes = std::fs::read(path).ok()?;
    let (_, header) = SafeTensors::read_metadata(&bytes).ok()?;
    header.metadata().as_ref()?.get("epoch")?.parse().ok()
}

/// Every tensor of a checkpoint, by name, as raw bytes.
fn tensors(path: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut all: Vec<(String, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect();
    all.sort();
    all
}

/// Dropout (its masks drawn from the step count), Adam (its moments and bias correction) and
/// a cosine schedule (per-step rates over the whole run) all carry across the kill, bit for
/// bit.
#[test]
fn a_killed_run_resumes_to_the_same_weights() {
    let data = dataset("resume");
    let train = |save: &Path| {
        let args = [
            "train",
            "--model",
            "mlp_dropout",
            "--epochs",
            "3",
            "--batch-size",
            "32",
            "--lr-schedule",
            "cosine",
            "--steps-per-submit",
            "4",
            "--save",
            arg(save),
        ];
        shaderfit(&args).data(&data)
    };
    let whole = data.path().join("whole.safetensors");
    let uninterrupted = train(&whole).run();
    uninterrupted.ok();

    let part = data.path().join("part.safetensors");
    let mut child = train(&part).spawn();
    let start = Instant::now();
    while saved_epoch(&part).is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed_after = saved_epoch(&part).unwrap();
    assert!(
        killed_after < 3,
        "the run finished before it could be killed"
    );

    let resumed = shaderfit(&["train", "--resume", arg(&part)])
        .data(&data)
        .run();
    assert!(
        resumed
            .ok()
            .stderr
            .contains(&format!("after epoch {killed_after}")),
        "{}",
        resumed.stderr
    );
    let epochs: Vec<&str> = resumed
        .lines()
        .iter()
        .map(|l| l.split(" - ").next().unwrap())
        .collect();
    let want: Vec<String> = (killed_after + 1..=3)
        .map(|e| format!("Epoch {e}/3"))
        .collect();
    assert_eq!(epochs[..epochs.len() - 1], want, "{}", resumed.stdout);
    let (got, want) = (tensors(&part), tensors(&whole));
    assert_eq!(got.len(), want.len());
    for ((name, a), (other, b)) in got.iter().zip(&want) {
        assert_eq!(name, other);
        assert!(a == b, "{name} differs from the uninterrupted run's");
    }
    assert_eq!(resumed.lines().last(), uninterrupted.lines().last());
}

/// `--checkpoint-dir` keeps the last `--keep` epochs and the best by `--monitor`; `--resume`
/// on the directory continues from the latest; changing the batch size or the model is
/// refused, naming both values.
#[test]
fn checkpoint_dirs_keep_the_last_and_the_best() {
    let data = support::cli::small_dataset("ckptdir");
    let dir = data.path().join("ckpts");
    let args = [
        "train",
        "--model",
        "linear",
        "--epochs",
        "4",
        "--checkpoint-dir",
        arg(&dir),
        "--keep",
        "2",
        "--monitor",
        "val_accuracy",
    ];
    let run = shaderfit(&args).data(&data).run();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let want = [
        "best.safetensors",
        "best.state.safetensors",
        "epoch-003.safetensors",
        "epoch-003.state.safetensors",
        "epoch-004.safetensors",
        "epoch-004.state.safetensors",
    ];
    assert_eq!(files, want);
    let accuracies: Vec<f64> = run.ok().lines()[..4]
        .iter()
        .map(|l| support::cli::field(l, "val_accuracy"))
        .collect();
    let best = (0..4).fold(0, |b, i| if accuracies[i] > accuracies[b] { i } else { b });
    assert_eq!(
        saved_epoch(&dir.join("best.safetensors")),
        Some(best + 1),
        "{accuracies:?}"
    );

    let more = shaderfit(&["train", "--resume", arg(&dir), "--epochs", "5"])
        .data(&data)
        .run();
    assert!(
        more.ok().lines()[0].starts_with("Epoch 5/5"),
        "{}",
        more.stdout
    );
    shaderfit(&[
        "train",
        "--resume",
        arg(&dir),
        "--batch-size",
        "64",
        "--epochs",
        "6",
    ])
    .data(&data)
    .run()
    .one_line_error(&[
        "epoch-005.safetensors",
        "trained with --batch-size 128, given 64",
    ]);
    shaderfit(&[
        "train",
        "--resume",
        arg(&dir),
        "--model",
        "mlp",
        "--epochs",
        "6",
    ])
    .data(&data)
    .run()
    .one_line_error(&["layers in the checkpoint", "asked"]);
    shaderfit(&["train", "--resume", arg(&dir)])
        .data(&data)
        .run()
        .one_line_error(&["--epochs", "has finished 5 epochs already"]);
}

/// A run that diverges stops with exit code 3 before saving: the good checkpoint it started
/// from (and saves to) stays intact and loadable. A checkpoint holding NaN is refused, naming
/// the tensor.
#[test]
fn a_diverging_run_keeps_the_last_good_checkpoint() {
    let data = support::cli::small_dataset("diverge");
    let good = data.path().join("good.safetensors");
    let args = [
        "train",
        "--model",
        "mlp_small",
        "--epochs",
        "1",
        "--save",
        arg(&good),
    ];
    shaderfit(&args).data(&data).run().ok();
    let before = tensors(&good);
    let evaluate = || {
        shaderfit(&["evaluate", "--checkpoint", arg(&good)])
            .data(&data)
            .run()
    };
    let score = evaluate().ok().lines()[0].to_string();

    let args = [
        "train",
        "--model",
        "mlp_small",
        "--epochs",
        "2",
        "--optimizer",
        "sgd",
        "--lr",
        "1e30",
        "--load",
        arg(&good),
        "--save",
        arg(&good),
    ];
    let run = shaderfit(&args).data(&data).run();
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    let err = run.stderr.lines().last().unwrap();
    assert!(
        err.contains("training diverged in epoch 1") && err.contains("try a lower --lr"),
        "{err}"
    );
    assert_eq!(tensors(&good), before, "the checkpoint is untouched");
    assert_eq!(evaluate().ok().lines()[0], score, "and still loads");

    // The same file with one weight made NaN.
    let bytes = std::fs::read(&good).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut owned: Vec<(String, Vec<u8>, Vec<usize>)> = file
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.data().to_vec(), v.shape().to_vec()))
        .collect();
    let kernel = owned.iter_mut().find(|t| t.0 == "dense/kernel").unwrap();
    kernel.1[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    let views: Vec<(String, safetensors::tensor::TensorView)> = owned
        .iter()
        .map(|(n, d, s)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d)
                    .unwrap(),
            )
        })
        .collect();
    let bad = data.path().join("bad.safetensors");
    std::fs::write(
        &bad,
        safetensors::tensor::serialize(views, header.metadata().clone()).unwrap(),
    )
    .unwrap();
    shaderfit(&["evaluate", "--checkpoint", arg(&bad)])
        .data(&data)
        .run()
        .one_line_error(&[
            "bad.safetensors",
            "tensor 'dense/kernel' holds NaN at index 2",
        ]);
}

/// Two runs saving to one checkpoint: the second is refused at its start, before training,
/// and the first goes on.
#[test]
fn a_second_writer_of_a_checkpoint_is_refused() {
    let data = dataset("twowriters");
    let path = data.path().join("shared.safetensors");
    let args = [
        "train",
        "--model",
        "mlp_dropout",
        "--epochs",
        "3",
        "--batch-size",
        "32",
        "--save",
        arg(&path),
    ];
    let mut first = shaderfit(&args).data(&data).spawn();
    let lock = data.path().join(".shared.safetensors.lock");
    let start = Instant::now();
    while !lock.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the first run never locked"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let second = shaderfit(&args).data(&data).run();
    let _ = first.kill();
    first.wait().unwrap();
    second.one_line_error(&[
        "--save",
        "shared.safetensors",
        "is being written by another shaderfit run",
    ]);
    assert!(
        !second.stdout.contains("Epoch"),
        "refused before training: {}",
        second.stdout
    );
}

/// SIGKILLs at many moments of a run that saves every few milliseconds: whenever the run
/// dies, even mid-write, the checkpoint there is whole and loads, and the next run on the path
/// clears what the killed one left. Each kill lands a different time after the run's first
/// save (waited for, so that a loaded machine, slow to start a run, still tests saving).
#[test]
fn a_kill_at_any_moment_leaves_a_loadable_checkpoint() {
    let data = support::cli::small_dataset("killsave");
    let path = data.path().join("ck.safetensors");
    let args = [
        "train",
        "--model",
        "linear",
        "--epochs",
        "200",
        "--save",
        arg(&path),
    ];
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    for delay_ms in [0, 3, 11, 29, 67, 151] {
        let started = SystemTime::now();
        let mut run = shaderfit(&args).data(&data).spawn();
        let deadline = Instant::now() + Duration::from_secs(120);
        while modified(&path).is_none_or(|t| t < started) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        run.kill().unwrap();
        run.wait().unwrap();
        shaderfit(&["evaluate", "--checkpoint", arg(&path)])
            .data(&data)
            .run()
            .ok();
    }
    assert!(
        saved_epoch(&path).is_some(),
        "no run lived long enough to save"
    );
    shaderfit(&[
        "train",
        "--model",
        "linear",
        "--epochs",
        "1",
        "--save",
        arg(&path),
    ])
    .data(&data)
    .run()
    .ok();
    let left: Vec<String> = std::fs::read_dir(data.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial") || n.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
