//! What a downloaded archive becomes, so that the dataset reads as the formats read it:
//! EMNIST's `gzip.zip` gives one split's four IDX files (images transposed upright, letters'
//! labels from 0); CIFAR-10's binary tarball gives an NPZ of Keras's layout (`x_train`
//! `[50000, 32, 32, 3]`, channels last). Done once after the download; the archive is kept, so
//! a second `data download` checks it and prepares nothing again.

use std::io::Read;
use std::path::Path;

use super::catalogue::{Packaging, CIFAR_NPZ};
use super::dataset::{dataset_files, Split, FILE_STEMS};
use super::idx::{self, IdxImages};
use crate::error::{Error, Result};
use crate::floor::Shape;

/// Prepares the files downloaded into `dir` (`archive`: the first, the one an archive
/// packaging unpacks) as `packaging` says; nothing where they are read as they are, or where
/// the prepared files are there already.
pub fn prepare(packaging: Packaging, archive: &str, dir: &Path) -> Result<()> {
    let archive = dir.join(archive);
    match packaging {
        Packaging::Idx | Packaging::Npz(_) => Ok(()),
        Packaging::EmnistZip { .. } if dataset_files(dir).is_ok() => Ok(()),
        Packaging::EmnistZip {
            split,
            label_offset,
        } => emnist(&archive, split, label_offset, dir),
        Packaging::CifarBinary if dir.join(CIFAR_NPZ).is_file() => Ok(()),
        Packaging::CifarBinary => cifar(&archive, &dir.join(CIFAR_NPZ)),
    }
}

/// EMNIST's members of `split`, in [`FILE_STEMS`]' order.
fn emnist_members(split: &str) -> [String; 4] {
    [
        "train-images-idx3",
        "train-labels-idx1",
        "test-images-idx3",
        "test-labels-idx1",
    ]
    .map(|part| format!("gzip/emnist-{split}-{part}-ubyte.gz"))
}

fn emnist(archive: &Path, split: &str, offset: u8, dir: &Path) -> Result<()> {
    let bad = |m: String| Error::file(archive, m);
    let file = std::fs::File::open(archive).map_err(|e| bad(format!("cannot open it: {e}")))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(format!("not a zip file: {e}")))?;
    for (i, member) in emnist_members(split).iter().enumerate() {
        let mut raw = Vec::new();
        zip.by_name(member)
            .map_err(|e| bad(format!("member {member}: {e}")))?
            .read_to_end(&mut raw)
            .map_err(|e| bad(format!("member {member}: {e}")))?;
        let named = archive.join(member);
        let bytes = idx::decompress(&named, raw)?;
        let encoded = match i % 2 {
            0 => idx::encode_images(&transposed(idx::images_from(&named, &bytes)?)),
            _ => idx::encode_labels(&shifted(&named, idx::labels_from(&named, &bytes)?, offset)?),
        };
        let target = dir.join(format!("{}.gz", FILE_STEMS[i]));
        crate::output::replace(&target, &gzip(&encoded))?;
    }
    Ok(())
}

/// Each image transposed: EMNIST stores its images column by column.
fn transposed(mut images: IdxImages) -> IdxImages {
    let (rows, cols) = (images.rows, images.cols);
    let size = rows * cols;
    let mut out = vec![0u8; images.pixels.len()];
    for (src, dst) in images.pixels.chunks(size).zip(out.chunks_mut(size)) {
        for r in 0..rows {
            for c in 0..cols {
                dst[c * rows + r] = src[r * cols + c];
            }
        }
    }
    images.pixels = out.into();
    (images.rows, images.cols) = (cols, rows);
    images
}

/// Labels less `offset` (EMNIST Letters numbers a to z from 1); a label below it is an error.
fn shifted(path: &Path, labels: Vec<u8>, offset: u8) -> Result<Vec<u8>> {
    labels
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            l.checked_sub(offset).ok_or_else(|| {
                Error::file(
                    path,
                    format!("label {l} at index {i}; expected {offset} or more"),
                )
            })
        })
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

/// CIFAR-10's record: a label byte, then 32x32 red, green and blue planes, each row-major.
const CIFAR_RECORD: usize = 1 + 3 * 32 * 32;

/// The batches of CIFAR-10's binary tarball (`data_batch_1.bin` to `_5` for training,
/// `test_batch.bin`) as an NPZ of Keras's layout at `target`.
fn cifar(archive: &Path, target: &Path) -> Result<()> {
    let bad = |m: String| Error::file(archive, m);
    let file = std::fs::File::open(archive).map_err(|e| bad(format!("cannot open it: {e}")))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut batches: Vec<(String, Vec<u8>)> = Vec::new();
    let entries = tar
        .entries()
        .map_err(|e| bad(format!("not a tar.gz file: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("not a tar.gz file: {e}")))?;
        let name = entry
            .path()
            .map_err(|e| bad(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let base = name.rsplit('/').next().unwrap_or_default().to_string();
        if base.ends_with(".bin") && (base.starts_with("data_batch_") || base == "test_batch.bin") {
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| bad(format!("member {name}: {e}")))?;
            batches.push((base, bytes));
        }
    }
    batches.sort();
    let (test, train): (Vec<_>, Vec<_>) = batches.iter().partition(|(n, _)| n == "test_batch.bin");
    if train.is_empty() || test.is_empty() {
        return Err(bad(
            "holds no data_batch_*.bin or no test_batch.bin; expected CIFAR-10's binary version (cifar-10-binary.tar.gz)".into(),
        ));
    }
    let split = |batches: &[&(String, Vec<u8>)]| -> Result<Split> {
        let mut split = Split::default();
        for (name, bytes) in batches {
            cifar_records(bytes, &mut split).map_err(|e| bad(format!("member {name}: {e}")))?;
        }
        Ok(split)
    };
    let splits = [split(&train)?, split(&test)?];
    let bytes = super::formats::npz::keras_bytes(&splits, Shape::new(32, 32, 3));
    crate::output::replace(target, &bytes)
}

/// Appends a batch's records to `split`, each image turned channels-last.
fn cifar_records(bytes: &[u8], split: &mut Split) -> std::result::Result<(), String> {
    if !bytes.len().is_multiple_of(CIFAR_RECORD) {
        return Err(format!(
            "{} bytes, not a whole number of {CIFAR_RECORD}-byte records",
            bytes.len()
        ));
    }
    for (i, record) in bytes.chunks(CIFAR_RECORD).enumerate() {
        if record[0] >= 10 {
            return Err(format!("record {i}: label {}; expected 0 to 9", record[0]));
        }
        split.labels.push(record[0]);
        let planes = &record[1..];
        split
            .images
            .to_mut()
            .extend((0..1024).flat_map(|p| [planes[p], planes[1024 + p], planes[2048 + p]]));
    }
    Ok(())
}
