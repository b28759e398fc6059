//! `shaderfit data show`: what the notebooks' first cells show of a dataset: the size of each
//! split, its samples per class, and a grid of samples titled with their labels. `shaderfit
//! data download`: a dataset's files from its mirrors.

use std::path::PathBuf;

use super::data_flags::DataFlags;
use clap::{Args, Subcommand};

use indicatif::{ProgressBar, ProgressStyle};

use crate::data::download::{Event, Source};
use crate::data::{self, Dataset, DatasetKind, Split};
use crate::error::{Error, Result};
use crate::floor::augment::{self, Augment};
use crate::report::figure;
use crate::report::gallery::{Gallery, Tile};

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Per-class counts of the training and test splits, and a PNG (and SVG) grid of samples
    /// with their labels.
    Show(ShowArgs),
    /// Fetch a dataset of the catalogue from its public mirrors (checksums pinned, resumable)
    /// into the cache directory that training looks in.
    Download(DownloadArgs),
    /// The datasets `--dataset` and `data download` know: classes, what each is, its licence.
    List,
}

#[derive(Args, Debug)]
pub struct DownloadArgs {
    /// A dataset of the catalogue (`shaderfit data list`).
    #[arg(value_enum)]
    pub dataset: DatasetKind,
    /// Put the files here instead of <cache>/shaderfit/<dataset>.
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    #[command(flatten)]
    pub source: DataFlags,
    #[arg(long, value_enum, default_value = "mnist")]
    pub dataset: DatasetKind,
    /// Where to write the grid of samples (PNG; an SVG is written beside it).
    #[arg(long, default_value = "samples.png", value_name = "FILE.png")]
    pub out: PathBuf,
    /// The grid is N x N of the first training samples.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub grid: usize,
    /// Show augmentation instead (as `train --augment`): each row one sample, first as it is,
    /// then through N - 1 random transforms, drawn as training draws them.
    #[arg(long, value_name = "SPEC")]
    pub augment: Option<String>,
}

pub fn run(cmd: &DataCommand) -> Result<()> {
    match cmd {
        DataCommand::Show(args) => show(args),
        DataCommand::Download(args) => download(args),
        DataCommand::List => {
            print!("{}", catalogue_table());
            Ok(())
        }
    }
}

/// A line per dataset of the catalogue: name, classes, what it is; its licence below.
fn catalogue_table() -> String {
    use clap::ValueEnum;
    let kinds = DatasetKind::value_variants();
    let width = kinds.iter().map(|k| k.name().len()).max().unwrap_or(0);
    let mut out = format!("{:width$}  classes  what\n", "dataset");
    for kind in kinds {
        let e = kind.entry();
        out += &format!("{:width$}  {:>7}  {}\n", e.name, e.classes.len(), e.title);
        out += &format!("{:width$}           licence: {}\n", "", e.licence);
    }
    out
}

fn download(args: &DownloadArgs) -> Result<()> {
    let dir = match &args.to {
        Some(dir) => dir.clone(),
        None => data::open::cache_dir()
            .ok_or_else(|| {
                Error::flag(
                    "--to",
                    "no cache directory is known (HOME is unset); give one",
                )
            })?
            .join("shaderfit")
            .join(args.dataset.name()),
    };
    crate::output::prepare_dir("--to", &dir)?;
    let source = Source::of(args.dataset);
    let mut bar: Option<ProgressBar> = None;
    data::download::download(&source, &dir, &mut |event| show_event(&mut bar, event))?;
    let entry = args.dataset.entry();
    data::prepare::prepare(entry.packaging, entry.files[0].0, &dir)?;
    println!("{}: {}", args.dataset.name(), dir.display());
    println!("licence: {}", args.dataset.entry().licence);
    Ok(())
}

/// A bar per transfer on stderr, and a line per file.
fn show_event(bar: &mut Option<ProgressBar>, event: Event) {
    match event {
        Event::Present { file } => eprintln!("{file}: already there, checksum verified"),
        Event::Start {
            file,
            url,
            offset,
            total,
        } => {
            let b = ProgressBar::new(total.unwrap_or(0)).with_style(
                ProgressStyle::with_template(
                    "{msg} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} (ETA {eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_message(file);
            b.set_position(offset);
            if offset > 0 {
                b.println(format!("resuming {url} from byte {offset}"));
            }
            *bar = Some(b);
        }
        Event::Progress { bytes } => {
            if let Some(b) = bar {
                b.set_position(bytes);
            }
        }
        Event::Done { file } => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            eprintln!("{file}: downloaded, checksum verified");
        }
        Event::Failed { url, reason } => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            eprintln!("{url}: {reason}; trying the next mirror");
        }
    }
}

