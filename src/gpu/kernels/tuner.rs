//! The matmul autotuner: on a GPU, the first product of each shape class times every candidate
//! kernel on scratch buffers of that shape and keeps the fastest; the choices persist in a JSON
//! file per user (keyed by adapter and driver), so later runs only look them up.
//!
//! CPU adapters use the fixed table in [`MatmulTile::choose`] instead: there a candidate's
//! compile takes up to seconds, and the table was measured (see `blocked.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use super::{Block, EpilogueAct, Geom2d, Kernels, Launch, MatmulTile, MatmulVariant, Tiling, View};
use crate::gpu::GpuContext;

/// Products below this many multiply-adds take the fixed table: too small to be worth timing.
pub const MIN_TUNED_MACS: usize = 1 << 18;

pub struct Tuner {
    /// Where the choices persist; `None` keeps them in memory only.
    path: Option<PathBuf>,
    /// Adapter, driver and backend: choices made on one never apply to another.
    adapter: String,
    choices: Mutex<HashMap<String, MatmulTile>>,
    /// Kernels timed against each other, `None` for every tiling that fits the device.
    candidates: Option<Vec<MatmulTile>>,
    timed: AtomicUsize,
}

impl Tuner {
    /// The tuner of this adapter, with its choices at `$SHADERFIT_TUNING_FILE`, else
    /// `$XDG_CACHE_HOME/shaderfit/matmul-tuning.json`, else `~/.cache/shaderfit/...`; `None`
    /// when `SHADERFIT_TUNING=off` (the fixed table then).
    pub fn for_adapter(info: &wgpu::AdapterInfo) -> Option<Tuner> {
        if std::env::var("SHADERFIT_TUNING").is_ok_and(|v| v == "off") {
            return None;
        }
        let path = std::env::var_os("SHADERFIT_TUNING_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                let cache = std::env::var_os("XDG_CACHE_HOME")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
                Some(cache.join("shaderfit").join("matmul-tuning.json"))
            });
        Some(Tuner::new(path, &adapter_key(info)))
    }

    /// A tuner for `adapter` that loads and saves its choices at `path` (if any).
    pub fn new(path: Option<PathBuf>, adapter: &str) -> Tuner {
        let choices = path
            .as_deref()
            .map(|p| load(p, adapter))
            .unwrap_or_default();
        Tuner {
            path,
            adapter: adapter.to_string(),
            choices: Mutex::new(choices),
            candidates: None,
            timed: AtomicUsize::new(0),
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

    /// The kernel for `[m, k]·[k, n]` with these transpositions: the recorded choice of its
    /// shape class, or the fastest candidate, timed now.
    pub(crate) fn choose(
        &self,
        ctx: &GpuContext,
        kernels: &Kernels,
        variant: MatmulVariant,
        (m, n, k): (usize, usize, usize),
    ) -> MatmulTile {
        let class = shape_class((m, n, k), variant);
        if let Some(&tile) = self
            .choices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&class)
        {
            return tile;
        }
        let candidates = self.candidates.clone().unwrap_or_else(|| {
            std::iter::once(MatmulTile::Tile4)
                .chain(self.tilings(kernels).into_iter().map(MatmulTile::Tiled))
                .collect()
        });
        let best = time_candidates(ctx, kernels, variant, (m, n, k), &candidates)
            .unwrap_or(MatmulTile::Tile4);
        self.record(class, best);
        best
    }
}

impl Tuner {
    /// Whether convolution `g` (with `filters` outputs) runs as an implicit GEMM, and with
    /// which tiling: the recorded choice for this geometry, or the fastest of explicit im2col
    /// plus the product's own kernel and each tiling reading x directly, timed now.
    pub(crate) fn choose_conv(
        &self,
        ctx: &GpuContext,
        kernels: &Kernels,
        g: &Geom2d,
        filters: usize,
    ) -> Option<Tiling> {
        let class = format!(
            "conv {}x{}x{}x{} kernel {}x{} stride {}x{} pad {}x{} filters {filters}",
            g.batch,
            g.in_h,
            g.in_w,
            g.in_c,
            g.k_h,
            g.k_w,
            g.stride_h,
            g.stride_w,
            g.pad_top,
            g.pad_left
        );
        let recorded = self
            .choices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&class)
            .copied();
        let tile = match recorded {
            Some(tile) => tile,
            None => {
                let tile = time_conv(ctx, kernels, g, filters, self.tilings(kernels))
                    .unwrap_or(MatmulTile::Tile4);
                self.record(class, tile);
                tile
            }
        };
        match tile {
            MatmulTile::Tiled(t) => Some(t),
            _ => None,
        }
    }

    fn record(&self, class: String, tile: MatmulTile) {
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
            None => Tiling::PRESETS
                .into_iter()
                .chain(Tiling::PRESETS.map(Tiling::pipelined))
                .filter(|t| t.fits(&kernels.limits))
                .collect(),
        }
    }
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
    let v = MatmulVariant {
        bias: true,
        act: EpilogueAct::Relu,
        ..Default::default()
    };
    let shape = (rows, filters, patch);
    let mut explicit = vec![kernels.im2col(ctx, *g, View::whole(&x), View::whole(&cols))];
    explicit.extend(kernels.matmul(
        ctx,
        "tuning",
        v,
        shape,
        View::whole(&cols),
        View::whole(&w),
        Some(View::whole(&b)),
        None,
        View::whole(&y),
    ));
    let mut sets = vec![(MatmulTile::Tile4, explicit)];
    for t in tilings {
        let implicit = MatmulVariant { im2col: true, ..v };
        sets.push((
            MatmulTile::Tiled(t),
            kernels.matmul_with(
                ctx,
                "tuning",
                implicit,
                shape,
                MatmulTile::Tiled(t),
                (
                    View::whole(&x),
                    View::whole(&w),
                    Some(View::whole(&b)),
                    None,
                ),
                (View::whole(&y), None),
                Some(*g),
            ),
        ));
    }
    fastest(ctx, sets)
}

