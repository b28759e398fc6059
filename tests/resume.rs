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

/// Three epochs of `mlp_dropout` at batch 32, Adam with a cosine schedule, saving to `save`:
/// dropout's masks, Adam's moments and bias correction, and the schedule all depend on the
/// step count, so a resumed run matches only if it carries on exactly.
fn dropout_run(data: &TempDir, save: &Path) -> support::cli::Shaderfit {
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
        "--save",
        arg(save),
    ];
    shaderfit(&args).data(data)
}

/// Dropout (its masks drawn from the step count), Adam (its moments and bias correction) and
/// a cosine schedule (per-step rates over the whole run) all carry across the kill, bit for
/// bit.
#[test]
fn a_killed_run_resumes_to_the_same_weights() {
    let data = dataset("resume");
    let train = |save: &Path| dropout_run(&data, save).args(&["--steps-per-submit", "4"]);
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

    // It saves to a copy of the good checkpoint: the one it loads is its input, which no
    // output of the run may replace.
    let copy = data.path().join("copy.safetensors");
    let diverging = |save: &Path| {
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
            arg(save),
        ];
        shaderfit(&args).data(&data).run()
    };
    diverging(&good).one_line_error(&["--save", "one of this command's inputs"]);
    std::fs::copy(&good, &copy).unwrap();
    let run = diverging(&copy);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    let err = run.stderr.lines().last().unwrap();
    assert!(
        err.contains("training diverged in epoch 1") && err.contains("try a lower --lr"),
        "{err}"
    );
    assert_eq!(tensors(&copy), before, "the checkpoint is untouched");
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
    let mut first = dropout_run(&data, &path).spawn();
    let lock = data.path().join(".shared.safetensors.lock");
    let start = Instant::now();
    while !lock.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the first run never locked"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let second = dropout_run(&data, &path).run();
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

/// A `--save` run stopped at every stage of its second save (a failpoint aborts the process
/// there, as a kill would: before it, with the state's pending file written but not renamed,
/// with it renamed but the weights not, with the weights committed but the state not moved
/// into place, after it) resumes every time, from the epoch that stage leaves whole, and ends
/// with the weights, bit for bit, of a run never stopped. Dropout, Adam and a cosine schedule
/// carry the step count across.
#[test]
fn a_run_stopped_at_every_stage_of_a_save_resumes_to_the_same_weights() {
    let data = support::cli::small_dataset("stages");
    let train = |save: &Path| dropout_run(&data, save);
    let whole = data.path().join("whole.safetensors");
    let uninterrupted = train(&whole).run();
    uninterrupted.ok();
    // (failpoint, the epoch the checkpoint is then of). The first save replaces two files
    // (the pending state, the weights), so the second save's are the 3rd and 4th.
    let stages = [
        ("save-begin@2", 1),
        ("replace-before-rename@3", 1),
        ("replace-before-rename@4", 1),
        ("save-committed@2", 2),
        ("save-end@2", 2),
    ];
    for (i, (point, epoch)) in stages.into_iter().enumerate() {
        let part = data.path().join(format!("part{i}.safetensors"));
        let stopped = train(&part).env("SHADERFIT_FAILPOINT", point).run();
        assert_eq!(
            stopped.code, None,
            "{point}: stopped by the failpoint, {}",
            stopped.stderr
        );
        assert_eq!(saved_epoch(&part), Some(epoch), "{point}");
        let resumed = shaderfit(&["train", "--resume", arg(&part)])
            .data(&data)
            .run();
        let said = format!("after epoch {epoch}");
        assert!(
            resumed.ok().stderr.contains(&said),
            "{point}: {}",
            resumed.stderr
        );
        assert_eq!(tensors(&part), tensors(&whole), "{point}: the same weights");
        assert_eq!(
            resumed.lines().last(),
            uninterrupted.lines().last(),
            "{point}"
        );
    }
}

