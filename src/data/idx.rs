//! The IDX format of MNIST and Fashion-MNIST: a big-endian header (magic, then one u32 per
//! dimension) followed by unsigned bytes. Files may be gzip-compressed; compression is detected
//! from the content (gzip's 0x1f 0x8b signature), not the name.
//!
//! Every way a file can be wrong has its own [`IdxProblem`], so callers and tests can tell
//! them apart; each renders as one line naming the file.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use byteorder::{BigEndian, ByteOrder};
use flate2::read::MultiGzDecoder;

use super::pixels::Pixels;

/// Magic number of an image file: unsigned bytes, three dimensions (count, rows, columns).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of a label file: unsigned bytes, one dimension (count).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

#[derive(Debug)]
pub struct IdxError {
    pub path: PathBuf,
    pub problem: IdxProblem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdxProblem {
    /// The file could not be opened or read.
    Unreadable(String),
    /// Zero bytes.
    Empty,
    /// The gzip stream is corrupt or cut short.
    BadGzip(String),
    /// Fewer bytes than the header itself needs.
    ShortHeader { needed: usize, found: usize },
    /// The magic number is not the one this kind of file needs.
    BadMagic { found: u32, expected: u32 },
    /// The header promises more (or fewer) data bytes than follow it.
    SizeMismatch {
        header: String,
        expected: u64,
        found: u64,
    },
    /// A dimension is zero where images need at least one pixel.
    ZeroDimension { field: &'static str },
    /// A label is not below the class count.
    LabelOutOfRange {
        index: usize,
        label: u8,
        classes: usize,
    },
    /// Image and label files (or train and test files) disagree.
    Mismatch(String),
}

impl fmt::Display for IdxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

impl fmt::Display for IdxProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdxProblem::Unreadable(e) => write!(f, "cannot read file: {e}"),
            IdxProblem::Empty => write!(f, "file is empty; expected an IDX header"),
            IdxProblem::BadGzip(e) => write!(f, "corrupt gzip data: {e}"),
            IdxProblem::ShortHeader { needed, found } => write!(
                f,
                "truncated header: found {found} bytes, an IDX header of this kind needs {needed}"
            ),
            IdxProblem::BadMagic { found, expected } => write!(
                f,
                "wrong magic number 0x{found:08x}; expected 0x{expected:08x} ({})",
                if *expected == IMAGES_MAGIC {
                    "an IDX image file"
                } else {
                    "an IDX label file"
                }
            ),
            IdxProblem::SizeMismatch {
                header,
                expected,
                found,
            } => write!(
                f,
                "header says {header}, which needs {expected} data bytes, but {found} follow it{}",
                if found < expected {
                    " (file truncated?)"
                } else {
                    ""
                }
            ),
            IdxProblem::ZeroDimension { field } => {
                write!(f, "header field '{field}' is 0; expected at least 1")
            }
            IdxProblem::LabelOutOfRange {
                index,
                label,
                classes,
            } => write!(
                f,
                "label {label} at index {index} is not below the class count {classes}"
            ),
            IdxProblem::Mismatch(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for IdxError {}

impl From<IdxError> for crate::error::Error {
    fn from(e: IdxError) -> Self {
        crate::error::Error::Data(Box::new(e))
    }
}

/// Images of one IDX file: `pixels` is `[count, rows, cols]` row-major, one byte per pixel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    /// Memory-mapped from an uncompressed file, else in memory.
    pub pixels: Pixels,
}

impl IdxImages {
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }
}

fn err(path: &Path, problem: IdxProblem) -> IdxError {
    IdxError {
        path: path.to_path_buf(),
        problem,
    }
}

/// The file's bytes, decompressed if they are gzip.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, IdxError> {
    if let Err(e) = crate::input::check_regular(path) {
        let why = e.to_string();
        let why = why
            .split_once(": ")
            .map_or(why.as_str(), |w| w.1)
            .to_string();
        return Err(err(path, IdxProblem::Unreadable(why)));
    }
    let raw = std::fs::read(path).map_err(|e| err(path, IdxProblem::Unreadable(e.to_string())))?;
    decompress(path, raw)
}

