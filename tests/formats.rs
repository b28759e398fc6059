//! Datasets in other formats than IDX: one dataset written as IDX, as Kaggle's CSVs and as
//! Keras's `mnist.npz` (and MedMNIST's layout, deflated) reads back as the same dataset, byte
//! for byte, and trains to the same weights; `--format` forces a reader; every malformed file
//! is a one-line error naming the file and the row, column or array.

mod support;

use std::io::Write;
use std::path::Path;

use safetensors::SafeTensors;
use shaderfit::data::dataset::open_as;
use shaderfit::data::{Dataset, DatasetKind};
use support::cli::{arg, shaderfit};
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

/// One NPY array of `values` shaped `shape`, as NumPy writes it.
fn npy<T: npyz::AutoSerialize + Copy>(values: &[T], shape: &[u64]) -> Vec<u8> {
    use npyz::WriterBuilder;
    let mut out = Vec::new();
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut out)
        .begin_nd()
        .unwrap();
    writer.extend(values.iter().copied()).unwrap();
    writer.finish().unwrap();
    out
}

/// An NPZ file of `arrays` (name, NPY bytes), stored or deflated as `np.savez` and
/// `np.savez_compressed` write them.
fn write_npz(path: &Path, arrays: &[(&str, Vec<u8>)], deflated: bool) {
    use zip::write::SimpleFileOptions;
    let method = match deflated {
        true => zip::CompressionMethod::Deflated,
        false => zip::CompressionMethod::Stored,
    };
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in arrays {
        let options = SimpleFileOptions::default().compression_method(method);
        zip.start_file(format!("{name}.npy"), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// Keras's `mnist.npz` of `data` (u8 images [N, H, W], u8 labels [N]).
fn keras_arrays(data: &Dataset) -> Vec<(&'static str, Vec<u8>)> {
    let shape = |n: usize| [n as u64, data.rows as u64, data.cols as u64];
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
    open_as(DatasetKind::Mnist, (Some(path), format), None)
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

/// IDX, CSV with and without a header, Keras's NPZ stored, MedMNIST's NPZ deflated: one
/// dataset, byte for byte; and each trains a linear model to the same weights.
#[test]
fn idx_csv_and_npz_are_the_same_dataset_and_train_the_same_weights() {
    let dir = TempDir::new("formats");
    let data = synthetic_dataset(300, 100, 12, 12, 10);
    let idx = dir.path().join("idx");
    write_dataset(&idx, &data, true);
    let (csv, bare) = (dir.path().join("csv"), dir.path().join("bare"));
    write_csv(&csv, &data, true);
    write_csv(&bare, &data, false);
    let (keras, med) = (dir.path().join("mnist.npz"), dir.path().join("med.npz"));
    write_npz(&keras, &keras_arrays(&data), false);
    write_npz(&med, &medmnist_arrays(&data), true);
    let reference = read(&idx, None);
    for path in [&csv, &csv.join("train.csv"), &bare, &keras, &med] {
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
    colour[0] = ("x_train", npy(&vec![0u8; 20 * 16 * 3], &[20, 4, 4, 3]));
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
        (&colour, vec!["colour.npz: array 'x_train': is of colour images"]),
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
