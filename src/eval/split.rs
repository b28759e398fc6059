//! Samples resident on the GPU: a split's u8 pixels and labels (packed 4 per word) and the
//! order a pass visits them in.

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
            images: ctx.storage_u8(&format!("{name} images"), &split.images),
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

    /// The same samples in the same order (the buffers are shared, not copied).
    pub fn share(&self) -> GpuSplit {
        GpuSplit {
            images: self.images.clone(),
            labels: self.labels.clone(),
            label_offset: self.label_offset,
            order: self.order.clone(),
            len: self.len,
        }
    }
}
