//! Shared test helpers: a GPU context and kernels, temporary directories, synthetic IDX
//! datasets, tolerance checks ([`parity`]) and a builder for runs of the binary ([`cli`]).
//! Tests generate every file they need, so they pass on a fresh clone.
#![allow(dead_code)]

pub mod cli;
pub mod npz;
pub mod parity;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use shaderfit::data::idx::{encode_images, encode_labels, IdxImages};
use shaderfit::data::{Dataset, Split};
use shaderfit::floor::rng::SplitMix64;
use shaderfit::floor::Shape;
use shaderfit::gpu::kernels::{KernelPolicy, Launch};
use shaderfit::gpu::{GpuContext, Kernels};
use shaderfit::layers::LayerKind;
use shaderfit::model::ModelSpec;

/// The adapter the GPU tests run on (lavapipe in CI; `WGPU_BACKEND` picks the backend). A
/// missing adapter fails the test with the reason: GPU tests are never silently skipped.
pub fn gpu() -> GpuContext {
    match GpuContext::new(None) {
        Ok(ctx) => named(ctx),
        Err(e) => panic!(
            "GPU tests need an adapter ({e}); on a machine without a GPU: \
             apt-get install mesa-vulkan-drivers libvulkan1"
        ),
    }
}

/// Whether `ctx` is llvmpipe's GL, whose workgroup barriers are so slow that a 64x64 tiling
/// (which a CPU adapter never runs) takes minutes per launch even at small shapes: tests of
/// the GPUs' tilings run them on Vulkan (the same WGSL; GL's translation of every module is
/// checked by tests/backends.rs) and the small tilings on both.
pub fn slow_barriers(ctx: &GpuContext) -> bool {
    ctx.info.backend == wgpu::Backend::Gl && ctx.info.device_type == wgpu::DeviceType::Cpu
}

/// Prints `adapter: NAME (Backend)` in the test's output, as the CLI does on stderr, so that
/// every GPU test names the backend it ran on (see [`record_adapter`]).
pub fn named(ctx: GpuContext) -> GpuContext {
    record_adapter(&format!(
        "adapter: {} ({:?})",
        ctx.info.name, ctx.info.backend
    ));
    ctx
}

/// Prints an `adapter: NAME (Backend)` line in the test's output and, where
/// `SHADERFIT_TEST_BACKENDS` names a file (`scripts/test` sets it), appends
/// `Backend<TAB>binary::test` to it: the list of which test ran on which backend.
pub fn record_adapter(line: &str) {
    println!("{line}");
    let Some(path) = std::env::var_os("SHADERFIT_TEST_BACKENDS") else {
        return;
    };
    // `adapter: NAME (Backend)`, maybe followed by `, checked shaders`.
    let named = &line[..line.rfind(')').map_or(line.len(), |i| i + 1)];
    let backend = named.rsplit('(').next().unwrap_or("").trim_end_matches(')');
    // The test harness names each test's thread after the test; the binary is the test file.
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let exe = std::env::current_exe().unwrap_or_default();
    let stem = exe.file_stem().unwrap_or_default().to_string_lossy();
    let binary = stem.rsplit_once('-').map_or(&*stem, |(name, _hash)| name);
    // One short write in append mode: lines from tests running side by side do not mix.
    let entry = format!("{backend}\t{binary}::{test}\n");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path);
    if let Ok(mut file) = file {
        let _ = file.write_all(entry.as_bytes());
    }
}

/// Kernels that choose as `policy` says (a [`shaderfit::gpu::kernels::Forced`] choice, the
/// fixed table, a tuner).
pub fn kernels(ctx: &GpuContext, policy: impl KernelPolicy + 'static) -> Kernels {
    Kernels::new(ctx, Arc::new(policy))
}

/// Runs `launches` in one compute pass and waits.
pub fn run(ctx: &GpuContext, launches: &[Launch]) {
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        for launch in launches {
            launch.record(&mut pass);
        }
    }
    ctx.submit_and_wait(encoder)
        .expect("kernels ran without GPU errors");
}

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "shaderfit-test-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn random_f32(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut g = SplitMix64::new(seed);
    (0..n).map(|_| lo + (hi - lo) * g.next_f32()).collect()
}

/// A learnable split: class c lights up the pixels whose index is c modulo the class count
/// (plus noise), so a linear model separates the classes within an epoch or two.
pub fn synthetic_split(n: usize, rows: usize, cols: usize, classes: usize, seed: u64) -> Split {
    let mut g = SplitMix64::new(seed);
    let mut images = Vec::with_capacity(n * rows * cols);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let label = g.below(classes);
        labels.push(label as u8);
        for p in 0..rows * cols {
            let noise = g.below(60) as u8;
            images.push(if p % classes == label {
                180 + noise
            } else {
                noise
            });
        }
    }
    Split {
        images: images.into(),
        labels,
    }
}

pub fn synthetic_dataset(
    n_train: usize,
    n_test: usize,
    rows: usize,
    cols: usize,
    classes: usize,
) -> Dataset {
    synthetic_images(n_train, n_test, Shape::new(rows, cols, 1), classes)
}