/// Rewrites the safetensors file `path`, changing its metadata and tensors with `edit`.
fn rewrite(
    path: &Path,
    edit: impl FnOnce(
        &mut std::collections::HashMap<String, String>,
        &mut Vec<(String, Vec<u8>, Vec<usize>)>,
    ),
) {
    let bytes = std::fs::read(path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap_or_default();
    let mut owned: Vec<(String, Vec<u8>, Vec<usize>)> = file
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.data().to_vec(), v.shape().to_vec()))
        .collect();
    edit(&mut meta, &mut owned);
    let views: Vec<(String, safetensors::tensor::TensorView)> = owned
        .iter()
        .map(|(n, d, s)| {
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d);
            (n.clone(), view.unwrap())
        })
        .collect();
    std::fs::write(
        path,
        safetensors::tensor::serialize(views, Some(meta)).unwrap(),
    )
    .unwrap();
}

/// Resume checks what defines the run beyond its flags: the data (by fingerprint, so another
/// dataset under the same name is refused, and without `--data` the run goes on with the data
/// it was trained on), a checkpoint directory that another run wrote, the numeric order of
/// epoch files, and every value read back from the training state.
#[test]
fn resume_checks_the_data_the_run_and_every_saved_value() {
    let data = support::cli::small_dataset("resumedata");
    let other = TempDir::new("resumeother");
    write_dataset(
        &other.path().join("mnist"),
        &shaderfit::data::Dataset {
            train: support::synthetic_split(600, 12, 12, 10, 31),
            ..support::synthetic_dataset(600, 200, 12, 12, 10)
        },
        true,
    );
    let ck = data.path().join("run.safetensors");
    let first = [
        "train",
        "--model",
        "linear",
        "--epochs",
        "1",
        "--save",
        arg(&ck),
    ];
    shaderfit(&first).data(&data).run().ok();
    let more = |extra: &[&str]| {
        let mut args = vec!["train", "--resume", arg(&ck)];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>, env_data: &TempDir| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        shaderfit(&refs).data(env_data).run()
    };
    run(more(&["--epochs", "2", "--data", arg(other.path())]), &data).one_line_error(&[
        "run.safetensors: the run trained on other data (fingerprint",
        "give its data with --data",
    ]);
    // No --data: the recorded data, not the environment's.
    let resumed = run(more(&["--epochs", "2"]), &other);
    assert!(
        resumed.ok().stdout.contains("Epoch 2/2"),
        "{}",
        resumed.stdout
    );

    // A new run into a directory another run wrote.
    let dir = data.path().join("ckpts");
    let into = |seed: &str| {
        let args = [
            "train", "--model", "linear", "--epochs", "2", "--seed", seed,
        ];
        let mut args: Vec<&str> = args.to_vec();
        args.extend(["--checkpoint-dir", arg(&dir)]);
        shaderfit(&args).data(&data).run()
    };
    into("1").ok();
    into("2").one_line_error(&[
        "--checkpoint-dir",
        "safetensors of another run; resume that run with --resume",
    ]);
    // epoch-1000 is later than epoch-999.
    std::fs::rename(
        dir.join("epoch-001.safetensors"),
        dir.join("epoch-999.safetensors"),
    )
    .unwrap();
    std::fs::rename(
        dir.join("epoch-002.safetensors"),
        dir.join("epoch-1000.safetensors"),
    )
    .unwrap();
    for (from, to) in [("epoch-001", "epoch-999"), ("epoch-002", "epoch-1000")] {
        std::fs::rename(
            dir.join(format!("{from}.state.safetensors")),
            dir.join(format!("{to}.state.safetensors")),
        )
        .unwrap();
    }
    let latest = shaderfit(&["train", "--resume", arg(&dir), "--epochs", "3"])
        .data(&data)
        .run();
    assert!(
        latest
            .ok()
            .stderr
            .contains("epoch-1000.safetensors after epoch 2"),
        "{}",
        latest.stderr
    );

    // Values read back from the state are checked, naming the file and the key.
    let state = data.path().join("run.state.safetensors");
    let saved = std::fs::read(&state).unwrap();
    let cases: [(&str, &str, &str); 3] = [
        ("epoch", "-1", "metadata 'epoch' is '-1'; expected a count"),
        (
            "lr_factor",
            "-1",
            "metadata 'lr_factor' is '-1'; expected a learning-rate multiplier in (0, 1]",
        ),
        (
            "lr_factor",
            "0",
            "metadata 'lr_factor' is '0'; expected a learning-rate multiplier in (0, 1]",
        ),
    ];
    for (key, value, expect) in cases {
        std::fs::write(&state, &saved).unwrap();
        rewrite(&state, |meta, _| {
            meta.insert(key.into(), value.into());
        });
        run(more(&["--epochs", "9"]), &data).one_line_error(&["run.state.safetensors", expect]);
    }
    std::fs::write(&state, &saved).unwrap();
    rewrite(&state, |meta, _| {
        let run = meta["run"].replace("\"lr\":null", "\"lr\":-3");
        meta.insert("run".into(), run);
    });
    run(more(&["--epochs", "9"]), &data)
        .one_line_error(&["run.state.safetensors: --lr: -3 is not a learning rate"]);
    std::fs::write(&state, &saved).unwrap();
    rewrite(&state, |meta, _| {
        let mut run: serde_json::Value = serde_json::from_str(&meta["run"]).unwrap();
        run["history"]["loss"] = serde_json::json!(["lots"]);
        meta.insert("run".into(), run.to_string());
    });
    run(more(&["--epochs", "9"]), &data).one_line_error(&[
        "run.state.safetensors: the saved history's loss is not a list of numbers",
    ]);
    std::fs::write(&state, &saved).unwrap();
    rewrite(&state, |_, tensors| {
        let m = tensors
            .iter_mut()
            .find(|t| t.0.starts_with("optimizer/0/"))
            .unwrap();
        m.1[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    });
    run(more(&["--epochs", "9"]), &data).one_line_error(&[
        "run.state.safetensors: tensor 'optimizer/0/",
        "holds a non-finite value at index 0; the state of a diverged run cannot be resumed",
    ]);
}

/// A run resumed from a checkpoint of a `--checkpoint-dir` goes on in that directory: from a
/// `--save-best-only` directory (which holds `best.safetensors` alone) it keeps saving the
/// best only; from `best.safetensors` of a directory of epochs it writes the next epochs'
/// there. A recipe cannot be given with `--resume` (the run's settings are its checkpoint's),
/// and where a recipe's setting makes no sense with a flag typed, the error says the recipe
/// set it.
#[test]
fn resumed_checkpoint_dirs_go_on_where_they_were_and_recipes_take_the_blame() {
    let data = support::cli::small_dataset("resumedirs");
    let train = |extra: &[&str]| {
        let args = [&["train", "--model", "linear"][..], extra].concat();
        shaderfit(&args).data(&data).run()
    };
    let (best_only, epochs) = (data.path().join("best"), data.path().join("epochs"));
    train(&[
        "--epochs",
        "1",
        "--checkpoint-dir",
        arg(&best_only),
        "--save-best-only",
    ])
    .ok();
    train(&["--resume", arg(&best_only), "--epochs", "2"]).ok();
    let names = |dir: &Path| {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        n.sort();
        n
    };
    assert_eq!(
        names(&best_only),
        ["best.safetensors", "best.state.safetensors"]
    );
    assert_eq!(saved_epoch(&best_only.join("best.safetensors")), Some(2));
    train(&["--epochs", "2", "--checkpoint-dir", arg(&epochs)]).ok();
    train(&[
        "--resume",
        arg(&epochs.join("best.safetensors")),
        "--epochs",
        "3",
    ])
    .ok();
    assert_eq!(saved_epoch(&epochs.join("epoch-003.safetensors")), Some(3));
    let both = train(&["--recipe", "fast99", "--resume", arg(&epochs)]);
    assert_eq!(both.code, Some(2), "{}", both.stderr);
    shaderfit(&["train", "--recipe", "fast99", "--optimizer", "sgd"])
        .data(&data)
        .run()
        .one_line_error(&["--beta1: applies to", "(recipe fast99 sets --beta1 0.7"]);
}
