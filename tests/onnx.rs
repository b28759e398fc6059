//! Export to ONNX, checked by the ONNX tools themselves: every preset, and a model of every
//! layer kind's example (odd kernels, strides, `same` padding), trained a few steps on small
//! generated data, is exported, passes `onnx.checker.check_model` (full check), and ONNX
//! Runtime's class probabilities on 256 test images agree with `shaderfit predict --json` on
//! the same images within 1e-4, with the same argmax on every image
//! (`scripts/onnx_check.py`). Where Python's `onnx` and `onnxruntime` cannot be imported the
//! test skips, saying what to install; `SHADERFIT_REQUIRE_TOOLS=1` (CI) makes that a failure.
//!
//! The tolerance: both sides compute in f32, in different orders (ONNX Runtime's MLAS kernels
//! against shaderfit's WGSL ones), so each logit differs by rounding alone, about 1e-6 of the
//! sums of at most a few thousand products; softmax's probabilities move by at most half the
//! largest change of a logit, so 1e-5 would be a tight bound and 1e-4 leaves a margin without
//! hiding a wrong layout (a transposed kernel or a flatten in the wrong order moves
//! probabilities by 1e-2 and more).

mod support;

use std::process::Command;

use shaderfit::floor::Shape;
use shaderfit::model::PRESETS;
use support::cli::{arg, shaderfit};
use support::npz::{npy, write_npz};
use support::{synthetic_dataset, write_dataset, TempDir};

const CHECK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/onnx_check.py");

/// A Python that has onnx and onnxruntime, if there is one.
fn onnx_python() -> Option<String> {
    let python = std::env::var("SHADERFIT_ONNX_PYTHON").unwrap_or_else(|_| "python3".into());
    let imports = "import onnx, onnxruntime, numpy";
    let found = Command::new(&python)
        .args(["-c", imports])
        .output()
        .is_ok_and(|o| o.status.success());
    let required = std::env::var_os("SHADERFIT_REQUIRE_TOOLS").is_some_and(|v| v == "1");
    let install = "pip install onnx onnxruntime numpy, or set SHADERFIT_ONNX_PYTHON";
    assert!(
        found || !required,
        "SHADERFIT_REQUIRE_TOOLS=1 but {python} cannot {imports}: {install}"
    );
    if !found {
        println!("skipped the ONNX check: {python} cannot {imports} ({install})");
    }
    found.then_some(python)
}

#[test]
fn every_preset_exports_and_onnx_runtime_agrees_with_predict() {
    let Some(python) = onnx_python() else {
        return;
    };
    let dir = TempDir::new("onnx");
    write_dataset(
        &dir.path().join("mnist"),
        &synthetic_dataset(256, 64, 28, 28, 10),
        true,
    );
    // The 256 samples both sides classify: the training images (the test split is kept
    // small, as an evaluation batch of the widest presets' size outgrows lavapipe's bindings).
    let images = dir.path().join("mnist/train-images-idx3-ubyte.gz");
    let indices: Vec<String> = (0..256).map(|i| i.to_string()).collect();
    let every_kind = dir.path().join("every_kind.json");
    let spec = support::model_of_every_kind(Shape::new(28, 28, 1)).to_json();
    std::fs::write(&every_kind, spec.to_string()).unwrap();
    let mut models: Vec<(&str, &str)> = PRESETS.iter().map(|p| (*p, *p)).collect();
    models.push(("every_kind", arg(&every_kind)));
    let mut pairs = Vec::new();
    for (name, model) in &models {
        let out = |ext: &str| dir.path().join(format!("{name}.{ext}"));
        // Two steps of 128: weights away from their initialisation, moving statistics moved.
        let args = [
            "train",
            "--model",
            model,
            "--epochs",
            "1",
            "--batch-size",
            "128",
        ];
        shaderfit(&args)
            .data(&dir)
            .args(&["--save", arg(&out("safetensors"))])
            .run()
            .ok();
        shaderfit(&[
            "export",
            "--checkpoint",
            arg(&out("safetensors")),
            "--onnx",
            arg(&out("onnx")),
        ])
        .run()
        .ok();
        // Two calls of 128: predict's plan for 256 images of the widest presets outgrows
        // lavapipe's 128 MiB binding.
        let mut items = Vec::new();
        for half in indices.chunks(128) {
            let predicted = shaderfit(&[
                "predict",
                "--checkpoint",
                arg(&out("safetensors")),
                arg(&images),
                "--json",
            ])
            .args(&["--indices", &half.join(",")])
            .run();
            let list: serde_json::Value = serde_json::from_str(&predicted.ok().stdout).unwrap();
            items.extend(list.as_array().unwrap().iter().cloned());
        }
        std::fs::write(out("json"), serde_json::Value::Array(items).to_string()).unwrap();
        pairs.push(out("onnx"));
        pairs.push(out("json"));
    }
    let check = Command::new(&python)
        .arg(CHECK)
        .args([
            "--images",
            arg(&images),
            "--count",
            "256",
            "--tolerance",
            "1e-4",
        ])
        .args(&pairs)
        .output()
        .expect("run the check");
    let said = String::from_utf8_lossy(&check.stdout);
    println!("{said}{}", String::from_utf8_lossy(&check.stderr));
    assert!(check.status.success(), "{said}");
    assert_eq!(said.lines().count(), models.len(), "{said}");
}

