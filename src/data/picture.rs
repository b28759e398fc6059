//! Image files (PNG, JPEG) as model inputs, decoded with the `image` crate. For a grey model:
//! converted to 8-bit grey, inverted when the digit is dark on a light background (MNIST's
//! digits are light on black), and fitted to the model's input size the way MNIST itself was
//! made. For a colour model: converted to 8-bit RGB (a grey picture's level in all three) and
//! resized to the model's input size.

use std::path::Path;

use image::imageops::{self, FilterType};
use image::GrayImage;

use crate::error::{Error, Result};
use crate::floor::Shape;

/// Whether to invert an image's grey levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Invert {
    Yes,
    No,
    /// Invert when the border is mostly light: a dark digit on a light background.
    Auto,
}

/// One image ready for the model, and what was done to it.
#[derive(Clone, Debug)]
pub struct Picture {
    /// `[rows, cols, channels]`: grey levels, light digit on black, as the datasets store
    /// them; or RGB, channels-last.
    pub pixels: Vec<u8>,
    /// The file's size when it was not the model's (width, height).
    pub resized_from: Option<(u32, u32)>,
    pub inverted: bool,
}

/// The formats `load` reads, by extension (any case).
pub const READ: [&str; 3] = ["png", "jpg", "jpeg"];

/// Whether `path` names an image `load` reads (by its extension).
pub fn is_readable(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    ext.is_some_and(|e| READ.contains(&e.as_str()))
}

/// The name of the image format `path` is in, by its extension or its first bytes, where it
/// is one `load` does not read (GIF, BMP, TIFF, WebP, SVG, ...): so that such a file is
/// refused as an image of an unsupported format, not misread as another kind of input.
pub fn unsupported_format(path: &Path) -> Option<&'static str> {
    const BY_EXTENSION: [(&str, &str); 14] = [
        ("gif", "GIF"),
        ("bmp", "BMP"),
        ("tif", "TIFF"),
        ("tiff", "TIFF"),
        ("webp", "WebP"),
        ("svg", "SVG"),
        ("ico", "ICO"),
        ("heic", "HEIC"),
        ("heif", "HEIF"),
        ("avif", "AVIF"),
        ("jxl", "JPEG XL"),
        ("pbm", "PBM"),
        ("pgm", "PGM"),
        ("ppm", "PPM"),
    ];
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    if let Some((_, name)) = BY_EXTENSION
        .iter()
        .find(|(e, _)| Some(*e) == ext.as_deref())
    {
        return Some(name);
    }
    let mut head = [0u8; 16];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    let head = &head[..n];
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(b"GIF8") {
        Some("GIF")
    } else if starts(b"BM") {
        Some("BMP")
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        Some("TIFF")
    } else if starts(b"RIFF") && head.get(8..12) == Some(b"WEBP") {
        Some("WebP")
    } else if starts(b"<svg") || starts(b"<?xml") {
        Some("SVG")
    } else {
        None
    }
}

/// The error for an image of a format `load` does not read.
pub fn unsupported(path: &Path, format: &str) -> Error {
    Error::file(
        path,
        format!("a {format} image, which is not read; expected a PNG or JPEG image (or an IDX image file, with --indices)"),
    )
}

/// Reads `path` as a `rows x cols` input.
///
/// An image of another size is fitted as MNIST's digits were: the digit's bounding box
/// (pixels above a tenth of the brightest) is scaled, keeping its aspect ratio, into a box of
/// 20/28 of the frame, and placed so that its centre of mass is the frame's centre. A blank
/// image is simply resized.
pub fn load(path: &Path, image: Shape, invert: Invert) -> Result<Picture> {
    let bytes = crate::input::read(path)?;
    match image.c {
        1 => from_bytes(path, &bytes, (image.h, image.w), invert),
        _ => colour_from_bytes(path, &bytes, (image.h, image.w), invert),
    }
}

