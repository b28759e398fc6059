//! Samples resident on the GPU: a split's u8 pixels and labels (packed 4 per word) and the
//! order a pass visits them in.

use crate::data::pixels::Pixels;
use crate::data::Split;
use crate::error::{Error, Result};
use crate::gpu::kernels::View;
use crate::gpu::GpuContext;

/// A split on the GPU: `images: [samples, features]` u8 and `labels: [samples]` u8, packed 4
/// per word, and `order: [len]` u32, the sample indices a pass visits in turn.
pub struct GpuSplit {
    pub images: wgpu::Buffer,
    pub labels: wgpu::Buffer,
    /// Where the labels start in `labels`, in words (a ring keeps them after its images).
    pub label_offset: usize,
    pub order: wgpu::Buffer,
    /// Samples visited (`order`'s length).
    pub len: usize,
}

impl GpuSplit {
    /// Uploads `split` (named `name` in buffer labels and errors) to be visited in the order of
    /// `order`, refusing images larger than one storage binding.
    pub fn upload(ctx: &GpuContext, name: &str, split: &Split, order: &[u32]) -> Result<GpuSplit> {
        let max = ctx.limits.max_storage_buffer_binding_size;
        if split.images.len() as u64 > max {
            return Err(Error::Gpu(format!(
                "the {name} images ({} bytes) exceed the adapter's storage binding limit of {max} bytes",
                split.images.len()
            )));
        }
        Ok(GpuSplit {
            images: upload_images(ctx, name, &split.images, u64::MAX).remove(0),
            labels: ctx.storage_u8(&format!("{name} labels"), &split.labels),
            label_offset: 0,
            order: ctx.storage_init(&format!("{name} order"), order),
            len: order.len(),
        })
    }

    /// A ring of sample slots ([`crate::data::ring`]): images from word 0 of `ring`, labels
    /// from word `label_offset`, visited in `slot_order` (each epoch position's slot).
    pub fn ring(
        ctx: &GpuContext,
        ring: &wgpu::Buffer,
        slot_order: &[u32],
        label_offset: usize,
    ) -> GpuSplit {
        GpuSplit {
            images: ring.clone(),
            labels: ring.clone(),
            label_offset,
            order: ctx.storage_init("train slot order", slot_order),
            len: slot_order.len(),
        }
    }

    /// The labels as the gather binds them.
    pub fn labels_view(&self) -> View<'_> {
        let words = self.labels.size() as usize / 4 - self.label_offset;
        View::range(&self.labels, self.label_offset, words)
    }

    /// Every sample of `split`, in order.
    pub fn upload_all(ctx: &GpuContext, name: &str, split: &Split) -> Result<GpuSplit> {
        let order: Vec<u32> = (0..split.len() as u32).collect();
        Self::upload(ctx, name, split, &order)
    }

    /// The samples `indices` of this split's images (the training split's tail held out for
    /// validation): the same buffers, an order of their own.
    pub fn subset(&self, ctx: &GpuContext, name: &str, indices: &[u32]) -> GpuSplit {
        GpuSplit {
            images: self.images.clone(),
            labels: self.labels.clone(),
            label_offset: self.label_offset,
            order: ctx.storage_init(&format!("{name} order"), indices),
            len: indices.len(),
        }
    }
}

/// `images` in storage buffers of `shard` bytes (the last may hold less; one buffer where
/// the set fits), written in pieces of 4 MiB, each piece's staging memory freed before the
/// next and a mapped set's pages dropped behind it: the upload holds one piece on the host,
/// not the set (nor, as a buffer created with its contents would, the set three times).
pub fn upload_images(
    ctx: &GpuContext,
    name: &str,
    images: &Pixels,
    shard: u64,
) -> Vec<wgpu::Buffer> {
    const PIECE: usize = 1 << 22;
    let count = (images.len() as u64).div_ceil(shard).max(1) as usize;
    let buffers: Vec<wgpu::Buffer> = (0..count)
        .map(|k| {
            let len = (images.len() as u64)
                .saturating_sub(k as u64 * shard)
                .min(shard);
            let label = match count {
                1 => format!("{name} images"),
                _ => format!("{name} images {k}"),
            };
            ctx.storage(&label, len)
        })
        .collect();
    images.sweep(PIECE, |at, piece| {
        // A piece that straddles two shards is written in two parts. Shards and pieces are
        // whole words, so only the set's last part may need padding to one.
        let mut at = at as u64;
        let mut rest = piece;
        while !rest.is_empty() {
            let (k, offset) = ((at / shard) as usize, at % shard);
            let n = rest.len().min((shard - offset) as usize);
            match n % 4 {
                0 => ctx.queue.write_buffer(&buffers[k], offset, &rest[..n]),
                _ => {
                    let mut padded = rest[..n].to_vec();
                    padded.resize(n.next_multiple_of(4), 0);
                    ctx.queue.write_buffer(&buffers[k], offset, &padded);
                }
            }
            (at, rest) = (at + n as u64, &rest[n..]);
        }
        ctx.queue.submit([]);
        let _ = ctx.device.poll(wgpu::PollType::wait_indefinitely());
    });
    buffers
}
