//! Finding and opening a dataset: the path `--data` (or `$SHADERFIT_DATA`) names, read in the
//! format that recognises it ([`super::formats`]), else a catalogue dataset's directory among
//! the standard places (`./data/<dataset>`, the cache directory `data download` fills, a
//! system directory), else the bundled MNIST.

use std::path::{Path, PathBuf};

use super::catalogue::{DatasetKind, Packaging};
use super::dataset::{dataset_files, Dataset, FILE_STEMS};
use super::formats::ReadOptions;
use crate::error::{Error, Result};

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
