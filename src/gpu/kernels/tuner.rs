//! The matmul autotuner: on a GPU, the first product of each shape class times every candidate
//! kernel on scratch buffers of that shape and keeps the fastest. The choices can persist in a
//! JSON file (whose path the caller gives: the library reads no environment), keyed by adapter
//! and driver, so later runs only look them up.
//!
//! The file holds typed entries, `{"class": ShapeClass, "kernel": MatmulTile}`, under a format
//! tag; a file of another format is rejected with a message rather than misread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::matmul::{Gemm, Product};
use super::{
    ConvForwardArgs, Im2colArgs, Kernels, Launch, MatmulArgs, MatmulTile, MatmulVariant, Tiling,
    View,
};
use crate::error::{Error, Result};
use crate::floor::{Activation, Geom2d};
use crate::gpu::GpuContext;

/// Products below this many multiply-adds take the fixed table: too small to be worth timing.
pub const MIN_TUNED_MACS: usize = 1 << 18;

/// The tag of the file format this version reads and writes.
pub const TUNING_FORMAT: &str = "shaderfit matmul tuning 2";

/// What one choice is recorded for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShapeClass {
    /// Products whose sides round up to the same powers of two, with the same transpositions,
    /// and whose operands can both, either or neither take vec4 loads.
    Matmul {
        m_log2: u32,
        n_log2: u32,
        k_log2: u32,
        trans_a: bool,
        trans_b: bool,
        vec4_a: bool,
        vec4_b: bool,
    },
    /// One convolution geometry: explicit im2col (recorded as `tile4`) or implicit GEMM with
    /// a tiling.
    Conv {
        batch: usize,
        in_h: usize,
        in_w: usize,
        in_c: usize,
        k_h: usize,
        k_w: usize,
        stride_h: usize,
        stride_w: usize,
        pad_top: usize,
        pad_left: usize,
        filters: usize,
    },
}

impl ShapeClass {
    pub fn of_product(p: &Product) -> ShapeClass {
        let log = |x: usize| x.max(1).next_power_of_two().trailing_zeros();
        let (vec4_a, vec4_b) = Tiling::vec4_operands(p.variant, (p.m, p.n, p.k), None);
        ShapeClass::Matmul {
            m_log2: log(p.m),
            n_log2: log(p.n),
            k_log2: log(p.k),
            trans_a: p.variant.trans_a,
            trans_b: p.variant.trans_b,
            vec4_a,
            vec4_b,
        }
    }

    pub fn of_conv(g: &Geom2d, filters: usize) -> ShapeClass {
        ShapeClass::Conv {
            batch: g.batch,
            in_h: g.in_h,
            in_w: g.in_w,
            in_c: g.in_c,
            k_h: g.k_h,
            k_w: g.k_w,
            stride_h: g.stride_h,
            stride_w: g.stride_w,
            pad_top: g.pad_top,
            pad_left: g.pad_left,
            filters,
        }
    }
}

/// One recorded choice, as the file holds it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct Entry {
    class: ShapeClass,
    kernel: MatmulTile,
}

/// The file: every adapter's choices.
#[derive(Debug, Default, Serialize, Deserialize)]
struct TuningFile {
    format: String,
    adapters: std::collections::BTreeMap<String, Vec<Entry>>,
}

pub struct Tuner {
    /// Where the choices persist; `None` keeps them in memory only.
    path: Option<PathBuf>,
    /// Adapter, driver and backend: choices made on one never apply to another.
    adapter: String,
    choices: Mutex<HashMap<ShapeClass, MatmulTile>>,
    /// Kernels timed against each other, `None` for every tiling that fits the device.
    candidates: Option<Vec<MatmulTile>>,
    timed: AtomicUsize,
}

impl std::fmt::Debug for Tuner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tuner")
            .field("path", &self.path)
            .field("adapter", &self.adapter)
            .field("recorded", &self.recorded())
            .finish()
    }
}

/// The adapter and driver a choice is measured on.
pub fn adapter_key(info: &wgpu::AdapterInfo) -> String {
    format!(
        "{} | {} {} | {:?}",
        info.name, info.driver, info.driver_info, info.backend
    )
}

impl Tuner {
    /// A tuner for `adapter` keeping its choices in memory only.
    pub fn in_memory(adapter: &str) -> Tuner {
        Tuner {
            path: None,
            adapter: adapter.to_string(),
            choices: Mutex::new(HashMap::new()),
            candidates: None,
            timed: AtomicUsize::new(0),
        }
    }