/// A colour model (28x28 RGB is not needed: 12x12x3 generated images, as an NPZ) exports
/// with its input `[N, 12, 12, 3]`, and ONNX Runtime agrees with `predict` on the same images
/// (given to predict as CSV rows, channels last) within the tolerance above: a model of every
/// layer kind, whose first layer reads the three channels, and the mlp.
#[test]
fn a_colour_model_exports_and_onnx_runtime_agrees_with_predict() {
    let Some(python) = onnx_python() else {
        return;
    };
    let dir = TempDir::new("onnxrgb");
    let image = Shape::new(12, 12, 3);
    let data = support::synthetic_images(128, 32, image, 10);
    let npz = dir.path().join("rgb.npz");
    let dims = |n: usize| [n as u64, 12, 12, 3];
    let arrays = vec![
        ("x_train", npy(&data.train.images, &dims(128))),
        ("y_train", npy(&data.train.labels, &[128])),
        ("x_test", npy(&data.test.images, &dims(32))),
        ("y_test", npy(&data.test.labels, &[32])),
    ];
    write_npz(&npz, &arrays, false);
    let rows: String = data
        .train
        .images
        .chunks(image.features())
        .map(|r| r.iter().map(u8::to_string).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    let csv = dir.path().join("rows.csv");
    std::fs::write(&csv, rows).unwrap();
    let every_kind = dir.path().join("every_kind.json");
    let spec = support::model_of_every_kind(image).to_json();
    std::fs::write(&every_kind, spec.to_string()).unwrap();
    let mut pairs = Vec::new();
    for (name, model) in [("mlp", "mlp"), ("every_kind", arg(&every_kind))] {
        let out = |ext: &str| dir.path().join(format!("{name}.{ext}"));
        shaderfit(&[
            "train",
            "--model",
            model,
            "--epochs",
            "1",
            "--batch-size",
            "64",
        ])
        .args(&["--data", arg(&npz), "--save", arg(&out("safetensors"))])
        .run()
        .ok();
        let checkpoint = out("safetensors");
        shaderfit(&[
            "export",
            "--checkpoint",
            arg(&checkpoint),
            "--onnx",
            arg(&out("onnx")),
        ])
        .run()
        .ok();
        let predicted = shaderfit(&[
            "predict",
            "--checkpoint",
            arg(&checkpoint),
            arg(&csv),
            "--json",
        ])
        .run();
        std::fs::write(out("json"), &predicted.ok().stdout).unwrap();
        pairs.push(out("onnx"));
        pairs.push(out("json"));
    }
    let check = Command::new(&python)
        .arg(CHECK)
        .args([
            "--images",
            arg(&npz),
            "--count",
            "128",
            "--tolerance",
            "1e-4",
        ])
        .args(&pairs)
        .output()
        .expect("run the check");
    let said = String::from_utf8_lossy(&check.stdout);
    println!("{said}{}", String::from_utf8_lossy(&check.stderr));
    assert!(check.status.success(), "{said}");
    assert_eq!(said.lines().count(), 2, "{said}");
}

/// An export is refused in one line where it cannot be written or read.
#[test]
fn export_refuses_bad_paths_in_one_line() {
    let dir = TempDir::new("onnxbad");
    let not_a_checkpoint = dir.path().join("typo.json");
    std::fs::write(&not_a_checkpoint, "{}").unwrap();
    let target = dir.path().join("m.onnx");
    shaderfit(&[
        "export",
        "--checkpoint",
        arg(&not_a_checkpoint),
        "--onnx",
        arg(&target),
    ])
    .run()
    .one_line_error(&["typo.json", "not a safetensors checkpoint"]);
    let nowhere = dir.path().join("no/such/m.onnx");
    shaderfit(&[
        "export",
        "--checkpoint",
        arg(&not_a_checkpoint),
        "--onnx",
        arg(&nowhere),
    ])
    .run()
    .one_line_error(&["--onnx", "does not exist"]);
    assert!(!target.exists());
}
