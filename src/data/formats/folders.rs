//! Image folders, as torchvision's `ImageFolder` and Keras's `image_dataset_from_directory`
//! read them: `DIR/train/<class>/*.png|jpg` and `DIR/test/<class>/...`. The classes are the
//! training folders' names in sorted order (class 0 is the first, as torchvision numbers
//! them); a test folder must name one of them. Every image must have the first one's size
//! (or `--resize HxW` fits each to one size) and all must be grey or all colour: grey PNGs
//! and JPEGs make a grey set, RGB ones an RGB set (alpha dropped). Decoded with the `image`
//! crate.

use std::path::{Path, PathBuf};

use image::{DynamicImage, GenericImageView};

use super::{DataFormat, ReadOptions};
use crate::data::dataset::{Dataset, Split};
use crate::data::picture;
use crate::error::{Error, Result};
use crate::floor::shape::describe;
use crate::floor::Shape;

pub const FORMAT: DataFormat = DataFormat {
    name: "folders",
    layout: "a directory of image folders, train/<class>/*.png|jpg and test/<class>/... (torchvision's ImageFolder, Keras's image_dataset_from_directory)",
    recognise: |path| path.join("train").is_dir() && path.join("test").is_dir(),
    read,
};

/// The splits' folder names, in the order the dataset holds them.
const SPLITS: [&str; 2] = ["train", "test"];

fn read(path: &Path, options: &ReadOptions) -> Result<Dataset> {
    let train_dir = path.join("train");
    let classes = subfolders(&train_dir)?;
    if classes.len() < 2 || classes.len() > 256 {
        return Err(Error::file(
            &train_dir,
            format!(
                "holds {} class folder(s); expected one folder per class (2 to 256), each of PNG or JPEG images",
                classes.len()
            ),
        ));
    }
    let found: Vec<String> = classes.iter().map(|(n, _)| n.clone()).collect();
    let names = match &options.class_names {
        Some(names) => {
            if let Some(missing) = found.iter().find(|f| !names.contains(f)) {
                return Err(Error::file(
                    train_dir.join(missing),
                    format!(
                        "is a class folder that --class-names does not name; it names {}",
                        names.join(", ")
                    ),
                ));
            }
            names.clone()
        }
        None => found,
    };
    let mut image: Option<(Shape, PathBuf)> = None;
    let mut splits = Vec::new();
    for split in SPLITS {
        let mut out = Split::default();
        for (name, folder) in subfolders(&path.join(split))? {
            let Some(label) = names.iter().position(|n| *n == name) else {
                return Err(Error::file(
                    &folder,
                    format!(
                        "is a test class the training folders do not have; expected one of {}",
                        names.join(", ")
                    ),
                ));
            };
            for file in images_of(&folder)? {
                out.images
                    .to_mut()
                    .extend(decode(&file, options, &mut image)?);
                out.labels.push(label as u8);
            }
        }
        splits.push(out);
    }
    let (shape, _) = image.expect("a class folder holds an image");
    let [train, test]: [Split; 2] = splits.try_into().expect("two splits");
    let test_dir = path.join("test");
    if test.is_empty() {
        return Err(Error::file(
            &test_dir,
            "holds no class folders; expected test/<class>/ folders of images",
        ));
    }
    let classes = options.classes.or(Some(names.len()));
    let labels_from = [train_dir.as_path(), test_dir.as_path()];
    let mut data = Dataset::from_splits(path, shape, [train, test], labels_from, classes)?;
    data.class_names = names;
    Ok(data)
}

/// The folders in `dir` (name, path), sorted by name.
fn subfolders(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut folders: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| Error::file(dir, format!("cannot list it: {e}")))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .map(|p| (folder_name(&p), p))
        .collect();
    folders.sort();
    Ok(folders)
}

fn folder_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// The PNG and JPEG files of a class folder, sorted by name; an empty folder is an error.
fn images_of(folder: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(|e| Error::file(folder, format!("cannot list it: {e}")))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && picture::is_readable(p))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::file(
            folder,
            "is an empty class folder; expected PNG or JPEG images of the class",
        ));
    }
    Ok(files)
}

/// One image's pixels, `[rows, cols, channels]`: of the shape the first image had (`image`,
/// set by the first), or fitted to `--resize`'s size.
fn decode(
    file: &Path,
    options: &ReadOptions,
    image: &mut Option<(Shape, PathBuf)>,
) -> Result<Vec<u8>> {
    let bytes = crate::input::read(file)?;
    let decoded = image::load_from_memory(&bytes).map_err(|e| {
        Error::file(
            file,
            format!("cannot read it as an image ({e}); expected a PNG or JPEG file"),
        )
    })?;
    let channels = match decoded.color().has_color() {
        true => 3,
        false => 1,
    };
    let (w, h) = decoded.dimensions();
    let decoded = match options.resize {
        Some((rows, cols)) if (h as usize, w as usize) != (rows, cols) => decoded.resize_exact(
            cols as u32,
            rows as u32,
            image::imageops::FilterType::Triangle,
        ),
        _ => decoded,
    };
    let (w, h) = decoded.dimensions();
    let shape = Shape::new(h as usize, w as usize, channels);
    match image {
        None => *image = Some((shape, file.to_path_buf())),
        Some((first, from)) if *first != shape => {
            let why = match first.c != shape.c {
                true => "grey and colour images are mixed",
                false => "images of different sizes are mixed (--resize HxW fits every image to one size)",
            };
            return Err(Error::file(
                file,
                format!(
                    "is a {} image but {} is {}: {why}",
                    describe(shape),
                    from.display(),
                    describe(*first)
                ),
            ));
        }
        Some(_) => {}
    }
    Ok(pixels(decoded, channels))
}

fn pixels(image: DynamicImage, channels: usize) -> Vec<u8> {
    match channels {
        1 => image.into_luma8().into_raw(),
        _ => image.into_rgb8().into_raw(),
    }
}
