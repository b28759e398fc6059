//! A dataset is a directory holding the four IDX files of MNIST's layout, each with or without
//! `.gz`. This module finds that directory, loads and cross-checks the files, and splits off
//! validation data.

use std::path::{Path, PathBuf};

use super::catalogue::Packaging;
use super::formats::ReadOptions;
use super::idx::{self, IdxError, IdxProblem};
use crate::error::{Error, Result};
use crate::floor::Shape;

/// The datasets shaderfit knows by name: each one's facts are its entry in the catalogue
/// ([`DatasetKind::entry`], [`super::catalogue`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DatasetKind {
    Mnist,
    FashionMnist,
    Kmnist,
    EmnistBalanced,
    EmnistLetters,
    Pathmnist,
    Organamnist,
    Pneumoniamnist,
    Cifar10,
}

impl serde::Serialize for DatasetKind {
    /// As `--dataset` names it.
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl DatasetKind {
    pub fn name(self) -> &'static str {
        self.entry().name
    }

    /// Its name for class `c`: the digit for MNIST, the garment for Fashion-MNIST, ...; the
    /// number past the catalogue's names.
    pub fn class_name(self, c: usize) -> String {
        self.entry()
            .classes
            .get(c)
            .map_or_else(|| c.to_string(), |n| n.to_string())
    }

    /// The kind of this name, as [`DatasetKind::name`] writes it.
    pub fn from_name(name: &str) -> Option<DatasetKind> {
        use clap::ValueEnum;
        DatasetKind::value_variants()
            .iter()
            .copied()
            .find(|k| k.name() == name)
    }

    /// How a user can get the files, for the error shown when none are found.
    fn how_to_get(self) -> String {
        let e = self.entry();
        let files: Vec<&str> = e.files.iter().map(|(f, _)| *f).collect();
        let mut how = format!(
            "run `shaderfit data download {}`, or download {} from {}",
            e.name,
            files.join(", "),
            e.mirrors[0]
        );
        if self == DatasetKind::FashionMnist {
            how += ", or install Debian's package with `apt-get install dataset-fashion-mnist`";
        }
        how + " into one of these places, or pass --data"
    }
}

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
    pub images: Vec<u8>,
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
            h.update(&split.images);
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

/// The dataset: from [`locate`]'s directory, else (for MNIST, when no directory was named
/// by `--data` or `$SHADERFIT_DATA` and none of the standard places has it) the bundled copy.
pub fn open(kind: DatasetKind, data_flag: Option<&Path>) -> Result<Dataset> {
    open_expecting(kind, data_flag, None)
}

/// As [`open`], with the class count given (`--classes`), see [`Dataset::load_expecting`].
pub fn open_expecting(
    kind: DatasetKind,
    data_flag: Option<&Path>,
    classes: Option<usize>,
) -> Result<Dataset> {
    let options = ReadOptions {
        classes,
        ..ReadOptions::default()
    };
    open_as(kind, (data_flag, None), &options)
}

/// The dataset `data_flag` (or `$SHADERFIT_DATA`) names, in `format` when given, else in the
/// format that recognises it ([`super::formats`]: a .npz file, CSV files, ...); a directory
/// of IDX files, and the standard places and the bundled copy, as [`open`] finds them.
pub fn open_as(
    kind: DatasetKind,
    source: (Option<&Path>, Option<&str>),
    options: &ReadOptions,
) -> Result<Dataset> {
    let named = options.class_names.as_ref();
    let options = &ReadOptions {
        classes: options.classes.or(named.map(Vec::len)),
        ..options.clone()
    };
    let mut data = read_as(kind, source, options)?;
    if let Some(names) = named {
        if names.len() != data.classes {
            return Err(Error::flag(
                "--class-names",
                format!(
                    "names {} classes; the data has {}",
                    names.len(),
                    data.classes
                ),
            ));
        }
        data.class_names = names.clone();
    }
    if data.class_names.is_empty() {
        data.class_names = (0..data.classes).map(|c| kind.class_name(c)).collect();
    }
    Ok(data)
}