fn show(args: &ShowArgs) -> Result<()> {
    crate::output::check_writable("--out", &args.out)?;
    // The SVG written beside it.
    crate::output::check_target("--out", &args.out.with_extension("svg"))?;
    let augment = args
        .augment
        .as_deref()
        .map(|spec| crate::settings::augment_flag("--augment", spec))
        .transpose()?;
    let dataset = args.source.open(args.dataset, None)?;
    crate::report::gallery::check_grid("--grid", args.grid, (dataset.rows, dataset.cols))?;
    println!(
        "{} ({}): {} images, {} classes",
        args.dataset.name(),
        dataset.dir.display(),
        crate::floor::shape::describe(dataset.image()),
        dataset.classes
    );
    if let Some(note) = &dataset.note {
        println!("  {note}");
    }
    print!("{}", counts_table(&dataset));
    let grid = match augment {
        Some(a) => augmented_grid(&dataset, args.grid, &a),
        None => sample_grid(&dataset, args.grid),
    };
    let [png, svg] = figure::save_beside(&grid, &args.out)?;
    println!("samples: {} ({})", png.display(), svg.display());
    Ok(())
}

/// Samples per class of each split, with shares, and the totals.
fn counts_table(data: &Dataset) -> String {
    let per_class = |s: &Split| {
        let mut counts = vec![0usize; data.classes];
        for &l in &s.labels {
            counts[l as usize] += 1;
        }
        counts
    };
    let (train, test) = (per_class(&data.train), per_class(&data.test));
    let width = (0..data.classes)
        .map(|c| data.class_name(c).len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut s = format!("{:>width$} {:>14} {:>14}\n", "class", "train", "test");
    for c in 0..data.classes {
        let cell = |n: usize, total: usize| {
            format!("{n} ({:.1}%)", n as f64 * 100.0 / total.max(1) as f64)
        };
        s += &format!(
            "{:>width$} {:>14} {:>14}\n",
            data.class_name(c),
            cell(train[c], data.train.len()),
            cell(test[c], data.test.len())
        );
    }
    s + &format!(
        "{:>width$} {:>14} {:>14}\n",
        "total",
        data.train.len(),
        data.test.len()
    )
}

/// The first `n` training samples, one per row: as it is, then through `n - 1` transforms
/// (those of steps 1, 2, ... of a run seeded 1, for its row).
fn augmented_grid(data: &Dataset, n: usize, a: &Augment) -> Gallery {
    let size = data.pixels_per_image();
    let image = (data.rows, data.cols, data.channels);
    let seed = augment::seed32(1);
    let mut tiles = Vec::new();
    for i in 0..n.min(data.train.len()) {
        let src = &data.train.images[i * size..(i + 1) * size];
        let label = data.class_name(data.train.labels[i] as usize);
        tiles.push(Tile {
            pixels: src.to_vec(),
            title: format!("Label {label}"),
        });
        for t in 1..n as u32 {
            let tr = a.transform(seed, t, i as u32);
            let pixels = (0..size)
                .map(|k| (tr.sample(src, image, k) * 255.0).round() as u8)
                .collect();
            let title = caption(&tr, a);
            tiles.push(Tile { pixels, title });
        }
    }
    Gallery {
        title: format!("Augmented: {}", a.describe()),
        tiles,
        columns: n,
        rows: data.rows,
        cols: data.cols,
        channels: data.channels,
    }
}

/// A tile's title: the drawn rotation, zoom, shear and elastic displacement (the largest
/// node offset), each only where its range is set.
fn caption(tr: &augment::Transform, a: &Augment) -> String {
    // Rounded first, so that a draw of -0.3° reads 0°, not -0°.
    let degrees = |radians: f32| radians.to_degrees().round() + 0.0;
    let mut parts = Vec::new();
    if a.rotate > 0.0 {
        parts.push(format!("{:+}°", degrees(tr.angle)));
    }
    if a.zoom > 0.0 {
        parts.push(format!("x{:.2}", tr.scale));
    }
    if a.shear > 0.0 {
        parts.push(format!("shear {:+}°", degrees(tr.shear)));
    }
    if let Some(nodes) = &tr.elastic {
        let most = nodes
            .iter()
            .map(|(x, y)| x.hypot(*y))
            .fold(0.0f32, f32::max);
        parts.push(format!("elastic {most:.1}px"));
    }
    if parts.is_empty() {
        parts.push(format!("shift {:+.1},{:+.1}", tr.shift.0, tr.shift.1));
    }
    parts.join(" ")
}

/// The first `n x n` training samples, titled with their labels.
fn sample_grid(data: &Dataset, n: usize) -> Gallery {
    let size = data.pixels_per_image();
    let tiles = (0..(n * n).min(data.train.len()))
        .map(|i| Tile {
            pixels: data.train.images[i * size..(i + 1) * size].to_vec(),
            title: format!("Label {}", data.class_name(data.train.labels[i] as usize)),
        })
        .collect();
    Gallery {
        title: format!("The first {} training samples of {}", n * n, name_of(data)),
        tiles,
        columns: n,
        rows: data.rows,
        cols: data.cols,
        channels: data.channels,
    }
}

/// What the data is called in a title: its file or directory name (`mnist`, `rgb.npz`).
fn name_of(data: &Dataset) -> String {
    data.dir.file_name().map_or_else(
        || data.dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