/// As [`load`] for a colour model: RGB, inverted only when asked (`--invert yes`), resized
/// bilinearly to `rows x cols` when it is of another size.
fn colour_from_bytes(
    path: &Path,
    bytes: &[u8],
    (rows, cols): (usize, usize),
    invert: Invert,
) -> Result<Picture> {
    let mut rgb = decode(path, bytes)?.to_rgb8();
    let inverted = invert == Invert::Yes;
    if inverted {
        imageops::invert(&mut rgb);
    }
    let (w, h) = rgb.dimensions();
    let resized_from = ((w as usize, h as usize) != (cols, rows)).then_some((w, h));
    if resized_from.is_some() {
        rgb = imageops::resize(&rgb, cols as u32, rows as u32, FilterType::Triangle);
    }
    Ok(Picture {
        pixels: rgb.into_raw(),
        resized_from,
        inverted,
    })
}

/// The decoded image; pictures larger than 8192x8192 are refused before they are decoded in
/// full.
fn decode(path: &Path, bytes: &[u8]) -> Result<image::DynamicImage> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::file(path, format!("cannot read it: {e}")))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(8192);
    limits.max_image_height = Some(8192);
    limits.max_alloc = Some(512 << 20);
    reader.limits(limits);
    reader.decode().map_err(|e| Error::file(path, describe(e)))
}

/// As [`load`], from the file's `bytes` (`path` names it in errors). Images larger than
/// 8192x8192 are refused before they are decoded in full.
pub fn from_bytes(
    path: &Path,
    bytes: &[u8],
    (rows, cols): (usize, usize),
    invert: Invert,
) -> Result<Picture> {
    let decoded = decode(path, bytes)?;
    let mut grey = match decoded.color().has_alpha() {
        true => composited(&decoded.to_luma_alpha8()),
        false => decoded.to_luma8(),
    };
    let inverted = match invert {
        Invert::Yes => true,
        Invert::No => false,
        Invert::Auto => border_mean(&grey) > 127.0,
    };
    if inverted {
        imageops::invert(&mut grey);
    }
    let (w, h) = grey.dimensions();
    if (w as usize, h as usize) == (cols, rows) {
        return Ok(Picture {
            pixels: grey.into_raw(),
            resized_from: None,
            inverted,
        });
    }
    Ok(Picture {
        pixels: fit_digit(&grey, rows as u32, cols as u32).into_raw(),
        resized_from: Some((w, h)),
        inverted,
    })
}

fn describe(e: image::ImageError) -> String {
    match e {
        image::ImageError::Limits(_) => {
            "is larger than predict reads (8192x8192 pixels, 512 MiB decoded); expected a picture of a digit".into()
        }
        image::ImageError::Unsupported(_) | image::ImageError::Decoding(_) => {
            format!("cannot read it as an image ({e}); expected a PNG or JPEG file")
        }
        other => other.to_string(),
    }
}

/// An image with transparency in grey: each pixel over the background its ink implies (a drawing
/// on a transparent canvas keeps its strokes in the opaque pixels): white behind dark ink,
/// black behind light ink, as the drawing would look on a page or a screen. Without this, the
/// transparent pixels' colour (often black, whatever the ink) would be taken for the picture.
fn composited(img: &image::GrayAlphaImage) -> GrayImage {
    let (mut ink, mut weight) = (0.0f64, 0.0f64);
    for p in img.pixels() {
        let a = p.0[1] as f64 / 255.0;
        ink += p.0[0] as f64 * a;
        weight += a;
    }
    let dark_ink = weight == 0.0 || ink / weight < 128.0;
    let background = if dark_ink { 255.0 } else { 0.0 };
    GrayImage::from_fn(img.width(), img.height(), |x, y| {
        let p = img.get_pixel(x, y).0;
        let a = p[1] as f64 / 255.0;
        image::Luma([(p[0] as f64 * a + background * (1.0 - a)).round() as u8])
    })
}

/// The mean grey level of the outermost ring of pixels.
fn border_mean(img: &GrayImage) -> f64 {
    let (w, h) = img.dimensions();
    let (sum, n) = img
        .enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x + 1 == w || *y + 1 == h)
        .fold((0u64, 0u64), |(s, n), (_, _, p)| (s + p.0[0] as u64, n + 1));
    sum as f64 / n.max(1) as f64
}

