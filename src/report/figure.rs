//! A figure is drawn once, generically over plotters' backends, and saved twice: as PNG (drawn
//! into an RGB buffer by plotters' bitmap backend, encoded by the `image` crate) and as SVG.
//! Text in PNGs uses the bundled DejaVu Sans (`assets/fonts`), so figures look the same on
//! every machine, whatever fonts it has.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};

/// The bundled font, registered with plotters as `sans-serif` on first use.
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
pub const FONT_FAMILY: &str = "sans-serif";

/// Something that can draw itself onto any plotters backend.
pub trait Figure {
    /// Its size in pixels (width, height).
    fn size(&self) -> (u32, u32);
    /// Draws onto `area`, which has [`Figure::size`].
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

pub type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Writes `figure` as `dir/name.png` and `dir/name.svg`; returns both paths.
pub fn save(figure: &impl Figure, dir: &Path, name: &str) -> Result<[PathBuf; 2]> {
    register_font();
    let (w, h) = figure.size();
    let png = dir.join(format!("{name}.png"));
    let svg = dir.join(format!("{name}.svg"));
    let fail = |path: &Path, e: String| Error::file(path, format!("cannot draw the figure: {e}"));

    let mut pixels = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&png, e.to_string()))?;
        figure.draw(&root).map_err(|e| fail(&png, e.to_string()))?;
        root.present().map_err(|e| fail(&png, e.to_string()))?;
    }
    image::RgbImage::from_raw(w, h, pixels)
        .expect("the buffer has w*h*3 bytes")
        .save(&png)
        .map_err(|e| Error::file(&png, format!("cannot write the image: {e}")))?;

    {
        let root = SVGBackend::new(&svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&svg, e.to_string()))?;
        figure.draw(&root).map_err(|e| fail(&svg, e.to_string()))?;
        root.present().map_err(|e| fail(&svg, e.to_string()))?;
    }
    Ok([png, svg])
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font (checked by the figure tests).
        let _ = plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT);
    });
}

/// Text of `size` pixels in the bundled font.
pub fn font(size: f64) -> TextStyle<'static> {
    (FONT_FAMILY, size).into_font().into()
}
