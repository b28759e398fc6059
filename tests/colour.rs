//! Colour end to end: a task only colour can solve. MNIST digits (the bundled copy in
//! `assets/mnist`) drawn in one of two colours of the same luminance, 20 classes (digit x
//! colour), as an RGB `.npz`. A model trained on the RGB images tells the colours apart; the
//! same images converted to grey (ITU-R 601 luma, as PIL and the `image` crate convert) hold
//! no colour, so no grey model can beat about half the digit accuracy.

mod support;

use std::path::Path;

use shaderfit::data::{Dataset, Split};
use shaderfit::floor::rng::SplitMix64;
use support::cli::{arg, shaderfit};
use support::npz::{npy, write_npz};
use support::TempDir;

/// Magenta and green of nearly the same luma (105.3 and 105.1 of 255 at full intensity): one
/// grey level apart at most after rounding, which no model can read a colour from.
const COLOURS: [[u32; 3]; 2] = [[255, 0, 255], [0, 179, 0]];

/// PIL's `convert("L")`: (299 R + 587 G + 114 B) / 1000, rounded.
fn luma([r, g, b]: [u8; 3]) -> u8 {
    ((299 * r as u32 + 587 * g as u32 + 114 * b as u32 + 500) / 1000) as u8
}

/// The first `n` images of `split`, each drawn in a random colour: RGB pixels and labels
/// digit * 2 + colour, and the same images converted to grey.
fn colourise(split: &Split, n: usize, seed: u64) -> (Split, Split) {
    let mut g = SplitMix64::new(seed);
    let (mut rgb, mut grey) = (Split::default(), Split::default());
    for i in 0..n {
        let colour = g.below(2);
        let label = split.labels[i] * 2 + colour as u8;
        for &v in &split.images[i * 784..(i + 1) * 784] {
            let px = COLOURS[colour].map(|c| ((v as u32 * c + 127) / 255) as u8);
            rgb.images.to_mut().extend(px);
            grey.images.to_mut().push(luma(px));
        }
        rgb.labels.push(label);
        grey.labels.push(label);
    }
    (rgb, grey)
}

/// Keras's `mnist.npz` layout of `train` and `test`, images `[N, 28, 28, channels]`.
fn write(path: &Path, [train, test]: [&Split; 2], channels: u64) {
    let shape = |s: &Split| [s.len() as u64, 28, 28, channels];
    let arrays = vec![
        ("x_train", npy(&train.images, &shape(train))),
        ("y_train", npy(&train.labels, &[train.len() as u64])),
        ("x_test", npy(&test.images, &shape(test))),
        ("y_test", npy(&test.labels, &[test.len() as u64])),
    ];
    write_npz(path, &arrays, true);
}

/// The RGB model reaches 0.9 on 20 classes; the grey one stays near half its digit accuracy
/// (a coin toss between the two colours of each digit). The report of the RGB run draws its
/// galleries in colour (its SVG fills name the colours).
#[test]
fn a_colour_task_needs_the_colour() {
    let mnist = Dataset::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/mnist")).unwrap();
    let (train, train_grey) = colourise(&mnist.train, 12000, 1);
    let (test, test_grey) = colourise(&mnist.test, 2000, 2);
    let dir = TempDir::new("colour");
    let (rgb, grey) = (dir.path().join("rgb.npz"), dir.path().join("grey.npz"));
    write(&rgb, [&train, &test], 3);
    write(&grey, [&train_grey, &test_grey], 1);
    let report = dir.path().join("report");
    let train_on = |data: &Path, extra: &[&str]| {
        let args = ["train", "--model", "mlp", "--epochs", "4", "--seed", "1"];
        let run = shaderfit(&args)
            .args(&["--data", arg(data)])
            .args(extra)
            .run();
        run.ok().last_field("test_accuracy")
    };
    let colour = train_on(&rgb, &["--report", arg(&report), "--gallery", "4"]);
    let grey = train_on(&grey, &[]);
    eprintln!("test accuracy: RGB {colour}, grey {grey}");
    assert!(colour >= 0.9, "RGB: test accuracy {colour}");
    assert!(grey <= 0.55, "grey: test accuracy {grey}");
    let svg = std::fs::read_to_string(report.join("correct.svg")).unwrap();
    // Full-intensity pixels of each colour, as plotters writes a fill.
    for fill in ["fill=\"#FF00FF\"", "fill=\"#00B300\""] {
        assert!(svg.contains(fill), "the gallery draws {fill}");
    }
}
