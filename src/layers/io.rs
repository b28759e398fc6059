//! What one node's launches bind in a training plan: its input and output buffers and their
//! gradients, its parameters, gradients and statistics by name, its scratch buffers, and the
//! step counter. The plan builds one [`Io`] per node and pass; the layer only looks things up.

use super::{Node, Pool2d};
use crate::floor::Activation;
use crate::gpu::kernels::{ActGrad, DeferredSums, Kernels, View};
use crate::gpu::GpuContext;

/// A buffer a layer needs besides its output and output gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scratch {
    pub name: &'static str,
    pub floats: usize,
    /// One buffer for every layer that asks for this name, at the largest size asked: for
    /// what lives only within one layer's launches (a convolution's dcols).
    pub shared: bool,
}

impl Scratch {
    pub fn own(name: &'static str, floats: usize) -> Scratch {
        Scratch {
            name,
            floats,
            shared: false,
        }
    }

    pub fn shared(name: &'static str, floats: usize) -> Scratch {
        Scratch {
            name,
            floats,
            shared: true,
        }
    }
}

/// Named views of one node.
pub type Views<'a> = Vec<(&'a str, View<'a>)>;

pub struct Io<'a> {
    pub gpu: &'a GpuContext,
    pub kernels: &'a Kernels,
    pub batch: usize,
    /// The node's index in the model.
    pub index: usize,
    /// The run's seed (dropout masks derive from it).
    pub seed: u64,
    /// `[batch, input features]`: the layer's input.
    pub x: View<'a>,
    /// `[batch, output features]`: its output.
    pub y: View<'a>,
    /// The gradient of its output (already times the derivative of its own activation).
    pub dy: View<'a>,
    /// Where its input gradient goes, when one is needed.
    pub dx: Option<View<'a>>,
    /// The activation whose output `x` is: the input gradient is multiplied by its
    /// derivative, fused into whichever launch writes `dx`.
    pub input_act: Activation,
    /// `[batch]` labels of the batch (padding rows: `PAD_LABEL`).
    pub labels: View<'a>,
    /// The pass's step counter.
    pub cursor: View<'a>,
    pub params: Views<'a>,
    pub grads: Views<'a>,
    pub stats: Views<'a>,
    pub scratch: Views<'a>,
    /// The pooling below, when this convolution runs its backward (see [`super::fusion`]).
    pub pool_below: Option<Box<FusedPool<'a>>>,
    /// Where a backward may leave its weight gradient's split-K sum to the optimizer: given
    /// in training steps whose end is fused.
    pub split_sums: Option<&'a DeferredSums>,
}

fn find<'a>(views: &Views<'a>, name: &str, what: &str) -> View<'a> {
    views
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, v)| v)
        .unwrap_or_else(|| panic!("no {what} '{name}' in this node's bindings"))
}

impl<'a> Io<'a> {
    /// Trainable parameter `name` (`kernel`, `bias`, `gamma`, ...).
    pub fn param(&self, name: &str) -> View<'a> {
        find(&self.params, name, "parameter")
    }

    /// The gradient of trainable parameter `name`.
    pub fn grad(&self, name: &str) -> View<'a> {
        find(&self.grads, name, "gradient")
    }

    /// Non-trainable tensor `name` (`moving_mean`, ...).
    pub fn stat(&self, name: &str) -> View<'a> {
        find(&self.stats, name, "statistic")
    }

    /// Scratch buffer `name`, as the layer declared it.
    pub fn scratch(&self, name: &str) -> View<'a> {
        find(&self.scratch, name, "scratch buffer")
    }

    /// The derivative to fuse into the input gradient: `None` below a linear activation.
    pub fn input_act_grad(&self) -> Option<ActGrad<'a>> {
        ActGrad::of(self.input_act.fused(), self.x)
    }
}

/// A pooling whose backward the convolution above it runs, fused with its col2im.
pub struct FusedPool<'a> {
    pub pool: &'a Pool2d,
    pub node: &'a Node,
    pub io: Io<'a>,
}

/// What an output layer fused with the loss writes besides its logits and their gradient
/// ([`super::Layer::forward_with_loss`]).
#[derive(Clone, Copy, Debug)]
pub struct LossRows<'a> {
    /// `[batch]` [`crate::gpu::kernels::RowStat`].
    pub rows: View<'a>,
    /// Keras's `label_smoothing`; 0 for none.
    pub label_smoothing: f32,
}
