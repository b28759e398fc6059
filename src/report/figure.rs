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
    let png = dir.join(format!("{name}.png"));
    let svg = dir.join(format!("{name}.svg"));
    write_png(figure, &png)?;
    write_svg(figure, &svg)?;
    Ok([png, svg])
}

/// Writes `figure` to `path` as its extension says, `.svg` or `.png`; `flag` names the
/// option that gave the path in the error for any other extension.
pub fn save_as(figure: &impl Figure, path: &Path, flag: &'static str) -> Result<()> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("svg") => write_svg(figure, path),
        Some(e) if e.eq_ignore_ascii_case("png") => write_png(figure, path),
        _ => Err(Error::flag(
            flag,
            format!(
                "'{}' has no .svg or .png extension; expected a file such as model.svg",
                path.display()
            ),
        )),
    }
}

fn fail(path: &Path, e: String) -> Error {
    Error::file(path, format!("cannot draw the figure: {e}"))
}

/// Drawn into an RGB buffer, encoded by the `image` crate.
fn write_png(figure: &impl Figure, png: &Path) -> Result<()> {
    register_font();
    let (w, h) = figure.size();
    let mut pixels = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(png, e.to_string()))?;
        figure.draw(&root).map_err(|e| fail(png, e.to_string()))?;
        root.present().map_err(|e| fail(png, e.to_string()))?;
    }
    image::RgbImage::from_raw(w, h, pixels)
        .expect("the buffer has w*h*3 bytes")
        .save(png)
        .map_err(|e| Error::file(png, format!("cannot write the image: {e}")))
}

fn write_svg(figure: &impl Figure, svg: &Path) -> Result<()> {
    register_font();
    let root = SVGBackend::new(svg, figure.size()).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(svg, e.to_string()))?;
    figure.draw(&root).map_err(|e| fail(svg, e.to_string()))?;
    root.present().map_err(|e| fail(svg, e.to_string()))
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
