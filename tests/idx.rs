//! IDX reading and dataset discovery: valid files load, and every corrupt file gives its own
//! error naming the file and the problem.

mod support;

use std::io::Write;

use shaderfit::data::dataset::split_indices;
use shaderfit::data::idx::{self, IdxProblem, IMAGES_MAGIC, LABELS_MAGIC};
use shaderfit::data::open::locate;
use shaderfit::data::{Dataset, DatasetKind};
use shaderfit::Error;
use support::{synthetic_dataset, write_dataset, TempDir};

fn problem(result: Result<Dataset, Error>) -> (String, IdxProblem) {
    match result {
        Err(Error::Data(e)) => match e.downcast_ref::<idx::IdxError>() {
            Some(e) => (e.to_string(), e.problem.clone()),
            None => panic!("expected an IDX error, got: {e}"),
        },
        Err(other) => panic!("expected an IDX error, got: {other}"),
        Ok(_) => panic!("expected an error, the dataset loaded"),
    }
}

/// A valid raw dataset directory to corrupt one file of.
fn dataset_dir(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    write_dataset(dir.path(), &synthetic_dataset(30, 10, 5, 4, 3), false);
    dir
}

/// Uncompressed files are memory-mapped (a set larger than memory costs no copy), gzip ones
/// read into memory; both give the same bytes, and the same fingerprint.
#[test]
fn raw_and_gzip_datasets_load_the_same() {
    let data = synthetic_dataset(30, 10, 5, 4, 3);
    let raw = TempDir::new("raw");
    let gz = TempDir::new("gz");
    write_dataset(raw.path(), &data, false);
    write_dataset(gz.path(), &data, true);
    for dir in [raw.path(), gz.path()] {
        let loaded = Dataset::load(dir).unwrap();
        assert_eq!((loaded.rows, loaded.cols), (5, 4));
        assert_eq!(loaded.classes, 3);
        assert_eq!(loaded.train.images, data.train.images);
        assert_eq!(loaded.train.labels, data.train.labels);
        assert_eq!(loaded.test.labels, data.test.labels);
        assert_eq!(loaded.train.images.is_mapped(), dir == raw.path());
        assert_eq!(loaded.fingerprint(), data.fingerprint());
    }
}

#[test]
fn wrong_magic() {
    let dir = dataset_dir("magic");
    let path = dir.path().join("train-images-idx3-ubyte");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[3] = 0x01; // a label file's magic in an image file
    std::fs::write(&path, bytes).unwrap();
    let (msg, p) = problem(Dataset::load(dir.path()));
    assert_eq!(
        p,
        IdxProblem::BadMagic {
            found: LABELS_MAGIC,
            expected: IMAGES_MAGIC
        }
    );
    assert!(
        msg.contains("train-images-idx3-ubyte") && msg.contains("magic"),
        "{msg}"
    );
}

#[test]
fn truncated_data() {
    let dir = dataset_dir("trunc");
    let path = dir.path().join("t10k-images-idx3-ubyte");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 7]).unwrap();
    let (msg, p) = problem(Dataset::load(dir.path()));
    assert!(
        matches!(
            p,
            IdxProblem::SizeMismatch {
                expected: 200,
                found: 193,
                ..
            }
        ),
        "{p:?}"
    );
    assert!(
        msg.contains("t10k-images-idx3-ubyte") && msg.contains("truncated"),
        "{msg}"
    );
}

#[test]
fn truncated_header() {
    let dir = dataset_dir("header");
    let path = dir.path().join("train-images-idx3-ubyte");
    std::fs::write(&path, [0, 0, 8, 3, 0, 0]).unwrap();
    let (_, p) = problem(Dataset::load(dir.path()));
    assert_eq!(
        p,
        IdxProblem::ShortHeader {
            needed: 16,
            found: 6
        }
    );
}

#[test]
fn count_mismatch_between_images_and_labels() {
    let dir = dataset_dir("count");
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        idx::encode_labels(&[0, 1, 2, 0, 1]),
    )
    .unwrap();
    let (msg, p) = problem(Dataset::load(dir.path()));
    assert!(matches!(p, IdxProblem::Mismatch(_)), "{p:?}");
    assert!(
        msg.contains("train-labels-idx1-ubyte")
            && msg.contains("5 labels")
            && msg.contains("30 images"),
        "{msg}"
    );
}

#[test]
fn broken_gzip() {
    let dir = dataset_dir("gzip");
    let path = dir.path().join("train-labels-idx1-ubyte");
    let raw = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&raw).unwrap();
    let gz = enc.finish().unwrap();
    let gz_path = dir.path().join("train-labels-idx1-ubyte.gz");
    std::fs::write(&gz_path, &gz[..gz.len() / 2]).unwrap();
    let (msg, p) = problem(Dataset::load(dir.path()));
    assert!(matches!(p, IdxProblem::BadGzip(_)), "{p:?}");
    assert!(
        msg.contains("train-labels-idx1-ubyte.gz") && msg.contains("gzip"),
        "{msg}"
    );
}

