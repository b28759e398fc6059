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

/// Writes `figure` as `dir/name.png` and `dir/name.svg`, each whole
/// ([`crate::output::replace`]); returns both paths.
pub fn save(figure: &impl Figure, dir: &Path, name: &str) -> Result<[PathBuf; 2]> {
    save_beside(figure, &dir.join(format!("{name}.png")))
}

/// Writes `figure` as the PNG `png` and as an SVG beside it (`.svg` for its extension), each
/// whole; returns both paths.
pub fn save_beside(figure: &impl Figure, png: &Path) -> Result<[PathBuf; 2]> {
    let svg = png.with_extension("svg");
    crate::output::replace(png, &png_bytes(figure, png)?)?;
    crate::output::replace(&svg, svg_text(figure, &svg)?.as_bytes())?;
    Ok([png.to_path_buf(), svg])
}

/// Writes `figure` to `path` whole, as its extension says (`.svg` or `.png`, any case), which
/// `flag` declares ([`crate::output::OUTPUT_FLAGS`]).
pub fn save_as(figure: &impl Figure, path: &Path, flag: &'static str) -> Result<()> {
    let bytes = match crate::output::check_extension(flag, path)?.as_str() {
        "svg" => svg_text(figure, path)?.into_bytes(),
        _ => png_bytes(figure, path)?,
    };
    crate::output::replace(path, &bytes)
}

fn fail(path: &Path, e: String) -> Error {
    Error::file(path, format!("cannot draw the figure: {e}"))
}

/// The PNG file of `figure` (`png` names it in errors): drawn into an RGB buffer, encoded by
/// the `image` crate.
fn png_bytes(figure: &impl Figure, png: &Path) -> Result<Vec<u8>> {
    register_font();
    let (w, h) = figure.size();
    let mut pixels = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(png, e.to_string()))?;
        figure.draw(&root).map_err(|e| fail(png, e.to_string()))?;
        root.present().map_err(|e| fail(png, e.to_string()))?;
    }
    let image = image::RgbImage::from_raw(w, h, pixels).expect("the buffer has w*h*3 bytes");
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| Error::file(png, format!("cannot encode the image: {e}")))?;
    Ok(bytes.into_inner())
}

/// The SVG text of `figure` (`svg` names it in errors).
fn svg_text(figure: &impl Figure, svg: &Path) -> Result<String> {
    register_font();
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, figure.size()).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(svg, e.to_string()))?;
        figure.draw(&root).map_err(|e| fail(svg, e.to_string()))?;
        root.present().map_err(|e| fail(svg, e.to_string()))?;
    }
    Ok(text)
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