/// As [`synthetic_dataset`], of `image`-shaped images (channels-last: with 3 channels, class
/// c lights up value indices c modulo the classes across the channels).
pub fn synthetic_images(n_train: usize, n_test: usize, image: Shape, classes: usize) -> Dataset {
    let (rows, cols) = (image.h, image.w * image.c);
    Dataset {
        dir: PathBuf::from("<memory>"),
        rows: image.h,
        cols: image.w,
        channels: image.c,
        classes,
        class_names: Vec::new(),
        note: None,
        train: synthetic_split(n_train, rows, cols, classes, 11),
        test: synthetic_split(n_test, rows, cols, classes, 12),
    }
}

/// The first `n_train` and `n_test` images of the real MNIST (the copy in `assets/mnist`).
pub fn mnist_subset(n_train: usize, n_test: usize) -> Dataset {
    let mut data = Dataset::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/mnist"))
        .expect("assets/mnist");
    for (split, n) in [(&mut data.train, n_train), (&mut data.test, n_test)] {
        split.images.to_mut().truncate(n * 784);
        split.labels.truncate(n);
    }
    data
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Writes `data` as the four IDX files of a dataset directory, gzip-compressed or raw.
pub fn write_dataset(dir: &Path, data: &Dataset, gz: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let files = [
        ("train-images-idx3-ubyte", image_file(&data.train, data)),
        ("train-labels-idx1-ubyte", encode_labels(&data.train.labels)),
        ("t10k-images-idx3-ubyte", image_file(&data.test, data)),
        ("t10k-labels-idx1-ubyte", encode_labels(&data.test.labels)),
    ];
    for (name, bytes) in files {
        if gz {
            std::fs::write(dir.join(format!("{name}.gz")), gzip(&bytes)).unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

fn image_file(split: &Split, data: &Dataset) -> Vec<u8> {
    encode_images(&IdxImages {
        count: split.len(),
        rows: data.rows,
        cols: data.cols,
        pixels: split.images.clone(),
    })
}

/// A small odd tiling for the workgroup-memory matmul (8 threads of 2 x 3 outputs, K steps of
/// 5: 4x12 tiles) that divides none of the test shapes, so every load past an edge and every
/// cut-off store runs.
#[allow(unused_imports)]
pub use parity::assert_within;

pub const ODD_TILING: shaderfit::gpu::kernels::Tiling = shaderfit::gpu::kernels::Tiling {
    wg_x: 4,
    wg_y: 2,
    tm: 2,
    tn: 3,
    bk: 5,
    vec4: false,
    buffers: 1,
};

/// A small tiling with vec4 loads and double-buffered tiles (6 threads of 4 x 4 outputs, K
/// steps of 8: 8x12 tiles, so a thread fetches 3 vectors of A and 4 of B per step, some past
/// the tile's end). At shapes that are multiples of 4 but not of the tile both operands load
/// vec4; at the others one or both fall back to f32.
pub const VEC4_TILING: shaderfit::gpu::kernels::Tiling = shaderfit::gpu::kernels::Tiling {
    wg_x: 3,
    wg_y: 2,
    tm: 4,
    tn: 4,
    bk: 8,
    vec4: true,
    buffers: 2,
};

/// The JSON of a model of these layers (each a layer's JSON), ending in a 10-way softmax.
fn model_json(layers: &[&str]) -> String {
    let dense = r#"{"type": "dense", "units": 10, "activation": "softmax"}"#;
    let all: Vec<&str> = layers.iter().copied().chain([dense]).collect();
    format!("{{\"layers\": [{}]}}", all.join(", "))
}

/// A model around `kind`'s example on `input` images: a flatten before it when it needs a
/// flat input, one after it when it leaves an image, then a 10-way softmax. For tests that
/// take every layer kind of the registry in turn.
pub fn model_around(kind: &LayerKind, input: Shape) -> ModelSpec {
    let flatten = r#"{"type": "flatten"}"#;
    let candidates = [
        vec![kind.example],
        vec![kind.example, flatten],
        vec![flatten, kind.example],
    ];
    candidates
        .iter()
        .find_map(|layers| compiled(&model_json(layers), input))
        .unwrap_or_else(|| panic!("no model fits {}'s example", kind.type_name))
}

/// One model holding every layer kind of the registry, each as its example, on `input`
/// images: the kinds that keep an image first (in the registry's order), then a flatten, then
/// those that need a flat input, then a 10-way softmax.
pub fn model_of_every_kind(input: Shape) -> ModelSpec {
    let flatten = r#"{"type": "flatten"}"#;
    let keeps_image = |example: &str| compiled(&model_json(&[example, flatten]), input).is_some();
    let kinds = shaderfit::layers::KINDS
        .iter()
        .filter(|k| k.type_name != "flatten");
    let (image, flat): (Vec<&&LayerKind>, Vec<&&LayerKind>) =
        kinds.partition(|k| keeps_image(k.example));
    let layers: Vec<&str> = image
        .iter()
        .map(|k| k.example)
        .chain([flatten])
        .chain(flat.iter().map(|k| k.example))
        .collect();
    compiled(&model_json(&layers), input).expect("every kind fits in one model")
}

/// The spec of `json`, if it compiles on `input` images.
fn compiled(json: &str, input: Shape) -> Option<ModelSpec> {
    let spec = ModelSpec::from_json("every_kind", json).ok()?;
    spec.compile(input, 10).ok().map(|_| spec)
}
