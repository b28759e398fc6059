//! The report's charts, as the notebooks draw them with matplotlib: loss and accuracy curves,
//! the confusion matrix as a heat map, one sample's class probabilities, per-class scores.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::figure::{font, DrawResult, Figure};
use crate::eval::metrics::ClassScores;
use crate::eval::CountMatrix;

/// matplotlib's first two colours (training, validation).
pub const BLUE: RGBColor = RGBColor(31, 119, 180);
pub const ORANGE: RGBColor = RGBColor(255, 127, 14);
pub const GREEN: RGBColor = RGBColor(44, 160, 44);

/// matplotlib's "tab10", for many series at once.
pub const PALETTE: [RGBColor; 10] = [
    BLUE,
    ORANGE,
    GREEN,
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// One series of a curve chart: a name, a colour and a value per epoch (from 1).
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub color: RGBColor,
    pub values: Vec<f64>,
}

/// Side-by-side panels of curves per epoch, e.g. loss and accuracy, training against
/// validation.
#[derive(Clone, Debug)]
pub struct Curves {
    pub panels: Vec<(String, Vec<Series>)>,
}

impl Figure for Curves {
    fn size(&self) -> (u32, u32) {
        (520 * self.panels.len().max(1) as u32, 400)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let cells = area.split_evenly((1, self.panels.len().max(1)));
        for ((title, series), cell) in self.panels.iter().zip(&cells) {
            curve_panel(cell, title, series)?;
        }
        Ok(())
    }
}

fn curve_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[Series],
) -> DrawResult<DB> {
    let epochs = series
        .iter()
        .map(|s| s.values.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let (lo, hi) = value_range(series);
    let margin = ((hi - lo) * 0.08).max(1e-3);
    let mut chart = ChartBuilder::on(area)
        .caption(title, font(20.0))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.8f64..epochs as f64 + 0.2, (lo - margin)..(hi + margin))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_labels(epochs.min(10))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style(font(13.0))
        .axis_desc_style(font(14.0))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for s in series {
        let points: Vec<(f64, f64)> = s
            .values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, &v)| (i as f64 + 1.0, v))
            .collect();
        let color = s.color;
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .label_font(font(13.0))
        .background_style(WHITE.mix(0.8))
        .border_style(RGBColor(200, 200, 200))
        .position(legend_corner(series, (lo + hi) / 2.0))
        .draw()?;
    Ok(())
}

/// The lowest and highest finite value of any series ((0, 1) when there are none).
fn value_range(series: &[Series]) -> (f64, f64) {
    let finite = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    }
}

/// The corner the curves leave free: bottom right when they end above `middle` (accuracy),
/// top right when they end below it (loss).
fn legend_corner(series: &[Series], middle: f64) -> SeriesLabelPosition {
    let ends: Vec<f64> = series
        .iter()
        .filter_map(|s| s.values.last().copied())
        .collect();
    let end = ends.iter().sum::<f64>() / ends.len().max(1) as f64;
    if end > middle {
        SeriesLabelPosition::LowerRight
    } else {
        SeriesLabelPosition::UpperRight
    }
}

/// The confusion matrix as a heat map with the count in every cell, true classes down.
#[derive(Clone, Debug)]
pub struct ConfusionHeatmap {
    /// "Confusion matrix", or a run's name when several are side by side.
    pub title: String,
    pub counts: CountMatrix,
    pub labels: Vec<String>,
}

impl Figure for ConfusionHeatmap {
    fn size(&self) -> (u32, u32) {
        (640, 600)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let n = self.counts.rows as i32;
        // Segmented axes: one label centred under each class's cell. The y axis runs from the
        // top, as matplotlib's imshow puts the first row there.
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, font(20.0))
            .margin(12)
            .x_label_area_size(60)
            .y_label_area_size(90)
            // plotters' integer ranges are inclusive as discrete axes: 0..n-1 is n segments.
            .build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented())?;
        let label = |v: &SegmentValue<i32>, flip: bool| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                let i = if flip { n - 1 - i } else { *i };
                self.labels.get(i as usize).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted class")
            .y_desc("true class")
            .x_labels(n as usize)
            .y_labels(n as usize)
            .x_label_formatter(&|v| label(v, false))
            .y_label_formatter(&|v| label(v, true))
            .label_style(font(13.0))
            .axis_desc_style(font(14.0))
            .draw()?;
        let max = self.counts.counts.iter().copied().max().unwrap_or(1).max(1) as f64;
        for t in 0..n {
            for p in 0..n {
                let count = self.counts.at(t as usize, p as usize);
                // sqrt: the diagonal's thousands would otherwise wash out every confusion.
                let level = (count as f64 / max).sqrt();
                let y = n - 1 - t;
                let cell = [
                    (SegmentValue::Exact(p), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(p + 1), SegmentValue::Exact(y + 1)),
                ];
                chart.draw_series([Rectangle::new(cell, blues(level).filled())])?;
                let color = if level > 0.55 { WHITE } else { BLACK };
                let style = font(13.0).color(&color).pos(text_centre());
                let centre = (SegmentValue::CenterOf(p), SegmentValue::CenterOf(y));
                chart.draw_series([Text::new(count.to_string(), centre, style)])?;
            }
        }
        Ok(())
    }
}

