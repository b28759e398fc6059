//! A comparison's report, as the notebooks compare an MLP with a CNN: every run's
//! validation and training curves overlaid, each run's own curves (as its `train --report`
//! draws them), the confusion matrices side by side, per-class F1 by run, the test images the
//! best run gets wrong and the second gets right (and the other way round), and a page with the
//! table and each run's model.

use crate::floor::Shape;
use std::path::{Path, PathBuf};

use super::charts::{ClassBars, ConfusionHeatmap, Curves, Series, PALETTE};
use super::diagram::ModelDiagram;
use super::figure::{self, Figure};
use super::gallery::{Gallery, Tile};
use super::html::{escape, STYLE};
use crate::data::{DatasetKind, Split};
use crate::error::{Error, Result};
use crate::model::{summary, Network};
use crate::train::compare::{self, Outcome, TestOutcome};

/// The test split the runs were scored on, for the galleries.
pub struct TestImages<'a> {
    pub split: &'a Split,
    /// One image's shape.
    pub image: Shape,
    /// Each class's name.
    pub class_names: &'a [String],
}

/// What a comparison's report shows.
pub struct CompareInput<'a> {
    /// e.g. `comparison on mnist, 16 epochs`.
    pub title: String,
    /// The runs, best first.
    pub outcomes: &'a [Outcome],
    /// The table the command printed.
    pub table: String,
    pub dataset: DatasetKind,
    /// Without them the report has no galleries (a merge given no `--data`, finished runs).
    pub images: Option<TestImages<'a>>,
    /// Each gallery is `n x n` images at most.
    pub gallery: usize,
}

/// A figure of the page: its file stem, heading group and caption.
struct Drawn {
    stem: String,
    section: &'static str,
    caption: String,
}

/// The figures written so far into the report's directory, in the page's order.
struct Figures<'a> {
    dir: &'a Path,
    drawn: Vec<Drawn>,
}

impl Figures<'_> {
    /// Writes `figure` as `stem.png` and `stem.svg` and lists it under `section`.
    fn add(
        &mut self,
        figure: &impl Figure,
        stem: String,
        section: &'static str,
        caption: String,
    ) -> Result<()> {
        figure::save(figure, self.dir, &stem)?;
        self.drawn.push(Drawn {
            stem,
            section,
            caption,
        });
        Ok(())
    }
}

/// Writes every figure and `index.html` as the report `dir` (replacing one there whole);
/// returns the page's path.
pub fn write(dir: &Path, input: &CompareInput) -> Result<PathBuf> {
    crate::output::replace_dir(dir, |staging| write_into(staging, input))?;
    Ok(dir.join("index.html"))
}

fn write_into(dir: &Path, input: &CompareInput) -> Result<()> {
    let names = compare::labels(input.outcomes, &compare::differing(input.outcomes));
    let labels = class_names(input);
    let mut figures = Figures {
        dir,
        drawn: Vec::new(),
    };
    add_curves(&mut figures, input, &names)?;
    add_test_figures(&mut figures, input, &names, &labels)?;
    let models = networks(input)?;
    for (i, (net, name)) in models.iter().zip(&names).enumerate() {
        figures.add(
            &ModelDiagram::of(net),
            format!("model-{}", i + 1),
            "Models",
            format!("{name}: its layers, shapes and parameters"),
        )?;
    }
    let page = dir.join("index.html");
    let html = page_html(input, &names, &figures.drawn, &models);
    std::fs::write(&page, html).map_err(|e| Error::Io {
        path: page.clone(),
        source: e,
    })
}

/// The curves: validation and training overlaid, then each run's own.
fn add_curves(figures: &mut Figures, input: &CompareInput, names: &[String]) -> Result<()> {
    for (stem, title, key) in [
        ("validation", "Validation", "val_"),
        ("training", "Training", ""),
    ] {
        figures.add(
            &overlaid(input.outcomes, names, title, key),
            stem.into(),
            "Curves",
            format!("{title} loss and accuracy per epoch, every run"),
        )?;
    }
    for (i, (o, name)) in input.outcomes.iter().zip(names).enumerate() {
        figures.add(
            &crate::report::curves(&o.history),
            format!("run-{}", i + 1),
            "Each run's curves",
            format!("{name}: training against validation, as its own report draws them"),
        )?;
    }
    Ok(())
}

