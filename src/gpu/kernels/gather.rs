//! Launcher of `gather.wgsl`.

use super::family::{assemble, read, read_write, uniform, uniform_struct, FamilyDecl, SourceParts};
use super::{Bind, Kernel, Kernels, Launch, ModuleKey, View};
use crate::floor::augment::Augment;
use crate::gpu::GpuContext;

/// Label value the gather kernel writes for padding rows of a short last batch (`PAD` in the
/// WGSL prelude).
pub const PAD_LABEL: u32 = u32::MAX;

uniform_struct! {
    /// `Params` of `gather.wgsl`.
    pub struct GatherParams {
        pub batch: u32,
        pub sample_bytes: u32,
        pub n_order: u32,
        /// Invocations per grid row.
        pub grid_width: u32,
        pub rows: u32,
        pub cols: u32,
        pub channels: u32,
        /// 1: draw each row through its random transform.
        pub augment: u32,
        /// Radians.
        pub rotate: f32,
        pub zoom: f32,
        /// Radians.
        pub shear: f32,
        /// Pixels.
        pub shift: f32,
        pub seed: u32,
        /// Pixels of elastic displacement; 0: none.
        pub elastic: f32,
        pub by_position: u32,
        pub _pad2: u32,
    }
}

pub static GATHER: FamilyDecl = FamilyDecl {
    name: "gather",
    bindings: &[
        uniform("params", &GatherParams::LAYOUT),
        read("images"),
        read("labels"),
        read("order"),
        read("cursor"),
        read_write("x"),
        read_write("y"),
    ],
};

pub(crate) const GATHER_WGSL: &str = include_str!("../../../shaders/gather.wgsl");

pub(crate) fn module() -> SourceParts {
    (
        "gather".into(),
        vec!["gather.wgsl"],
        assemble("", &[GATHER_WGSL]),
    )
}

/// One batch from the resident dataset: batch `cursor.step` of `order`.
#[derive(Clone, Copy, Debug)]
pub struct GatherArgs<'a> {
    pub batch: usize,
    /// Bytes (pixels) per sample: rows x cols x channels.
    pub sample_bytes: usize,
    /// An image's (rows, cols, channels), channels-last.
    pub image: (usize, usize, usize),
    /// Random affine augmentation with this 32-bit seed (training and test-time
    /// augmentation's passes).
    pub augment: Option<(Augment, u32)>,
    /// Key the draws by each sample's position in the pass (test-time augmentation: a
    /// sample's view whatever the batch) rather than by the step count and the row (training:
    /// new draws every step).
    pub by_position: bool,
    /// `[samples, sample_bytes]` u8, packed 4 per word.
    pub images: View<'a>,
    /// `[samples]` u8, packed 4 per word.
    pub labels: View<'a>,
    /// `[n_order]` sample indices.
    pub order: View<'a>,
    pub n_order: usize,
    pub cursor: View<'a>,
    /// `[batch, sample_bytes]` f32 in [0, 1].
    pub x: View<'a>,
    /// `[batch]` u32, [`PAD_LABEL`] past the end of `order`.
    pub y: View<'a>,
}

/// The uniform of a gather of `a` whose grid rows hold `grid_width` invocations.
pub(crate) fn gather_params(a: &GatherArgs, grid_width: u32) -> GatherParams {
    let (aug, seed) = a.augment.unwrap_or_default();
    let radians = std::f32::consts::PI / 180.0;
    GatherParams {
        batch: a.batch as u32,
        sample_bytes: a.sample_bytes as u32,
        n_order: a.n_order as u32,
        grid_width,
        rows: a.image.0 as u32,
        cols: a.image.1 as u32,
        channels: a.image.2 as u32,
        augment: a.augment.is_some() as u32,
        // The same f32 products as `Augment::transform`.
        rotate: aug.rotate * radians,
        zoom: aug.zoom,
        shear: aug.shear * radians,
        shift: aug.shift,
        seed,
        elastic: aug.elastic,
        by_position: a.by_position as u32,
        ..Default::default()
    }
}

impl GatherArgs<'_> {
    /// Bytes a perfect cache would move: a byte and a float per pixel, two words per label.
    pub(crate) fn bytes(&self) -> u64 {
        (self.batch * self.sample_bytes * 5 + self.batch * 8) as u64
    }
}

impl Kernels {
    pub fn gather(&self, ctx: &GpuContext, a: &GatherArgs) -> Launch {
        let n = a.batch * a.sample_bytes;
        let (workgroups, width) = self.grid_1d(n, 256);
        let params = ctx.uniform("gather params", &gather_params(a, width));
        let kernel = Kernel {
            module: ModuleKey::Gather,
            entry: "main",
            constants: &[],
        };
        let binds = [
            Bind::Uniform(&params),
            a.images.into(),
            a.labels.into(),
            a.order.into(),
            a.cursor.into(),
            a.x.into(),
            a.y.into(),
        ];
        self.launch(kernel, "gather", workgroups, &binds)
            .with_work(0, a.bytes())
    }
}