/// The class name of a segmented axis position.
fn class_label(labels: &[String], v: &SegmentValue<i32>) -> String {
    match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
            labels.get(*i as usize).cloned().unwrap_or_default()
        }
        SegmentValue::Last => String::new(),
    }
}

fn text_centre() -> plotters::style::text_anchor::Pos {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    Pos::new(HPos::Center, VPos::Center)
}

/// matplotlib's "Blues" from white (0) to dark blue (1).
fn blues(level: f64) -> RGBColor {
    let l = level.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * l).round() as u8;
    RGBColor(mix(247.0, 8.0), mix(251.0, 48.0), mix(255.0, 107.0))
}

/// One sample's probability per class, as the notebooks' `plt.bar(range(10), p)`.
#[derive(Clone, Debug)]
pub struct ProbabilityBars {
    pub title: String,
    pub probabilities: Vec<f32>,
    pub labels: Vec<String>,
    /// The sample's true class, drawn in green (the predicted one is blue, or orange when it
    /// is wrong).
    pub truth: Option<usize>,
}

impl Figure for ProbabilityBars {
    fn size(&self) -> (u32, u32) {
        (640, 380)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let n = self.probabilities.len() as i32;
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, font(18.0))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..1.05)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n as usize)
            .x_label_formatter(&|v| class_label(&self.labels, v))
            .y_desc("probability")
            .label_style(font(13.0))
            .axis_desc_style(font(14.0))
            .draw()?;
        let p = &self.probabilities;
        let best = (0..p.len()).fold(0, |b, c| if p[c] > p[b] { c } else { b });
        chart.draw_series(p.iter().enumerate().map(|(c, &v)| {
            let color = match (Some(c) == self.truth, c == best) {
                (true, _) => GREEN,
                (false, true) => ORANGE,
                _ => BLUE,
            };
            let x = |c: usize| SegmentValue::Exact(c as i32);
            let mut bar = Rectangle::new([(x(c), 0.0), (x(c + 1), v as f64)], color.filled());
            bar.set_margin(0, 0, 10, 10);
            bar
        }))?;
        Ok(())
    }
}

/// Bars per class, grouped: one series each (precision, recall and F1 of a run, or one
/// score of several runs), with a legend.
#[derive(Clone, Debug)]
pub struct ClassBars {
    pub title: String,
    pub labels: Vec<String>,
    /// Each series' name, colour and value per class.
    pub series: Vec<(String, RGBColor, Vec<f64>)>,
}

impl ClassBars {
    /// Precision, recall and F1 per class, as scikit-learn's report lists them.
    pub fn per_class(scores: &[ClassScores], labels: Vec<String>) -> ClassBars {
        let series = |name: &str, color, value: fn(&ClassScores) -> f64| {
            (name.to_string(), color, scores.iter().map(value).collect())
        };
        ClassBars {
            title: "Per-class precision, recall and F1".into(),
            labels,
            series: vec![
                series("precision", BLUE, |s| s.precision),
                series("recall", ORANGE, |s| s.recall),
                series("f1-score", GREEN, |s| s.f1),
            ],
        }
    }
}

impl Figure for ClassBars {
    fn size(&self) -> (u32, u32) {
        (900, 400)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let n = self.labels.len();
        let lowest = self
            .series
            .iter()
            .flat_map(|s| s.2.iter().copied())
            .fold(1.0f64, f64::min);
        // Zoom in on the top, as the scores of a good model all sit near 1.
        let floor = ((lowest - 0.05) * 10.0).floor().clamp(0.0, 9.0) / 10.0;
        // Headroom above 1 for the legend, unlabelled.
        let top = 1.0 + 0.25 * (1.0 - floor);
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, font(18.0))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..n as f64, floor..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            // Ticks every half class; the names go on the middles.
            .x_labels(2 * n + 1)
            .x_label_formatter(&|v| {
                let middle = (v.fract() - 0.5).abs() < 1e-6;
                let name = self.labels.get(v.floor() as usize).filter(|_| middle);
                name.cloned().unwrap_or_default()
            })
            .y_label_formatter(&|v| {
                if *v > 1.0 + 1e-9 {
                    String::new()
                } else {
                    format!("{v:.2}")
                }
            })
            .label_style(font(12.0))
            .draw()?;
        // The group fills 0.8 of a class's width, its bars side by side.
        let width = 0.8 / self.series.len().max(1) as f64;
        for (k, (name, color, values)) in self.series.iter().enumerate() {
            let color = *color;
            let bars = values.iter().enumerate().map(move |(c, &v)| {
                let x = c as f64 + 0.1 + width * k as f64;
                Rectangle::new([(x, floor), (x + width * 0.92, v)], color.filled())
            });
            chart
                .draw_series(bars)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .label_font(font(13.0))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        Ok(())
    }
}
