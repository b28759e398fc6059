//! What a layer's CPU twin reads and writes: plain slices, the layer's tensors by name, and
//! what its forward keeps for its backward. No GPU type appears here.

use std::any::Any;

/// One node's tensors by name, read-only.
pub struct Tensors<'a> {
    pub names: Vec<(&'a str, usize)>,
    pub values: &'a [Vec<f32>],
}

impl<'a> Tensors<'a> {
    pub fn get(&self, name: &str) -> &'a [f32] {
        let (_, i) = self
            .names
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no tensor '{name}' in this node"));
        &self.values[*i]
    }
}

/// One node's tensors by name, writable (moving statistics, gradients).
pub struct TensorsMut<'a> {
    pub names: Vec<(&'a str, usize)>,
    pub values: &'a mut [Vec<f32>],
}

impl<'a> TensorsMut<'a> {
    pub fn get_mut(&mut self, name: &str) -> &mut Vec<f32> {
        let (_, i) = self
            .names
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no tensor '{name}' in this node"));
        &mut self.values[*i]
    }

    pub fn set(&mut self, name: &str, values: Vec<f32>) {
        *self.get_mut(name) = values;
    }
}

pub struct TwinForward<'a> {
    /// `[batch, input features]`.
    pub x: &'a [f32],
    pub labels: &'a [u32],
    pub batch: usize,
    /// Training (dropout masks, batch statistics) or evaluation.
    pub training: bool,
    pub seed: u64,
    /// The node's index in the model.
    pub index: usize,
    /// Optimizer steps taken before this one (dropout draws its mask from it).
    pub step: u32,
    pub params: Tensors<'a>,
    pub stats: TensorsMut<'a>,
    /// What the backward will need, if anything.
    pub cache: Option<Box<dyn Any>>,
}

pub struct TwinBackward<'a> {
    pub x: &'a [f32],
    /// The output gradient, already times the derivative of the layer's own activation.
    pub dy: &'a [f32],
    pub labels: &'a [u32],
    pub batch: usize,
    pub seed: u64,
    pub index: usize,
    pub step: u32,
    pub params: Tensors<'a>,
    pub grads: TensorsMut<'a>,
    pub cache: Option<&'a dyn Any>,
}

impl<'a> TwinBackward<'a> {
    /// What the forward left for the backward.
    pub fn cache<T: 'static>(&self) -> &'a T {
        self.cache
            .and_then(|c| c.downcast_ref::<T>())
            .expect("the twin's forward keeps what its backward needs")
    }
}