/// [`open_as`]'s reading.
fn read_as(
    kind: DatasetKind,
    (data_flag, format): (Option<&Path>, Option<&str>),
    options: &ReadOptions,
) -> Result<Dataset> {
    let classes = options.classes;
    let env = std::env::var_os("SHADERFIT_DATA").filter(|v| !v.is_empty());
    let given = data_flag.map(Path::to_path_buf).or(env.map(PathBuf::from));
    let format = format.map(super::formats::named).transpose()?;
    if let Some(f) = format.filter(|f| f.name != super::formats::IDX.name) {
        let path = given.ok_or_else(|| {
            Error::flag(
                "--format",
                format!(
                    "{} given without --data, which names the data to read",
                    f.name
                ),
            )
        })?;
        return (f.read)(&path, options);
    }
    // A file or directory another format recognises, itself or as <dataset> inside it.
    if let (Some(path), None) = (&given, format) {
        for candidate in [path.clone(), path.join(kind.name())] {
            let found = super::formats::of(&candidate, None)?;
            if let Some(f) = found.filter(|f| f.name != super::formats::IDX.name) {
                return (f.read)(&candidate, options);
            }
        }
    }
    let named = given.is_some();
    // A set prepared from the catalogue's archive has the catalogue's classes, whether each
    // has samples or not.
    let entry = kind.entry();
    let options = &ReadOptions {
        classes: classes.or((entry.packaging != Packaging::Idx).then_some(entry.classes.len())),
        ..options.clone()
    };
    match locate(kind, data_flag) {
        Ok(dir) => match entry.prepared_file() {
            Some(file) => (super::formats::named("npz")?.read)(&dir.join(file), options),
            None => Dataset::load_expecting(&dir, options.classes),
        },
        Err(missing) => match (kind, named, Dataset::bundled()) {
            (DatasetKind::Mnist, false, Some(bundled)) => bundled,
            _ => Err(missing),
        },
    }
}

/// Where the data comes from, in order: `--data DIR`; else `$SHADERFIT_DATA`; else the
/// standard places. A given directory may be the dataset itself or a parent holding
/// `<dataset>/` (so `--data ../shared/data` works for both datasets).
pub fn locate(kind: DatasetKind, data_flag: Option<&Path>) -> Result<PathBuf> {
    let env = std::env::var_os("SHADERFIT_DATA").filter(|v| !v.is_empty());
    let (origin, roots): (&str, Vec<PathBuf>) = match (data_flag, &env) {
        (Some(dir), _) => ("--data", vec![dir.to_path_buf()]),
        (None, Some(dir)) => ("SHADERFIT_DATA", vec![PathBuf::from(dir)]),
        (None, None) => ("", standard_places(kind)),
    };
    let mut looked = Vec::new();
    for root in roots {
        let candidates = if origin.is_empty() {
            vec![root]
        } else {
            vec![root.clone(), root.join(kind.name())]
        };
        for dir in candidates {
            if let Some(file) = kind.entry().prepared_file() {
                match dir.join(file).is_file() {
                    true => return Ok(dir),
                    false => looked.push(dir.display().to_string()),
                }
                continue;
            }
            match dataset_files(&dir) {
                Ok(_) => return Ok(dir),
                // Some of the files but not all: name what is missing rather than search on.
                Err(missing) if missing.len() < FILE_STEMS.len() => {
                    return Err(Error::Dataset(format!(
                        "{}: incomplete dataset: missing {} (or the .gz of each)",
                        dir.display(),
                        missing.join(", ")
                    )))
                }
                Err(_) => looked.push(dir.display().to_string()),
            }
        }
    }
    let from = if origin.is_empty() {
        String::new()
    } else {
        format!(" (from {origin})")
    };
    let needs = match kind.entry().prepared_file() {
        Some(file) => file.to_string(),
        None => format!("{} (or the .gz of each)", FILE_STEMS.join(", ")),
    };
    Err(Error::Dataset(format!(
        "no {} dataset found{from}; looked in: {}; each place needs {needs}; to get them, {}",
        kind.name(),
        looked.join(", "),
        kind.how_to_get()
    )))
}

fn standard_places(kind: DatasetKind) -> Vec<PathBuf> {
    let mut places = vec![PathBuf::from("data").join(kind.name())];
    if let Some(cache) = cache_dir() {
        places.push(cache.join("shaderfit").join(kind.name()));
    }
    places.extend(kind.entry().system_dir.map(PathBuf::from));
    places
}

/// The user's cache directory: `$XDG_CACHE_HOME`, else `~/Library/Caches` on macOS,
/// `%LOCALAPPDATA%` on Windows, `~/.cache` elsewhere.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return Some(dir);
    }
    if cfg!(windows) {
        return var("LOCALAPPDATA");
    }
    let home = var("HOME")?;
    Some(if cfg!(target_os = "macos") {
        home.join("Library/Caches")
    } else {
        home.join(".cache")
    })
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
