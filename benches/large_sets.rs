//! `cargo bench --bench large_sets`: the cost per training sample as the set grows, in every
//! placement ([`Residency`]): the mlp's training steps over one epoch of 60,000, 240,000 and
//! 1,000,000 MNIST-size images, resident in one buffer, split over buffers and streamed from
//! the host, reported as seconds per 10,000 samples. On a CPU adapter (lavapipe) the GPU's
//! work runs on the same cores as the host's, so every figure there is bound by both at once;
//! on a GPU, resident figures are device-bound and streamed ones show what the host adds.
//!
//! The sets are written once as uncompressed IDX files (memory-mapped when loaded, as a
//! user's would be) under `target/large-sets/` or `--dir DIR`: MNIST's training images
//! repeated, each repetition shifted by a pixel in another direction, with MNIST's test set.
//! `--sizes 60000,240000` picks the sizes; `--epochs N` times N epochs (default 1). Each
//! figure is the fastest of `--repeats N` runs (default 3 up to 240,000 samples, 1 above),
//! the placements taking turns, so that a machine's passing load falls on all of them alike.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use shaderfit::data::Dataset;
use shaderfit::eval::samples::Residency;
use shaderfit::floor::Shape;
use shaderfit::gpu::GpuContext;
use shaderfit::model::ModelSpec;
use shaderfit::train::{TrainConfig, Trainer};

/// Each repetition's shift of MNIST's images, in pixels (columns, rows).
const SHIFTS: [(i32, i32); 9] = [
    (0, 0),
    (1, 0),
    (0, 1),
    (-1, 0),
    (0, -1),
    (1, 1),
    (-1, -1),
    (1, -1),
    (-1, 1),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        let i = args.iter().position(|a| a == flag)?;
        args.get(i + 1).cloned()
    };
    let dir = value("--dir").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/large-sets"),
        PathBuf::from,
    );
    let sizes: Vec<usize> = value("--sizes")
        .unwrap_or("60000,240000,1000000".into())
        .split(',')
        .map(|s| s.parse().expect("--sizes: numbers"))
        .collect();
    let epochs: usize = value("--epochs").map_or(1, |e| e.parse().expect("--epochs N"));
    let repeats: Option<usize> = value("--repeats").map(|r| r.parse().expect("--repeats N"));
    let ctx = GpuContext::new(None).unwrap_or_else(|e| fail(&e.to_string()));
    println!(
        "adapter: {} ({:?}); mlp, batch 128, {epochs} epoch(s) of training steps",
        ctx.info.name, ctx.info.backend
    );
    println!(
        "{:>9}  {:<48} {:>9} {:>14}",
        "samples", "placement", "s/epoch", "s per 10,000"
    );
    let mut baseline = None;
    for n in sizes {
        let data = Dataset::load(&make_set(&dir, n)).unwrap_or_else(|e| fail(&e.to_string()));
        let placed = placements(&ctx, &data);
        let mut best = vec![f64::INFINITY; placed.len()];
        for _ in 0..repeats.unwrap_or(if n <= 240_000 { 3 } else { 1 }) {
            for ((_, cfg), best) in placed.iter().zip(&mut best) {
                *best = best.min(time_epochs(&ctx, &data, cfg.clone(), epochs));
            }
        }
        for ((name, _), best) in placed.iter().zip(best) {
            let seconds = best / epochs as f64;
            let per = seconds / n as f64 * 1e4;
            let base = *baseline.get_or_insert(per);
            println!(
                "{n:>9}  {name:<48} {seconds:>9.2} {per:>14.3}  ({:+.1}% vs resident at the first size)",
                100.0 * (per / base - 1.0)
            );
        }
    }
}

/// The placements to time for `data`: whole (where one binding holds it), split over two or
/// more buffers (forced with a binding limit where it would fit one), streamed; each with the
/// placement the rule then picks, as the data line says it.
fn placements(ctx: &GpuContext, data: &Dataset) -> Vec<(String, TrainConfig)> {
    let bytes = data.train.images.len() as u64;
    let base = TrainConfig {
        kernels: shaderfit::cli::kernels::policy(&ctx.info),
        ..TrainConfig::default()
    };
    let split = TrainConfig {
        binding_limit: Some(bytes.div_ceil(2)),
        ..base.clone()
    };
    let streamed = TrainConfig {
        stream: true,
        ..base.clone()
    };
    let mut seen = Vec::new();
    [base, split, streamed]
        .into_iter()
        .filter_map(|cfg| {
            let r = Residency::of(ctx, &data.train, cfg.placement());
            let new = !seen.contains(&r);
            seen.push(r.clone());
            new.then(|| (r.describe(), cfg))
        })
        .collect()
}