/// The figures of the runs' test passes: confusion matrices, F1 by run, the galleries.
fn add_test_figures(
    figures: &mut Figures,
    input: &CompareInput,
    names: &[String],
    labels: &[String],
) -> Result<()> {
    for (i, (o, name)) in input.outcomes.iter().zip(names).enumerate() {
        let Some(test) = &o.test else { continue };
        let heatmap = ConfusionHeatmap {
            title: name.clone(),
            counts: test.counts(),
            labels: labels.to_vec(),
        };
        figures.add(
            &heatmap,
            format!("confusion-{}", i + 1),
            "Confusion matrices",
            format!("{name}: test accuracy {:.4}", test.accuracy),
        )?;
    }
    if let Some(bars) = f1_by_run(input.outcomes, names, labels) {
        let caption = "Each class's F1 score on the test set, by run".to_string();
        figures.add(&bars, "f1".into(), "Per-class F1", caption)?;
    }
    for (stem, gallery) in mistakes(input, names, labels) {
        let caption = gallery.title.clone();
        let section = "Mistakes one run makes and the other does not";
        figures.add(&gallery, stem, section, caption)?;
    }
    Ok(())
}

/// Every run's `{key}loss` and `{key}accuracy`, one panel each, a series per run.
fn overlaid(outcomes: &[Outcome], names: &[String], title: &str, key: &str) -> Curves {
    let series = |metric: &str| -> Vec<Series> {
        outcomes
            .iter()
            .zip(names)
            .enumerate()
            .map(|(i, (o, name))| Series {
                name: name.clone(),
                color: PALETTE[i % PALETTE.len()],
                values: o.column(&format!("{key}{metric}")),
            })
            .collect()
    };
    Curves {
        panels: vec![
            (format!("{title} loss"), series("loss")),
            (format!("{title} accuracy"), series("accuracy")),
        ],
    }
}

/// The class names of the runs' dataset.
fn class_names(input: &CompareInput) -> Vec<String> {
    let classes = input
        .outcomes
        .iter()
        .find_map(|o| o.test.as_ref().map(|t| t.classes))
        .unwrap_or(10);
    match &input.images {
        Some(images) => images.class_names.to_vec(),
        None => (0..classes).map(|c| input.dataset.class_name(c)).collect(),
    }
}

/// F1 per class, a series per run with test results; none when no run has them.
fn f1_by_run(outcomes: &[Outcome], names: &[String], labels: &[String]) -> Option<ClassBars> {
    let series: Vec<(String, _, Vec<f64>)> = outcomes
        .iter()
        .zip(names)
        .enumerate()
        .filter_map(|(i, (o, name))| {
            let test = o.test.as_ref()?;
            let f1 = test.counts().per_class().iter().map(|s| s.f1).collect();
            Some((name.clone(), PALETTE[i % PALETTE.len()], f1))
        })
        .collect();
    (!series.is_empty()).then(|| ClassBars {
        title: "Per-class F1 by run".into(),
        labels: labels.to_vec(),
        series,
    })
}