/// MNIST's normalisation of a light-on-dark digit into a `rows x cols` frame (see [`load`]).
fn fit_digit(img: &GrayImage, rows: u32, cols: u32) -> GrayImage {
    let Some((x0, y0, x1, y1)) = ink_box(img) else {
        return imageops::resize(img, cols, rows, FilterType::Triangle);
    };
    let digit = imageops::crop_imm(img, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
    let (dw, dh) = digit.dimensions();
    // MNIST: a 20x20 box in a 28x28 frame.
    let (box_w, box_h) = ((cols * 20).div_ceil(28), (rows * 20).div_ceil(28));
    let scale = (box_w as f64 / dw as f64).min(box_h as f64 / dh as f64);
    let (sw, sh) = (
        ((dw as f64 * scale).round() as u32).clamp(1, cols),
        ((dh as f64 * scale).round() as u32).clamp(1, rows),
    );
    let scaled = imageops::resize(&digit, sw, sh, FilterType::Triangle);
    let (mx, my) = centre_of_mass(&scaled);
    let left = (cols as f64 / 2.0 - mx)
        .round()
        .clamp(0.0, (cols - sw) as f64) as i64;
    let top = (rows as f64 / 2.0 - my)
        .round()
        .clamp(0.0, (rows - sh) as f64) as i64;
    let mut frame = GrayImage::new(cols, rows);
    imageops::overlay(&mut frame, &scaled, left, top);
    frame
}

/// The bounding box (inclusive) of pixels brighter than a tenth of the brightest.
fn ink_box(img: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    let max = img.pixels().map(|p| p.0[0]).max()?;
    if max == 0 {
        return None;
    }
    let threshold = max / 10;
    img.enumerate_pixels()
        .filter(|(_, _, p)| p.0[0] > threshold)
        .fold(None, |acc, (x, y, _)| match acc {
            None => Some((x, y, x, y)),
            Some((x0, y0, x1, y1)) => Some((x0.min(x), y0.min(y), x1.max(x), y1.max(y))),
        })
}

/// The intensity-weighted mean position (x, y), in pixels from the top left (pixel centres at
/// +0.5).
fn centre_of_mass(img: &GrayImage) -> (f64, f64) {
    let (mut sx, mut sy, mut total) = (0.0, 0.0, 0.0);
    for (x, y, p) in img.enumerate_pixels() {
        let v = p.0[0] as f64;
        sx += (x as f64 + 0.5) * v;
        sy += (y as f64 + 0.5) * v;
        total += v;
    }
    if total == 0.0 {
        let (w, h) = img.dimensions();
        return (w as f64 / 2.0, h as f64 / 2.0);
    }
    (sx / total, sy / total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A light 6x10 bar off-centre in a 40x30 dark frame, so fitting must scale and move it.
    fn bar(light_on_dark: bool) -> GrayImage {
        let (bg, fg) = if light_on_dark { (0, 255) } else { (255, 0) };
        GrayImage::from_fn(40, 30, |x, y| {
            let inside = (4..10).contains(&x) && (2..12).contains(&y);
            image::Luma([if inside { fg } else { bg }])
        })
    }

    #[test]
    fn dark_digits_on_light_backgrounds_are_detected() {
        assert_eq!(border_mean(&bar(true)), 0.0);
        assert_eq!(border_mean(&bar(false)), 255.0);
    }

    /// The bar's height fills the 20-pixel box of a 28x28 frame, its aspect is kept, and its
    /// centre of mass lands within a pixel of the frame's centre.
    #[test]
    fn fitting_scales_into_the_box_and_centres_by_mass() {
        let fitted = fit_digit(&bar(true), 28, 28);
        let (x0, y0, x1, y1) = ink_box(&fitted).unwrap();
        assert_eq!(y1 - y0 + 1, 20, "height fills the box");
        assert!(
            (11..=13).contains(&(x1 - x0 + 1)),
            "aspect kept: {x0}..{x1}"
        );
        let (mx, my) = centre_of_mass(&fitted);
        assert!(
            (mx - 14.0).abs() <= 1.0 && (my - 14.0).abs() <= 1.0,
            "{mx} {my}"
        );
    }
}
