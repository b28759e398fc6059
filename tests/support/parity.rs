//! Parity checks: a GPU result against its twin's, within a bound stated (and justified) where
//! the check is written. A test lists its cases in a table and runs one body over them, and
//! over every forced kernel variant where the kernel has several.

use std::fmt::Debug;
use std::sync::Arc;

use shaderfit::gpu::kernels::{Block, Forced, MatmulTile, Tiling};
use shaderfit::gpu::{GpuContext, Kernels};
use shaderfit::optim::{Hyperparameters, Optimizer, OPTIMIZERS};
use shaderfit::settings::{self, Settings};

use super::{kernels, ODD_TILING, VEC4_TILING};

/// The unit roundoff of f32, 2^-24.
pub const U: f32 = 1.0 / (1u32 << 24) as f32;

/// How far a GPU value may be from its twin's.
#[derive(Clone, Debug)]
pub enum Bound {
    /// Bit for bit.
    Exact,
    /// `rel·|twin| + abs`: a few f32 operations (a few ULP each).
    Relative { rel: f32, abs: f32 },
    /// A sum of `terms` products in another order than the twin's f64: the recursive
    /// summation bound `terms·u·Σ|a·b|`, doubled for the kernels' partial sums and epilogue,
    /// plus `abs` for sums near zero and `rel` of the value for an epilogue's roundings.
    /// `scale[i]` is `Σ|a·b|` for element i (the twin run on absolute values).
    Sum {
        terms: usize,
        scale: Vec<f32>,
        abs: f32,
        rel: f32,
    },
}

impl Bound {
    /// The matmul bound: `2·(K+1)·u·Σ|a·b| + 1e-6`.
    pub fn matmul(k: usize, scale: Vec<f32>) -> Bound {
        Bound::Sum {
            terms: k + 1,
            scale,
            abs: 1e-6,
            rel: 0.0,
        }
    }

    fn at(&self, i: usize, twin: f32) -> f32 {
        match self {
            Bound::Exact => 0.0,
            Bound::Relative { rel, abs } => rel * twin.abs() + abs,
            Bound::Sum {
                terms,
                scale,
                abs,
                rel,
            } => 2.0 * *terms as f32 * U * scale[i] + abs + rel * twin.abs(),
        }
    }
}

/// One comparison: what it is, the GPU's values, the twin's, and the bound.
pub struct Check {
    pub what: String,
    pub gpu: Vec<f32>,
    pub twin: Vec<f32>,
    pub bound: Bound,
}

impl Check {
    pub fn new(what: impl Into<String>, gpu: Vec<f32>, twin: Vec<f32>, bound: Bound) -> Check {
        Check {
            what: what.into(),
            gpu,
            twin,
            bound,
        }
    }

    /// Panics naming the worst element outside the bound.
    pub fn assert(&self, context: &str) {
        let what = match context {
            "" => self.what.clone(),
            c => format!("{}, {c}", self.what),
        };
        assert_within(&what, &self.gpu, &self.twin, |i| {
            self.bound.at(i, self.twin[i])
        });
    }
}

/// Runs `body` on every case with every kernel set, naming both in a failure.
pub fn for_each_case<C: Debug>(
    variants: &[(String, Kernels)],
    cases: &[C],
    body: impl Fn(&Kernels, &C) -> Vec<Check>,
) {
    for (name, k) in variants {
        for case in cases {
            for check in body(k, case) {
                check.assert(&format!("{name}, {case:?}"));
            }
        }
    }
}

/// The matmul kernels tests force, in the order of [`matmul_variants`].
const TILES: [MatmulTile; 5] = [
    MatmulTile::Tile4,
    MatmulTile::Tile16,
    MatmulTile::Blocked(Block { rows: 8, cols: 8 }),
    MatmulTile::Tiled(ODD_TILING),
    MatmulTile::Tiled(VEC4_TILING),
];

/// Every matmul kernel forced in turn, so that CI on lavapipe runs what GPUs run too: tile4,
/// tile16, an 8x8 blocked kernel (every code path of the generated ones, at shapes that are
/// multiples of 4 but not of the block), a small odd tiling with f32 loads, and a small one
/// with vec4 loads and double-buffered tiles.
pub fn matmul_variants(ctx: &GpuContext) -> Vec<(String, Kernels)> {
    TILES
        .into_iter()
        .map(|t| (t.name(), kernels(ctx, Forced::matmul(t))))
        .collect()
}

/// As [`matmul_variants`], each with every reduction split into `splits` slices.
pub fn split_variants(ctx: &GpuContext, splits: usize) -> Vec<(String, Kernels)> {
    TILES
        .into_iter()
        .map(|t| {
            let policy = Forced::matmul(t).with_splits(splits);
            (
                format!("{} in {splits} slices", t.name()),
                kernels(ctx, policy),
            )
        })
        .collect()
}

/// The 64x64 preset tiling the tuner tries first.
pub fn t64(ctx: &GpuContext) -> Kernels {
    kernels(ctx, Forced::matmul(MatmulTile::Tiled(Tiling::T64)))
}

/// Checks `|gpu - cpu| <= bound(i)` element-wise, reporting the worst element.
pub fn assert_within(what: &str, gpu: &[f32], cpu: &[f32], bound: impl Fn(usize) -> f32) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: lengths differ");
    let mut worst: Option<(usize, f32)> = None;
    for i in 0..gpu.len() {
        let diff = (gpu[i] - cpu[i]).abs();
        if diff.is_nan() || diff > bound(i) {
            worst = match worst {
                Some((_, d)) if d >= diff => worst,
                _ => Some((i, diff)),
            };
        }
    }
    if let Some((i, d)) = worst {
        panic!(
            "{what}: element {i}: gpu {} vs cpu {} (diff {d:e}, allowed {:e})",
            gpu[i],
            cpu[i],
            bound(i)
        );
    }
}

/// A value for each hyperparameter away from its Keras default, for tests; every key of
/// [`Hyperparameters`] needs one (a new hyperparameter panics here, naming itself, until it
/// has one).
pub fn test_value(key: &str) -> f32 {
    match key {
        "lr" => 0.05,
        "momentum" => 0.9,
        // With lr 0.05: a decay of 5e-3 of each weight per step, far above the tolerances.
        "weight_decay" => 0.1,
        "beta1" => 0.8,
        "beta2" => 0.95,
        "rho" => 0.8,
        other => panic!("no test value for the hyperparameter '{other}': add one to test_value"),
    }
}

/// Every optimizer of the registry twice: at Keras's defaults, and with every hyperparameter
/// it takes at its [`test_value`]. A new optimizer is tested by every test that runs these.
pub fn every_optimizer() -> Vec<Arc<dyn Optimizer>> {
    for (key, _) in Hyperparameters::keys() {
        test_value(key);
    }
    OPTIMIZERS
        .iter()
        .flat_map(|kind| {
            let mut map = settings::to_map(&Hyperparameters::default());
            for key in kind.flags {
                map.insert(key.to_string(), serde_json::json!(test_value(key)));
            }
            let tuned: Hyperparameters = settings::from_map(&map, None).expect("test values");
            [
                (kind.build)(&Hyperparameters::default()),
                (kind.build)(&tuned),
            ]
        })
        .collect()
}
