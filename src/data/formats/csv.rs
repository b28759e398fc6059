//! CSV files of images, one per row, as Kaggle's MNIST-family competitions ship them: a label
//! column (found by the header's `label`, else the first column) and one column per grey
//! pixel, 0 to 255, row-major; a header row or none. A dataset is two files: a directory
//! holding one `*train*.csv` and one `*test*.csv` (Kaggle's layout), or the training file
//! itself, its test file named alike with `test` for `train`. Read with the `csv` crate.

use std::path::{Path, PathBuf};

use super::DataFormat;
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

fn read(path: &Path, expected: Option<usize>) -> Result<Dataset> {
    let [train_path, test_path] = pair(path).map_err(|e| Error::file(path, e))?;
    let train = read_file(&train_path)?;
    let test = read_file(&test_path)?;
    let side = super::square_side(train.pixels, "its rows hold")
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
    Dataset::from_splits(
        &dir,
        (side, side),
        splits,
        [&train_path, &test_path],
        expected,
    )
}

/// One file's images and labels, and its pixels per image.
struct Read {
    split: Split,
    pixels: usize,
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
    // A header is a first row that is not all numbers.
    let header = first.iter().any(|f| f.trim().parse::<u64>().is_err());
    let label = match header {
        true => first
            .iter()
            .position(|f| f.trim().eq_ignore_ascii_case("label"))
            .ok_or_else(|| {
                bad("its header has no 'label' column; a test split without labels is not read yet, expected label,pixel,pixel,...".into())
            })?,
        false => 0,
    };
    let columns = first.len();
    let mut split = Split {
        images: Vec::new(),
        labels: Vec::new(),
    };
    let rows = (!header).then_some(Ok(first)).into_iter().chain(records);
    for (i, record) in rows.enumerate() {
        let row = i + 1 + header as usize;
        let record = record.map_err(|e| bad(format!("row {row}: {e}")))?;
        add_row(&record, (label, columns), &mut split)
            .map_err(|e| bad(format!("row {row}: {e}")))?;
    }
    if split.is_empty() {
        return Err(bad(
            "holds a header and no rows; expected one row per image".into(),
        ));
    }
    Ok(Read {
        split,
        pixels: columns - 1,
    })
}

/// One row: its label (column `label`) and its pixels (every other column, in order).
fn add_row(
    record: &csv::StringRecord,
    (label, columns): (usize, usize),
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
        let Ok(byte) = u8::try_from(value) else {
            let what = match c == label {
                true => "a class 0 to 255",
                false => "a pixel value 0 to 255",
            };
            return Err(format!("column {}: {value}; expected {what}", c + 1));
        };
        match c == label {
            true => split.labels.push(byte),
            false => split.images.push(byte),
        }
    }
    Ok(())
}
