//! `scripts/keras_from_checkpoint.py` against shaderfit: a model holding every layer kind of the
//! registry (each as its example, every field away from its default) is trained by shaderfit
//! until its test loss is well below a uniform guess's (1.84 against ln 10 = 2.30), saved, rebuilt and evaluated by Keras 3 from the checkpoint alone, and both
//! score the test set alike. So each of the script's per-layer branches (Keras's class, its
//! arguments, the variable names and layouts the weights load into) is checked for real.
//!
//! It runs where a Python with Keras 3, JAX, safetensors and numpy is found (`python3`, or
//! `SHADERFIT_KERAS_PYTHON`; CI makes a virtual environment with them) and says it skipped
//! otherwise; `SHADERFIT_REQUIRE_TOOLS=1` (CI) makes a missing one a failure.

mod support;

use std::process::Command;

use shaderfit::data::{Dataset, Split};
use shaderfit::floor::rng::SplitMix64;
use shaderfit::floor::Shape;
use support::cli::{arg, field, shaderfit};
use support::npz::{npy, write_npz};
use support::TempDir;

/// 12x12 images whose class is their brightness (label·20 plus noise up to 40, so neighbours
/// overlap): what survives the example model's strided convolution and two poolings, so that
/// it learns in a few epochs and its predictions are far from uniform.
fn brightness_dataset() -> (TempDir, Dataset) {
    let split = |n: usize, seed: u64| {
        let mut g = SplitMix64::new(seed);
        let labels: Vec<u8> = (0..n).map(|_| g.below(10) as u8).collect();
        let images = labels
            .iter()
            .flat_map(|&l| {
                (0..144)
                    .map(|_| l * 20 + g.below(40) as u8)
                    .collect::<Vec<_>>()
            })
            .collect();
        Split { images, labels }
    };
    let data = Dataset {
        dir: "<memory>".into(),
        rows: 12,
        cols: 12,
        channels: 1,
        classes: 10,
        class_names: Vec::new(),
        note: None,
        train: split(1000, 1),
        test: split(300, 2),
    };
    let dir = TempDir::new("keras");
    support::write_dataset(&dir.path().join("mnist"), &data, true);
    (dir, data)
}

/// The brightness set in colour, as an NPZ of 12x12x3 images: each grey level in red, the
/// others its noise, so the class is in one channel and the first layer must read all three
/// to find it.
fn colour_npz(grey: &Dataset, path: &std::path::Path) {
    let colour = |s: &Split, seed: u64| {
        let mut g = SplitMix64::new(seed);
        let images: Vec<u8> = s
            .images
            .iter()
            .flat_map(|&v| [v, g.below(256) as u8, g.below(256) as u8])
            .collect();
        (images, s.labels.clone())
    };
    let (train, test) = (colour(&grey.train, 3), colour(&grey.test, 4));
    let dims = |n: usize| [n as u64, 12, 12, 3];
    let arrays = vec![
        ("x_train", npy(&train.0, &dims(train.1.len()))),
        ("y_train", npy(&train.1, &[train.1.len() as u64])),
        ("x_test", npy(&test.0, &dims(test.1.len()))),
        ("y_test", npy(&test.1, &[test.1.len() as u64])),
    ];
    write_npz(path, &arrays, true);
}

/// The Python to run the script with, if one has Keras.
fn keras_python() -> Option<String> {
    let python = std::env::var("SHADERFIT_KERAS_PYTHON").unwrap_or_else(|_| "python3".into());
    let imports = "import keras, jax, safetensors, numpy";
    let found = Command::new(&python)
        .args(["-c", imports])
        .env("KERAS_BACKEND", "jax")
        .output()
        .is_ok_and(|o| o.status.success());
    let required = std::env::var_os("SHADERFIT_REQUIRE_TOOLS").is_some_and(|v| v == "1");
    assert!(
        found || !required,
        "SHADERFIT_REQUIRE_TOOLS=1 but {python} cannot {imports}: pip install keras jax safetensors numpy, or set SHADERFIT_KERAS_PYTHON"
    );
    if !found {
        println!(
            "skipped the Keras check: {python} cannot {imports} (pip install keras jax safetensors numpy, or set SHADERFIT_KERAS_PYTHON)"
        );
    }
    found.then_some(python)
}

/// Tolerance on the test loss: 2e-4 absolute. Both sides print it to 4 decimals (a rounding
/// of up to 5e-5 each) after summing f32 cross-entropies of 300 images in different orders
/// and with different kernels (Keras's XLA convolutions against shaderfit's WGSL), which
/// differ by ~1e-6 relative; a layer built wrong (a transposed kernel, another padding, the
/// batch statistics instead of the moving ones) moves the loss by whole percent.
#[test]
fn keras_rebuilds_every_layer_kind_from_a_checkpoint() {
    let Some(python) = keras_python() else {
        return;
    };
    let (dir, grey) = brightness_dataset();
    let idx = dir.path().join("mnist");
    rebuilt_alike(&python, &dir, (&idx, Shape::new(12, 12, 1)));
    // The same in colour, read from an NPZ by both sides: the first layer's three channels.
    let npz = dir.path().join("colour.npz");
    colour_npz(&grey, &npz);
    rebuilt_alike(&python, &dir, (&npz, Shape::new(12, 12, 3)));
}

/// Trains the model of every kind for `image`s on `data`, evaluates it, and has the script
/// rebuild and evaluate it from the checkpoint: the same accuracy, the loss within the
/// tolerance above.
fn rebuilt_alike(python: &str, dir: &TempDir, (data, image): (&std::path::Path, Shape)) {
    let spec = support::model_of_every_kind(image);
    let model = dir.path().join("every_kind.json");
    std::fs::write(&model, serde_json::to_string(&spec.to_json()).unwrap()).unwrap();
    let checkpoint = dir
        .path()
        .join(format!("every_kind_{}.safetensors", image.c));
    let train = [
        "train",
        "--model",
        arg(&model),
        "--epochs",
        "10",
        "--lr",
        "0.01",
    ];
    shaderfit(&train)
        .args(&["--data", arg(data), "--save", arg(&checkpoint)])
        .run()
        .ok();
    let ours = shaderfit(&[
        "evaluate",
        "--checkpoint",
        arg(&checkpoint),
        "--data",
        arg(data),
    ])
    .run();
    let ours = ours.ok().lines()[0].to_string();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/keras_from_checkpoint.py"
    );
    let out = Command::new(python)
        .args([script, arg(&checkpoint), "--data", arg(data)])
        .env("KERAS_BACKEND", "jax")
        .output()
        .expect("the script runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the script failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keras = stdout.lines().last().expect("the script's test line");
    println!("{image:?}\nshaderfit: {ours}\nKeras:     {keras}");
    for kind in shaderfit::layers::KINDS {
        assert!(
            spec.layers.iter().any(|l| l.type_name() == kind.type_name),
            "the model lacks {}",
            kind.type_name
        );
    }
    assert_eq!(
        field(keras, "test_accuracy"),
        field(&ours, "test_accuracy"),
        "{image:?}: the same predictions"
    );
    let (a, b) = (field(keras, "test_loss"), field(&ours, "test_loss"));
    assert!(
        (a - b).abs() <= 2e-4,
        "{image:?}: test loss: Keras {a} vs shaderfit {b}"
    );
}
