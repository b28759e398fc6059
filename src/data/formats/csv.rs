//! CSV files of images, one per row, as Kaggle's MNIST-family competitions ship them: a label
//! column (found by the header's `label`, else the first column) and one column per pixel
//! value, 0 to 255, row-major and channels-last (`--shape 32x32x3`; square grey by default); a header row or none. A dataset is two files: a directory
//! holding one `*train*.csv` and one `*test*.csv` (Kaggle's layout), or the training file
//! itself, its test file named alike with `test` for `train`. Read with the `csv` crate.

use std::path::{Path, PathBuf};

use super::{DataFormat, ReadOptions};
use crate::data::dataset::{Dataset, Split};
use crate::error::{Error, Result};

pub const FORMAT: DataFormat = DataFormat {
    name: "csv",
    layout: "CSV files of rows label,pixel,pixel,... (Kaggle's): a directory holding a *train*.csv and a *test*.csv, or the training .csv itself",
    recognise: |path| pair(path).is_ok(),
    read,
};

/// The training and test files of `path`.
fn pair(path: &Path) -> std::result::Result<[PathBuf; 2], String> {
    if path.is_file() && super::extension(path).as_deref() == Some("csv") {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let test = name.replace("train", "test").replace("TRAIN", "TEST");
        if test == name {
            return Err(format!(
                "{name} names no training split; expected the training file (train.csv), whose test file is named alike (test.csv)"
            ));
        }
        let test = path.with_file_name(test);
        return match test.is_file() {
            true => Ok([path.to_path_buf(), test]),
            false => Err(format!("its test split {} is missing", test.display())),
        };
    }
    let csvs: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && super::extension(p).as_deref() == Some("csv"))
        .collect();
    let named = |part: &str| -> Vec<&PathBuf> {
        let has = |p: &&PathBuf| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_lowercase()
                .contains(part)
        };
        csvs.iter().filter(has).collect()
    };
    match (named("train").as_slice(), named("test").as_slice()) {
        ([train], [test]) => Ok([train.to_path_buf(), test.to_path_buf()]),
        _ => Err("expected one *train*.csv and one *test*.csv".into()),
    }
}

fn read(path: &Path, options: &ReadOptions) -> Result<Dataset> {
    let [train_path, test_path] = pair(path).map_err(|e| Error::file(path, e))?;
    let mut train = read_file(&train_path)?;
    if !train.labeled {
        return Err(Error::file(
            &train_path,
            "its header has no 'label' column; expected label,pixel,pixel,... (the label column named 'label', or first without a header)",
        ));
    }
    let mut test = read_file(&test_path)?;
    let mut note = None;
    if !test.labeled {
        // Kaggle's test.csv: the test split is held out of the training file instead.
        test.split = hold_out(&mut train.split, train.pixels);
        note = Some(format!(
            "the test split is the last {} rows of {}: {} has no labels (`shaderfit predict --checkpoint FILE {} --submission submission.csv` predicts it)",
            test.split.len(),
            name_of(&train_path),
            name_of(&test_path),
            test_path.display()
        ));
        test.pixels = train.pixels;
    }
    let image = super::image_of(train.pixels, options.shape, "its rows hold")
        .map_err(|e| Error::file(&train_path, e))?;
    if test.pixels != train.pixels {
        return Err(Error::file(
            &test_path,
            format!(
                "its rows hold {} pixels; the training file's hold {}",
                test.pixels, train.pixels
            ),
        ));
    }
    let dir = match path.is_dir() {
        true => path.to_path_buf(),
        false => train_path.clone(),
    };
    let splits = [train.split, test.split];
    let labels_from = [&train_path, &test_path];
    let mut data = Dataset::from_splits(
        &dir,
        image,
        splits,
        labels_from.map(|p| p.as_path()),
        options.classes,
    )?;
    data.note = note;
    Ok(data)
}