/// Seconds of `epochs` epochs of training steps (the validation pass left out): from the
/// first submission to the last step's metrics read back.
fn time_epochs(ctx: &GpuContext, data: &Dataset, cfg: TrainConfig, epochs: usize) -> f64 {
    let net = ModelSpec::preset("mlp", None, 10)
        .and_then(|s| s.compile(Shape::new(28, 28, 1), 10))
        .unwrap_or_else(|e| fail(&e.to_string()));
    let mut trainer = Trainer::new(ctx, &net, data, cfg).unwrap_or_else(|e| fail(&e.to_string()));
    let start = Instant::now();
    for _ in 0..epochs {
        trainer.begin_epoch();
        trainer.run_steps(trainer.steps_per_epoch());
        trainer
            .read_metrics()
            .unwrap_or_else(|e| fail(&e.to_string()));
    }
    start.elapsed().as_secs_f64()
}

/// `dir/mnist-N`: N training images from MNIST's (`assets/mnist`), repetition k shifted by
/// `SHIFTS[k % 9]`, and MNIST's test set; written once, uncompressed.
fn make_set(dir: &Path, n: usize) -> PathBuf {
    let out = dir.join(format!("mnist-{n}"));
    if out.join("t10k-labels-idx1-ubyte").exists() {
        return out;
    }
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/mnist");
    let mnist = Dataset::load(&assets).unwrap_or_else(|e| fail(&e.to_string()));
    std::fs::create_dir_all(&out).unwrap_or_else(|e| fail(&e.to_string()));
    let m = mnist.train.len();
    let images = (0..n).map(|i| shifted(&mnist.train.images[i % m * 784..][..784], i / m));
    write_idx(&out.join("train-images-idx3-ubyte"), &[n, 28, 28], images);
    let labels = (0..n).map(|i| vec![mnist.train.labels[i % m]]);
    write_idx(&out.join("train-labels-idx1-ubyte"), &[n], labels);
    let t = mnist.test.len();
    let test = mnist.test.images.chunks(784).map(<[u8]>::to_vec);
    write_idx(&out.join("t10k-images-idx3-ubyte"), &[t, 28, 28], test);
    let test_labels = mnist.test.labels.iter().map(|&l| vec![l]);
    write_idx(&out.join("t10k-labels-idx1-ubyte"), &[t], test_labels);
    out
}

/// A 28x28 image moved by repetition `k`'s shift, zeros shifted in.
fn shifted(image: &[u8], k: usize) -> Vec<u8> {
    let (dx, dy) = SHIFTS[k % SHIFTS.len()];
    let mut out = vec![0u8; 784];
    for r in 0..28i32 {
        for c in 0..28i32 {
            let (sr, sc) = (r - dy, c - dx);
            if (0..28).contains(&sr) && (0..28).contains(&sc) {
                out[(r * 28 + c) as usize] = image[(sr * 28 + sc) as usize];
            }
        }
    }
    out
}

/// An IDX file of `dims` (3: images, 1: labels) holding `items` in turn.
fn write_idx(path: &Path, dims: &[usize], items: impl Iterator<Item = Vec<u8>>) {
    let magic: u32 = if dims.len() == 3 { 0x803 } else { 0x801 };
    let file = std::fs::File::create(path).unwrap_or_else(|e| fail(&e.to_string()));
    let mut w = BufWriter::new(file);
    let mut header = magic.to_be_bytes().to_vec();
    for &d in dims {
        header.extend((d as u32).to_be_bytes());
    }
    let write = |w: &mut BufWriter<std::fs::File>, b: &[u8]| {
        w.write_all(b)
            .unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())))
    };
    write(&mut w, &header);
    for item in items {
        write(&mut w, &item);
    }
    w.flush()
        .unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