    /// A tuner for `adapter` with the choices recorded in `path` (none if it does not exist
    /// yet), saving new ones there. A file that is not this version's format, or that does
    /// not parse, is an error naming it: the caller may report it and start afresh with
    /// [`Tuner::replacing`].
    pub fn open(path: &Path, adapter: &str) -> Result<Tuner> {
        let file = match std::fs::read_to_string(path) {
            Ok(text) => parse(path, &text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TuningFile::default(),
            Err(e) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source: e,
                })
            }
        };
        let tuner = Tuner::replacing(path, adapter);
        let entries = file.adapters.get(adapter).cloned().unwrap_or_default();
        *tuner.choices.lock().unwrap_or_else(|p| p.into_inner()) =
            entries.into_iter().map(|e| (e.class, e.kernel)).collect();
        Ok(tuner)
    }

    /// A tuner for `adapter` that starts with no choices and writes them to `path`, replacing
    /// whatever file is there when it cannot be read.
    pub fn replacing(path: &Path, adapter: &str) -> Tuner {
        Tuner {
            path: Some(path.to_path_buf()),
            ..Tuner::in_memory(adapter)
        }
    }

    /// The file the choices persist in, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Shape classes with a recorded choice.
    pub fn recorded(&self) -> usize {
        self.choices.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Times only these kernels (tests keep them few and small).
    pub fn with_candidates(mut self, candidates: Vec<MatmulTile>) -> Tuner {
        self.candidates = Some(candidates);
        self
    }

    /// Shape classes timed by this tuner so far (the rest came from the file or memory).
    pub fn timed(&self) -> usize {
        self.timed.load(Ordering::Relaxed)
    }

    fn recorded_choice(&self, class: &ShapeClass) -> Option<MatmulTile> {
        self.choices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(class)
            .copied()
    }

    /// The kernel for `p`: the recorded choice of its shape class, or the fastest candidate,
    /// timed now.
    pub(crate) fn choose(&self, ctx: &GpuContext, kernels: &Kernels, p: &Product) -> MatmulTile {
        let class = ShapeClass::of_product(p);
        if let Some(tile) = self.recorded_choice(&class) {
            return tile;
        }
        let candidates = self.candidates.clone().unwrap_or_else(|| {
            std::iter::once(MatmulTile::Tile4)
                .chain(self.tilings(kernels).into_iter().map(MatmulTile::Tiled))
                .collect()
        });
        let best = time_candidates(ctx, kernels, p, &candidates).unwrap_or(MatmulTile::Tile4);
        self.record(class, best);
        best
    }

    /// Whether convolution `g` runs as an implicit GEMM, and with which tiling: the recorded
    /// choice for this geometry, or the fastest of explicit im2col plus the product's own
    /// kernel and each tiling reading x directly, timed now.
    pub(crate) fn choose_conv(
        &self,
        ctx: &GpuContext,
        kernels: &Kernels,
        g: &Geom2d,
        filters: usize,
    ) -> Option<Tiling> {
        let class = ShapeClass::of_conv(g, filters);
        let tile = self.recorded_choice(&class).unwrap_or_else(|| {
            let tile = time_conv(ctx, kernels, g, filters, self.tilings(kernels))
                .unwrap_or(MatmulTile::Tile4);
            self.record(class, tile);
            tile
        });
        match tile {
            MatmulTile::Tiled(t) => Some(t),
            _ => None,
        }
    }

    fn record(&self, class: ShapeClass, tile: MatmulTile) {
        self.timed.fetch_add(1, Ordering::Relaxed);
        let mut choices = self.choices.lock().unwrap_or_else(|p| p.into_inner());
        choices.insert(class, tile);
        if let Some(path) = &self.path {
            // A file that cannot be written costs the next run a re-tune, nothing else.
            let _ = save(path, &self.adapter, &choices);
        }
    }

    /// The tilings to time: those this device can run, or the tiled ones among the
    /// candidates a test gave.
    fn tilings(&self, kernels: &Kernels) -> Vec<Tiling> {
        match &self.candidates {
            Some(c) => c
                .iter()
                .filter_map(|t| match t {
                    MatmulTile::Tiled(t) => Some(*t),
                    _ => None,
                })
                .collect(),
            // The presets, plain and pipelined, and the fill ladder's small tiles (which win
            // where the presets' grids would leave the GPU idle).
            None => Tiling::PRESETS
                .into_iter()
                .chain(Tiling::PRESETS.map(Tiling::pipelined))
                .chain(Tiling::FILL_LADDER[1..].iter().copied())
                .filter(|t| t.fits(kernels.limits()))
                .collect(),
        }
    }
}

