//! All parameters of a network live in one flat f32 buffer, so the optimizer updates every
//! tensor in one launch. Each tensor starts at a multiple of `align` floats because GPU
//! storage bindings at an offset need the device's `min_storage_buffer_offset_alignment`; the
//! gaps hold zeros with zero gradients, which every optimizer leaves at zero.

use super::spec::Network;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSlot {
    /// `dense_0/kernel`, `dense_0/bias`, ...: Keras's names.
    pub name: String,
    pub shape: Vec<usize>,
    /// Start in floats within the flat buffer.
    pub offset: usize,
    pub len: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamLayout {
    pub tensors: Vec<TensorSlot>,
    /// Length of the flat buffer in floats, padding included.
    pub total: usize,
}

impl ParamLayout {
    /// Tensors in order: for each dense layer its kernel `[fan_in, units]`, then its bias.
    pub fn new(net: &Network, align: usize) -> ParamLayout {
        let align = align.max(1);
        let mut tensors = Vec::new();
        let mut offset = 0;
        for (i, l) in net.dense.iter().enumerate() {
            for (suffix, shape) in [("kernel", vec![l.fan_in, l.units]), ("bias", vec![l.units])] {
                let len = shape.iter().product();
                tensors.push(TensorSlot {
                    name: format!("dense_{i}/{suffix}"),
                    shape,
                    offset,
                    len,
                });
                offset = (offset + len).div_ceil(align) * align;
            }
        }
        ParamLayout {
            tensors,
            total: offset.max(align),
        }
    }

    /// Packs per-tensor values into the flat layout (zeros in the gaps).
    pub fn pack(&self, tensors: &[Vec<f32>]) -> Vec<f32> {
        let mut flat = vec![0.0; self.total];
        for (slot, values) in self.tensors.iter().zip(tensors) {
            flat[slot.offset..slot.offset + slot.len].copy_from_slice(values);
        }
        flat
    }

    /// Splits a flat buffer back into per-tensor values.
    pub fn unpack(&self, flat: &[f32]) -> Vec<Vec<f32>> {
        self.tensors
            .iter()
            .map(|s| flat[s.offset..s.offset + s.len].to_vec())
            .collect()
    }
}
