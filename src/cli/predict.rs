//! `shaderfit predict`: the class of each given image under a checkpoint, with its probability
//! and a bar of every class's, or all of it as JSON.

use std::path::{Path, PathBuf};

use clap::Args;

use super::kernels;
use crate::data::idx;
use crate::data::picture::{self, Invert};
use crate::data::DatasetKind;
use crate::error::{Error, Result};
use crate::eval::metrics::Probabilities;
use crate::floor::Shape;
use crate::gpu::GpuContext;
use crate::model::{checkpoint, ParamLayout};

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A checkpoint written by `shaderfit train --save`; it holds the model's spec.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// PNG or JPEG files, IDX image files (such as t10k-images-idx3-ubyte.gz) with
    /// --indices, or CSV files of pixel rows (Kaggle's test.csv; every row).
    #[arg(required = true, value_name = "IMAGE")]
    pub inputs: Vec<PathBuf>,
    /// Which images of an IDX or CSV file, e.g. 0,7,42 (default: an IDX file's first, a CSV
    /// file's every row).
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub indices: Vec<usize>,
    /// Invert grey levels: the datasets' digits are light on black; `auto` inverts an image
    /// whose border is mostly light (a dark digit on a light background).
    #[arg(long, value_enum, default_value = "auto")]
    pub invert: Invert,
    /// Print one JSON array instead of the text.
    #[arg(long)]
    pub json: bool,
    /// Also write the predicted classes as Kaggle's submission file: a header ImageId,Label
    /// and one row per image, in order, ids from 1.
    #[arg(long, value_name = "FILE")]
    pub submission: Option<PathBuf>,
    /// Adapter whose name contains this; see `shaderfit devices`.
    #[arg(long)]
    pub adapter: Option<String>,
}

/// One model input and where it came from.
struct Input {
    name: String,
    pixels: Vec<u8>,
    /// What was done to it to fit the model, for the user.
    notes: Vec<String>,
}

/// Runs `predict`; `given(id)` says whether a flag was typed.
pub fn run(args: &PredictArgs, given: &dyn Fn(&str) -> bool) -> Result<()> {
    let pictures = args.inputs.iter().filter(|p| is_picture(p)).count();
    if given("indices") && pictures == args.inputs.len() {
        return Err(Error::flag(
            "--indices",
            "given with PNG or JPEG inputs only; it picks images of IDX files",
        ));
    }
    if given("invert") && pictures == 0 {
        return Err(Error::flag(
            "--invert",
            "given with IDX inputs only, whose digits are already light on black; it applies to PNG and JPEG files",
        ));
    }
    if let Some(path) = &args.submission {
        crate::output::check_writable("--submission", path)?;
    }
    let info = checkpoint::load_info(&args.checkpoint)?;
    let net = info.spec.compile(info.input, info.classes)?;
    if ![1, 3].contains(&info.input.c) {
        return Err(Error::file(
            &args.checkpoint,
            format!(
                "the model takes {} channels; predict reads grey (1) or RGB (3) images",
                info.input.c
            ),
        ));
    }
    let weights = checkpoint::load(
        &args.checkpoint,
        &ParamLayout::trainable(&net, 1),
        &ParamLayout::non_trainable(&net, 1),
    )?;
    let inputs = read_inputs(args, info.input, given("indices"))?;
    let ctx = GpuContext::new(args.adapter.as_deref())?;
    let images: Vec<u8> = inputs
        .iter()
        .flat_map(|i| i.pixels.iter().copied())
        .collect();
    let weights = (weights.0.as_slice(), weights.1.as_slice());
    let probs = crate::eval::predict(&ctx, &net, weights, &images, kernels::policy(&ctx.info))?;
    let kind = info
        .dataset
        .as_deref()
        .and_then(DatasetKind::from_name)
        .unwrap_or(DatasetKind::Mnist);
    let names = info
        .class_names
        .clone()
        .unwrap_or_else(|| (0..info.classes).map(|c| kind.class_name(c)).collect());
    if args.json {
        println!("{}", json(&inputs, &probs, &names));
    } else {
        for (i, input) in inputs.iter().enumerate() {
            print!("{}", text(input, &probs, i, &names));
        }
    }
    if let Some(path) = &args.submission {
        crate::output::replace(path, submission(&probs, inputs.len()).as_bytes())?;
        eprintln!("submission: {} ({} rows)", path.display(), inputs.len());
    }
    Ok(())
}

/// Kaggle's submission file: `ImageId,Label`, ids from 1, the predicted class numbers.
fn submission(probs: &Probabilities, count: usize) -> String {
    let mut out = String::from("ImageId,Label\n");
    for i in 0..count {
        out += &format!("{},{}\n", i + 1, probs.predicted(i).0);
    }
    out
}

