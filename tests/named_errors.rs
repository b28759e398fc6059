//! Errors that used to mislead now name the right thing: the run and the file of a runs list,
//! the key of a `--grid` value, the format of an image shaderfit does not read, a training
//! state given as a checkpoint; settings that would do nothing or cannot be met are refused;
//! a checkpoint whose bytes changed and a state whose values no optimizer writes are refused,
//! naming the file; two model files of one name in two folders are told apart.

mod support;

use std::path::Path;

use safetensors::tensor::{serialize, SafeTensors, TensorView};
use safetensors::Dtype;
use support::cli::{arg, shaderfit, small_dataset};

/// Rewrites the safetensors file `path`, changing each tensor's bytes with `change(name,
/// bytes)`; the metadata is kept.
fn rewrite(path: &Path, change: impl Fn(&str, &mut Vec<u8>)) {
    let bytes = std::fs::read(path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let owned: Vec<(String, Vec<u8>, Vec<usize>)> = file
        .tensors()
        .into_iter()
        .map(|(n, v)| {
            let mut data = v.data().to_vec();
            change(&n, &mut data);
            (n, data, v.shape().to_vec())
        })
        .collect();
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(n, d, s)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), d).unwrap(),
            )
        })
        .collect();
    std::fs::write(path, serialize(views, header.metadata().clone()).unwrap()).unwrap();
}

/// `c.safetensors` (and its state) of a linear model trained one epoch on `data`.
fn trained(data: &support::TempDir) -> std::path::PathBuf {
    let ckpt = data.path().join("c.safetensors");
    let train = ["train", "--model", "linear", "--epochs", "1"];
    shaderfit(&train)
        .data(data)
        .args(&["--save", arg(&ckpt)])
        .run()
        .ok();
    ckpt
}

#[test]
fn settings_that_do_nothing_and_values_from_files_are_named() {
    let data = small_dataset("named");
    let file = |name: &str| data.path().join(name);
    let runs = file("runs.json");
    std::fs::write(&runs, r#"[{"model": "linear"}, {"model": "lenett"}]"#).unwrap();
    let gif = file("digit.gif");
    std::fs::write(&gif, b"GIF89a\x01\x00\x01\x00").unwrap();
    let no_extension = file("digit");
    std::fs::copy(&gif, &no_extension).unwrap();
    let ckpt = trained(&data);
    let state = file("c.state.safetensors");
    let predict =
        |image: &Path| ["predict", "--checkpoint", arg(&ckpt), arg(image)].map(String::from);
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            ["compare", "--runs", arg(&runs)].map(String::from).to_vec(),
            vec!["runs.json: run 2: --model: unknown model 'lenett'"],
        ),
        (
            ["compare", "--grid", "epochs=0,1"]
                .map(String::from)
                .to_vec(),
            vec!["--grid: epochs: 0 trains nothing"],
        ),
        (
            ["sweep", "--epochs", "0"].map(String::from).to_vec(),
            vec!["--epochs: 0 trains nothing"],
        ),
        (
            ["train", "--epochs", "0", "--history", arg(&file("h.json"))]
                .map(String::from)
                .to_vec(),
            vec!["--history: given with --epochs 0"],
        ),
        (
            ["train", "--epochs", "2", "--warmup-epochs", "5"]
                .map(String::from)
                .to_vec(),
            vec!["--warmup-epochs: 5 epochs of warm-up in a run of 2"],
        ),
        (
            predict(&gif).to_vec(),
            vec!["digit.gif: a GIF image, which is not read; expected a PNG or JPEG image"],
        ),
        (
            predict(&no_extension).to_vec(),
            vec!["digit: a GIF image, which is not read"],
        ),
        (
            ["data", "show", "--grid", "0"].map(String::from).to_vec(),
            vec!["--grid: 0 images a side draws nothing; expected 1 to"],
        ),
        (
            ["summary", "--input", "4294967295x4294967295x4294967295"]
                .map(String::from)
                .to_vec(),
            vec!["--input: '4294967295x4294967295x4294967295' holds more than"],
        ),
        (
            ["evaluate", "--checkpoint", arg(&state)]
                .map(String::from)
                .to_vec(),
            vec![
                "is a checkpoint's training state",
                "give the checkpoint beside it, c.safetensors",
            ],
        ),
    ];
    for (args, says) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        shaderfit(&args).data(&data).run().one_line_error(&says);
    }
}

/// Three bytes of a checkpoint's weights flipped (each a low mantissa bit: the values stay
/// finite and plausible) are caught by the checksum the checkpoint carries; a finite but
/// negative second moment in a training state (which Adam never writes) is refused at
/// `--resume`, naming the file and the tensor.
#[test]
fn corrupt_checkpoints_and_states_are_refused_naming_the_file() {
    let data = small_dataset("corrupt");
    let ckpt = trained(&data);
    let evaluate = || {
        shaderfit(&["evaluate", "--checkpoint", arg(&ckpt)])
            .data(&data)
            .run()
    };
    evaluate().ok();
    let state = data.path().join("c.state.safetensors");
    let intact = std::fs::read(&ckpt).unwrap();
    rewrite(&ckpt, |name, bytes| {
        if name == "dense/kernel" {
            for k in [10, 200, 1000] {
                bytes[4 * k] ^= 1;
            }
        }
    });
    evaluate().one_line_error(&["c.safetensors: its tensors' bytes do not match the checksum"]);
    std::fs::write(&ckpt, intact).unwrap();
    rewrite(&state, |name, bytes| {
        if name.starts_with("optimizer/1/") {
            bytes[..4].copy_from_slice(&(-0.5f32).to_le_bytes());
        }
    });
    shaderfit(&["train", "--resume", arg(&ckpt), "--epochs", "2"])
        .data(&data)
        .run()
        .one_line_error(&[
            "c.state.safetensors: tensor 'optimizer/1/",
            "holds -0.5 at index 0",
            "adam's velocity is never negative",
        ]);
}

/// Two model files named alike in two folders, of different architectures: the table names
/// each by its file.
#[test]
fn models_named_alike_are_told_apart_by_their_files() {
    let data = small_dataset("alike");
    let (a, b) = (data.path().join("a"), data.path().join("b"));
    for (dir, preset) in [(&a, "linear"), (&b, "mlp_small")] {
        std::fs::create_dir_all(dir).unwrap();
        let spec = shaderfit(&["model", "show", preset])
            .run()
            .ok()
            .stdout
            .clone();
        let renamed = spec.replace(&format!("\"{preset}\""), "\"mine\"");
        std::fs::write(dir.join("m.json"), renamed).unwrap();
    }
    let models = format!("{},{}", arg(&a.join("m.json")), arg(&b.join("m.json")));
    let run = shaderfit(&["compare", "--models", &models, "--epochs", "1"])
        .data(&data)
        .run();
    let table = run.ok().stdout.clone();
    assert!(
        table.contains(arg(&a.join("m.json"))) && table.contains(arg(&b.join("m.json"))),
        "{table}"
    );
}