/// The adapter and driver a choice was measured on.
fn adapter_key(info: &wgpu::AdapterInfo) -> String {
    format!(
        "{} | {} {} | {:?}",
        info.name, info.driver, info.driver_info, info.backend
    )
}

/// Products whose sides round up to the same powers of two, with the same transpositions, and
/// whose operands can both, either or neither take vec4 loads.
fn shape_class((m, n, k): (usize, usize, usize), v: MatmulVariant) -> String {
    let log = |x: usize| x.max(1).next_power_of_two().trailing_zeros();
    let (vec_a, vec_b) = Tiling::vec4_operands(v, (m, n, k), None);
    format!(
        "m2^{} n2^{} k2^{} trans {}{} vec4 {}{}",
        log(m),
        log(n),
        log(k),
        v.trans_a as u8,
        v.trans_b as u8,
        vec_a as u8,
        vec_b as u8
    )
}

/// The fastest of `candidates` at this shape, or `None` if none ran.
fn time_candidates(
    ctx: &GpuContext,
    kernels: &Kernels,
    variant: MatmulVariant,
    (m, n, k): (usize, usize, usize),
    candidates: &[MatmulTile],
) -> Option<MatmulTile> {
    let plain = MatmulVariant {
        trans_a: variant.trans_a,
        trans_b: variant.trans_b,
        ..Default::default()
    };
    let a = ctx.storage("tuning a", (m * k * 4) as u64);
    let b = ctx.storage("tuning b", (k * n * 4) as u64);
    let c = ctx.storage("tuning c", (m * n * 4) as u64);
    let sets = candidates
        .iter()
        .map(|&tile| {
            let launches = kernels.matmul_with(
                ctx,
                "tuning",
                plain,
                (m, n, k),
                tile,
                (View::whole(&a), View::whole(&b), None, None),
                (View::whole(&c), None),
                None,
            );
            (tile, launches)
        })
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

fn parse_tile(s: &str) -> Option<MatmulTile> {
    let nums: Vec<u32> = s
        .split(|c: char| !c.is_ascii_digit())
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    match (s.split(' ').next()?, nums.as_slice()) {
        ("tile4", [4]) => Some(MatmulTile::Tile4),
        ("tile16", [16]) => Some(MatmulTile::Tile16),
        ("blocked", &[rows, cols]) if rows % 4 == 0 && cols % 4 == 0 && rows * cols > 0 => {
            Some(MatmulTile::Blocked(Block { rows, cols }))
        }
        ("tiled", _) => Tiling::parse(s).map(MatmulTile::Tiled),
        _ => None,
    }
}

/// This adapter's choices in the file; entries that do not parse are dropped (and re-tuned).
fn load(path: &Path, adapter: &str) -> HashMap<String, MatmulTile> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return HashMap::new();
    };
    json["adapters"][adapter]
        .as_object()
        .map(|classes| {
            classes
                .iter()
                .filter_map(|(class, tile)| Some((class.clone(), parse_tile(tile.as_str()?)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Writes this adapter's choices into the file, keeping other adapters' (write beside, then
/// rename: a reader never sees half a file).
fn save(path: &Path, adapter: &str, choices: &HashMap<String, MatmulTile>) -> std::io::Result<()> {
    let mut json = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .filter(|j| j["adapters"].is_object())
        .unwrap_or_else(|| serde_json::json!({ "adapters": {} }));
    let mut sorted: Vec<_> = choices.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let entry: serde_json::Map<String, serde_json::Value> = sorted
        .into_iter()
        .map(|(class, &tile)| (class.clone(), tile.name().into()))
        .collect();
    json["adapters"][adapter] = entry.into();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    std::fs::write(&tmp, serde_json::to_string_pretty(&json)? + "\n")?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_names_round_trip() {
        for tile in [
            MatmulTile::Tile4,
            MatmulTile::Tile16,
            MatmulTile::Blocked(Block::LARGE),
            MatmulTile::Tiled(Tiling::T128X64),
            MatmulTile::Tiled(Tiling::T128.pipelined()),
        ] {
            assert_eq!(parse_tile(&tile.name()), Some(tile), "{tile:?}");
        }
        assert_eq!(parse_tile("tiled wg 0x16 thread 4x4 bk 8"), None);
        assert_eq!(parse_tile("blocked 3x8"), None);
        assert_eq!(parse_tile("fast"), None);
    }

    #[test]
    fn shape_classes_round_up_to_powers_of_two() {
        let v = MatmulVariant::default();
        assert_eq!(
            shape_class((128, 500, 784), v),
            shape_class((100, 512, 1024), v)
        );
        assert_ne!(
            shape_class((128, 512, 784), v),
            shape_class((129, 512, 784), v)
        );
        // The output layer's 10 columns take scalar loads of B.
        assert_ne!(
            shape_class((128, 12, 784), v),
            shape_class((128, 10, 784), v)
        );
    }
}
