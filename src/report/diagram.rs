//! The model diagram, as `keras.utils.plot_model(model, show_shapes=True)` draws it: one box
//! per layer from the input down, each with its name and class, its input and output shapes
//! and its parameter count, joined by arrows.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::figure::{font, DrawResult, Figure};
use crate::model::summary::{shape_text, thousands};
use crate::model::Network;

/// One box: `name (Class)` on the left, the shapes and parameters on the right.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerBox {
    pub title: String,
    pub input: String,
    pub output: String,
    /// None for the input, which has no parameters to show.
    pub params: Option<String>,
}

/// The diagram of a network: its input and each layer, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelDiagram {
    pub boxes: Vec<LayerBox>,
}

/// Sizes in pixels: the shape cell's width (its longest line is an image's shape), the
/// boxes' height, the gap an arrow spans, the margin.
const SHAPES_WIDTH: i32 = 300;
const HEIGHT: i32 = 66;
const GAP: i32 = 30;
const MARGIN: i32 = 16;
const LINE: RGBColor = RGBColor(60, 60, 60);
const FILL: RGBColor = RGBColor(238, 244, 252);

impl ModelDiagram {
    /// The title cell's width: the longest title at about 8 pixels a character (DejaVu Sans
    /// at 15 px), with room either side.
    fn title_width(&self) -> i32 {
        let longest = self.boxes.iter().map(|b| b.title.chars().count());
        (longest.max().unwrap_or(0) as i32 * 8 + 28).max(200)
    }

    fn width(&self) -> i32 {
        self.title_width() + SHAPES_WIDTH
    }

    pub fn of(net: &Network) -> ModelDiagram {
        let input = shape_text(net.input, false);
        let mut boxes = vec![LayerBox {
            title: "input_layer (InputLayer)".into(),
            input: input.clone(),
            output: input,
            params: None,
        }];
        let mut flat_in = false;
        for (i, node) in net.layers.iter().enumerate() {
            boxes.push(LayerBox {
                title: format!("{} ({})", node.name, node.class),
                input: shape_text(node.input, flat_in),
                output: shape_text(node.output, node.flat),
                params: Some(thousands(net.layer_param_count(i))),
            });
            flat_in = node.flat;
        }
        ModelDiagram { boxes }
    }
}

impl Figure for ModelDiagram {
    fn size(&self) -> (u32, u32) {
        let n = self.boxes.len() as i32;
        let height = 2 * MARGIN + n * HEIGHT + (n - 1).max(0) * GAP;
        ((self.width() + 2 * MARGIN) as u32, height as u32)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        for (i, layer) in self.boxes.iter().enumerate() {
            let top = MARGIN + i as i32 * (HEIGHT + GAP);
            draw_box(area, layer, (top, self.title_width()))?;
            if i + 1 < self.boxes.len() {
                let x = MARGIN + self.width() / 2;
                draw_arrow(area, x, (top + HEIGHT, top + HEIGHT + GAP))?;
            }
        }
        Ok(())
    }
}

/// The box of `layer` with its top edge at `top`: the title cell `title_width` wide, then one
/// line each for the input shape, the output shape and the parameters.
fn draw_box<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    layer: &LayerBox,
    (top, title_width): (i32, i32),
) -> DrawResult<DB> {
    let split = MARGIN + title_width;
    let (left, right, bottom) = (MARGIN, split + SHAPES_WIDTH, top + HEIGHT);
    area.draw(&Rectangle::new(
        [(left, top), (right, bottom)],
        FILL.filled(),
    ))?;
    area.draw(&Rectangle::new(
        [(left, top), (right, bottom)],
        LINE.stroke_width(1),
    ))?;
    area.draw(&PathElement::new(vec![(split, top), (split, bottom)], LINE))?;
    let centred = font(15.0).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new(
        layer.title.clone(),
        ((left + split) / 2, (top + bottom) / 2),
        centred,
    ))?;
    let mut lines = vec![
        format!("Input shape: {}", layer.input),
        format!("Output shape: {}", layer.output),
    ];
    if let Some(params) = &layer.params {
        lines.push(format!("Params: {params}"));
    }
    let step = HEIGHT / (lines.len() as i32 + 1);
    let left_aligned = font(13.0).pos(Pos::new(HPos::Left, VPos::Center));
    for (j, line) in lines.into_iter().enumerate() {
        let y = top + step * (j as i32 + 1);
        area.draw(&Text::new(line, (split + 12, y), left_aligned.clone()))?;
    }
    Ok(())
}

/// An arrow down at `x`, from `y0` to `y1`.
fn draw_arrow<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    x: i32,
    (y0, y1): (i32, i32),
) -> DrawResult<DB> {
    area.draw(&PathElement::new(
        vec![(x, y0), (x, y1 - 8)],
        LINE.stroke_width(2),
    ))?;
    area.draw(&Polygon::new(
        vec![(x - 6, y1 - 9), (x + 6, y1 - 9), (x, y1)],
        LINE.filled(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::floor::Shape;
    use crate::model::ModelSpec;

    /// The cnn preset's boxes carry Keras's names, shapes and parameter counts, as its
    /// summary does.
    #[test]
    fn the_cnn_diagram_has_a_box_per_layer_with_its_shapes() {
        let net = ModelSpec::preset("cnn", None, 10)
            .unwrap()
            .compile(Shape::new(28, 28, 1), 10)
            .unwrap();
        let d = ModelDiagram::of(&net);
        assert_eq!(d.boxes.len(), net.layers.len() + 1);
        assert_eq!(d.boxes[0].output, "(None, 28, 28, 1)");
        let first = &d.boxes[1];
        assert_eq!(first.title, "conv2d (Conv2D)");
        assert_eq!(
            (first.input.as_str(), first.output.as_str()),
            ("(None, 28, 28, 1)", "(None, 26, 26, 32)")
        );
        assert_eq!(first.params.as_deref(), Some("320"));
        let last = d.boxes.last().unwrap();
        assert_eq!(last.output, "(None, 10)");
        // Each box reads what the one above writes.
        for pair in d.boxes.windows(2) {
            assert_eq!(pair[1].input, pair[0].output, "{pair:?}");
        }
        // The title cell fits the longest title, "max_pooling2d_1 (MaxPooling2D)".
        let (w, h) = d.size();
        let n = d.boxes.len() as u32;
        assert_eq!((w, h), (32 + 30 * 8 + 28 + 300, 32 + n * 66 + (n - 1) * 30));
    }
}