/// `raw` (the contents of `path`), decompressed if it is gzip.
pub fn decompress(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>, IdxError> {
    if raw.is_empty() {
        return Err(err(path, IdxProblem::Empty));
    }
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 5);
        MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| err(path, IdxProblem::BadGzip(e.to_string())))?;
        if out.is_empty() {
            return Err(err(path, IdxProblem::Empty));
        }
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Splits `bytes` into the header dimensions and the data, checking magic and sizes.
fn parse<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
    dims: usize,
) -> Result<(Vec<u32>, &'a [u8]), IdxError> {
    let header_len = 4 + 4 * dims;
    if bytes.len() < 4 {
        return Err(err(
            path,
            IdxProblem::ShortHeader {
                needed: header_len,
                found: bytes.len(),
            },
        ));
    }
    let found = BigEndian::read_u32(&bytes[..4]);
    if found != magic {
        return Err(err(
            path,
            IdxProblem::BadMagic {
                found,
                expected: magic,
            },
        ));
    }
    if bytes.len() < header_len {
        return Err(err(
            path,
            IdxProblem::ShortHeader {
                needed: header_len,
                found: bytes.len(),
            },
        ));
    }
    let shape: Vec<u32> = (0..dims)
        .map(|d| BigEndian::read_u32(&bytes[4 + 4 * d..8 + 4 * d]))
        .collect();
    // Checked: a crafted header (2^31 x 2^31 x 2^31) must not wrap around to the data's size.
    let expected = shape
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
        .unwrap_or(u64::MAX);
    let data = &bytes[header_len..];
    if data.len() as u64 != expected {
        let header = match dims {
            1 => format!("{} labels", shape[0]),
            _ => format!("{} images of {}x{}", shape[0], shape[1], shape[2]),
        };
        return Err(err(
            path,
            IdxProblem::SizeMismatch {
                header,
                expected,
                found: data.len() as u64,
            },
        ));
    }
    Ok((shape, data))
}

/// Reads an image file (magic 0x00000803): an uncompressed one is memory-mapped, not read
/// (only its header is touched here).
pub fn read_images(path: &Path) -> Result<IdxImages, IdxError> {
    let Some(map) = map_plain(path) else {
        return images_from(path, &read_bytes(path)?);
    };
    let (shape, data) = parse(path, &map, IMAGES_MAGIC, 3)?;
    let start = map.len() - data.len();
    let mut images = image_shape(path, &shape)?;
    images.pixels = Pixels::mapped(map.clone(), start..map.len());
    Ok(images)
}

/// `path` memory-mapped, when it is a regular file that is not gzip.
fn map_plain(path: &Path) -> Option<Arc<memmap2::Mmap>> {
    crate::input::check_regular(path).ok()?;
    let map = super::pixels::map_file(path)?;
    (!map.starts_with(&[0x1f, 0x8b])).then_some(map)
}

/// An image file's decompressed `bytes`; `path` names it in errors.
pub fn images_from(path: &Path, bytes: &[u8]) -> Result<IdxImages, IdxError> {
    let (shape, data) = parse(path, bytes, IMAGES_MAGIC, 3)?;
    let mut images = image_shape(path, &shape)?;
    images.pixels = data.to_vec().into();
    Ok(images)
}

/// The images of an image file's header `shape` (no pixels yet), refusing a zero dimension.
fn image_shape(path: &Path, shape: &[u32]) -> Result<IdxImages, IdxError> {
    for (value, field) in shape.iter().zip(["count", "rows", "columns"]) {
        if *value == 0 {
            return Err(err(path, IdxProblem::ZeroDimension { field }));
        }
    }
    Ok(IdxImages {
        count: shape[0] as usize,
        rows: shape[1] as usize,
        cols: shape[2] as usize,
        pixels: Pixels::default(),
    })
}

/// Reads a label file (magic 0x00000801).
pub fn read_labels(path: &Path) -> Result<Vec<u8>, IdxError> {
    labels_from(path, &read_bytes(path)?)
}

/// A label file's decompressed `bytes`; `path` names it in errors.
pub fn labels_from(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, IdxError> {
    let (shape, data) = parse(path, bytes, LABELS_MAGIC, 1)?;
    if shape[0] == 0 {
        return Err(err(path, IdxProblem::ZeroDimension { field: "count" }));
    }
    Ok(data.to_vec())
}

/// Checks that every label is below `classes`.
pub fn check_labels(path: &Path, labels: &[u8], classes: usize) -> Result<(), IdxError> {
    match labels.iter().position(|&l| l as usize >= classes) {
        Some(index) => Err(err(
            path,
            IdxProblem::LabelOutOfRange {
                index,
                label: labels[index],
                classes,
            },
        )),
        None => Ok(()),
    }
}

/// Serialises images in IDX form (uncompressed). Used by tests and tools that write fixtures.
pub fn encode_images(images: &IdxImages) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + images.pixels.len());
    for v in [
        IMAGES_MAGIC,
        images.count as u32,
        images.rows as u32,
        images.cols as u32,
    ] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&images.pixels);
    out
}

/// Serialises labels in IDX form (uncompressed).
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}