/// The file's choices, or an error naming it: another format, JSON that does not parse, or a
/// kernel this version cannot run.
fn parse(path: &Path, text: &str) -> Result<TuningFile> {
    let err = |message: String| Error::File {
        path: path.to_path_buf(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| err(format!("not a tuning file: {e}")))?;
    match value.get("format").and_then(|f| f.as_str()) {
        Some(TUNING_FORMAT) => {}
        Some(other) => {
            return Err(err(format!(
                "tuning file of format '{other}'; this version reads '{TUNING_FORMAT}'"
            )))
        }
        None => {
            return Err(err(format!(
                "tuning file without a format tag (written by an older shaderfit); this version reads '{TUNING_FORMAT}'"
            )))
        }
    }
    let file: TuningFile =
        serde_json::from_value(value).map_err(|e| err(format!("malformed tuning file: {e}")))?;
    if let Some(bad) = file
        .adapters
        .values()
        .flatten()
        .find(|e| !e.kernel.is_valid())
    {
        return Err(err(format!(
            "tuning file names an invalid kernel: {:?}",
            bad.kernel
        )));
    }
    Ok(file)
}

/// Writes this adapter's choices into the file, keeping other adapters': read and rewritten
/// under the file's lock (two runs tuning at once keep both's choices), replaced whole
/// ([`crate::output::replace`]: a reader never sees half a file, a crash never leaves one).
fn save(path: &Path, adapter: &str, choices: &HashMap<ShapeClass, MatmulTile>) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
    }
    let _lock = crate::output::OutputLock::wait(path)?;
    let mut file = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| parse(path, &t).ok())
        .unwrap_or_default();
    file.format = TUNING_FORMAT.to_string();
    let mut entries: Vec<Entry> = choices
        .iter()
        .map(|(&class, &kernel)| Entry { class, kernel })
        .collect();
    entries.sort_by_key(|e| serde_json::to_string(&e.class).unwrap_or_default());
    file.adapters.insert(adapter.to_string(), entries);
    let text = serde_json::to_string_pretty(&file).expect("a tuning file serialises") + "\n";
    crate::output::replace(path, text.as_bytes())
}

/// Explicit im2col + matmul (recorded as `tile4`) against each implicit tiling for a
/// convolution's forward product, on scratch buffers.
fn time_conv(
    ctx: &GpuContext,
    kernels: &Kernels,
    g: &Geom2d,
    filters: usize,
    tilings: Vec<Tiling>,
) -> Option<MatmulTile> {
    let (rows, patch) = (g.rows(), g.patch());
    let x = ctx.storage("tuning x", (g.input_len() * 4) as u64);
    let cols = ctx.storage("tuning cols", (rows * patch * 4) as u64);
    let w = ctx.storage("tuning w", (patch * filters * 4) as u64);
    let b = ctx.storage("tuning b", (filters * 4) as u64);
    let y = ctx.storage("tuning y", (rows * filters * 4) as u64);
    let args = ConvForwardArgs {
        geom: *g,
        filters,
        act: Activation::Relu,
        x: View::whole(&x),
        cols: View::whole(&cols),
        w: View::whole(&w),
        b: View::whole(&b),
        y: View::whole(&y),
    };
    let mut explicit = vec![kernels.im2col(
        ctx,
        &Im2colArgs {
            geom: *g,
            x: args.x,
            cols: args.cols,
        },
    )];
    explicit.extend(kernels.matmul(
        ctx,
        &MatmulArgs {
            bias: Some(args.b),
            act: Activation::Relu,
            ..MatmulArgs::new("tuning", (rows, filters, patch), args.cols, args.w, args.y)
        },
    ));
    let mut sets = vec![(MatmulTile::Tile4, explicit)];
    for t in tilings {
        let variant = MatmulVariant {
            bias: true,
            act: Activation::Relu,
            im2col: true,
            ..Default::default()
        };
        let gemm = Gemm {
            bias: Some(args.b),
            conv: Some(*g),
            ..Gemm::new(
                "tuning",
                variant,
                (rows, filters, patch),
                (args.x, args.w, args.y),
            )
        };
        sets.push((
            MatmulTile::Tiled(t),
            kernels.gemm(ctx, &gemm, MatmulTile::Tiled(t)),
        ));
    }
    fastest(ctx, sets)
}

/// The fastest of `candidates` at this shape, or `None` if none ran.
fn time_candidates(
    ctx: &GpuContext,
    kernels: &Kernels,
    p: &Product,
    candidates: &[MatmulTile],
) -> Option<MatmulTile> {
    let a = ctx.storage("tuning a", (p.m * p.k * 4) as u64);
    let b = ctx.storage("tuning b", (p.k * p.n * 4) as u64);
    let c = ctx.storage("tuning c", (p.m * p.n * 4) as u64);
    let variant = MatmulVariant {
        trans_a: p.variant.trans_a,
        trans_b: p.variant.trans_b,
        ..Default::default()
    };
    let views = (View::whole(&a), View::whole(&b), View::whole(&c));
    let gemm = Gemm::new("tuning", variant, (p.m, p.n, p.k), views);
    let sets = candidates
        .iter()
        .map(|&tile| (tile, kernels.gemm(ctx, &gemm, tile)))
        .collect();
    fastest(ctx, sets)
}