fn read_inputs(args: &PredictArgs, image: Shape, indices_given: bool) -> Result<Vec<Input>> {
    let (rows, cols) = (image.h, image.w);
    let mut inputs = Vec::new();
    for path in &args.inputs {
        if is_csv(path) {
            let indices = indices_given.then_some(args.indices.as_slice());
            inputs.extend(csv_inputs(path, indices, image)?);
        } else if is_picture(path) {
            let p = picture::load(path, image, args.invert)?;
            let mut notes = Vec::new();
            if let Some((w, h)) = p.resized_from {
                notes.push(match image.c {
                    1 => format!("resized from {w}x{h} to {cols}x{rows}, fitted as MNIST's digits"),
                    _ => format!("resized from {w}x{h} to {cols}x{rows}"),
                });
            }
            if p.inverted {
                notes.push("inverted (a dark digit on a light background)".into());
            }
            inputs.push(Input {
                name: path.display().to_string(),
                pixels: p.pixels,
                notes,
            });
        } else if let Some(format) = picture::unsupported_format(path) {
            return Err(picture::unsupported(path, format));
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("npz"))
        {
            return Err(Error::file(
                path,
                format!(
                    "is a dataset (NPZ); predict reads PNG or JPEG pictures, IDX image files and CSV rows of pixels; to score a dataset, run `shaderfit evaluate --checkpoint {} --data {}`",
                    args.checkpoint.display(),
                    path.display()
                ),
            ));
        } else {
            let mut images = idx_inputs(path, &args.indices, rows, cols)?;
            if image.c == 3 {
                for input in &mut images {
                    input.pixels = input.pixels.iter().flat_map(|&v| [v; 3]).collect();
                    input
                        .notes
                        .push("grey, repeated in red, green and blue".into());
                }
            }
            inputs.extend(images);
        }
    }
    Ok(inputs)
}

fn is_csv(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// The rows of a CSV file (`indices` of them, or all), each an image of `image`'s shape.
fn csv_inputs(path: &Path, indices: Option<&[usize]>, image: Shape) -> Result<Vec<Input>> {
    let values = image.features();
    let pixels = crate::data::formats::csv::read_images(path, values)?;
    let count = pixels.len() / values;
    let all: Vec<usize> = (0..count).collect();
    indices
        .unwrap_or(&all)
        .iter()
        .map(|&i| {
            if i >= count {
                return Err(Error::flag(
                    "--indices",
                    format!("{i} is past the end of {} ({count} rows)", path.display()),
                ));
            }
            Ok(Input {
                name: format!("{}[{i}]", path.display()),
                pixels: pixels[i * values..(i + 1) * values].to_vec(),
                notes: Vec::new(),
            })
        })
        .collect()
}

fn is_picture(path: &Path) -> bool {
    picture::is_readable(path)
}

/// Images `indices` of an IDX file, which must be of the model's size.
fn idx_inputs(path: &Path, indices: &[usize], rows: usize, cols: usize) -> Result<Vec<Input>> {
    let images = idx::read_images(path)?;
    if (images.rows, images.cols) != (rows, cols) {
        return Err(Error::file(
            path,
            format!(
                "images are {}x{}; the model takes {rows}x{cols}",
                images.rows, images.cols
            ),
        ));
    }
    let size = images.pixels_per_image();
    indices
        .iter()
        .map(|&i| {
            if i >= images.count {
                return Err(Error::flag(
                    "--indices",
                    format!(
                        "{i} is past the end of {} ({} images)",
                        path.display(),
                        images.count
                    ),
                ));
            }
            Ok(Input {
                name: format!("{}[{i}]", path.display()),
                pixels: images.pixels[i * size..(i + 1) * size].to_vec(),
                notes: Vec::new(),
            })
        })
        .collect()
}

/// `digit.png: 7 (98.6%)`, the notes, and a bar per class.
fn text(input: &Input, probs: &Probabilities, i: usize, names: &[String]) -> String {
    let (best, p) = probs.predicted(i);
    let row = probs.row(i);
    let mut out = format!(
        "{}: {} ({:.1}%)\n",
        input.name,
        name(names, best),
        p * 100.0
    );
    for note in &input.notes {
        out.push_str(&format!("  {note}\n"));
    }
    let width = (0..row.len())
        .map(|c| name(names, c).len())
        .max()
        .unwrap_or(1);
    for (c, &p) in row.iter().enumerate() {
        out.push_str(&format!(
            "  {:>width$} {:<20} {:5.1}%\n",
            name(names, c),
            bar(p, 20),
            p * 100.0
        ));
    }
    out
}

/// A horizontal bar of `p` (0..1) in `width` cells, in eighths of a cell.
fn bar(p: f32, width: usize) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (p.clamp(0.0, 1.0) * (width * 8) as f32).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    let rest = eighths % 8;
    if rest > 0 {
        s.push(PARTS[rest]);
    }
    s
}

fn json(inputs: &[Input], probs: &Probabilities, names: &[String]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let (class, p) = probs.predicted(i);
            serde_json::json!({
                "input": input.name,
                "class": class,
                "name": name(names, class),
                "probability": p,
                "probabilities": probs.row(i),
                "notes": input.notes,
            })
        })
        .collect();
    serde_json::Value::Array(items)
}

/// Class `c`'s name, its number past the names.
fn name(names: &[String], c: usize) -> String {
    names.get(c).cloned().unwrap_or_else(|| c.to_string())
}
