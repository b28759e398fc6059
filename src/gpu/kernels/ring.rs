//! Launcher of `ring.wgsl`: the next steps' samples copied from a training set held in up to
//! [`MAX_SHARDS`] buffers into one ring of slots that the gather reads.

use super::family::{assemble, read, read_write, uniform, uniform_struct, FamilyDecl, SourceParts};
use super::{Bind, Kernel, Kernels, Launch, ModuleKey, View};
use crate::gpu::GpuContext;

/// The most buffers a training set may be split over (`shard_0` .. `shard_3`): with the
/// labels, order, cursor and ring, eight storage buffers, WebGPU's default per stage.
pub const MAX_SHARDS: usize = 4;

uniform_struct! {
    /// `Params` of `ring.wgsl`.
    pub struct RingParams {
        pub sample_bytes: u32,
        pub batch: u32,
        pub slots: u32,
        pub n_order: u32,
        pub shard_words: u32,
        /// Where the ring's labels start, in words.
        pub label_offset: u32,
        /// `slots * sample_bytes / 4`.
        pub image_words: u32,
        pub grid_width: u32,
    }
}

pub static RING: FamilyDecl = FamilyDecl {
    name: "ring",
    bindings: &[
        uniform("params", &RingParams::LAYOUT),
        read("shard_0"),
        read("shard_1"),
        read("shard_2"),
        read("shard_3"),
        read("labels"),
        read("order"),
        read("cursor"),
        read_write("ring"),
    ],
};

pub(crate) fn module() -> SourceParts {
    let file = include_str!("../../../shaders/ring.wgsl");
    ("ring".into(), vec!["ring.wgsl"], assemble("", &[file]))
}

/// Fills a ring from a split training set (see `ring.wgsl`).
#[derive(Clone, Copy, Debug)]
pub struct RingArgs<'a> {
    pub sample_bytes: usize,
    pub batch: usize,
    /// Slots in the ring: a multiple of 4, at least the positions one submission's gathers
    /// read ([`crate::data::ring::slots`]).
    pub slots: usize,
    pub n_order: usize,
    /// The training images, `shard_words` words per buffer (the last may hold fewer): 1 to
    /// [`MAX_SHARDS`] views.
    pub shards: &'a [View<'a>],
    pub shard_words: usize,
    /// `[samples]` u8 packed 4 per word.
    pub labels: View<'a>,
    /// `[n_order]` u32 sample indices.
    pub order: View<'a>,
    pub cursor: View<'a>,
    /// `[slots, sample_bytes]` u8 images, then from word `label_offset` `[slots]` u8 labels.
    pub ring: View<'a>,
    pub label_offset: usize,
}

impl Kernels {
    pub fn ring_fill(&self, ctx: &GpuContext, a: &RingArgs) -> Launch {
        assert!((1..=MAX_SHARDS).contains(&a.shards.len()) && a.slots.is_multiple_of(4));
        let image_words = a.slots * a.sample_bytes / 4;
        let (workgroups, width) = self.grid_1d(image_words + a.slots / 4, 256);
        let params = RingParams {
            sample_bytes: a.sample_bytes as u32,
            batch: a.batch as u32,
            slots: a.slots as u32,
            n_order: a.n_order as u32,
            shard_words: a.shard_words as u32,
            label_offset: a.label_offset as u32,
            image_words: image_words as u32,
            grid_width: width,
        };
        let params = ctx.uniform("ring params", &params);
        let kernel = Kernel {
            module: ModuleKey::Ring,
            entry: "main",
            constants: &[],
        };
        let shard = |k: usize| Bind::View(*a.shards.get(k).unwrap_or(&a.shards[0]));
        let binds = [
            Bind::Uniform(&params),
            shard(0),
            shard(1),
            shard(2),
            shard(3),
            a.labels.into(),
            a.order.into(),
            a.cursor.into(),
            a.ring.into(),
        ];
        // A byte and a word per slot read, a byte written.
        let bytes = (a.slots * (a.sample_bytes * 2 + 6)) as u64;
        self.launch(kernel, "ring fill", workgroups, &binds)
            .with_work(0, bytes)
    }
}
