//! A dataset: two splits of u8 images (channels-last) and labels, with its image shape, class
//! count and names, however it was read. Here too: reading MNIST's layout (a directory of the
//! four IDX files, each with or without `.gz`, or the bundled copy) with the files
//! cross-checked, and the validation split and epoch order. Finding a dataset is
//! [`super::open`]'s; other formats are [`super::formats`]'.

use std::path::{Path, PathBuf};

use super::idx::{self, IdxError, IdxProblem};
pub use super::pixels::Pixels;
use crate::error::{Error, Result};
use crate::floor::Shape;

/// File stems of the four files; each may also carry a `.gz` suffix.
pub const FILE_STEMS: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// One split: `images` is `[count, rows, cols, channels]` of u8 pixels (channels-last, as
/// NumPy and Keras hold colour images), `labels` `[count]`.
#[derive(Clone, Debug, Default)]
pub struct Split {
    pub images: Pixels,
    pub labels: Vec<u8>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

#[derive(Clone, Debug)]
pub struct Dataset {
    pub dir: PathBuf,
    pub rows: usize,
    pub cols: usize,
    /// 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// One more than the largest training label.
    pub classes: usize,
    /// Each class's name (`classes` of them): the folders' names of an image-folder set,
    /// else the dataset kind's ([`DatasetKind::class_name`]); empty until [`open_as`] names
    /// them.
    pub class_names: Vec<String>,
    /// What the user should know about how the data was read (an unlabeled test file's
    /// split held out of the training file), for the data line.
    pub note: Option<String>,
    pub train: Split,
    pub test: Split,
}

impl Dataset {
    /// Bytes per image: rows x cols x channels.
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols * self.channels
    }

    /// Class `c`'s name, its number where the data names none.
    pub fn class_name(&self, c: usize) -> String {
        self.class_names
            .get(c)
            .cloned()
            .unwrap_or_else(|| c.to_string())
    }

    /// One image's shape, the model's input.
    pub fn image(&self) -> Shape {
        Shape::new(self.rows, self.cols, self.channels)
    }

    /// What the data is, whatever its files are called or where they are: SHA-256 of the image
    /// shape, the class count and every image and label of both splits (16 hex digits; about
    /// 0.1 s for MNIST). A resumed run must train on data with its run's fingerprint.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for n in [self.rows, self.cols, self.classes] {
            h.update((n as u64).to_le_bytes());
        }
        // Grey sets hash as they did before colour existed, so their runs still resume.
        if self.channels != 1 {
            h.update((self.channels as u64).to_le_bytes());
        }
        for split in [&self.train, &self.test] {
            h.update((split.len() as u64).to_le_bytes());
            // Piece by piece: a mapped set's pages are dropped behind the hash.
            split.images.sweep(1 << 24, |_, piece| h.update(piece));
            h.update(&split.labels);
        }
        h.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Loads and validates the four files of `dir`, the class count inferred from the labels.
    pub fn load(dir: &Path) -> Result<Dataset> {
        Dataset::load_expecting(dir, None)
    }

    /// As [`Dataset::load`]; with `classes`, the labels must be below it and classes without
    /// samples are allowed (`--classes`).
    pub fn load_expecting(dir: &Path, expected: Option<usize>) -> Result<Dataset> {
        let paths = dataset_files(dir).map_err(|missing| {
            Error::Dataset(format!(
                "{}: not a dataset directory: missing {} (each file may also end in .gz)",
                dir.display(),
                missing.join(", ")
            ))
        })?;
        let files = [idx::read_images(&paths[0])?, idx::read_images(&paths[2])?];
        let labels = [idx::read_labels(&paths[1])?, idx::read_labels(&paths[3])?];
        Dataset::assemble(dir, &paths, files, labels, expected)
    }

    /// MNIST as compiled into the binary (`assets/mnist`, the `bundled-mnist` feature), if it
    /// was.
    pub fn bundled() -> Option<Result<Dataset>> {
        super::bundled::MNIST.map(|files| {
            let dir = Path::new("bundled MNIST");
            let paths: Vec<PathBuf> = FILE_STEMS
                .iter()
                .map(|s| dir.join(format!("{s}.gz")))
                .collect();
            let bytes = |i: usize| idx::decompress(&paths[i], files[i].to_vec());
            let images = [
                idx::images_from(&paths[0], &bytes(0)?)?,
                idx::images_from(&paths[2], &bytes(2)?)?,
            ];
            let labels = [
                idx::labels_from(&paths[1], &bytes(1)?)?,
                idx::labels_from(&paths[3], &bytes(3)?)?,
            ];
            Dataset::assemble(dir, &paths, images, labels, None)
        })
    }

    /// Cross-checks the four files (`paths` in [`FILE_STEMS`] order, for errors) and makes
    /// the dataset.
    fn assemble(
        dir: &Path,
        paths: &[PathBuf],
        [train_images, test_images]: [idx::IdxImages; 2],
        [train_labels, test_labels]: [Vec<u8>; 2],
        expected: Option<usize>,
    ) -> Result<Dataset> {
        for (images, labels, labels_path) in [
            (&train_images, &train_labels, &paths[1]),
            (&test_images, &test_labels, &paths[3]),
        ] {
            if images.count != labels.len() {
                return Err(IdxError {
                    path: labels_path.clone(),
                    problem: IdxProblem::Mismatch(format!(
                        "holds {} labels but its image file holds {} images",
                        labels.len(),
                        images.count
                    )),
                }
                .into());
            }
        }
        if (test_images.rows, test_images.cols) != (train_images.rows, train_images.cols) {
            return Err(IdxError {
                path: paths[2].clone(),
                problem: IdxProblem::Mismatch(format!(
                    "images are {}x{} but the training images are {}x{}",
                    test_images.rows, test_images.cols, train_images.rows, train_images.cols
                )),
            }
            .into());
        }
        let train = Split {
            images: train_images.pixels,
            labels: train_labels,
        };
        let test = Split {
            images: test_images.pixels,
            labels: test_labels,
        };
        let image = Shape::new(train_images.rows, train_images.cols, 1);
        Dataset::from_splits(dir, image, [train, test], [&paths[1], &paths[3]], expected)
    }

    /// The dataset of two splits of `image`-shaped images that a reader has read from `dir`
    /// (`labels_from`: where each split's labels came from, named in errors), its class count
    /// `expected`, or inferred from the training labels; every label is checked against it.
    pub fn from_splits(
        dir: &Path,
        image: Shape,
        [train, test]: [Split; 2],
        labels_from: [&Path; 2],
        expected: Option<usize>,
    ) -> Result<Dataset> {
        let classes = match expected {
            Some(n) => {
                idx::check_labels(labels_from[0], &train.labels, n)?;
                n
            }
            None => inferred_classes(labels_from[0], &train.labels)?,
        };
        if classes < 2 {
            return Err(IdxError {
                path: labels_from[0].to_path_buf(),
                problem: IdxProblem::Mismatch(
                    "every label is 0; a classifier needs at least 2 classes".into(),
                ),
            }
            .into());
        }
        idx::check_labels(labels_from[1], &test.labels, classes)?;
        Ok(Dataset {
            dir: dir.to_path_buf(),
            rows: image.h,
            cols: image.w,
            channels: image.c,
            classes,
            class_names: Vec::new(),
            note: None,
            train,
            test,
        })
    }
}

