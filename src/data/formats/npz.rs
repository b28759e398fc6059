//! NPZ files, as NumPy writes them (`np.savez`, stored or deflated): Keras's `mnist.npz`
//! (`x_train`, `y_train`, `x_test`, `y_test`) and MedMNIST's (`train_images`, `train_labels`
//! of shape `[N, 1]`, `test_images`, `test_labels`), and KMNIST's four files of one array
//! each (`kmnist-train-imgs.npz`, ...: `arr_0`). Images `uint8` of shape `[N, H, W]`
//! (grey) or `[N, H, W, 3]` (RGB, channels-last as NumPy holds them), labels any integer
//! type, `[N]` or `[N, 1]`. The archive is read with the `zip` crate and
//! each array with `npyz`, NumPy's format as a library reads it.

use std::io::Read;
use std::path::Path;

use super::{DataFormat, ReadOptions};
use crate::data::dataset::{Dataset, Split};
use crate::error::{Error, Result};
use crate::floor::Shape;

pub const FORMAT: DataFormat = DataFormat {
    name: "npz",
    layout: "a .npz file of Keras's mnist.npz (x_train, y_train, x_test, y_test) or MedMNIST's (train_images, train_labels, test_images, test_labels) arrays, or one of KMNIST's four (kmnist-train-imgs.npz, ...)",
    recognise: |path| path.is_file() && super::extension(path).as_deref() == Some("npz"),
    read,
};

/// The names of the arrays of each layout: train images, train labels, test images, test
/// labels.
const LAYOUTS: [[&str; 4]; 2] = [
    ["x_train", "y_train", "x_test", "y_test"],
    ["train_images", "train_labels", "test_images", "test_labels"],
];

/// One array: its shape, and its values as read: u8 as they are (images, kept at one byte a
/// pixel, not widened), other integers widened (labels).
struct Array {
    shape: Vec<u64>,
    /// NumPy's type string without its byte order: `u1`, `i8`, ...
    dtype: String,
    values: Values,
}

enum Values {
    Bytes(Vec<u8>),
    Ints(Vec<i64>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Bytes(v) => v.len(),
            Values::Ints(v) => v.len(),
        }
    }

    fn get(&self, i: usize) -> i64 {
        match self {
            Values::Bytes(v) => v[i] as i64,
            Values::Ints(v) => v[i],
        }
    }
}

fn read(path: &Path, options: &ReadOptions) -> Result<Dataset> {
    let bad = |m: String| Error::file(path, m);
    let mut zip = open(path)?;
    let names: Vec<String> = zip
        .file_names()
        .flatten()
        .map(|n| n.trim_end_matches(".npy").to_string())
        .collect();
    if names == ["arr_0"] {
        return match parts(path) {
            Some(files) => read_parts(&files, options),
            None => Err(bad(format!(
                "holds one array, arr_0; expected KMNIST's four files named *-{}.npz, or one file of Keras's or MedMNIST's arrays",
                PARTS.join(".npz, *-")
            ))),
        };
    }
    let Some(layout) = LAYOUTS
        .iter()
        .find(|l| l.iter().all(|a| names.iter().any(|n| n == a)))
    else {
        return Err(bad(format!(
            "holds the arrays {}; expected x_train, y_train, x_test and y_test (Keras's mnist.npz) or train_images, train_labels, test_images and test_labels (MedMNIST's)",
            names.join(", ")
        )));
    };
    let mut array =
        |name: &str| array(&mut zip, name).map_err(|e| bad(format!("array '{name}': {e}")));
    let (train_x, train_y) = (array(layout[0])?, array(layout[1])?);
    let (test_x, test_y) = (array(layout[2])?, array(layout[3])?);
    let size =
        image_size(&train_x.shape).map_err(|e| bad(format!("array '{}': {e}", layout[0])))?;
    let train = split(path, (layout[0], &train_x), (layout[1], &train_y), size)?;
    let test = split(path, (layout[2], &test_x), (layout[3], &test_y), size)?;
    Dataset::from_splits(path, size, [train, test], [path, path], options.classes)
}

