//! Datasets in other formats than IDX: one dataset written as IDX, as Kaggle's CSVs and as
//! Keras's `mnist.npz` (and MedMNIST's layout, deflated) reads back as the same dataset, byte
//! for byte, and trains to the same weights; `--format` forces a reader; every malformed file
//! is a one-line error naming the file and the row, column or array.

mod support;

use std::path::Path;

use safetensors::SafeTensors;
use shaderfit::data::formats::ReadOptions;
use shaderfit::data::open::open_as;
use shaderfit::data::{Dataset, DatasetKind, Split};
use shaderfit::floor::Shape;
use support::cli::{arg, shaderfit};
use support::npz::{npy, write_npz};
use support::{synthetic_dataset, write_dataset, TempDir};

/// The dataset as CSV files with a header, the label first (Kaggle's layout).
fn write_csv(dir: &Path, data: &Dataset, header: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let pixels = data.pixels_per_image();
    for (name, split) in [("train.csv", &data.train), ("test.csv", &data.test)] {
        let mut text = String::new();
        if header {
            let columns: Vec<String> = (0..pixels).map(|p| format!("pixel{p}")).collect();
            text += &format!("label,{}\n", columns.join(","));
        }
        for (i, label) in split.labels.iter().enumerate() {
            let row = &split.images[i * pixels..(i + 1) * pixels];
            let cells: Vec<String> = row.iter().map(u8::to_string).collect();
            text += &format!("{label},{}\n", cells.join(","));
        }
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// Keras's `mnist.npz` of `data` (u8 images [N, H, W], or [N, H, W, 3] in colour; u8
/// labels [N]).
fn keras_arrays(data: &Dataset) -> Vec<(&'static str, Vec<u8>)> {
    let (h, w, c) = (data.rows as u64, data.cols as u64, data.channels as u64);
    let shape = |n: usize| match c {
        1 => vec![n as u64, h, w],
        _ => vec![n as u64, h, w, c],
    };
    vec![
        ("x_train", npy(&data.train.images, &shape(data.train.len()))),
        (
            "y_train",
            npy(&data.train.labels, &[data.train.len() as u64]),
        ),
        ("x_test", npy(&data.test.images, &shape(data.test.len()))),
        ("y_test", npy(&data.test.labels, &[data.test.len() as u64])),
    ]
}

/// MedMNIST's layout of `data`: labels int64 of shape [N, 1].
fn medmnist_arrays(data: &Dataset) -> Vec<(&'static str, Vec<u8>)> {
    let shape = |n: usize| [n as u64, data.rows as u64, data.cols as u64];
    let labels = |s: &[u8]| s.iter().map(|&l| l as i64).collect::<Vec<i64>>();
    vec![
        (
            "train_images",
            npy(&data.train.images, &shape(data.train.len())),
        ),
        (
            "train_labels",
            npy(&labels(&data.train.labels), &[data.train.len() as u64, 1]),
        ),
        (
            "test_images",
            npy(&data.test.images, &shape(data.test.len())),
        ),
        (
            "test_labels",
            npy(&labels(&data.test.labels), &[data.test.len() as u64, 1]),
        ),
    ]
}

fn read(path: &Path, format: Option<&str>) -> Dataset {
    open_as(
        DatasetKind::Mnist,
        (Some(path), format),
        &Default::default(),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_same(a: &Dataset, b: &Dataset, what: &str) {
    assert_eq!(
        (a.rows, a.cols, a.classes),
        (b.rows, b.cols, b.classes),
        "{what}"
    );
    for (x, y) in [(&a.train, &b.train), (&a.test, &b.test)] {
        assert!(
            x.images == y.images && x.labels == y.labels,
            "{what}: the splits differ"
        );
    }
    assert_eq!(a.fingerprint(), b.fingerprint(), "{what}");
}

/// MNIST (its first 600 and 200 images) as IDX, CSV with and without a header, Keras's NPZ
/// stored, MedMNIST's NPZ deflated and KMNIST's four NPZ files: one dataset, byte for byte;
/// each trains a linear model to the same weights; as image folders, the same (image, label)
/// pairs.
#[test]
fn idx_csv_and_npz_are_the_same_dataset_and_train_the_same_weights() {
    let dir = TempDir::new("formats");
    let data = support::mnist_subset(600, 200);
    let folders = dir.path().join("folders");
    write_folders(&folders, &data);
    let from_folders = read(&folders, None);
    for (got, want) in [
        (&from_folders.train, &data.train),
        (&from_folders.test, &data.test),
    ] {
        assert!(
            pairs(got, 784) == pairs(want, 784),
            "folders: the pairs differ"
        );
    }
    let idx = dir.path().join("idx");
    write_dataset(&idx, &data, true);
    let (csv, bare) = (dir.path().join("csv"), dir.path().join("bare"));
    write_csv(&csv, &data, true);
    write_csv(&bare, &data, false);
    let (keras, med) = (dir.path().join("mnist.npz"), dir.path().join("med.npz"));
    write_npz(&keras, &keras_arrays(&data), false);
    write_npz(&med, &medmnist_arrays(&data), true);
    // KMNIST's release: four files of one array each.
    let kmnist = dir.path().join("kmnist");
    std::fs::create_dir_all(&kmnist).unwrap();
    let parts = ["train-imgs", "train-labels", "test-imgs", "test-labels"];
    for (part, (_, bytes)) in parts.iter().zip(keras_arrays(&data)) {
        let file = kmnist.join(format!("kmnist-{part}.npz"));
        write_npz(&file, &[("arr_0", bytes)], true);
    }
    let kmnist = kmnist.join("kmnist-train-imgs.npz");
    let reference = read(&idx, None);
    for path in [&csv, &csv.join("train.csv"), &bare, &keras, &med, &kmnist] {
        assert_same(&read(path, None), &reference, &path.display().to_string());
    }
    assert_same(&read(&keras, Some("npz")), &reference, "--format npz");

    let weights = |data: &Path, name: &str| {
        let save = dir.path().join(format!("{name}.safetensors"));
        let args = ["train", "--model", "linear", "--epochs", "1", "--seed", "3"];
        let extra = ["--data", arg(data), "--save", arg(&save)];
        shaderfit(&args).args(&extra).run().ok();
        let bytes = std::fs::read(&save).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let mut tensors: Vec<(String, Vec<u8>)> = file
            .tensors()
            .into_iter()
            .map(|(n, v)| (n, v.data().to_vec()))
            .collect();
        tensors.sort();
        tensors
    };
    let from_idx = weights(&idx, "idx");
    assert_eq!(weights(&csv, "csv"), from_idx, "CSV");
    assert_eq!(weights(&keras, "npz"), from_idx, "NPZ");
}

/// Every malformed file is one line naming the file and what is wrong where.
#[test]
fn malformed_csv_and_npz_files_are_named() {
    let dir = TempDir::new("badformats");
    let data = synthetic_dataset(20, 10, 4, 4, 3);
    let at = |name: &str| dir.path().join(name);
    let csv = |name: &str, edit: &dyn Fn(String) -> String| {
        let path = at(name);
        write_csv(&path, &data, true);
        let train = path.join("train.csv");
        let text = std::fs::read_to_string(&train).unwrap();
        std::fs::write(&train, edit(text)).unwrap();
        path
    };
    let ragged = csv("ragged", &|t| t.replacen("\n1,", "\n1,7,", 1));
    let hot = csv("hot", &|t| {
        let mut lines: Vec<String> = t.lines().map(String::from).collect();
        let mut cells: Vec<&str> = lines[2].split(',').collect();
        cells[1] = "300";
        lines[2] = cells.join(",");
        lines.join("\n") + "\n"
    });
    let unlabeled = csv("unlabeled", &|t| t.replacen("label,", "id,", 1));
    let npz = |name: &str, arrays: Vec<(&'static str, Vec<u8>)>| {
        let path = at(name);
        write_npz(&path, &arrays, false);
        path
    };
    let mut missing = keras_arrays(&data);
    missing.remove(3);
    let mut short = keras_arrays(&data);
    short[1] = ("y_train", npy(&data.train.labels[1..], &[19]));
    let mut colour = keras_arrays(&data);
    colour[0] = ("x_train", npy(&vec![0u8; 20 * 16 * 4], &[20, 4, 4, 4]));
    let cases: Vec<(&Path, Vec<&str>)> = vec![
        (
            &ragged,
            vec![
                "train.csv: row ",
                "columns; expected 17, as the first row has",
            ],
        ),
        (
            &hot,
            vec!["train.csv: row 3: column 2: 300; expected a pixel value 0 to 255"],
        ),
        (
            &unlabeled,
            vec!["train.csv: its header has no 'label' column"],
        ),
    ];
    let missing = npz("missing.npz", missing);
    let short = npz("short.npz", short);
    let colour = npz("colour.npz", colour);
    let more: Vec<(&Path, Vec<&str>)> = vec![
        (&missing, vec!["missing.npz: holds the arrays x_train, y_train, x_test; expected x_train, y_train, x_test and y_test"]),
        (&short, vec!["short.npz: array 'y_train' has shape [19]; expected 20 labels"]),
        (&colour, vec!["colour.npz: array 'x_train': has shape [20, 4, 4, 4]; expected images [N, H, W] (grey) or [N, H, W, 3] (RGB)"]),
    ];
    for (path, says) in cases.into_iter().chain(more) {
        shaderfit(&[
            "data",
            "show",
            "--data",
            arg(path),
            "--out",
            arg(&at("g.png")),
        ])
        .run()
        .one_line_error(&says);
    }
    shaderfit(&[
        "data",
        "show",
        "--data",
        arg(&at("ragged")),
        "--format",
        "npz",
    ])
    .args(&["--out", arg(&at("g.png"))])
    .run()
    .one_line_error(&["ragged: is a directory, not a regular file"]);
}

/// `data` as image folders, `train/<class>/<i>.png` and `test/<class>/<i>.png`, grey or RGB
/// PNGs as the data is.
fn write_folders(dir: &Path, data: &Dataset) {
    let size = data.pixels_per_image();
    for (name, split) in [("train", &data.train), ("test", &data.test)] {
        for (i, &label) in split.labels.iter().enumerate() {
            let folder = dir.join(name).join(label.to_string());
            std::fs::create_dir_all(&folder).unwrap();
            let pixels = split.images[i * size..(i + 1) * size].to_vec();
            let (w, h) = (data.cols as u32, data.rows as u32);
            let path = folder.join(format!("{i:05}.png"));
            match data.channels {
                1 => image::GrayImage::from_raw(w, h, pixels)
                    .unwrap()
                    .save(&path),
                _ => image::RgbImage::from_raw(w, h, pixels).unwrap().save(&path),
            }
            .unwrap();
        }
    }
}

/// A split's (image, label) pairs, sorted: what a reader that visits the images in another
/// order must still produce.
fn pairs(split: &Split, size: usize) -> Vec<(Vec<u8>, u8)> {
    let mut pairs: Vec<(Vec<u8>, u8)> = split
        .labels
        .iter()
        .enumerate()
        .map(|(i, &l)| (split.images[i * size..(i + 1) * size].to_vec(), l))
        .collect();
    pairs.sort();
    pairs
}

/// Image folders (grey and RGB) hold the same (image, label) pairs as the dataset they were
/// written from, with the folders' names as the class names; an RGB set also reads back from
/// NPZ and from CSV with `--shape`, byte for byte.
#[test]
fn image_folders_and_colour_sets_read_back_the_same_images() {
    let dir = TempDir::new("folders");
    for image in [Shape::new(12, 10, 1), Shape::new(6, 5, 3)] {
        let data = support::synthetic_images(50, 20, image, 3);
        let root = dir.path().join(format!("set{}", image.c));
        write_folders(&root, &data);
        let read = read(&root, None);
        assert_eq!(read.image(), image);
        assert_eq!(read.class_names, ["0", "1", "2"]);
        let size = data.pixels_per_image();
        for (got, want) in [(&read.train, &data.train), (&read.test, &data.test)] {
            assert!(
                pairs(got, size) == pairs(want, size),
                "{image:?}: the pairs differ"
            );
        }
    }
    let data = support::synthetic_images(40, 10, Shape::new(4, 4, 3), 5);
    let (npz, csv) = (dir.path().join("rgb.npz"), dir.path().join("rgbcsv"));
    write_npz(&npz, &keras_arrays(&data), true);
    write_csv(&csv, &data, true);
    let options = ReadOptions {
        shape: Some(Shape::new(4, 4, 3)),
        ..ReadOptions::default()
    };
    let from_csv = open_as(DatasetKind::Mnist, (Some(&csv), None), &options).unwrap();
    let from_npz = read(&npz, None);
    assert_eq!(from_npz.image(), Shape::new(4, 4, 3));
    assert_same(&from_csv, &from_npz, "RGB as CSV with --shape and as NPZ");
}

/// Malformed image folders: each is one line naming the folder or the file.
#[test]
fn malformed_image_folders_are_named() {
    let dir = TempDir::new("badfolders");
    let data = synthetic_dataset(12, 6, 5, 5, 3);
    let set = |name: &str| {
        let root = dir.path().join(name);
        write_folders(&root, &data);
        root
    };
    let grey = |w: u32| image::GrayImage::from_raw(w, 5, vec![9; 5 * w as usize]).unwrap();
    let empty = set("empty");
    std::fs::create_dir_all(empty.join("train/3")).unwrap();
    let sizes = set("sizes");
    grey(7).save(sizes.join("train/1/wide.png")).unwrap();
    let mixed = set("mixed");
    image::RgbImage::from_raw(5, 5, vec![9; 75])
        .unwrap()
        .save(mixed.join("train/2/colour.png"))
        .unwrap();
    let stray = set("stray");
    std::fs::create_dir_all(stray.join("test/cat")).unwrap();
    grey(5).save(stray.join("test/cat/a.png")).unwrap();
    let cases: [(&Path, &[&str]); 4] = [
        (&empty, &["train/3: is an empty class folder"]),
        (&sizes, &["wide.png: is a 5x7 grey image but ", "is 5x5 grey: images of different sizes are mixed (--resize HxW"]),
        (&mixed, &["colour.png: is a 5x5 RGB image but ", "grey and colour images are mixed"]),
        (&stray, &["test/cat: is a test class the training folders do not have; expected one of 0, 1, 2"]),
    ];
    for (path, says) in cases {
        let out = dir.path().join("g.png");
        shaderfit(&["data", "show", "--data", arg(path), "--out", arg(&out)])
            .run()
            .one_line_error(says);
    }
    let out = dir.path().join("g.png");
    let run = shaderfit(&["data", "show", "--data", arg(&sizes), "--resize", "5x5"])
        .args(&["--out", arg(&out)])
        .run();
    assert!(
        run.ok().stdout.contains("5x5 grey images, 3 classes"),
        "{}",
        run.stdout
    );
}

/// Kaggle's Digit Recognizer: `train.csv` with labels, `test.csv` without. Training holds the
/// last tenth of train.csv out as the test split and says so; `predict` on test.csv writes
/// the submission file Kaggle takes: `ImageId,Label`, ids from 1, one row per test image.
#[test]
fn kaggle_layout_trains_and_predicts_a_submission() {
    let dir = TempDir::new("kaggle");
    let data = synthetic_dataset(200, 30, 8, 8, 10);
    let kaggle = dir.path().join("digit-recognizer");
    write_csv(&kaggle, &data, true);
    let test = kaggle.join("test.csv");
    let unlabeled: String = std::fs::read_to_string(&test)
        .unwrap()
        .lines()
        .map(|l| l.split_once(',').unwrap().1.to_string() + "\n")
        .collect();
    std::fs::write(&test, unlabeled).unwrap();
    let model = dir.path().join("m.safetensors");
    let run = shaderfit(&[
        "train",
        "--model",
        "linear",
        "--epochs",
        "2",
        "--data",
        arg(&kaggle),
    ])
    .args(&["--save", arg(&model)])
    .run();
    assert!(
        run.ok()
            .stderr
            .contains("(180 train, 20 test, 8x8 grey, 10 classes)")
            && run.stderr.contains(
                "the test split is the last 20 rows of train.csv: test.csv has no labels"
            ),
        "{}",
        run.stderr
    );
    let submission = dir.path().join("submission.csv");
    shaderfit(&[
        "predict",
        "--checkpoint",
        arg(&model),
        arg(&test),
        "--submission",
        arg(&submission),
        "--json",
    ])
    .run()
    .ok();
    let text = std::fs::read_to_string(&submission).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "ImageId,Label");
    assert_eq!(lines.len(), 31, "{text}");
    for (i, line) in lines[1..].iter().enumerate() {
        let (id, label) = line.split_once(',').unwrap();
        assert_eq!(id, (i + 1).to_string());
        assert!(label.parse::<u8>().unwrap() < 10, "{line}");
    }
}

/// `--class-names FILE` names the classes (and numbers image folders in its order, so
/// "10" need not sort before "2"); a bad file is one line naming its line.
#[test]
fn a_class_names_file_names_and_orders_the_classes() {
    let dir = TempDir::new("classnames");
    let data = synthetic_dataset(30, 9, 4, 4, 3);
    let root = dir.path().join("set");
    write_folders(&root, &data);
    let names = dir.path().join("names.txt");
    std::fs::write(&names, "2\n0\n1\n").unwrap();
    let options = ReadOptions {
        class_names: Some(vec!["2".into(), "0".into(), "1".into()]),
        ..ReadOptions::default()
    };
    let read = open_as(DatasetKind::Mnist, (Some(&root), None), &options).unwrap();
    assert_eq!(read.class_names, ["2", "0", "1"]);
    let relabelled = |s: &Split| Split {
        images: s.images.clone(),
        labels: s.labels.iter().map(|&l| (l + 1) % 3).collect(),
    };
    assert!(pairs(&read.train, 16) == pairs(&relabelled(&data.train), 16));
    let run = shaderfit(&[
        "data",
        "show",
        "--data",
        arg(&root),
        "--class-names",
        arg(&names),
    ])
    .args(&["--out", arg(&dir.path().join("g.png"))])
    .run();
    assert!(
        run.ok().stdout.contains("4x4 grey images, 3 classes"),
        "{}",
        run.stdout
    );
    let bad = [
        (
            "dup.txt",
            "a\nb\na\n",
            "dup.txt: line 3: 'a' is also line 1; expected distinct names",
        ),
        ("blank.txt", "a\n\nb\n", "blank.txt: line 2 is blank"),
        (
            "short.txt",
            "0\n1\n",
            "set/train/2: is a class folder that --class-names does not name; it names 0, 1",
        ),
    ];
    for (file, text, says) in bad {
        let path = dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        shaderfit(&[
            "data",
            "show",
            "--data",
            arg(&root),
            "--class-names",
            arg(&path),
        ])
        .args(&["--out", arg(&dir.path().join("g.png"))])
        .run()
        .one_line_error(&[says]);
    }
}