/// One more than the largest label, when every class below it has training samples: a gap
/// (labels 0-3 and 7, say) is more likely a corrupt file than a dataset, so it is reported.
fn inferred_classes(path: &Path, labels: &[u8]) -> Result<usize> {
    let classes = *labels.iter().max().expect("labels are non-empty") as usize + 1;
    let mut counts = vec![0usize; classes];
    for &l in labels {
        counts[l as usize] += 1;
    }
    let empty: Vec<String> = (0..classes)
        .filter(|&c| counts[c] == 0)
        .map(|c| c.to_string())
        .collect();
    if !empty.is_empty() {
        return Err(IdxError {
            path: path.to_path_buf(),
            problem: IdxProblem::Mismatch(format!(
                "labels go up to {} but class(es) {} have no samples; if that is right, say how many classes there are (train and compare take --classes N)",
                classes - 1,
                empty.join(", ")
            )),
        }
        .into());
    }
    Ok(classes)
}

/// The four file paths of `dir` (preferring the uncompressed name when both exist), or the
/// names of the missing ones.
pub fn dataset_files(dir: &Path) -> std::result::Result<Vec<PathBuf>, Vec<String>> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for stem in FILE_STEMS {
        let plain = dir.join(stem);
        let gz = dir.join(format!("{stem}.gz"));
        if plain.is_file() {
            found.push(plain);
        } else if gz.is_file() {
            found.push(gz);
        } else {
            missing.push(stem.to_string());
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(missing)
    }
}

/// Index lists for training and validation: Keras's `validation_split` takes the last
/// `fraction` of the training samples, before any shuffling.
pub fn split_indices(n: usize, fraction: f64) -> (Vec<u32>, Vec<u32>) {
    let n_val = (n as f64 * fraction).floor() as usize;
    let n_train = n - n_val;
    (
        (0..n_train as u32).collect(),
        (n_train as u32..n as u32).collect(),
    )
}

/// Stream id of epoch shuffling within a seed (initialisation uses another).
pub const SHUFFLE_STREAM: u64 = 2;

/// The order in which epoch `epoch` (from 0) visits `indices`: a seeded shuffle, the same
/// for the GPU trainer and the CPU reference.
pub fn epoch_order(indices: &[u32], seed: u64, epoch: usize) -> Vec<u32> {
    let mut order = indices.to_vec();
    crate::floor::rng::SplitMix64::for_stream(seed, SHUFFLE_STREAM + epoch as u64 * 0x1_0000)
        .shuffle(&mut order);
    order
}
