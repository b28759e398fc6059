//! Reports: the figures the notebooks draw around a training run, as PNG and SVG through
//! plotters, and an `index.html` that shows them with the run's settings, the model summary,
//! the history table and per-class metrics. Built from the test pass's GPU-side metrics (the
//! confusion matrix and per-sample predictions); writes files, prints nothing.

pub mod charts;
pub mod compare;
pub mod diagram;
pub mod figure;
pub mod gallery;
pub mod html;

use crate::floor::Shape;
use std::path::{Path, PathBuf};

use charts::{ClassBars, ConfusionHeatmap, Curves, ProbabilityBars, Series, BLUE, ORANGE};
use diagram::ModelDiagram;
use gallery::{Gallery, Tile};

use crate::data::Split;
use crate::error::{Error, Result};
use crate::eval::metrics::{Logs, Probabilities};
use crate::eval::{CountMatrix, PassMetrics};
use crate::train::record::Epochs;

/// What a report shows.
pub struct ReportInput<'a> {
    /// e.g. `cnn on mnist`.
    pub title: String,
    /// The run's settings (shown as a table).
    pub settings: &'a serde_json::Value,
    /// The model summary (Keras's table).
    pub summary: String,
    /// The model as `keras.utils.plot_model(model, show_shapes=True)` draws it.
    pub diagram: ModelDiagram,
    /// The training history; none for a checkpoint's evaluation.
    pub history: Option<&'a Epochs>,
    /// The test pass, with the `confusion_matrix` and `predictions` accumulators.
    pub test: &'a PassMetrics,
    /// Its loss and the run's metrics, by Keras's keys (`test_loss`, `test_accuracy`, ...).
    pub test_logs: Logs,
    /// The test split, in the pass's order.
    pub images: &'a Split,
    /// One test image's shape.
    pub image: Shape,
    /// Each class's name.
    pub class_names: &'a [String],
}

/// What the user chose to see.
#[derive(Clone, Copy, Debug)]
pub struct Choices {
    /// Gallery side: `n x n` correct and `n x n` misclassified images.
    pub gallery: usize,
    /// The test sample whose probabilities are charted.
    pub sample: usize,
}

/// A figure of the report: its name (file stem), caption and files.
pub struct Written {
    pub name: &'static str,
    pub caption: String,
    pub files: [PathBuf; 2],
}

/// Writes every figure and `index.html` as the report `dir` (replacing a report there whole,
/// see [`crate::output::replace_dir`]); returns the page's path.
pub fn write(dir: &Path, input: &ReportInput, choices: Choices) -> Result<PathBuf> {
    crate::output::replace_dir(dir, |staging| write_into(staging, input, choices))?;
    Ok(dir.join("index.html"))
}

/// The report's files, into the empty directory `dir`.
fn write_into(dir: &Path, input: &ReportInput, choices: Choices) -> Result<()> {
    let counts = input
        .test
        .counts("confusion_matrix")
        .ok_or_else(|| Error::Dataset("a report needs the test pass's confusion matrix".into()))?;
    let probs = input
        .test
        .probabilities()
        .ok_or_else(|| Error::Dataset("a report needs the test pass's predictions".into()))?;
    let labels: Vec<String> = (0..counts.rows)
        .map(|c| class_name(input.class_names, c))
        .collect();
    let figures = draw_figures(dir, (input, choices), (counts, probs), &labels)?;
    let page = dir.join("index.html");
    let html = html::page(input, counts, &labels, &figures);
    std::fs::write(&page, html).map_err(|e| Error::Io {
        path: page.clone(),
        source: e,
    })
}