/// The fastest of several ways to do one thing, by wall time around fenced submissions (each
/// run once first, to compile it), or `None` if none ran.
fn fastest(ctx: &GpuContext, sets: Vec<(MatmulTile, Vec<Launch>)>) -> Option<MatmulTile> {
    let mut best: Option<(f64, MatmulTile)> = None;
    for (tile, launches) in sets {
        let run = |reps: usize| -> Option<f64> {
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                for _ in 0..reps {
                    for launch in &launches {
                        launch.record(&mut pass);
                    }
                }
            }
            let start = Instant::now();
            ctx.submit_and_wait(encoder).ok()?;
            Some(start.elapsed().as_secs_f64() / reps as f64)
        };
        let Some(first) = run(1) else { continue };
        // Enough repetitions for ~20 ms of work, as measured by the first (compiled) run.
        let reps = ((0.02 / first.max(1e-6)) as usize).clamp(1, 50);
        let seconds = (0..2).filter_map(|_| run(reps)).fold(f64::MAX, f64::min);
        if best.is_none_or(|(s, _)| seconds < s) {
            best = Some((seconds, tile));
        }
    }
    best.map(|(_, tile)| tile)
}

#[cfg(test)]
mod tests {
    use super::super::Block;
    use super::*;

    #[test]
    fn kernels_round_trip_through_json() {
        for tile in [
            MatmulTile::Tile4,
            MatmulTile::Tile16,
            MatmulTile::Blocked(Block::LARGE),
            MatmulTile::Tiled(Tiling::T128X64),
            MatmulTile::Tiled(Tiling::T128.pipelined()),
        ] {
            let json = serde_json::to_string(&tile).unwrap();
            assert_eq!(
                serde_json::from_str::<MatmulTile>(&json).unwrap(),
                tile,
                "{json}"
            );
        }
        let bad = r#"{"blocked": {"rows": 3, "cols": 8}}"#;
        assert!(!serde_json::from_str::<MatmulTile>(bad).unwrap().is_valid());
    }

    #[test]
    fn shape_classes_round_up_to_powers_of_two() {
        let p = |m, n, k| Product {
            variant: MatmulVariant::default(),
            m,
            n,
            k,
        };
        let class = |m, n, k| ShapeClass::of_product(&p(m, n, k));
        assert_eq!(class(128, 500, 784), class(100, 512, 1024));
        assert_ne!(class(128, 512, 784), class(129, 512, 784));
        // The output layer's 10 columns take scalar loads of B.
        assert_ne!(class(128, 12, 784), class(128, 10, 784));
    }

    /// A file of the previous format (string keys and kernel names) is rejected with a
    /// message naming it and both formats, never misread; a file of this format round trips.
    #[test]
    fn old_tuning_files_are_rejected_and_new_ones_read_back() {
        let dir = std::env::temp_dir().join(format!("shaderfit-tuner-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("matmul-tuning.json");
        std::fs::write(
            &path,
            r#"{"adapters": {"gpu": {"m2^7 n2^6 k2^6 trans 00 vec4 11": "tile4"}}}"#,
        )
        .unwrap();
        let err = Tuner::open(&path, "gpu").unwrap_err().to_string();
        assert!(
            err.contains("matmul-tuning.json")
                && err.contains("older shaderfit")
                && err.contains(TUNING_FORMAT),
            "{err}"
        );
        let tuner = Tuner::replacing(&path, "gpu");
        let class = ShapeClass::of_conv(
            &Geom2d {
                batch: 2,
                in_h: 12,
                in_w: 12,
                in_c: 8,
                out_h: 12,
                out_w: 12,
                k_h: 3,
                k_w: 3,
                stride_h: 1,
                stride_w: 1,
                pad_top: 1,
                pad_left: 1,
            },
            32,
        );
        tuner.record(class, MatmulTile::Tiled(Tiling::T64));
        let back = Tuner::open(&path, "gpu").unwrap();
        assert_eq!(
            back.recorded_choice(&class),
            Some(MatmulTile::Tiled(Tiling::T64))
        );
        assert_eq!(Tuner::open(&path, "another gpu").unwrap().recorded(), 0);
        std::fs::write(
            &path,
            r#"{"format": "shaderfit matmul tuning 9", "adapters": {}}"#,
        )
        .unwrap();
        let err = Tuner::open(&path, "gpu").unwrap_err().to_string();
        assert!(err.contains("format 'shaderfit matmul tuning 9'"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
