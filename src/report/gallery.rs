//! Grids of dataset images with a title each, as the notebooks' `plt.subplot` grids: correct
//! and misclassified test images ("Predicted 3, Class 5"), and `data show`'s samples.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::figure::{font, DrawResult, Figure};

/// One image of a grid: `[rows, cols, channels]` levels (grey or RGB) and its title.
#[derive(Clone, Debug)]
pub struct Tile {
    pub pixels: Vec<u8>,
    pub title: String,
}

/// Images in a grid of `columns`, each `rows x cols` pixels, drawn about 120 pixels wide:
/// grey images in matplotlib's "gray" colour map (0 black), RGB images in their colours.
#[derive(Clone, Debug)]
pub struct Gallery {
    pub title: String,
    pub tiles: Vec<Tile>,
    pub columns: usize,
    /// One image's size.
    pub rows: usize,
    pub cols: usize,
    /// 1 (grey) or 3 (RGB).
    pub channels: usize,
}

const TITLE_H: u32 = 40;
const CAPTION_H: u32 = 24;
const PAD: u32 = 10;

/// The widest and tallest figure drawn, in pixels: a bitmap of 8192 x 8192 is 200 MB, and the
/// plotting crate panics on sizes it cannot allocate.
pub const MAX_SIDE: u64 = 8192;

/// Refuses, before any work, an `n x n` grid of `rows x cols` images (`flag`'s `n`) whose
/// figure would be larger than [`MAX_SIDE`] on a side, saying how large `n` may be.
pub fn check_grid(flag: &'static str, n: usize, (rows, cols): (usize, usize)) -> crate::Result<()> {
    let probe = |n: usize| {
        let g = Gallery {
            title: String::new(),
            tiles: Vec::new(),
            columns: 1,
            rows,
            cols,
            channels: 1,
        };
        let (cw, ch) = g.cell();
        let side = |cell: u32| {
            (cell as u64)
                .saturating_mul(n as u64)
                .saturating_add(TITLE_H as u64)
        };
        (side(cw), side(ch))
    };
    let (w, h) = probe(n);
    if n >= 1 && w <= MAX_SIDE && h <= MAX_SIDE {
        return Ok(());
    }
    let most = (1..=MAX_SIDE as usize)
        .take_while(|&m| probe(m).0 <= MAX_SIDE && probe(m).1 <= MAX_SIDE)
        .last()
        .unwrap_or(1);
    if n == 0 {
        return Err(crate::Error::flag(
            flag,
            format!("0 images a side draws nothing; expected 1 to {most}"),
        ));
    }
    Err(crate::Error::flag(
        flag,
        format!(
            "{n}; expected 1 to {most} ({n}x{n} images of {rows}x{cols} make a figure of {w}x{h} pixels; figures are at most {MAX_SIDE} on a side)"
        ),
    ))
}

impl Gallery {
    /// Pixels per image pixel: images about 120 pixels wide.
    fn scale(&self) -> u32 {
        (120 / self.cols.max(1) as u32).max(1)
    }

    fn cell(&self) -> (u32, u32) {
        let s = self.scale();
        // At least as wide as a title such as "Predicted 3, Class 5".
        (
            (self.cols as u32 * s + 2 * PAD).max(170),
            self.rows as u32 * s + CAPTION_H + PAD,
        )
    }
}

impl Figure for Gallery {
    fn size(&self) -> (u32, u32) {
        let columns = self.columns.max(1);
        let lines = self.tiles.len().div_ceil(columns).max(1);
        let (cw, ch) = self.cell();
        (cw * columns as u32 + PAD, ch * lines as u32 + TITLE_H)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (w, _) = self.size();
        let centred = font(20.0).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        ));
        area.draw(&Text::new(self.title.clone(), (w as i32 / 2, 10), centred))?;
        if self.tiles.is_empty() {
            let note = font(15.0).color(&RGBColor(90, 90, 90));
            area.draw(&Text::new(
                "(none)",
                (PAD as i32, TITLE_H as i32 + 10),
                note,
            ))?;
        }
        let (cw, ch) = self.cell();
        for (i, tile) in self.tiles.iter().enumerate() {
            let (col, line) = (
                (i % self.columns.max(1)) as u32,
                (i / self.columns.max(1)) as u32,
            );
            let origin = ((PAD + col * cw) as i32, (TITLE_H + line * ch) as i32);
            self.draw_tile(area, tile, origin)?;
        }
        Ok(())
    }
}

impl Gallery {
    fn draw_tile<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        tile: &Tile,
        (x, y): (i32, i32),
    ) -> DrawResult<DB> {
        let centred = font(14.0).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        ));
        let (cw, _) = self.cell();
        area.draw(&Text::new(
            tile.title.clone(),
            (x + cw as i32 / 2 - PAD as i32, y),
            centred,
        ))?;
        let s = self.scale() as i32;
        let left = x + (cw as i32 - 2 * PAD as i32 - self.cols as i32 * s) / 2;
        let top = y + CAPTION_H as i32;
        // A square per run of equal pixels in a row: crisp when scaled, and few enough
        // elements that the SVG stays small (MNIST's rows are mostly runs of black).
        let channels = self.channels.max(1);
        let colour = |p: &[u8]| match p {
            [r, g, b, ..] => RGBColor(*r, *g, *b),
            [v, ..] => RGBColor(*v, *v, *v),
            [] => RGBColor(0, 0, 0),
        };
        for (r, row) in tile.pixels.chunks(self.cols.max(1) * channels).enumerate() {
            let pixels: Vec<&[u8]> = row.chunks(channels).collect();
            let mut c = 0;
            while c < pixels.len() {
                let run = pixels[c..].iter().take_while(|p| **p == pixels[c]).count();
                let (x0, y0) = (left + c as i32 * s, top + r as i32 * s);
                area.draw(&Rectangle::new(
                    [(x0, y0), (x0 + run as i32 * s, y0 + s)],
                    colour(pixels[c]).filled(),
                ))?;
                c += run;
            }
        }
        Ok(())
    }
}