/// The archive at `path`.
fn open(path: &Path) -> Result<zip::ZipArchive<std::io::Cursor<Vec<u8>>>> {
    let bytes = crate::input::read(path)?;
    zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| Error::file(path, format!("not an NPZ (zip) file: {e}")))
}

/// KMNIST's release: four NPZ files of one array each (`arr_0`), named alike but for these.
const PARTS: [&str; 4] = ["train-imgs", "train-labels", "test-imgs", "test-labels"];

/// The four files of KMNIST's layout that `path` is one of (by its name).
fn parts(path: &Path) -> Option<[std::path::PathBuf; 4]> {
    let name = path.file_name()?.to_str()?;
    let part = PARTS.iter().find(|p| name.contains(*p))?;
    Some(PARTS.map(|p| path.with_file_name(name.replace(part, p))))
}

/// A dataset of KMNIST's four files; each array is named by its file in errors.
fn read_parts(files: &[std::path::PathBuf; 4], options: &ReadOptions) -> Result<Dataset> {
    let mut arrays = Vec::new();
    for file in files {
        let mut zip = open(file)?;
        let a = array(&mut zip, "arr_0")
            .map_err(|e| Error::file(file, format!("array 'arr_0': {e}")))?;
        arrays.push(a);
    }
    let name = |i: usize| {
        files[i]
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
            + ":arr_0"
    };
    let size = image_size(&arrays[0].shape)
        .map_err(|e| Error::file(&files[0], format!("array 'arr_0': {e}")))?;
    let train = split(
        &files[0],
        (&name(0), &arrays[0]),
        (&name(1), &arrays[1]),
        size,
    )?;
    let test = split(
        &files[2],
        (&name(2), &arrays[2]),
        (&name(3), &arrays[3]),
        size,
    )?;
    let dir = files[0].parent().unwrap_or(Path::new("."));
    let labels_from = [files[1].as_path(), files[3].as_path()];
    Dataset::from_splits(dir, size, [train, test], labels_from, options.classes)
}

/// The shape of one image of an array shaped `[N, H, W]` (grey), `[N, H, W, 1]` or
/// `[N, H, W, 3]` (RGB).
fn image_size(shape: &[u64]) -> std::result::Result<Shape, String> {
    let s = |h: &u64, w: &u64, c: u64| Shape::new(*h as usize, *w as usize, c as usize);
    match shape {
        [_, h, w] if *h > 0 && *w > 0 => Ok(s(h, w, 1)),
        [_, h, w, c @ (1 | 3)] if *h > 0 && *w > 0 => Ok(s(h, w, *c)),
        other => Err(format!(
            "has shape {other:?}; expected images [N, H, W] (grey) or [N, H, W, 3] (RGB)"
        )),
    }
}

/// One split from its images and labels arrays, which must agree in count and in the images'
/// size with the training split's; pixels are u8 already, labels must be 0 to 255.
fn split(
    path: &Path,
    (xn, x): (&str, &Array),
    (yn, y): (&str, &Array),
    image: Shape,
) -> Result<Split> {
    let bad = |m: String| Error::file(path, m);
    let size = image_size(&x.shape).map_err(|e| bad(format!("array '{xn}': {e}")))?;
    if size != image {
        return Err(bad(format!(
            "array '{xn}' holds {} images; the training images are {}",
            crate::floor::shape::describe(size),
            crate::floor::shape::describe(image)
        )));
    }
    if x.dtype != "u1" {
        return Err(bad(format!(
            "array '{xn}' has dtype {}; expected uint8 pixels (0 to 255)",
            x.dtype
        )));
    }
    let count = x.shape[0] as usize;
    let labels_flat = matches!(y.shape.as_slice(), [_] | [_, 1]);
    if !labels_flat || y.values.len() != count {
        return Err(bad(format!(
            "array '{yn}' has shape {:?}; expected {count} labels ([{count}] or [{count}, 1]) for the {count} images of '{xn}'",
            y.shape
        )));
    }
    let labels = (0..count)
        .map(|i| {
            let l = y.values.get(i);
            u8::try_from(l).map_err(|_| {
                bad(format!(
                    "array '{yn}': label {l} at index {i}; expected a class 0 to 255"
                ))
            })
        })
        .collect::<Result<Vec<u8>>>()?;
    let Values::Bytes(images) = &x.values else {
        unreachable!("a u1 array is read as bytes")
    };
    Ok(Split {
        images: images.clone().into(),
        labels,
    })
}