/// The last tenth of `train` (at least one image; Keras's `validation_split=0.1` rule),
/// taken off it.
fn hold_out(train: &mut Split, pixels: usize) -> Split {
    let held = (train.len() / 10).max(1).min(train.len() - 1);
    let keep = train.len() - held;
    Split {
        images: train.images.to_mut().split_off(keep * pixels).into(),
        labels: train.labels.split_off(keep),
    }
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// One file's images and labels (none when its header has no `label` column: Kaggle's
/// `test.csv`), and its pixel values per image.
struct Read {
    split: Split,
    pixels: usize,
    labeled: bool,
    header: bool,
}

fn read_file(path: &Path) -> Result<Read> {
    let text = crate::input::read(path)?;
    let bad = |m: String| Error::file(path, m);
    // Flexible: a ragged row is this reader's to name, with the count it expected.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_slice());
    let mut records = reader.records();
    let first = match records.next() {
        Some(r) => r.map_err(|e| bad(e.to_string()))?,
        None => return Err(bad("is empty; expected rows label,pixel,pixel,...".into())),
    };
    // A header is a first row that is not all numbers; without one, the label comes first.
    let header = first.iter().any(|f| f.trim().parse::<u64>().is_err());
    let label = match header {
        true => first
            .iter()
            .position(|f| f.trim().eq_ignore_ascii_case("label")),
        false => Some(0),
    };
    let columns = first.len();
    let mut split = Split::default();
    let rows = (!header).then_some(Ok(first)).into_iter().chain(records);
    for (i, record) in rows.enumerate() {
        let row = i + 1 + header as usize;
        let record = record.map_err(|e| bad(format!("row {row}: {e}")))?;
        add_row(&record, (label, columns), &mut split)
            .map_err(|e| bad(format!("row {row}: {e}")))?;
    }
    if split.images.is_empty() {
        return Err(bad(
            "holds a header and no rows; expected one row per image".into(),
        ));
    }
    Ok(Read {
        split,
        pixels: columns - label.is_some() as usize,
        labeled: label.is_some(),
        header,
    })
}

/// The images of a CSV file of `values` pixel values per image, for `predict`: rows of
/// pixels, after a header or not, the label column left out where there is one (a header's
/// `label`, or a first column more than the image holds).
pub fn read_images(path: &Path, values: usize) -> Result<Vec<u8>> {
    let mut read = read_file(path)?;
    let mut images = std::mem::take(read.split.images.to_mut());
    match (read.labeled, read.pixels) {
        (_, n) if n == values => {}
        // Headerless rows of pixels only: the first column was taken for a label.
        (true, n) if n + 1 == values && !read.header => {
            images = interleave(&read.split.labels, &images, n);
        }
        (_, n) => {
            return Err(Error::file(
                path,
                format!("its rows hold {n} pixel values; the model takes {values}"),
            ))
        }
    }
    Ok(images)
}

/// Rows of `first` then `rest` (`n` values each), rejoined.
fn interleave(first: &[u8], rest: &[u8], n: usize) -> Vec<u8> {
    first
        .iter()
        .zip(rest.chunks(n))
        .flat_map(|(f, r)| std::iter::once(*f).chain(r.iter().copied()))
        .collect()
}

/// One row: its label (column `label`, if any) and its pixels (every other column, in order).
fn add_row(
    record: &csv::StringRecord,
    (label, columns): (Option<usize>, usize),
    split: &mut Split,
) -> std::result::Result<(), String> {
    if record.len() != columns {
        return Err(format!(
            "{} columns; expected {columns}, as the first row has",
            record.len()
        ));
    }
    for (c, field) in record.iter().enumerate() {
        let value: u64 = field
            .trim()
            .parse()
            .map_err(|_| format!("column {}: '{field}' is not a whole number", c + 1))?;
        let is_label = label == Some(c);
        let Ok(byte) = u8::try_from(value) else {
            let what = match is_label {
                true => "a class 0 to 255",
                false => "a pixel value 0 to 255",
            };
            return Err(format!("column {}: {value}; expected {what}", c + 1));
        };
        match is_label {
            true => split.labels.push(byte),
            false => split.images.to_mut().push(byte),
        }
    }
    Ok(())
}