/// Saves every figure into `dir`, in the page's order.
fn draw_figures(
    dir: &Path,
    (input, choices): (&ReportInput, Choices),
    (counts, probs): (&CountMatrix, &Probabilities),
    labels: &[String],
) -> Result<Vec<Written>> {
    let mut figures = Vec::new();
    let mut add =
        |name: &'static str, caption: String, figure: &dyn Fn() -> Result<[PathBuf; 2]>| {
            let files = figure()?;
            crate::output::failpoint("report-figure");
            figures.push(Written {
                name,
                caption,
                files,
            });
            Ok::<(), Error>(())
        };
    if let Some(history) = input.history {
        let curves = curves(history);
        let panels: Vec<String> = curves.panels.iter().map(|p| p.0.to_lowercase()).collect();
        let caption = format!(
            "{} per epoch, training against validation",
            and_list(&panels)
        );
        let caption = caption[..1].to_uppercase() + &caption[1..];
        add("curves", caption, &|| figure::save(&curves, dir, "curves"))?;
    }
    let labels = labels.to_vec();
    let heatmap = ConfusionHeatmap {
        title: "Confusion matrix".into(),
        counts: counts.clone(),
        labels: labels.clone(),
    };
    let caption = "Confusion matrix of the test set".into();
    add("confusion", caption, &|| {
        figure::save(&heatmap, dir, "confusion")
    })?;
    let (correct, wrong) = galleries(input, choices.gallery, probs);
    let caption = format!(
        "The first {} correctly classified test images",
        correct.tiles.len()
    );
    add("correct", caption, &|| {
        figure::save(&correct, dir, "correct")
    })?;
    let caption = format!("The {} most confident mistakes", wrong.tiles.len());
    add("incorrect", caption, &|| {
        figure::save(&wrong, dir, "incorrect")
    })?;
    let bars = probability_bars(input, choices.sample, probs, &labels)?;
    add("probabilities", bars.title.clone(), &|| {
        figure::save(&bars, dir, "probabilities")
    })?;
    let per_class = ClassBars::per_class(&counts.per_class(), labels);
    let caption = "Per-class precision, recall and F1".into();
    add("per_class", caption, &|| {
        figure::save(&per_class, dir, "per_class")
    })?;
    let caption = "Each layer with its input and output shapes and parameters".into();
    add("model", caption, &|| {
        figure::save(&input.diagram, dir, "model")
    })?;
    Ok(figures)
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The loss and every metric the history records, training against validation, per epoch: a
/// panel each (`Loss`, `Accuracy`, `Top k accuracy`, ...).
pub fn curves(history: &Epochs) -> Curves {
    let names = history.names();
    let metrics = names
        .iter()
        .filter(|n| names.contains(&format!("val_{n}").as_str()));
    let panel = |name: &str| {
        let title = name.replace('_', " ");
        let title = title[..1].to_uppercase() + &title[1..];
        let series = vec![
            Series {
                name: "training".into(),
                color: BLUE,
                values: history.column(name),
            },
            Series {
                name: "validation".into(),
                color: ORANGE,
                values: history.column(&format!("val_{name}")),
            },
        ];
        (title, series)
    };
    Curves {
        panels: metrics.map(|name| panel(name)).collect(),
    }
}

/// The first `n x n` correct test images, and the `n x n` misclassified ones the model was
/// surest of, titled as the notebooks title them.
fn galleries(input: &ReportInput, n: usize, probs: &Probabilities) -> (Gallery, Gallery) {
    let n = n.max(1);
    let (rows, cols, size) = (input.image.h, input.image.w, input.image.features());
    let samples = probs.samples().min(input.images.len());
    let label = |i: usize| input.images.labels[i] as usize;
    let tile = |i: usize| {
        let (p, _) = probs.predicted(i);
        let name = |c| class_name(input.class_names, c);
        Tile {
            pixels: input.images.images[i * size..(i + 1) * size].to_vec(),
            title: format!("Predicted {}, Class {}", name(p), name(label(i))),
        }
    };
    let correct: Vec<Tile> = (0..samples)
        .filter(|&i| probs.predicted(i).0 == label(i))
        .take(n * n)
        .map(tile)
        .collect();
    let mut wrong: Vec<usize> = (0..samples)
        .filter(|&i| probs.predicted(i).0 != label(i))
        .collect();
    wrong.sort_by(|&a, &b| probs.predicted(b).1.total_cmp(&probs.predicted(a).1));
    let gallery = |title: &str, tiles| Gallery {
        title: title.into(),
        tiles,
        columns: n,
        rows,
        cols,
        channels: input.image.c,
    };
    (
        gallery("Correctly classified", correct),
        gallery(
            "Misclassified, most confident first",
            wrong.into_iter().take(n * n).map(tile).collect(),
        ),
    )
}

fn probability_bars(
    input: &ReportInput,
    i: usize,
    probs: &Probabilities,
    labels: &[String],
) -> Result<ProbabilityBars> {
    if i >= probs.samples() {
        return Err(Error::flag(
            "--report-sample",
            format!(
                "{i} is past the last test sample ({})",
                probs.samples().saturating_sub(1)
            ),
        ));
    }
    let truth = input.images.labels[i] as usize;
    let (p, confidence) = probs.predicted(i);
    Ok(ProbabilityBars {
        title: format!(
            "Test sample {i}: class {}, predicted {} ({:.1}%)",
            labels[truth],
            labels[p],
            confidence * 100.0
        ),
        probabilities: probs.row(i).to_vec(),
        labels: labels.to_vec(),
        truth: Some(truth),
    })
}

/// The counts in `m`'s diagonal over its total, for the page.
fn accuracy_of(m: &CountMatrix) -> f64 {
    m.trace() as f64 / m.total().max(1) as f64
}

/// Class `c`'s name in `names`, its number past them.
fn class_name(names: &[String], c: usize) -> String {
    names.get(c).cloned().unwrap_or_else(|| c.to_string())
}