/// Array `name` of the archive (`name.npy`), C-ordered: u8 values (images), or any integer
/// type (labels).
fn array<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
) -> std::result::Result<Array, String> {
    let file = zip
        .by_name(&format!("{name}.npy"))
        .map_err(|e| e.to_string())?;
    let npy = npyz::NpyFile::new(file).map_err(|e| format!("not an NPY array: {e}"))?;
    if npy.order() == npyz::Order::Fortran {
        return Err("is in Fortran order; expected a C-ordered array (NumPy's default)".into());
    }
    let shape = npy.shape().to_vec();
    let descr = npy.dtype().descr();
    // NumPy's descr, e.g. '|u1' or '<i8': the type without its quotes and byte order.
    let dtype = descr
        .trim_matches('\'')
        .trim_start_matches(['<', '|', '='])
        .to_string();
    let io = |e: std::io::Error| format!("cannot read its values: {e}");
    let values = match dtype.as_str() {
        "u1" => Values::Bytes(npy.into_vec::<u8>().map_err(io)?),
        "i1" => Values::Ints(widened::<i8>(npy).map_err(io)?),
        "u2" => Values::Ints(widened::<u16>(npy).map_err(io)?),
        "i2" => Values::Ints(widened::<i16>(npy).map_err(io)?),
        "u4" => Values::Ints(widened::<u32>(npy).map_err(io)?),
        "i4" => Values::Ints(widened::<i32>(npy).map_err(io)?),
        "i8" => Values::Ints(npy.into_vec::<i64>().map_err(io)?),
        other => {
            return Err(format!(
                "has dtype {other}; expected unsigned 8-bit pixels or integer labels"
            ))
        }
    };
    Ok(Array {
        shape,
        dtype,
        values,
    })
}

/// `[train, test]` of `image`-shaped images as an NPZ of Keras's layout (`x_train`
/// `[N, H, W]` or `[N, H, W, C]` u8, `y_train` `[N]` u8, likewise the test split), stored as
/// `np.savez` stores it: what a prepared download (CIFAR-10) is kept as.
pub fn keras_bytes(splits: &[Split; 2], image: Shape) -> Vec<u8> {
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    let dims = |n: usize| match image.c {
        1 => vec![n as u64, image.h as u64, image.w as u64],
        c => vec![n as u64, image.h as u64, image.w as u64, c as u64],
    };
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    for (split, [x, y]) in splits
        .iter()
        .zip([["x_train", "y_train"], ["x_test", "y_test"]])
    {
        let arrays = [
            (x, npy(&split.images, &dims(split.len()))),
            (y, npy(&split.labels, &[split.len() as u64])),
        ];
        for (name, bytes) in arrays {
            zip.start_file(format!("{name}.npy"), stored)
                .and_then(|_| zip.write_all(&bytes).map_err(Into::into))
                .expect("writing to memory");
        }
    }
    zip.finish().expect("writing to memory").into_inner()
}

/// An array's integers of type `T`, widened to i64.
fn widened<T: npyz::Deserialize + Into<i64>>(
    npy: npyz::NpyFile<impl Read>,
) -> std::io::Result<Vec<i64>> {
    Ok(npy.into_vec::<T>()?.into_iter().map(Into::into).collect())
}

/// One NPY array of u8 `values` shaped `shape`.
fn npy(values: &[u8], shape: &[u64]) -> Vec<u8> {
    use npyz::WriterBuilder;
    let mut out = Vec::new();
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut out)
        .begin_nd()
        .expect("writing to memory");
    writer
        .extend(values.iter().copied())
        .expect("writing to memory");
    writer.finish().expect("writing to memory");
    out
}