/// The test images the best run gets wrong and the second best right, and the other way
/// round (of the runs with test results), each titled with both predictions.
fn mistakes(input: &CompareInput, names: &[String], labels: &[String]) -> Vec<(String, Gallery)> {
    let Some(images) = &input.images else {
        return Vec::new();
    };
    let scored: Vec<(usize, &TestOutcome)> = input
        .outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.test.as_ref().map(|t| (i, t)))
        .take(2)
        .collect();
    let [(a, ta), (b, tb)] = scored[..] else {
        return Vec::new();
    };
    let n = input.gallery.max(1);
    let (rows, cols, size) = (images.image.h, images.image.w, images.image.features());
    let samples = images
        .split
        .len()
        .min(ta.predicted.len())
        .min(tb.predicted.len());
    let gallery = |(x, tx): (usize, &TestOutcome), (y, ty): (usize, &TestOutcome)| {
        let truth = |i: usize| images.split.labels[i] as usize;
        let tiles = (0..samples)
            .filter(|&i| {
                tx.predicted[i] as usize != truth(i) && ty.predicted[i] as usize == truth(i)
            })
            .take(n * n)
            .map(|i| Tile {
                pixels: images.split.images[i * size..(i + 1) * size].to_vec(),
                title: format!(
                    "Predicted {}, Class {}",
                    labels[tx.predicted[i] as usize],
                    labels[truth(i)]
                ),
            })
            .collect();
        let title = format!("Mistakes of {} that {} gets right", names[x], names[y]);
        (
            format!("only-{}-wrong", x + 1),
            Gallery {
                title,
                tiles,
                columns: n,
                rows,
                cols,
                channels: images.image.c,
            },
        )
    };
    vec![gallery((a, ta), (b, tb)), gallery((b, tb), (a, ta))]
}

/// Each run's model, compiled from its recorded spec for the summary and the diagram.
fn networks(input: &CompareInput) -> Result<Vec<Network>> {
    input
        .outcomes
        .iter()
        .map(|o| {
            o.settings
                .model()
                .map(|(_, net)| net)
                .map_err(|e| Error::Mismatch(format!("run {}: {e}", o.run.index + 1)))
        })
        .collect()
}

/// The page: the table, then every figure under its section, then each run's settings that
/// differ and its model summary.
fn page_html(
    input: &CompareInput,
    names: &[String],
    drawn: &[Drawn],
    models: &[Network],
) -> String {
    let mut body = format!(
        "<h1>shaderfit: {}</h1>\n<pre>{}</pre>\n",
        escape(&input.title),
        escape(&input.table)
    );
    let mut section = "";
    for d in drawn {
        if d.section != section {
            if !section.is_empty() {
                body += "</div>\n";
            }
            section = d.section;
            body += &format!("<h2>{}</h2>\n<div class=\"row\">\n", escape(section));
        }
        body += &format!(
            "<figure><a href=\"{s}.svg\"><img src=\"{s}.png\" alt=\"{c}\"></a>\
             <figcaption>{c} (<a href=\"{s}.svg\">SVG</a>)</figcaption></figure>\n",
            s = escape(&d.stem),
            c = escape(&d.caption),
        );
    }
    if !section.is_empty() {
        body += "</div>\n";
    }
    body += "<h2>Runs</h2>\n";
    let differing = compare::differing(input.outcomes);
    for ((o, name), net) in input.outcomes.iter().zip(names).zip(models) {
        body += &format!("<h3>{}</h3>\n<table>\n", escape(name));
        let mut rows = vec![("model".to_string(), o.model.clone())];
        rows.extend(
            differing
                .iter()
                .map(|k| (k.clone(), crate::settings::show(o.setting_map().get(k)))),
        );
        rows.push(("adapter".into(), o.adapter.clone()));
        if let Some(source) = &o.source {
            rows.push(("history file".into(), source.clone()));
        }
        if let Some(why) = &o.diverged {
            rows.push(("diverged".into(), why.clone()));
        }
        for (k, v) in rows.iter().filter(|(_, v)| !v.is_empty()) {
            body += &format!("<tr><td>{}</td><td>{}</td></tr>\n", escape(k), escape(v));
        }
        body += &format!("</table>\n<pre>{}</pre>\n", escape(&summary::summary(net)));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>shaderfit: {}</title>\n<style>{STYLE}.row{{display:flex;flex-wrap:wrap;\
         gap:1em}}.row figure{{flex:1 1 45%;min-width:300px}}</style>\n</head>\n<body>\n\
         {body}</body>\n</html>\n",
        escape(&input.title)
    )
}
