//! Parameters live in two flat f32 buffers: the trainable ones (so the optimizer updates every
//! tensor in one launch) and the non-trainable ones (batch normalisation's moving statistics,
//! which only the forward pass updates). Each tensor starts at a multiple of `align` floats
//! because GPU storage bindings at an offset need the device's
//! `min_storage_buffer_offset_alignment`; the gaps hold zeros with zero gradients, which every
//! optimizer leaves at zero.

use super::{Network, ParamSpec};
use crate::layers::Init;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSlot {
    pub spec: ParamSpec,
    /// Start in floats within the flat buffer.
    pub offset: usize,
    pub len: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamLayout {
    pub tensors: Vec<TensorSlot>,
    /// Length of the flat buffer in floats, padding included (at least `align`).
    pub total: usize,
}

impl ParamLayout {
    /// The trainable tensors of `net`.
    pub fn trainable(net: &Network, align: usize) -> ParamLayout {
        Self::of(net.param_specs().into_iter().filter(|p| p.trainable), align)
    }

    /// The non-trainable tensors of `net` (moving statistics).
    pub fn non_trainable(net: &Network, align: usize) -> ParamLayout {
        Self::of(
            net.param_specs().into_iter().filter(|p| !p.trainable),
            align,
        )
    }

    fn of(specs: impl Iterator<Item = ParamSpec>, align: usize) -> ParamLayout {
        let align = align.max(1);
        let mut tensors = Vec::new();
        let mut offset = 0;
        for spec in specs {
            let len = spec.len();
            tensors.push(TensorSlot { spec, offset, len });
            offset = (offset + len).div_ceil(align) * align;
        }
        ParamLayout {
            tensors,
            total: offset.max(align),
        }
    }

    /// The slot of tensor `name` (e.g. `dense/kernel`).
    pub fn get(&self, name: &str) -> Option<&TensorSlot> {
        self.tensors.iter().find(|t| t.spec.name == name)
    }

    /// Slots of layer `layer`, in order, with their indices in the layout.
    pub fn of_layer(&self, layer: usize) -> impl Iterator<Item = (usize, &TensorSlot)> {
        self.tensors
            .iter()
            .enumerate()
            .filter(move |(_, t)| t.spec.layer == layer)
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

    /// Initial values of every tensor: ones and zeros as their init says, Glorot-uniform
    /// drawn from `rng` in tensor order.
    pub fn initial_values(&self, rng: &mut crate::floor::rng::SplitMix64) -> Vec<Vec<f32>> {
        self.tensors
            .iter()
            .map(|t| match t.spec.init {
                Init::GlorotUniform { fan_in, fan_out } => {
                    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
                    (0..t.len)
                        .map(|_| (rng.next_f32() * 2.0 - 1.0) * limit)
                        .collect()
                }
                Init::Zeros => vec![0.0; t.len],
                Init::Ones => vec![1.0; t.len],
            })
            .collect()
    }
}