#[test]
fn label_out_of_range() {
    let dir = dataset_dir("label");
    // Training labels define 3 classes; a test label of 7 is not below that.
    let mut labels = vec![0u8; 10];
    labels[4] = 7;
    std::fs::write(
        dir.path().join("t10k-labels-idx1-ubyte"),
        idx::encode_labels(&labels),
    )
    .unwrap();
    let (msg, p) = problem(Dataset::load(dir.path()));
    assert_eq!(
        p,
        IdxProblem::LabelOutOfRange {
            index: 4,
            label: 7,
            classes: 3
        }
    );
    assert!(
        msg.contains("t10k-labels-idx1-ubyte") && msg.contains("label 7 at index 4"),
        "{msg}"
    );
}

#[test]
fn empty_file() {
    let dir = dataset_dir("empty");
    std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), []).unwrap();
    let (msg, p) = problem(Dataset::load(dir.path()));
    assert_eq!(p, IdxProblem::Empty);
    assert!(
        msg.contains("t10k-labels-idx1-ubyte") && msg.contains("empty"),
        "{msg}"
    );
}

#[test]
fn zero_sized_images() {
    let dir = dataset_dir("zero");
    let mut header = Vec::new();
    for v in [IMAGES_MAGIC, 30, 0, 4] {
        header.extend_from_slice(&v.to_be_bytes());
    }
    std::fs::write(dir.path().join("train-images-idx3-ubyte"), header).unwrap();
    let (_, p) = problem(Dataset::load(dir.path()));
    assert_eq!(p, IdxProblem::ZeroDimension { field: "rows" });
}

#[test]
fn test_images_of_another_size() {
    let dir = dataset_dir("size");
    let other = synthetic_dataset(30, 10, 6, 4, 3);
    let bytes = idx::encode_images(&idx::IdxImages {
        count: 10,
        rows: 6,
        cols: 4,
        pixels: other.test.images,
    });
    std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), bytes).unwrap();
    let (msg, _) = problem(Dataset::load(dir.path()));
    assert!(msg.contains("6x4") && msg.contains("5x4"), "{msg}");
}

#[test]
fn locate_accepts_the_dataset_or_its_parent() {
    let root = TempDir::new("locate");
    let dir = root.path().join("fashion-mnist");
    write_dataset(&dir, &synthetic_dataset(30, 10, 5, 4, 3), true);
    assert_eq!(locate(DatasetKind::FashionMnist, Some(&dir)).unwrap(), dir);
    assert_eq!(
        locate(DatasetKind::FashionMnist, Some(root.path())).unwrap(),
        dir
    );
}

#[test]
fn locate_error_lists_where_it_looked_and_how_to_get_the_files() {
    let root = TempDir::new("nowhere");
    let msg = locate(DatasetKind::Mnist, Some(root.path()))
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&root.path().display().to_string()), "{msg}");
    assert!(
        msg.contains(&root.path().join("mnist").display().to_string()),
        "{msg}"
    );
    assert!(
        msg.contains("--data") && msg.contains("train-images-idx3-ubyte"),
        "{msg}"
    );
}

#[test]
fn missing_file_is_named() {
    let dir = dataset_dir("missing");
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();
    let msg = Dataset::load(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("missing t10k-labels-idx1-ubyte"), "{msg}");
}

#[test]
fn validation_split_takes_the_last_fraction() {
    let (train, val) = split_indices(10, 0.3);
    assert_eq!(train, vec![0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(val, vec![7, 8, 9]);
    let (train, val) = split_indices(10, 0.0);
    assert_eq!(train.len(), 10);
    assert!(val.is_empty());
}

/// A header claiming 2^31 images of 2^31 x 2^31 pixels, with no data: the size check must
/// not wrap around (2^93 mod 2^64 is 0, the data's length) and let it train.
#[test]
fn a_header_whose_size_overflows_is_refused() {
    let dir = dataset_dir("overflow");
    let path = dir.path().join("t10k-images-idx3-ubyte");
    let mut header = IMAGES_MAGIC.to_be_bytes().to_vec();
    for _ in 0..3 {
        header.extend_from_slice(&(1u32 << 31).to_be_bytes());
    }
    std::fs::write(&path, header).unwrap();
    let (msg, p) = problem(Dataset::load(dir.path()));
    assert!(
        matches!(p, IdxProblem::SizeMismatch { found: 0, .. }),
        "{p:?}"
    );
    assert!(msg.contains("t10k-images-idx3-ubyte"), "{msg}");
}

/// Training labels 0, 1 and 7 infer 8 classes of which 5 have no samples: more likely a
/// corrupt file than a dataset, so it is reported, naming the file and the empty classes;
/// with the class count given, the same labels load.
#[test]
fn classes_without_samples_are_reported_unless_given() {
    let dir = dataset_dir("gap");
    let labels: Vec<u8> = (0..30).map(|i| [0, 1, 7][i % 3]).collect();
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        idx::encode_labels(&labels),
    )
    .unwrap();
    let (msg, _) = problem(Dataset::load(dir.path()));
    assert!(
        msg.contains("train-labels-idx1-ubyte")
            && msg.contains("2, 3, 4, 5, 6 have no samples")
            && msg.contains("--classes"),
        "{msg}"
    );
    let data = Dataset::load_expecting(dir.path(), Some(8)).unwrap();
    assert_eq!(data.classes, 8);
    let (msg, _) = problem(Dataset::load_expecting(dir.path(), Some(5)));
    assert!(msg.contains("label 7"), "{msg}");
}
